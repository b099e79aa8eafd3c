//! Retries with exponential backoff and jitter for transient failures.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::{error, warn};

use crate::error::{Error, Result};
use crate::llm::client::LlmClient;
use crate::llm::message::{ChatRequest, Completion};

/// When and how long to wait before resending a failed request.
///
/// A request is retried on the errors for which [`Error::is_retryable`] is true: HTTP
/// 429 and 5xx, timeouts, and failed or dropped connections. Other errors, including
/// every other 4xx status and a 200 response whose body is not a chat completion,
/// return at once, because resending the same request would fail the same way.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use optimizers::llm::RetryPolicy;
///
/// let policy = RetryPolicy { base_delay: Duration::from_millis(10), ..RetryPolicy::default() };
/// assert_eq!(policy.max_retries, 5);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Resends after the first attempt; `0` disables retrying.
    pub max_retries: u32,
    /// Delay before the first retry. Retry `n` waits `base_delay * 2^(n-1)`, capped by
    /// `max_delay`, of which a random half is removed (equal jitter) so that concurrent
    /// callers do not retry in lockstep.
    pub base_delay: Duration,
    /// Upper bound of the exponential delay.
    pub max_delay: Duration,
    /// Upper bound of a server's `Retry-After` delay. A server that requests more is
    /// retried after this long instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Returns the delay before retry number `retry` (1-based) after `error`: the
    /// server's `Retry-After` when it sent one, capped by `max_retry_after`, or else
    /// the jittered exponential backoff.
    pub fn delay(&self, retry: u32, error: &Error) -> Duration {
        if let Some(retry_after) = error.retry_after() {
            return retry_after.min(self.max_retry_after);
        }

        let exponent = retry.saturating_sub(1).min(30);
        let backoff = self.base_delay.saturating_mul(1_u32 << exponent).min(self.max_delay);
        let half = backoff / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// A layer that resends retryable failures of the client it wraps, following a
/// [`RetryPolicy`]. Every retry is logged at `warn` with its attempt number; giving up
/// is logged at `error` and returns [`Error::RetriesExhausted`].
#[derive(Debug)]
pub struct RetryingClient {
    inner: Arc<dyn LlmClient>,
    policy: RetryPolicy,
}

impl RetryingClient {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn LlmClient>, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }
}

#[async_trait]
impl LlmClient for RetryingClient {
    fn default_model(&self) -> &str {
        self.inner.default_model()
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion> {
        let model = request.model_or(self.inner.default_model());
        let max_attempts = self.policy.max_retries.saturating_add(1);
        let mut attempt = 1;

        loop {
            let error = match self.inner.complete(request).await {
                Ok(completion) => return Ok(completion),
                Err(error) => error,
            };
            if !error.is_retryable() {
                return Err(error);
            }
            if attempt >= max_attempts {
                error!(model, attempts = attempt, %error, "giving up on LLM request");
                return Err(Error::RetriesExhausted { attempts: attempt, last: Box::new(error) });
            }

            let delay = self.policy.delay(attempt, &error);
            warn!(
                model,
                attempt,
                max_attempts,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                %error,
                "LLM request failed; retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate_limited(retry_after: Option<Duration>) -> Error {
        Error::Http { status: 429, message: "slow down".to_owned(), body: String::new(), retry_after }
    }

    #[test]
    fn delay_grows_and_is_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        let error = rate_limited(None);

        for _ in 0..50 {
            let first = policy.delay(1, &error);
            let third = policy.delay(3, &error);
            let tenth = policy.delay(10, &error);

            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100), "{first:?}");
            assert!(third >= Duration::from_millis(175) && third <= Duration::from_millis(350), "{third:?}");
            assert!(tenth <= Duration::from_millis(350), "{tenth:?}");
        }
    }

    #[test]
    fn retry_after_wins_and_is_capped() {
        let policy = RetryPolicy { max_retry_after: Duration::from_secs(2), ..RetryPolicy::default() };

        assert_eq!(policy.delay(1, &rate_limited(Some(Duration::from_secs(1)))), Duration::from_secs(1));
        assert_eq!(policy.delay(1, &rate_limited(Some(Duration::from_secs(600)))), Duration::from_secs(2));
    }

    #[test]
    fn huge_retry_number_does_not_overflow() {
        let policy = RetryPolicy::default();

        let delay = policy.delay(u32::MAX, &rate_limited(None));

        assert!(delay <= policy.max_delay);
    }
}
