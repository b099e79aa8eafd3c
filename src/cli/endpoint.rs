//! The LLM endpoint of a command: one given by the user, or a local model server that
//! the command starts and stops itself.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use optimizers::LlmConfig;
use optimizers::llm::RetryPolicy;
use optimizers::local_server::{LocalServer, LocalServerConfig};

/// Options that choose the LLM endpoint.
#[derive(Debug, Args)]
pub(crate) struct EndpointArgs {
    /// Base URL of an OpenAI-compatible API, including `/v1`. Without it (and without
    /// OPENAI_BASE_URL), a small local model is started on 127.0.0.1 for the run. The API
    /// key is read from OPENAI_API_KEY only, so that it stays out of shell history.
    #[arg(long, env = "OPENAI_BASE_URL")]
    pub(crate) endpoint: Option<String>,

    /// Model name sent to the endpoint; required with --endpoint (or set OPTO_MODEL).
    #[arg(long, env = "OPTO_MODEL")]
    pub(crate) model: Option<String>,

    /// CPU threads of the local model server.
    #[arg(long, default_value_t = 2)]
    pub(crate) local_threads: usize,

    /// Requests the local model server decodes at the same time.
    #[arg(long, default_value_t = 2)]
    pub(crate) local_parallel: usize,

    /// Folder of the LLM response cache, reused across runs: a request answered before is
    /// not sent again and costs nothing.
    #[arg(long, default_value = ".cache/llm")]
    pub(crate) cache_dir: PathBuf,

    /// Send every request, without the response cache.
    #[arg(long)]
    pub(crate) no_cache: bool,

    /// Time limit of one LLM request, in seconds.
    #[arg(long, default_value_t = 300)]
    pub(crate) request_timeout: u64,

    /// Resends of a request that failed with a rate limit (429), a server error (5xx), a
    /// timeout or a dropped connection; 0 sends each request once.
    #[arg(long, default_value_t = 5)]
    pub(crate) max_retries: u32,

    /// Delay before the first resend, in milliseconds; each further resend waits twice as
    /// long, up to 30 s, unless the server sends Retry-After.
    #[arg(long, default_value_t = 500)]
    pub(crate) retry_base_ms: u64,
}

/// A configured endpoint; a local server stops when this is dropped.
pub(crate) struct Endpoint {
    pub(crate) config: LlmConfig,
    /// The context length of one request in tokens, when known (the local model's).
    pub(crate) context_tokens: Option<usize>,
    /// Kept so that the local server stops when the endpoint is dropped.
    pub(crate) _local_server: Option<LocalServer>,
}

/// The context length of each parallel slot of the local model server, in tokens.
const LOCAL_CONTEXT_TOKENS: usize = 4096;

impl EndpointArgs {
    /// Connects to the given endpoint, or starts the local model server.
    pub(crate) async fn connect(&self) -> anyhow::Result<Endpoint> {
        let timeout = Duration::from_secs(self.request_timeout);
        if let Some(base_url) = &self.endpoint {
            let model = self.model.clone().context(
                "no model is set for the endpoint; pass --model NAME or set OPTO_MODEL (for example OPTO_MODEL=gpt-4o-mini)",
            )?;
            let key = match std::env::var("OPENAI_API_KEY") {
                Ok(key) if !key.is_empty() => key,
                _ if is_loopback(base_url) => "none".to_string(),
                _ => anyhow::bail!(
                    "OPENAI_API_KEY is not set; export the key of {base_url}, or unset OPENAI_BASE_URL to use the local model"
                ),
            };
            let mut config = LlmConfig::new(base_url.clone(), key, model)?;
            config.timeout = timeout;
            return Ok(Endpoint { config, context_tokens: None, _local_server: None });
        }

        let server_config = LocalServerConfig {
            threads: self.local_threads.max(1),
            parallel: self.local_parallel.max(1),
            ctx_size: LOCAL_CONTEXT_TOKENS * self.local_parallel.max(1),
            ..LocalServerConfig::default()
        };
        eprintln!(
            "No endpoint is set (OPENAI_BASE_URL or --endpoint), so a local model server is starting on 127.0.0.1"
        );
        let server = tokio::task::spawn_blocking(move || LocalServer::start(&server_config))
            .await
            .context("the local model server start was cancelled")?
            .context("cannot start the local model server; run scripts/setup-local-llm first")?;
        let model = self.model.clone().unwrap_or_else(|| server.model_alias().to_string());
        let mut config = LlmConfig::new(server.base_url(), "none", model)?;
        config.timeout = timeout;
        Ok(Endpoint { config, context_tokens: Some(LOCAL_CONTEXT_TOKENS), _local_server: Some(server) })
    }

    /// Returns the retry policy of the LLM client.
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            base_delay: Duration::from_millis(self.retry_base_ms),
            ..RetryPolicy::default()
        }
    }
}

fn is_loopback(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', ':']).next().unwrap_or("");
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}
