//! Client-side limits: concurrent requests, requests per minute and tokens per minute.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tracing::debug;

use crate::error::Result;
use crate::llm::client::LlmClient;
use crate::llm::message::{ChatRequest, Completion};

/// Client-side limits; `None` leaves a dimension unlimited.
///
/// # Example
///
/// ```
/// use optimizers::llm::RateLimits;
///
/// let limits = RateLimits { max_concurrency: Some(16), requests_per_minute: Some(500), ..RateLimits::default() };
/// assert_eq!(limits.tokens_per_minute, None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests in flight at the same time.
    pub max_concurrency: Option<usize>,
    /// Requests started per minute.
    pub requests_per_minute: Option<u32>,
    /// Prompt plus completion tokens per minute. A request is admitted on its estimate
    /// (see [`ChatRequest::estimated_prompt_tokens`] plus `max_tokens`), and the
    /// bucket is corrected with the real count when the reply arrives.
    pub tokens_per_minute: Option<u64>,
}

/// A token bucket that refills continuously at `capacity` per minute.
///
/// A taker subtracts its amount at once and, if that leaves the bucket negative, sleeps
/// until the refill has covered the debt. So waiters are served in the order they
/// arrived and no caller busy-waits.
#[derive(Debug)]
struct TokenBucket {
    capacity: f64,
    per_second: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    available: f64,
    updated: Instant,
}

impl TokenBucket {
    fn per_minute(capacity: u64) -> Self {
        let capacity = capacity.max(1) as f64;
        Self {
            capacity,
            per_second: capacity / 60.0,
            state: Mutex::new(BucketState { available: capacity, updated: Instant::now() }),
        }
    }

    /// Takes `amount` (at most the capacity, so that one large request cannot wait
    /// forever) and returns how long the caller must wait before using it.
    fn take(&self, amount: f64) -> Duration {
        let amount = amount.min(self.capacity);
        let mut state = self.state.lock();
        self.refill(&mut state);
        state.available -= amount;
        if state.available >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-state.available / self.per_second)
        }
    }

    /// Adds back (or, when negative, takes) the difference between an estimate and
    /// the real amount.
    fn adjust(&self, difference: f64) {
        let mut state = self.state.lock();
        self.refill(&mut state);
        state.available = (state.available + difference).min(self.capacity);
    }

    fn refill(&self, state: &mut BucketState) {
        let now = Instant::now();
        let elapsed = now.duration_since(state.updated).as_secs_f64();
        state.available = (state.available + elapsed * self.per_second).min(self.capacity);
        state.updated = now;
    }
}

/// A layer that enforces [`RateLimits`] on the client it wraps.
#[derive(Debug)]
pub struct RateLimitedClient {
    inner: Arc<dyn LlmClient>,
    concurrency: Option<Semaphore>,
    requests: Option<TokenBucket>,
    tokens: Option<TokenBucket>,
}

impl RateLimitedClient {
    /// Wraps `inner`. A `max_concurrency` of zero is treated as one.
    pub fn new(inner: Arc<dyn LlmClient>, limits: RateLimits) -> Self {
        Self {
            inner,
            concurrency: limits.max_concurrency.map(|permits| Semaphore::new(permits.max(1))),
            requests: limits.requests_per_minute.map(|rate| TokenBucket::per_minute(u64::from(rate))),
            tokens: limits.tokens_per_minute.map(TokenBucket::per_minute),
        }
    }
}

#[async_trait]
impl LlmClient for RateLimitedClient {
    fn default_model(&self) -> &str {
        self.inner.default_model()
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion> {
        // The semaphore is never closed, so acquiring only fails if that invariant breaks;
        // then the request runs without a permit rather than failing.
        let _permit = match &self.concurrency {
            Some(semaphore) => semaphore.acquire().await.ok(),
            None => None,
        };

        let mut wait = Duration::ZERO;
        if let Some(bucket) = &self.requests {
            wait = wait.max(bucket.take(1.0));
        }
        let estimate = request.estimated_prompt_tokens() + u64::from(request.max_tokens.unwrap_or(0));
        if let Some(bucket) = &self.tokens {
            wait = wait.max(bucket.take(estimate as f64));
        }
        if !wait.is_zero() {
            debug!(
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "client-side rate limit reached; waiting"
            );
            tokio::time::sleep(wait).await;
        }

        let outcome = self.inner.complete(request).await;

        if let Some(bucket) = &self.tokens {
            let used = match &outcome {
                Ok(completion) if !completion.cached => completion.usage.total(),
                _ => 0,
            };
            bucket.adjust(estimate as f64 - used as f64);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_admits_capacity_then_waits() {
        let bucket = TokenBucket::per_minute(60);

        let first = bucket.take(60.0);
        let second = bucket.take(1.0);

        assert_eq!(first, Duration::ZERO);
        assert!(
            second > Duration::from_millis(900) && second <= Duration::from_secs(1),
            "one token at one per second needs about one second, got {second:?}"
        );
    }

    #[test]
    fn oversized_take_is_clamped_to_capacity() {
        let bucket = TokenBucket::per_minute(60);

        let wait = bucket.take(1_000_000.0);

        assert_eq!(wait, Duration::ZERO);
    }

    #[test]
    fn adjust_returns_unused_estimate() {
        let bucket = TokenBucket::per_minute(60);
        let _ = bucket.take(60.0);

        bucket.adjust(30.0);
        let wait = bucket.take(30.0);

        assert_eq!(wait, Duration::ZERO);
    }
}
