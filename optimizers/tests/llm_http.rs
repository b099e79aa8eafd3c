//! The OpenAI-compatible client and its retry layer against a real HTTP server on
//! 127.0.0.1; every test checks how many requests the server received.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use optimizers::Error;
use optimizers::llm::{
    ChatRequest, ClientBuilder, ClientStack, FinishReason, LlmClient, OpenAiClient, ResponseFormat, TokenUsage,
};
use tokio::io::AsyncReadExt;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn stack_for(server: &MockServer, max_retries: u32) -> ClientStack {
    ClientBuilder::from_config(&config_for(server))
        .expect("valid config")
        .retry(fast_retry(max_retries))
        .build()
        .expect("stack builds")
}

#[tokio::test]
async fn success_returns_text_and_usage() {
    let server = MockServer::start().await;
    mount_success(&server, "Paris").await;
    let client = stack_for(&server, 3);

    let completion = client
        .complete(&question("Capital of France?").temperature(0.2).max_tokens(8))
        .await
        .expect("server answers 200");

    assert_eq!(completion.text, "Paris");
    assert_eq!(completion.model, MODEL);
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!(completion.usage, TokenUsage { prompt_tokens: 11, completion_tokens: 5 });
    assert!(!completion.cached);
    assert_eq!(request_count(&server).await, 1);

    let requests = server.received_requests().await.unwrap_or_default();
    let authorization =
        requests[0].headers.get("authorization").and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(authorization, format!("Bearer {TEST_KEY}"));
    let body = &request_bodies(&server).await[0];
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["messages"][1]["content"], "Capital of France?");
    assert_eq!(body["max_tokens"], 8);
    assert!(body.get("response_format").is_none());
}

#[tokio::test]
async fn minimal_completion_without_metadata_is_read() {
    let server = MockServer::start().await;
    let body = serde_json::json!({
        "choices": [{"message": {"role": "assistant", "content": "4"}, "finish_reason": "eos"}],
    });
    mount_first(&server, ResponseTemplate::new(200).set_body_json(body), 1).await;
    let client = stack_for(&server, 0);

    let completion = client.complete(&question("2 + 2?")).await.expect("id, object, created and model are optional");

    assert_eq!(completion.text, "4");
    assert_eq!(completion.finish_reason, FinishReason::Unknown);
    assert_eq!(completion.usage, TokenUsage::default());
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn rate_limit_without_retry_after_is_retried() {
    let server = MockServer::start().await;
    mount_first(&server, ResponseTemplate::new(429).set_body_json(error_body("Rate limit reached", "requests")), 1)
        .await;
    mount_success(&server, "ok").await;
    let client = stack_for(&server, 3);

    let completion = client.complete(&question("q")).await.expect("second attempt succeeds");

    assert_eq!(completion.text, "ok");
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after() {
    let server = MockServer::start().await;
    mount_first(
        &server,
        ResponseTemplate::new(429)
            .insert_header("retry-after", "1")
            .set_body_json(error_body("Rate limit reached", "requests")),
        1,
    )
    .await;
    mount_success(&server, "ok").await;
    let client = stack_for(&server, 3);

    let started = Instant::now();
    let completion = client.complete(&question("q")).await.expect("second attempt succeeds");
    let elapsed = started.elapsed();

    assert_eq!(completion.text, "ok");
    assert_eq!(request_count(&server).await, 2);
    // Without the header the retry would come after 5 to 10 ms.
    assert!(elapsed >= Duration::from_millis(950), "retried after {elapsed:?}");
}

#[tokio::test]
async fn retry_after_is_capped() {
    let server = MockServer::start().await;
    mount_first(
        &server,
        ResponseTemplate::new(429)
            .insert_header("retry-after", "3600")
            .set_body_json(error_body("Rate limit reached", "requests")),
        1,
    )
    .await;
    mount_success(&server, "ok").await;
    let mut policy = fast_retry(3);
    policy.max_retry_after = Duration::from_millis(50);
    let client = ClientBuilder::from_config(&config_for(&server))
        .expect("valid config")
        .retry(policy)
        .build()
        .expect("stack builds");

    let started = Instant::now();
    let completion = client.complete(&question("q")).await.expect("second attempt succeeds");

    assert_eq!(completion.text, "ok");
    assert_eq!(request_count(&server).await, 2);
    assert!(started.elapsed() < Duration::from_secs(60), "the one-hour Retry-After was not capped");
}

#[tokio::test]
async fn persistent_rate_limit_gives_up() {
    let server = MockServer::start().await;
    mount_first(&server, ResponseTemplate::new(429).set_body_json(error_body("Rate limit reached", "requests")), 100)
        .await;
    let client = stack_for(&server, 2);

    let error = client.complete(&question("q")).await.expect_err("always 429");

    assert!(matches!(&error, Error::RetriesExhausted { attempts: 3, .. }), "{error}");
    assert_eq!(error.http_status(), Some(429));
    assert!(error.to_string().contains("Rate limit reached"), "{error}");
    assert_eq!(request_count(&server).await, 3);
}

#[tokio::test]
async fn server_error_then_success() {
    let server = MockServer::start().await;
    mount_first(&server, ResponseTemplate::new(500).set_body_string("internal error"), 1).await;
    mount_success(&server, "recovered").await;
    let client = stack_for(&server, 3);

    let completion = client.complete(&question("q")).await.expect("second attempt succeeds");

    assert_eq!(completion.text, "recovered");
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn hang_past_timeout_is_retried_then_fails() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(completion_body("late")).set_delay(Duration::from_secs(10)),
        )
        .mount(&server)
        .await;
    let mut config = config_for(&server);
    config.timeout = Duration::from_millis(200);
    let client =
        ClientBuilder::from_config(&config).expect("valid config").retry(fast_retry(1)).build().expect("stack builds");

    let error = client.complete(&question("q")).await.expect_err("server hangs");

    let Error::RetriesExhausted { attempts, last } = &error else {
        panic!("expected RetriesExhausted, got {error}");
    };
    assert_eq!(*attempts, 2);
    assert!(matches!(**last, Error::Timeout { .. }), "{last}");
    assert_eq!(request_count(&server).await, 2);
}

/// Starts a server on 127.0.0.1 that reads the start of each request and closes the
/// connection without a response. Returns its base URL and the connection count.
async fn start_dropping_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();

    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buffer = [0_u8; 1024];
            let _ = socket.read(&mut buffer).await;
            drop(socket);
        }
    });

    (format!("http://{address}/v1"), connections)
}

#[tokio::test]
async fn dropped_connection_is_retried() {
    let (base_url, connections) = start_dropping_server().await;
    let server = MockServer::start().await;
    let mut config = config_for(&server);
    config.base_url = base_url;
    let client =
        ClientBuilder::from_config(&config).expect("valid config").retry(fast_retry(2)).build().expect("stack builds");

    let error = client.complete(&question("q")).await.expect_err("connection dropped");

    let Error::RetriesExhausted { attempts, last } = &error else {
        panic!("expected RetriesExhausted, got {error}");
    };
    assert_eq!(*attempts, 3);
    assert!(matches!(**last, Error::Connection { .. }), "{last}");
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn non_json_body_fails_without_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>proxy login page</html>", "text/html"))
        .mount(&server)
        .await;
    let client = stack_for(&server, 3);

    let error = client.complete(&question("q")).await.expect_err("not JSON");

    let Error::InvalidResponse { raw, .. } = &error else {
        panic!("expected InvalidResponse, got {error}");
    };
    assert!(raw.contains("proxy login page"), "{raw}");
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn unauthorized_fails_at_once_with_provider_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(error_body(
            "Incorrect API key provided. You can find your API key in your account settings.",
            "invalid_request_error",
        )))
        .mount(&server)
        .await;
    let client = stack_for(&server, 3);

    let error = client.complete(&question("q")).await.expect_err("401");

    let Error::Http { status, message, body, .. } = &error else {
        panic!("expected Http, got {error}");
    };
    assert_eq!(*status, 401);
    assert!(message.starts_with("Incorrect API key provided"), "{message}");
    assert!(body.contains("invalid_request_error"), "{body}");
    assert!(error.to_string().contains("Incorrect API key provided"));
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn non_json_error_keeps_raw_text() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS_PATH))
        .respond_with(ResponseTemplate::new(404).set_body_string("no route /v1/chat/completions"))
        .mount(&server)
        .await;
    let client = stack_for(&server, 3);

    let error = client.complete(&question("q")).await.expect_err("404");

    assert!(
        matches!(&error, Error::Http { status: 404, body, .. } if body == "no route /v1/chat/completions"),
        "{error}"
    );
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn server_without_json_mode_falls_back_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS_PATH))
        .and(body_string_contains("response_format"))
        .respond_with(ResponseTemplate::new(400).set_body_json(error_body(
            "response_format json_object is not supported by this server",
            "invalid_request_error",
        )))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_success(&server, "{\"answer\": 4}").await;
    let backend = Arc::new(OpenAiClient::new(&config_for(&server)).expect("valid config"));
    let client = ClientBuilder::new(backend.clone()).retry(fast_retry(3)).build().expect("stack builds");
    let request = question("2+2?").response_format(ResponseFormat::JsonObject);

    let first = client.complete(&request).await.expect("fallback succeeds");
    let after_first = request_count(&server).await;
    let second = client.complete(&request.clone().rollout(1)).await.expect("plain request");
    let after_second = request_count(&server).await;

    assert_eq!(first.text, "{\"answer\": 4}");
    assert_eq!(second.text, "{\"answer\": 4}");
    assert_eq!(after_first, 2, "one rejected JSON-mode request and one plain resend");
    assert_eq!(after_second, 3, "the second call skips JSON mode");
    assert!(backend.json_mode_disabled(MODEL));
    let bodies = request_bodies(&server).await;
    assert_eq!(bodies[0]["response_format"]["type"], "json_object");
    assert!(bodies[1].get("response_format").is_none());
    assert!(bodies[2].get("response_format").is_none());
}

#[tokio::test]
async fn json_mode_is_sent_when_supported() {
    let server = MockServer::start().await;
    mount_success(&server, "{}").await;
    let client = stack_for(&server, 3);

    client
        .complete(&question("q").response_format(ResponseFormat::JsonObject))
        .await
        .expect("server supports JSON mode");

    assert_eq!(request_count(&server).await, 1);
    assert_eq!(request_bodies(&server).await[0]["response_format"]["type"], "json_object");
}

#[tokio::test]
async fn unrelated_bad_request_does_not_drop_json_mode() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS_PATH))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(error_body("temperature must be at most 2", "invalid_request_error")),
        )
        .mount(&server)
        .await;
    let backend = Arc::new(OpenAiClient::new(&config_for(&server)).expect("valid config"));
    let request = ChatRequest { response_format: ResponseFormat::JsonObject, ..question("q").temperature(5.0) };

    let error = backend.complete(&request).await.expect_err("400");

    assert_eq!(error.http_status(), Some(400));
    assert_eq!(request_count(&server).await, 1);
    assert!(!backend.json_mode_disabled(MODEL));
}

#[tokio::test]
async fn model_override_is_sent() {
    let server = MockServer::start().await;
    mount_success(&server, "ok").await;
    let client = stack_for(&server, 0);

    let completion = client.complete(&question("q").model("other-model")).await.expect("200");

    assert_eq!(completion.model, "other-model");
    assert_eq!(request_bodies(&server).await[0]["model"], "other-model");
}

#[tokio::test]
async fn echoed_key_is_redacted_from_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS_PATH))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_string(format!("proxy rejected header Authorization: Bearer {TEST_KEY}")),
        )
        .mount(&server)
        .await;
    let client = stack_for(&server, 3);

    let error = client.complete(&question("q")).await.expect_err("403");

    let Error::Http { body, message, .. } = &error else {
        panic!("expected Http, got {error}");
    };
    assert!(body.contains("Bearer <redacted>"), "{body}");
    assert!(!message.contains(TEST_KEY), "{message}");
    assert!(!format!("{error:?}").contains(TEST_KEY));
    assert_eq!(request_count(&server).await, 1);
}
