//! A scripted client for tests: queued replies and errors, and a log of requests.

use std::collections::VecDeque;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::llm::client::LlmClient;
use crate::llm::message::{ChatRequest, Completion, TokenUsage};

/// A queued outcome of the mock.
#[derive(Debug)]
enum Scripted {
    Text(String),
    Completion(Completion),
    Error(Error),
}

/// A client that returns queued replies in order and records every request.
///
/// A text reply gets the request's model, finish reason `stop` and estimated token
/// counts (prompt from [`ChatRequest::estimated_prompt_tokens`], completion one token
/// per four bytes) so that budgets and limiters see non-zero usage. When the queue is
/// empty, a request fails with [`Error::MockExhausted`].
///
/// # Example
///
/// ```
/// use optimizers::llm::{ChatRequest, LlmClient, Message, MockClient};
/// use optimizers::Error;
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let mock = MockClient::new("m")
///     .reply("first")
///     .fail(Error::Timeout { timeout: std::time::Duration::from_secs(1) });
/// let request = ChatRequest::new(vec![Message::user("hi")]);
///
/// assert_eq!(mock.complete(&request).await?.text, "first");
/// assert!(mock.complete(&request).await.is_err());
/// assert_eq!(mock.requests().len(), 2);
/// # Ok::<(), Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MockClient {
    model: String,
    queue: Mutex<VecDeque<Scripted>>,
    requests: Mutex<Vec<ChatRequest>>,
}

impl MockClient {
    /// Creates a mock with `model` as its default model and an empty queue.
    pub fn new(model: impl Into<String>) -> Self {
        Self { model: model.into(), queue: Mutex::new(VecDeque::new()), requests: Mutex::new(Vec::new()) }
    }

    /// Queues a text reply.
    #[must_use]
    pub fn reply(self, text: impl Into<String>) -> Self {
        self.push_reply(text);
        self
    }

    /// Queues a complete [`Completion`], returned as given.
    #[must_use]
    pub fn reply_completion(self, completion: Completion) -> Self {
        self.queue.lock().push_back(Scripted::Completion(completion));
        self
    }

    /// Queues an error.
    #[must_use]
    pub fn fail(self, error: Error) -> Self {
        self.push_error(error);
        self
    }

    /// Queues a text reply on a shared mock.
    pub fn push_reply(&self, text: impl Into<String>) {
        self.queue.lock().push_back(Scripted::Text(text.into()));
    }

    /// Queues a complete [`Completion`] on a shared mock.
    pub fn push_reply_completion(&self, completion: Completion) {
        self.queue.lock().push_back(Scripted::Completion(completion));
    }

    /// Queues an error on a shared mock.
    pub fn push_error(&self, error: Error) {
        self.queue.lock().push_back(Scripted::Error(error));
    }

    /// Returns the requests received so far, oldest first.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.requests.lock().clone()
    }

    /// Returns how many replies and errors are still queued.
    pub fn remaining(&self) -> usize {
        self.queue.lock().len()
    }
}

#[async_trait]
impl LlmClient for MockClient {
    fn default_model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion> {
        let call = {
            let mut requests = self.requests.lock();
            requests.push(request.clone());
            requests.len()
        };
        let next = self.queue.lock().pop_front();

        match next {
            Some(Scripted::Text(text)) => {
                let usage = TokenUsage {
                    prompt_tokens: request.estimated_prompt_tokens(),
                    completion_tokens: text.len() as u64 / 4 + 1,
                };
                Ok(Completion { usage, ..Completion::from_text(request.model_or(&self.model), text) })
            }
            Some(Scripted::Completion(completion)) => Ok(completion),
            Some(Scripted::Error(error)) => Err(error),
            None => Err(Error::MockExhausted { call }),
        }
    }
}
