//! The composed client: every layer around one backend, behind one `LlmClient`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tracing::field::Empty;
use tracing::{Instrument, Span, debug, info_span};

use crate::error::Result;
use crate::llm::cache::{CachedClient, DiskCache};
use crate::llm::client::LlmClient;
use crate::llm::config::LlmConfig;
use crate::llm::limiter::{RateLimitedClient, RateLimits};
use crate::llm::message::{ChatRequest, Completion};
use crate::llm::openai::OpenAiClient;
use crate::llm::replay::RecordingClient;
use crate::llm::retry::{RetryPolicy, RetryingClient};
use crate::llm::usage::{Budget, MeteredClient, PriceTable, UsageTracker};

/// Builds a [`ClientStack`] around a backend client.
///
/// By default the stack retries with [`RetryPolicy::default`], has no cache, no rate
/// limits, no budget, the default [`PriceTable`], and does not log prompt text.
///
/// # Example
///
/// ```no_run
/// use std::sync::Arc;
/// use optimizers::llm::{Budget, ClientBuilder, LlmClient, LlmConfig, RateLimits};
///
/// # fn build() -> optimizers::Result<()> {
/// let stack = ClientBuilder::from_config(&LlmConfig::from_env()?)?
///     .cache_dir(".opto/cache")
///     .rate_limits(RateLimits { max_concurrency: Some(8), ..RateLimits::default() })
///     .budget(Budget { max_dollars: Some(2.0), ..Budget::default() })
///     .build()?;
/// let usage = stack.usage().clone();
/// let client: Arc<dyn LlmClient> = Arc::new(stack);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    backend: Arc<dyn LlmClient>,
    retry: Option<RetryPolicy>,
    limits: RateLimits,
    cache_dir: Option<PathBuf>,
    record_path: Option<PathBuf>,
    prices: PriceTable,
    budget: Budget,
    usage: Option<Arc<UsageTracker>>,
    log_prompts: bool,
}

impl ClientBuilder {
    /// Starts a stack around `backend`, the client that does the real work (an
    /// [`OpenAiClient`], a [`MockClient`](crate::llm::MockClient), a
    /// [`ReplayClient`](crate::llm::ReplayClient)).
    pub fn new(backend: Arc<dyn LlmClient>) -> Self {
        Self {
            backend,
            retry: Some(RetryPolicy::default()),
            limits: RateLimits::default(),
            cache_dir: None,
            record_path: None,
            prices: PriceTable::default(),
            budget: Budget::default(),
            usage: None,
            log_prompts: false,
        }
    }

    /// Starts a stack around an [`OpenAiClient`] for `config`.
    ///
    /// # Errors
    ///
    /// As [`OpenAiClient::new`].
    pub fn from_config(config: &LlmConfig) -> Result<Self> {
        Ok(Self::new(Arc::new(OpenAiClient::new(config)?)))
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Removes the retry layer, so each call sends at most one request (two when the
    /// JSON-mode fallback resends).
    #[must_use]
    pub fn no_retry(mut self) -> Self {
        self.retry = None;
        self
    }

    /// Sets the concurrency and per-minute limits.
    #[must_use]
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Caches completions in `dir`.
    #[must_use]
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Appends every exchange with the server to the JSON Lines file at `path`, for
    /// later use with [`ReplayClient`](crate::llm::ReplayClient).
    #[must_use]
    pub fn record_to(mut self, path: impl Into<PathBuf>) -> Self {
        self.record_path = Some(path.into());
        self
    }

    /// Sets the price table used for costs and the dollar budget.
    #[must_use]
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// Sets the hard budget.
    #[must_use]
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// Accounts in an existing tracker, shared with other stacks; its prices and budget
    /// replace those set on this builder.
    #[must_use]
    pub fn usage_tracker(mut self, tracker: Arc<UsageTracker>) -> Self {
        self.usage = Some(tracker);
        self
    }

    /// Logs the messages of each request at `debug` level. Off by default, because
    /// prompts may contain private data.
    #[must_use]
    pub fn log_prompts(mut self, enabled: bool) -> Self {
        self.log_prompts = enabled;
        self
    }

    /// Composes the layers.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the cache directory or the record file
    /// cannot be created.
    pub fn build(self) -> Result<ClientStack> {
        let model = self.backend.default_model().to_owned();
        let usage = self.usage.unwrap_or_else(|| Arc::new(UsageTracker::new(self.prices, self.budget)));

        let mut client = self.backend;
        if let Some(policy) = self.retry {
            client = Arc::new(RetryingClient::new(client, policy));
        }
        if let Some(path) = self.record_path {
            client = Arc::new(RecordingClient::new(client, path)?);
        }
        if self.limits != RateLimits::default() {
            client = Arc::new(RateLimitedClient::new(client, self.limits));
        }
        client = Arc::new(MeteredClient::new(client, usage.clone()));
        if let Some(dir) = self.cache_dir {
            client = Arc::new(CachedClient::new(client, DiskCache::open(dir)?, Some(usage.clone())));
        }

        Ok(ClientStack { client, model, usage, log_prompts: self.log_prompts })
    }
}

/// The composed client built by [`ClientBuilder`].
///
/// Each call runs in an `info` span named `llm.complete` with the fields `model`,
/// `rollout`, `prompt_tokens`, `completion_tokens`, `cost_usd`, `latency_ms` and
/// `cached`. The API key is never recorded, and the prompt text only with
/// [`ClientBuilder::log_prompts`].
#[derive(Debug)]
pub struct ClientStack {
    client: Arc<dyn LlmClient>,
    model: String,
    usage: Arc<UsageTracker>,
    log_prompts: bool,
}

impl ClientStack {
    /// Returns the usage tracker with per-model calls, tokens and cost.
    pub fn usage(&self) -> &Arc<UsageTracker> {
        &self.usage
    }
}

#[async_trait]
impl LlmClient for ClientStack {
    fn default_model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion> {
        let model = request.model_or(&self.model);
        let span = info_span!(
            "llm.complete",
            model,
            rollout = request.rollout,
            prompt_tokens = Empty,
            completion_tokens = Empty,
            cost_usd = Empty,
            latency_ms = Empty,
            cached = Empty,
        );

        async {
            if self.log_prompts {
                debug!(messages = ?request.messages, "sending prompt");
            }
            let started = Instant::now();
            let outcome = self.client.complete(request).await;
            let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

            let span = Span::current();
            span.record("latency_ms", latency_ms);
            match &outcome {
                Ok(completion) => {
                    span.record("prompt_tokens", completion.usage.prompt_tokens);
                    span.record("completion_tokens", completion.usage.completion_tokens);
                    span.record("cost_usd", completion.cost_usd);
                    span.record("cached", completion.cached);
                    debug!(
                        latency_ms,
                        cached = completion.cached,
                        prompt_tokens = completion.usage.prompt_tokens,
                        completion_tokens = completion.usage.completion_tokens,
                        "LLM call finished"
                    );
                }
                Err(error) => debug!(latency_ms, %error, "LLM call failed"),
            }
            outcome
        }
        .instrument(span)
        .await
    }
}
