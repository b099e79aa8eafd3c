//! The object-safe chat completion trait that every client and layer implements.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;
use crate::llm::message::{ChatRequest, Completion};

/// A chat completion model: messages and sampling settings in, text, finish reason and
/// token usage out.
///
/// The trait is object safe, so callers hold clients as `Arc<dyn LlmClient>`, and the
/// layers of this module (cache, budget, limiter, retry) wrap any implementation.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use optimizers::llm::{ChatRequest, LlmClient, Message, MockClient};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let client: Arc<dyn LlmClient> = Arc::new(MockClient::new("mock-model").reply("Paris"));
/// let completion = client.complete(&ChatRequest::new(vec![Message::user("Capital?")])).await?;
/// assert_eq!(completion.text, "Paris");
/// # Ok::<(), optimizers::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[async_trait]
pub trait LlmClient: Send + Sync + std::fmt::Debug {
    /// Returns the model used for requests whose [`ChatRequest::model`] is `None`.
    fn default_model(&self) -> &str;

    /// Sends one chat completion request and returns the reply.
    async fn complete(&self, request: &ChatRequest) -> Result<Completion>;
}

#[async_trait]
impl<T: LlmClient + ?Sized> LlmClient for Arc<T> {
    fn default_model(&self) -> &str {
        (**self).default_model()
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion> {
        (**self).complete(request).await
    }
}
