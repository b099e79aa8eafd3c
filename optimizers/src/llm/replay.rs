//! Record real exchanges to a file and play them back without a server.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::error::{Error, Result};
use crate::llm::cache::request_key;
use crate::llm::client::LlmClient;
use crate::llm::message::{ChatRequest, Completion};

/// One line of a record file.
#[derive(Debug, Serialize, Deserialize)]
struct RecordedExchange {
    key: String,
    model: String,
    request: ChatRequest,
    completion: Completion,
}

/// A layer that appends every successful exchange of the client it wraps to a JSON
/// Lines file: the request hash, the model, the request and the completion. The file
/// contains the prompt and reply text but never the API key.
#[derive(Debug)]
pub struct RecordingClient {
    inner: Arc<dyn LlmClient>,
    path: PathBuf,
    file: Mutex<File>,
}

impl RecordingClient {
    /// Wraps `inner`, appending to `path` (created if missing).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be opened for appending.
    pub fn new(inner: Arc<dyn LlmClient>, path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Io { path: path.clone(), source })?;
        Ok(Self { inner, path, file: Mutex::new(file) })
    }

    /// Returns the record file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&self, exchange: &RecordedExchange) -> Result<()> {
        let mut line = serde_json::to_vec(exchange)
            .map_err(|source| Error::Json { context: format!("record of request {}", exchange.key), source })?;
        line.push(b'\n');
        // One `write_all` of a whole line, so lines of concurrent calls never interleave.
        self.file.lock().write_all(&line).map_err(|source| Error::Io { path: self.path.clone(), source })
    }
}

#[async_trait]
impl LlmClient for RecordingClient {
    fn default_model(&self) -> &str {
        self.inner.default_model()
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion> {
        let completion = self.inner.complete(request).await?;

        let model = request.model_or(self.inner.default_model()).to_owned();
        let exchange =
            RecordedExchange { key: request_key(request, &model), model, request: request.clone(), completion };
        if let Err(error) = self.append(&exchange) {
            warn!(%error, "exchange could not be recorded");
        }
        Ok(exchange.completion)
    }
}

/// A client that returns completions from a file written by [`RecordingClient`] and never sends
/// anything.
///
/// Requests are matched by [`request_key`]. When the same request was recorded several
/// times, the recorded completions are returned in order and the last one repeats.
/// Replayed completions report `cached: true` and zero cost. A line that cannot be
/// parsed (for example the last line of a killed recording) is logged at `warn` and
/// skipped.
#[derive(Debug)]
pub struct ReplayClient {
    path: PathBuf,
    model: String,
    exchanges: Mutex<HashMap<String, VecDeque<Completion>>>,
}

impl ReplayClient {
    /// Loads `path`; `default_model` fills in requests without a model.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read.
    pub fn open(path: impl Into<PathBuf>, default_model: impl Into<String>) -> Result<Self> {
        let path = path.into();
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;

        let mut exchanges: HashMap<String, VecDeque<Completion>> = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<RecordedExchange>(line) {
                Ok(exchange) => exchanges.entry(exchange.key).or_default().push_back(exchange.completion),
                Err(error) => {
                    warn!(path = %path.display(), line = index + 1, %error, "skipping unreadable record line");
                }
            }
        }

        Ok(Self { path, model: default_model.into(), exchanges: Mutex::new(exchanges) })
    }

    /// Returns how many distinct requests the file holds.
    pub fn len(&self) -> usize {
        self.exchanges.lock().len()
    }

    /// Returns whether the file contains no exchange.
    pub fn is_empty(&self) -> bool {
        self.exchanges.lock().is_empty()
    }
}

#[async_trait]
impl LlmClient for ReplayClient {
    fn default_model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion> {
        let model = request.model_or(&self.model);
        let key = request_key(request, model);

        let mut exchanges = self.exchanges.lock();
        let recorded = exchanges
            .get_mut(&key)
            .and_then(|queue| if queue.len() > 1 { queue.pop_front() } else { queue.front().cloned() });
        let Some(mut completion) = recorded else {
            return Err(Error::ReplayMiss { path: self.path.clone(), model: model.to_owned(), key });
        };

        completion.cached = true;
        completion.cost_usd = 0.0;
        Ok(completion)
    }
}
