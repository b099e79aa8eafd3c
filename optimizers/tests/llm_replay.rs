//! Record/replay files and the scripted mock client.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use optimizers::Error;
use optimizers::llm::{Budget, ClientBuilder, LlmClient, MockClient, ReplayClient, RetryingClient};
use wiremock::MockServer;

#[tokio::test]
async fn recorded_exchanges_replay_without_server() {
    let server = MockServer::start().await;
    mount_first(&server, wiremock::ResponseTemplate::new(200).set_body_json(completion_body("first answer")), 1).await;
    mount_success(&server, "second answer").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let record_path = dir.path().join("exchanges.jsonl");
    let recorder = ClientBuilder::from_config(&config_for(&server))
        .expect("valid config")
        .retry(fast_retry(0))
        .record_to(&record_path)
        .build()
        .expect("stack builds");
    recorder.complete(&question("one")).await.expect("200");
    recorder.complete(&question("two")).await.expect("200");
    drop(recorder);
    drop(server);

    let replay = ReplayClient::open(&record_path, MODEL).expect("record file");
    let one = replay.complete(&question("one")).await.expect("recorded");
    let two = replay.complete(&question("two")).await.expect("recorded");
    let unknown = replay.complete(&question("three")).await;

    assert_eq!(replay.len(), 2);
    assert_eq!(one.text, "first answer");
    assert_eq!(two.text, "second answer");
    assert!(one.cached);
    assert_eq!(one.cost_usd, 0.0);
    assert!(matches!(unknown, Err(Error::ReplayMiss { .. })), "{unknown:?}");
}

#[tokio::test]
async fn repeated_request_replays_in_order_then_repeats_last() {
    let server = MockServer::start().await;
    mount_first(&server, wiremock::ResponseTemplate::new(200).set_body_json(completion_body("A")), 1).await;
    mount_success(&server, "B").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let record_path = dir.path().join("exchanges.jsonl");
    let recorder = ClientBuilder::from_config(&config_for(&server))
        .expect("valid config")
        .retry(fast_retry(0))
        .record_to(&record_path)
        .build()
        .expect("stack builds");
    recorder.complete(&question("same")).await.expect("200");
    recorder.complete(&question("same")).await.expect("200");

    let replay = ReplayClient::open(&record_path, MODEL).expect("record file");
    let mut texts = Vec::new();
    for _ in 0..3 {
        texts.push(replay.complete(&question("same")).await.expect("recorded").text);
    }

    assert_eq!(texts, ["A", "B", "B"]);
}

#[tokio::test]
async fn truncated_record_line_is_skipped() {
    let server = MockServer::start().await;
    mount_success(&server, "kept").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let record_path = dir.path().join("exchanges.jsonl");
    let recorder = ClientBuilder::from_config(&config_for(&server))
        .expect("valid config")
        .record_to(&record_path)
        .build()
        .expect("stack builds");
    recorder.complete(&question("kept")).await.expect("200");
    recorder.complete(&question("cut")).await.expect("200");
    let text = std::fs::read_to_string(&record_path).expect("record file");
    let cut_at = text.trim_end().rfind('\n').expect("two lines") + 20;
    std::fs::write(&record_path, &text[..cut_at]).expect("truncate");

    let replay = ReplayClient::open(&record_path, MODEL).expect("record file");

    assert_eq!(replay.len(), 1);
    assert_eq!(replay.complete(&question("kept")).await.expect("recorded").text, "kept");
    assert!(replay.complete(&question("cut")).await.is_err());
}

#[tokio::test]
async fn mock_errors_go_through_retry_layer() {
    let mock = Arc::new(
        MockClient::new(MODEL)
            .fail(Error::Http { status: 503, message: "overloaded".to_owned(), body: String::new(), retry_after: None })
            .fail(Error::Timeout { timeout: Duration::from_secs(1) })
            .reply("third time"),
    );
    let client = RetryingClient::new(mock.clone(), fast_retry(3));

    let completion = client.complete(&question("q")).await.expect("third attempt");

    assert_eq!(completion.text, "third time");
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(mock.remaining(), 0);
}

#[tokio::test]
async fn mock_records_requests_and_runs_dry() {
    let mock = MockClient::new(MODEL).reply("only");
    let request = question("q").temperature(0.3).rollout(2);

    let first = mock.complete(&request).await.expect("queued reply");
    let second = mock.complete(&request).await;

    assert_eq!(first.text, "only");
    assert!(first.usage.prompt_tokens > 0);
    assert!(matches!(second, Err(Error::MockExhausted { call: 2 })), "{second:?}");
    assert_eq!(mock.requests(), vec![request.clone(), request]);
}

#[tokio::test]
async fn mock_backend_respects_budget() {
    let mock = Arc::new(MockClient::new(MODEL).reply("a").reply("b"));
    let client = ClientBuilder::new(mock.clone())
        .budget(Budget { max_calls: Some(1), ..Budget::default() })
        .build()
        .expect("stack builds");

    client.complete(&question("one")).await.expect("within budget");
    let refused = client.complete(&question("two")).await;

    assert!(matches!(refused, Err(Error::BudgetExhausted { .. })));
    assert_eq!(mock.requests().len(), 1);
}
