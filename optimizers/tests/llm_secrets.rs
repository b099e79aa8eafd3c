//! The API key must not appear in any log line, cache file or record file.
//!
//! This binary contains a single test because it installs a global TRACE subscriber that
//! also captures `log` records of dependencies such as reqwest.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use common::*;
use optimizers::llm::{ClientBuilder, LlmClient, ResponseFormat};
use parking_lot::Mutex;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::util::SubscriberInitExt;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for SharedBuffer {
    type Writer = SharedBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("readable dir").flatten() {
            if entry.path().is_dir() {
                pending.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_never_reaches_logs_cache_or_records() {
    let logs = SharedBuffer::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish()
        .try_init()
        .expect("first subscriber of this test binary");

    let server = MockServer::start().await;
    mount_first(
        &server,
        ResponseTemplate::new(429)
            .insert_header("retry-after", "0")
            .set_body_json(error_body("Rate limit reached", "requests")),
        1,
    )
    .await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS_PATH))
        .and(body_string_contains("json_object"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(error_body("response_format is not supported", "invalid_request_error")),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    mount_success(&server, "the reply").await;
    let unauthorized = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(error_body("Incorrect API key provided", "invalid_request_error")),
        )
        .mount(&unauthorized)
        .await;

    let dir = tempfile::tempdir().expect("temp dir");
    let cache_dir = dir.path().join("cache");
    let record_path = dir.path().join("exchanges.jsonl");
    let config = config_for(&server);
    let client = ClientBuilder::from_config(&config)
        .expect("valid config")
        .retry(fast_retry(2))
        .cache_dir(&cache_dir)
        .record_to(&record_path)
        .log_prompts(true)
        .build()
        .expect("stack builds");
    let rejected =
        ClientBuilder::from_config(&config_for(&unauthorized)).expect("valid config").build().expect("stack builds");

    client.complete(&question("first prompt")).await.expect("429 then 200");
    client.complete(&question("first prompt")).await.expect("cache hit");
    client
        .complete(&question("json prompt").response_format(ResponseFormat::JsonObject))
        .await
        .expect("JSON-mode fallback");
    let error = rejected.complete(&question("q")).await.expect_err("401");
    tracing::error!(?error, %error, ?config, ?client, "caller logs everything it has");

    let log_text = String::from_utf8_lossy(&logs.0.lock()).into_owned();
    assert!(log_text.contains("LLM request failed; retrying"), "the retry warning was captured");
    assert!(log_text.contains("first prompt"), "prompt logging was on, so logs were captured");
    assert!(!log_text.contains(TEST_KEY), "key found in logs");
    assert!(!log_text.contains("DO-NOT-LEAK"), "part of the key found in logs");

    let files = files_under(&cache_dir);
    assert_eq!(files.len(), 2, "two distinct requests were cached");
    for file in files.iter().chain(std::iter::once(&record_path)) {
        let contents = std::fs::read_to_string(file).expect("readable file");
        assert!(!contents.is_empty(), "{} is empty", file.display());
        assert!(!contents.contains("DO-NOT-LEAK"), "key found in {}", file.display());
    }

    let sent_key = server.received_requests().await.unwrap_or_default()[0]
        .headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    assert_eq!(sent_key, Some(format!("Bearer {TEST_KEY}")), "the key was in use");
}
