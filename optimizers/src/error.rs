//! The crate's error type and `Result` alias.

use std::path::PathBuf;
use std::time::Duration;

use crate::llm::usage::BudgetResource;

/// Errors returned by the LLM client layer and the optimizers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required client setting is absent from both the environment and the config file.
    #[error("missing setting `{name}`: {hint}")]
    MissingSetting {
        /// The environment variable or config key that was looked up.
        name: String,
        /// The places the value can be set.
        hint: String,
    },

    /// A client setting has a value that cannot be used.
    #[error("invalid setting `{name}` = {value:?}: {reason}")]
    InvalidSetting {
        /// The environment variable or config key.
        name: String,
        /// The rejected value (never an API key).
        value: String,
        /// The reason for rejection and the expected form.
        reason: String,
    },

    /// A config file could not be read or parsed.
    #[error("invalid config file {path}: {reason}")]
    ConfigFile {
        /// The file that failed.
        path: PathBuf,
        /// The read or parse error.
        reason: String,
    },

    /// The server responded with a non-success HTTP status.
    #[error("http status {status} from the LLM server: {message}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The provider's error message, or the raw body when it is not the
        /// OpenAI error object.
        message: String,
        /// The raw response body.
        body: String,
        /// The delay the server asked for in a `Retry-After` header, in seconds form.
        retry_after: Option<Duration>,
    },

    /// The request did not complete within the per-request timeout.
    #[error("request to the LLM server timed out after {timeout:?}; raise the timeout or check the server")]
    Timeout {
        /// The configured per-request timeout.
        timeout: Duration,
    },

    /// The connection failed or was dropped before a complete response arrived.
    #[error("connection to the LLM server failed: {reason}")]
    Connection {
        /// The transport error.
        reason: String,
    },

    /// The server responded 200 with a body that is not a chat completion. It is not
    /// retried, because a server or proxy that returns such a body usually keeps doing so.
    #[error("invalid response from the LLM server: {reason}; body: {raw}")]
    InvalidResponse {
        /// The problem found in the body.
        reason: String,
        /// The raw response body.
        raw: String,
    },

    /// The request could not be built, for example because it has no messages.
    #[error("invalid chat request: {reason}")]
    InvalidRequest {
        /// The problem found in the request.
        reason: String,
    },

    /// Every attempt of a retried request failed.
    #[error("request failed after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// How many requests were sent.
        attempts: u32,
        /// The error of the last attempt.
        last: Box<Error>,
    },

    /// Sending the request would exceed the configured budget, so it was not sent.
    #[error(
        "budget exhausted: {resource} used {used} of {limit}, and this call needs about {requested} more; raise the budget or stop the run"
    )]
    BudgetExhausted {
        /// The limited resource.
        resource: BudgetResource,
        /// The amount already spent or reserved by calls in flight.
        used: f64,
        /// The estimated amount this call needs.
        requested: f64,
        /// The budget limit.
        limit: f64,
    },

    /// A dollar budget is set but the price table has no entry for the model.
    #[error("no price for model `{model}`; add it to the price table or remove the dollar budget")]
    UnknownPrice {
        /// The model without a price.
        model: String,
    },

    /// The scripted mock client has no reply left for a request.
    #[error("the scripted mock has no reply queued for request {call}")]
    MockExhausted {
        /// The 1-based number of the request that found the queue empty.
        call: usize,
    },

    /// A replay file has no recorded completion for a request.
    #[error("no recorded completion for model `{model}` with request hash {key} in {path}; record it first")]
    ReplayMiss {
        /// The replay file.
        path: PathBuf,
        /// The model of the request.
        model: String,
        /// The request hash.
        key: String,
    },

    /// A prompt template failed to parse or render.
    #[error("prompt template `{name}` failed: {reason}")]
    Template {
        /// The template name, such as `optoprime/user.tera`, or the template directory.
        name: String,
        /// The Tera error.
        reason: String,
    },

    /// An optimizer's LLM reply could not be used, also after asking again.
    #[error(
        "{optimizer} could not use the LLM reply after {attempts} calls: {reason}; raise the retry limit or use a stronger model (last reply: {})",
        preview(raw)
    )]
    InvalidReply {
        /// The optimizer that asked.
        optimizer: String,
        /// How many LLM calls were made, the first one included.
        attempts: usize,
        /// Why the last reply was rejected.
        reason: String,
        /// The last reply.
        raw: String,
    },

    /// An optimizer step found no feedback on its parameters.
    #[error(
        "no parameter of {optimizer} received feedback; call backward on an output that depends on them before stepping"
    )]
    NoFeedback {
        /// The optimizer.
        optimizer: String,
    },

    /// Every candidate of a multi-candidate optimizer failed.
    #[error("all {count} candidates of {optimizer} failed: {}", reasons.join("; "))]
    NoCandidate {
        /// The optimizer.
        optimizer: String,
        /// The number of candidates requested.
        count: usize,
        /// The error of each candidate.
        reasons: Vec<String>,
        /// The LLM calls the candidates made before failing.
        llm_calls: usize,
    },

    /// A file of the cache, the record file or the replay file failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A value could not be serialized or deserialized as JSON.
    #[error("json error in {context}: {source}")]
    Json {
        /// The value being converted.
        context: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// Returns whether sending the same request again may succeed: HTTP 429 and 5xx,
    /// timeouts and failed or dropped connections.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Http { status, .. } => *status == 429 || *status >= 500,
            Error::Timeout { .. } | Error::Connection { .. } => true,
            _ => false,
        }
    }

    /// Returns the delay requested by the server's `Retry-After` header, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Returns the HTTP status of the failed request, looking through
    /// [`Error::RetriesExhausted`].
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            Error::RetriesExhausted { last, .. } => last.http_status(),
            _ => None,
        }
    }
}

impl Error {
    /// Returns the number of LLM requests sent before an optimizer failed. That is the
    /// attempts of an [`Error::InvalidReply`] or [`Error::RetriesExhausted`] and the calls
    /// of all candidates of an [`Error::NoCandidate`]. A request that failed on the wire or
    /// at the server counts one, and an error raised before sending counts zero.
    pub fn llm_calls(&self) -> usize {
        match self {
            Error::InvalidReply { attempts, .. } => *attempts,
            Error::RetriesExhausted { attempts, .. } => usize::try_from(*attempts).unwrap_or(usize::MAX),
            Error::NoCandidate { llm_calls, .. } => *llm_calls,
            Error::Http { .. } | Error::Timeout { .. } | Error::Connection { .. } | Error::InvalidResponse { .. } => 1,
            _ => 0,
        }
    }
}

/// The first 200 characters of an LLM reply, on one line, for error messages.
fn preview(raw: &str) -> String {
    const MAX_CHARS: usize = 200;
    let line = raw.replace('\n', "\\n");
    if line.chars().count() <= MAX_CHARS {
        return line;
    }
    let cut: String = line.chars().take(MAX_CHARS).collect();
    format!("{cut}...")
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
