//! A disk cache of completions keyed by a hash of the whole request.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::llm::client::LlmClient;
use crate::llm::message::{ChatRequest, Completion, Message, ResponseFormat};
use crate::llm::usage::UsageTracker;

/// Version of the key and entry layout; changing it makes every old entry a miss.
const CACHE_FORMAT_VERSION: u32 = 1;

/// Everything that can change a reply, in a fixed field order so that its JSON, and
/// therefore its hash, is canonical.
#[derive(Serialize)]
struct KeyFields<'a> {
    format_version: u32,
    model: &'a str,
    messages: &'a [Message],
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    seed: Option<i64>,
    response_format: ResponseFormat,
    rollout: u32,
}

/// Returns the hex BLAKE3 hash that identifies `request` sent to `model`.
///
/// It covers the model, every message, every sampling setting, the response format
/// and the rollout number. It does not cover the server's URL, so two servers that
/// serve different weights under the same model name share entries.
///
/// # Example
///
/// ```
/// use optimizers::llm::{request_key, ChatRequest, Message};
///
/// let request = ChatRequest::new(vec![Message::user("2+2?")]);
/// assert_eq!(request_key(&request, "m"), request_key(&request.clone(), "m"));
/// assert_ne!(request_key(&request, "m"), request_key(&request.clone().rollout(1), "m"));
/// ```
pub fn request_key(request: &ChatRequest, model: &str) -> String {
    let fields = KeyFields {
        format_version: CACHE_FORMAT_VERSION,
        model,
        messages: &request.messages,
        temperature: request.temperature,
        max_tokens: request.max_tokens,
        seed: request.seed,
        response_format: request.response_format.clone(),
        rollout: request.rollout,
    };
    // serde_json does not fail on strings, numbers (non-finite floats become null) and
    // unit enums. The `Debug` text is a distinct fallback, so a failure could never
    // make different requests share a key.
    let canonical = serde_json::to_vec(&fields).unwrap_or_else(|_| format!("{model:?} {request:?}").into_bytes());
    blake3::hash(&canonical).to_hex().to_string()
}

/// One file of the cache.
#[derive(Serialize, Deserialize)]
struct CacheEntry {
    key: String,
    completion: Completion,
}

/// A directory of cached completions, one JSON file per request hash.
///
/// Entries survive restarts. Each is written to a temporary file in the same directory,
/// flushed to disk and renamed into place, so a killed process leaves either the whole
/// entry or none. An entry that cannot be read or parsed anyway (truncated by hand, a
/// full disk) is logged at `warn` and treated as a miss.
#[derive(Debug)]
pub struct DiskCache {
    dir: PathBuf,
    temp_counter: AtomicU64,
}

impl DiskCache {
    /// Opens the cache in `dir`, creating the directory if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        Ok(Self { dir, temp_counter: AtomicU64::new(0) })
    }

    /// Returns the cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the path of the entry file for `key`.
    pub fn entry_path(&self, key: &str) -> PathBuf {
        let shard = key.get(..2).unwrap_or("00");
        self.dir.join(shard).join(format!("{key}.json"))
    }

    /// Returns the cached completion for `key`, or `None` on a miss or an unreadable entry.
    pub fn get(&self, key: &str) -> Option<Completion> {
        let path = self.entry_path(key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => {
                warn!(path = %path.display(), %error, "cache entry cannot be read; treating it as a miss");
                return None;
            }
        };

        match serde_json::from_slice::<CacheEntry>(&bytes) {
            Ok(entry) if entry.key == key => Some(entry.completion),
            Ok(entry) => {
                warn!(path = %path.display(), stored_key = entry.key, "cache entry belongs to another key; treating it as a miss");
                None
            }
            Err(error) => {
                warn!(path = %path.display(), %error, "cache entry is corrupt; treating it as a miss");
                None
            }
        }
    }

    /// Stores `completion` under `key` atomically (temporary file, sync, rename).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the entry cannot be written.
    pub fn put(&self, key: &str, completion: &Completion) -> Result<()> {
        let path = self.entry_path(key);
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let shard_dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(shard_dir).map_err(io_error(shard_dir))?;

        let entry = CacheEntry { key: key.to_owned(), completion: Completion { cached: false, ..completion.clone() } };
        let bytes = serde_json::to_vec_pretty(&entry)
            .map_err(|source| Error::Json { context: format!("cache entry {key}"), source })?;

        let counter = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let temp_path = shard_dir.join(format!(".{key}.{}.{counter}.tmp", std::process::id()));
        let written = (|| {
            let mut file = std::fs::File::create(&temp_path)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp_path, &path)
        })();
        if let Err(source) = written {
            let _ = std::fs::remove_file(&temp_path);
            return Err(Error::Io { path, source });
        }
        Ok(())
    }
}

/// A layer that serves repeated requests from a [`DiskCache`] and stores new replies.
///
/// A hit sends nothing and returns the stored completion with `cached: true` and
/// `cost_usd: 0.0`. Only successful replies are stored. A failed write is logged at
/// `warn` and the reply is still returned.
#[derive(Debug)]
pub struct CachedClient {
    inner: Arc<dyn LlmClient>,
    cache: Arc<DiskCache>,
    usage: Option<Arc<UsageTracker>>,
}

impl CachedClient {
    /// Wraps `inner`. When `usage` is given, every hit is counted there as a cached call.
    pub fn new(inner: Arc<dyn LlmClient>, cache: DiskCache, usage: Option<Arc<UsageTracker>>) -> Self {
        Self { inner, cache: Arc::new(cache), usage }
    }

    /// Returns the underlying cache.
    pub fn cache(&self) -> &DiskCache {
        &self.cache
    }
}

#[async_trait]
impl LlmClient for CachedClient {
    fn default_model(&self) -> &str {
        self.inner.default_model()
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion> {
        let model = request.model_or(self.inner.default_model());
        let key = request_key(request, model);

        if let Some(mut completion) = self.cache.get(&key) {
            debug!(model, key, "cache hit");
            completion.cached = true;
            completion.cost_usd = 0.0;
            if let Some(usage) = &self.usage {
                usage.record_cached(model);
            }
            return Ok(completion);
        }
        debug!(model, key, "cache miss");

        let completion = self.inner.complete(request).await?;
        if completion.cached {
            return Ok(completion);
        }

        // The write syncs the file to disk, so it runs off the async worker threads.
        let cache = self.cache.clone();
        let entry = completion.clone();
        let write_key = key.clone();
        let written = tokio::task::spawn_blocking(move || cache.put(&write_key, &entry)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => warn!(model, key, %error, "completion could not be cached"),
            Err(error) => warn!(model, key, %error, "cache write task failed"),
        }
        Ok(completion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ChatRequest {
        ChatRequest::new(vec![Message::system("s"), Message::user("u")])
    }

    #[test]
    fn key_changes_with_every_setting() {
        let base = request_key(&request(), "m");
        let variants = [
            request_key(&request(), "other-model"),
            request_key(&request().temperature(0.1), "m"),
            request_key(&request().max_tokens(5), "m"),
            request_key(&request().seed(1), "m"),
            request_key(&request().response_format(ResponseFormat::JsonObject), "m"),
            request_key(&request().rollout(1), "m"),
            request_key(&ChatRequest::new(vec![Message::user("s"), Message::user("u")]), "m"),
        ];

        for (index, variant) in variants.iter().enumerate() {
            assert_ne!(&base, variant, "variant {index} must change the key");
        }
        assert_eq!(base, request_key(&request(), "m"));
    }

    #[test]
    fn put_then_get_round_trips() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = DiskCache::open(dir.path()).expect("open cache");
        let completion = Completion::from_text("m", "hello");

        cache.put("abcdef", &completion).expect("write entry");
        let loaded = cache.get("abcdef");

        assert_eq!(loaded, Some(completion));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("ab"))
            .expect("shard dir")
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left behind");
    }

    #[test]
    fn corrupt_entry_is_a_miss() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = DiskCache::open(dir.path()).expect("open cache");
        cache.put("abcdef", &Completion::from_text("m", "hello")).expect("write entry");
        let path = cache.entry_path("abcdef");
        let bytes = std::fs::read(&path).expect("entry");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");

        assert_eq!(cache.get("abcdef"), None);
    }
}
