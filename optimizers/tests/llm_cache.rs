//! The disk cache in the full client stack against a real HTTP server on 127.0.0.1.

mod common;

use std::path::Path;

use common::*;
use optimizers::llm::{ClientBuilder, ClientStack, LlmClient};
use wiremock::MockServer;

fn cached_stack(server: &MockServer, cache_dir: &Path) -> ClientStack {
    ClientBuilder::from_config(&config_for(server))
        .expect("valid config")
        .retry(fast_retry(0))
        .cache_dir(cache_dir)
        .build()
        .expect("stack builds")
}

fn entry_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for shard in std::fs::read_dir(dir).expect("cache dir").flatten() {
        if shard.path().is_dir() {
            for entry in std::fs::read_dir(shard.path()).expect("shard dir").flatten() {
                files.push(entry.path());
            }
        }
    }
    files
}

#[tokio::test]
async fn identical_request_is_served_from_cache() {
    let server = MockServer::start().await;
    mount_success(&server, "cached answer").await;
    let cache_dir = tempfile::tempdir().expect("temp dir");
    let client = cached_stack(&server, cache_dir.path());
    let request = question("q").temperature(0.7);

    let first = client.complete(&request).await.expect("200");
    let second = client.complete(&request).await.expect("cache hit");

    assert_eq!(request_count(&server).await, 1);
    assert!(!first.cached);
    assert!(second.cached);
    assert_eq!(second.cost_usd, 0.0);
    assert_eq!(second.text, "cached answer");
    assert_eq!(second.usage, first.usage);
    let usage = client.usage().total();
    assert_eq!(usage.calls, 1);
    assert_eq!(usage.cached_calls, 1);
}

#[tokio::test]
async fn changed_temperature_or_rollout_misses() {
    let server = MockServer::start().await;
    mount_success(&server, "answer").await;
    let cache_dir = tempfile::tempdir().expect("temp dir");
    let client = cached_stack(&server, cache_dir.path());
    let request = question("q").temperature(0.7);

    client.complete(&request).await.expect("first");
    client.complete(&request.clone().temperature(0.8)).await.expect("other temperature");
    client.complete(&request.clone().rollout(1)).await.expect("other rollout");
    client.complete(&request.clone().rollout(1)).await.expect("rollout 1 again");

    assert_eq!(request_count(&server).await, 3);
    assert_eq!(entry_files(cache_dir.path()).len(), 3);
}

#[tokio::test]
async fn cache_survives_a_new_client() {
    let server = MockServer::start().await;
    mount_success(&server, "persisted").await;
    let cache_dir = tempfile::tempdir().expect("temp dir");
    let request = question("q");

    let first_client = cached_stack(&server, cache_dir.path());
    first_client.complete(&request).await.expect("200");
    drop(first_client);
    let second_client = cached_stack(&server, cache_dir.path());
    let completion = second_client.complete(&request).await.expect("cache hit");

    assert_eq!(request_count(&server).await, 1);
    assert!(completion.cached);
    assert_eq!(completion.text, "persisted");
}

#[tokio::test]
async fn truncated_entry_is_a_miss_and_is_rewritten() {
    let server = MockServer::start().await;
    mount_success(&server, "fresh").await;
    let cache_dir = tempfile::tempdir().expect("temp dir");
    let client = cached_stack(&server, cache_dir.path());
    let request = question("q");
    client.complete(&request).await.expect("200");
    let files = entry_files(cache_dir.path());
    assert_eq!(files.len(), 1);
    let bytes = std::fs::read(&files[0]).expect("entry");
    std::fs::write(&files[0], &bytes[..bytes.len() / 3]).expect("truncate entry");

    let after_truncation = client.complete(&request).await.expect("miss, then 200");
    let after_rewrite = client.complete(&request).await.expect("hit again");

    assert!(!after_truncation.cached);
    assert!(after_rewrite.cached);
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn failed_request_is_not_cached() {
    let server = MockServer::start().await;
    mount_first(&server, wiremock::ResponseTemplate::new(503).set_body_string("overloaded"), 1).await;
    mount_success(&server, "later").await;
    let cache_dir = tempfile::tempdir().expect("temp dir");
    let client = cached_stack(&server, cache_dir.path());
    let request = question("q");

    let failed = client.complete(&request).await;
    let succeeded = client.complete(&request).await.expect("200");

    assert!(failed.is_err());
    assert!(!succeeded.cached);
    assert_eq!(request_count(&server).await, 2);
}
