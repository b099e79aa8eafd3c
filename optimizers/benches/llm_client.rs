//! Throughput of the full client stack: 200 requests at concurrency 16 against a
//! wiremock server on 127.0.0.1 that responds to each request after 100 ms. The ideal wall
//! time is 200 / 16 x 0.1 s = 1.25 s.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use optimizers::llm::{ApiKey, ChatRequest, ClientBuilder, LlmClient, LlmConfig, Message, RateLimits};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REQUESTS: usize = 200;
const CONCURRENCY: usize = 16;
const LATENCY: Duration = Duration::from_millis(100);

fn completion_body() -> serde_json::Value {
    json!({
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "bench-model",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": "ok" },
            "finish_reason": "stop"
        }],
        "usage": { "prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21 }
    })
}

async fn send_batch(client: Arc<dyn LlmClient>) {
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|index| {
            let client = client.clone();
            tokio::spawn(async move {
                let request = ChatRequest::new(vec![Message::user(format!("question {index}"))]);
                client.complete(&request).await
            })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.expect("task runs");
        assert!(outcome.is_ok(), "request failed: {outcome:?}");
    }
}

fn concurrent_requests(criterion: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");

    let server = runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(completion_body()).set_delay(LATENCY))
            .mount(&server)
            .await;
        server
    });
    let config = LlmConfig {
        base_url: format!("{}/v1", server.uri()),
        api_key: ApiKey::new("sk-bench"),
        model: "bench-model".to_owned(),
        timeout: Duration::from_secs(10),
    };
    let client: Arc<dyn LlmClient> = Arc::new(
        ClientBuilder::from_config(&config)
            .expect("valid config")
            .rate_limits(RateLimits { max_concurrency: Some(CONCURRENCY), ..RateLimits::default() })
            .build()
            .expect("stack builds"),
    );

    let mut group = criterion.benchmark_group("llm_client");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("200_requests_100ms_latency_concurrency_16", |bencher| {
        bencher.to_async(&runtime).iter(|| send_batch(client.clone()));
    });
    group.finish();
}

criterion_group!(benches, concurrent_requests);
criterion_main!(benches);
