//! A traced LLM call: one `call_llm` node whose parent is the prompt and whose value is the
//! model's reply.

use std::sync::Arc;

use optimizers::llm::{ChatRequest, LlmClient, Message};
use parking_lot::Mutex;
use trace_core::{Bundle, Node, Value};

use crate::{Error, Result};

/// Sends a prompt node to a model and records the reply as a traced node.
///
/// A failed call is not an exception node: the client has already retried, so the endpoint
/// is down or the budget is spent, and [`LlmCall::call`] returns [`Error::Llm`] so that the
/// trainer can stop the run cleanly.
#[derive(Clone, Debug)]
pub struct LlmCall {
    client: Arc<dyn LlmClient>,
    bundle: Bundle,
    temperature: f32,
    max_tokens: u32,
}

impl LlmCall {
    /// A call through `client` with the given sampling settings.
    pub fn new(client: Arc<dyn LlmClient>, temperature: f32, max_tokens: u32) -> LlmCall {
        let bundle = Bundle::new(
            "call_llm",
            "Sends the prompt to the language model as a user message and returns the text of its reply.",
            &["prompt"],
        );
        LlmCall { client, bundle, temperature, max_tokens }
    }

    /// Sends the rendered value of `prompt` and returns the reply node.
    ///
    /// # Errors
    ///
    /// [`Error::Llm`] when the client fails after its retries or the budget is spent;
    /// [`Error::Graph`] when the bundle is misused.
    pub async fn call(&self, prompt: &Node) -> Result<Node> {
        let failure: Mutex<Option<optimizers::Error>> = Mutex::new(None);
        let node = self
            .bundle
            .call_async(&[prompt], |values| {
                let request = ChatRequest::new(vec![Message::user(values[0].render())])
                    .temperature(self.temperature)
                    .max_tokens(self.max_tokens);
                let failure = &failure;
                async move {
                    match self.client.complete(&request).await {
                        Ok(completion) => Ok(Value::Text(completion.text)),
                        Err(error) => {
                            let message = error.to_string();
                            *failure.lock() = Some(error);
                            Err(message)
                        }
                    }
                }
            })
            .await?;

        match failure.into_inner() {
            Some(error) => Err(Error::Llm(error)),
            None => Ok(node),
        }
    }
}
