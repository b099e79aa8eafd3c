//! Helpers shared by the LLM client tests: a wiremock server speaking the chat
//! completions API on 127.0.0.1, and client settings with fast retries.

#![allow(dead_code, unreachable_pub)] // Each test binary uses a different subset.

use std::time::Duration;

use optimizers::llm::{ApiKey, ChatRequest, LlmConfig, Message, RetryPolicy};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A fake key distinctive enough that a substring search cannot hit anything else.
pub const TEST_KEY: &str = "sk-test-7f3a9c1e-DO-NOT-LEAK-5b2d8e4f";

pub const MODEL: &str = "test-model";

pub const COMPLETIONS_PATH: &str = "/v1/chat/completions";

/// Client settings for `server` with a 2-second request timeout.
pub fn config_for(server: &MockServer) -> LlmConfig {
    LlmConfig {
        base_url: format!("{}/v1", server.uri()),
        api_key: ApiKey::new(TEST_KEY),
        model: MODEL.to_owned(),
        timeout: Duration::from_secs(2),
    }
}

/// Retries after 10 ms, 20 ms, 40 ms so that retry tests finish quickly.
pub fn fast_retry(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
    }
}

/// Returns the body of a successful chat completion with 11 prompt and 5 completion tokens.
pub fn completion_body(text: &str) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": text },
            "finish_reason": "stop"
        }],
        "usage": { "prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16 }
    })
}

/// Returns the body of an OpenAI error object.
pub fn error_body(message: &str, kind: &str) -> Value {
    json!({ "error": { "message": message, "type": kind, "param": null, "code": null } })
}

/// Mounts a mock that responds to every chat completion with `text`.
pub async fn mount_success(server: &MockServer, text: &str) {
    Mock::given(method("POST"))
        .and(path(COMPLETIONS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion_body(text)))
        .mount(server)
        .await;
}

/// Mounts a mock that responds to the next `times` requests with `response`, ahead of any
/// mock mounted later.
pub async fn mount_first(server: &MockServer, response: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path(COMPLETIONS_PATH))
        .respond_with(response)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(server)
        .await;
}

/// Returns how many requests the server has received.
pub async fn request_count(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |requests| requests.len())
}

/// Returns the JSON bodies of the requests the server has received.
pub async fn request_bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| serde_json::from_slice(&request.body).unwrap_or(Value::Null))
        .collect()
}

/// Returns a request with a system message and the user message `text`.
pub fn question(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::system("Answer briefly."), Message::user(text)])
}
