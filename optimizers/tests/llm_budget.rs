//! The hard budget and the rate limits in the full client stack, against a real
//! HTTP server on 127.0.0.1 or the scripted mock.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use optimizers::Error;
use optimizers::llm::{Budget, BudgetResource, ClientBuilder, LlmClient, ModelPrice, PriceTable, RateLimits};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn call_budget_refuses_before_sending() {
    let server = MockServer::start().await;
    mount_success(&server, "ok").await;
    let client = ClientBuilder::from_config(&config_for(&server))
        .expect("valid config")
        .retry(fast_retry(0))
        .budget(Budget { max_calls: Some(2), ..Budget::default() })
        .build()
        .expect("stack builds");

    client.complete(&question("one")).await.expect("call 1");
    client.complete(&question("two")).await.expect("call 2");
    let error = client.complete(&question("three")).await.expect_err("over budget");

    assert!(
        matches!(
            error,
            Error::BudgetExhausted {
                resource: BudgetResource::Calls,
                limit,
                ..
            } if limit == 2.0
        ),
        "{error}"
    );
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn token_budget_refuses_call_that_would_exceed_it() {
    let server = MockServer::start().await;
    mount_success(&server, "ok").await;
    // Each reply reports 16 tokens; each request is estimated at about 10 prompt
    // tokens plus max_tokens 10, so the second call would pass 30.
    let client = ClientBuilder::from_config(&config_for(&server))
        .expect("valid config")
        .retry(fast_retry(0))
        .budget(Budget { max_tokens: Some(30), ..Budget::default() })
        .build()
        .expect("stack builds");

    client.complete(&question("q").max_tokens(10)).await.expect("call 1");
    let error = client.complete(&question("q").max_tokens(10).rollout(1)).await.expect_err("over budget");

    assert!(
        matches!(error, Error::BudgetExhausted { resource: BudgetResource::Tokens, used, .. } if used == 16.0),
        "{error}"
    );
    assert_eq!(request_count(&server).await, 1);
    assert_eq!(client.usage().total().total_tokens(), 16);
}

#[tokio::test]
async fn dollar_budget_uses_overridden_prices() {
    let server = MockServer::start().await;
    mount_success(&server, "ok").await;
    let mut prices = PriceTable::empty();
    prices.set(MODEL, ModelPrice { input_per_million: 1000.0, output_per_million: 2000.0 });
    let client = ClientBuilder::from_config(&config_for(&server))
        .expect("valid config")
        .retry(fast_retry(0))
        .prices(prices)
        .budget(Budget { max_dollars: Some(0.03), ..Budget::default() })
        .build()
        .expect("stack builds");

    let first = client.complete(&question("q").max_tokens(5)).await.expect("call 1");
    let error = client.complete(&question("q").max_tokens(5).rollout(1)).await.expect_err("over budget");

    // 11 prompt tokens at $1000/M plus 5 completion tokens at $2000/M.
    assert!((first.cost_usd - 0.021).abs() < 1e-9, "{}", first.cost_usd);
    assert!(matches!(error, Error::BudgetExhausted { resource: BudgetResource::Dollars, .. }), "{error}");
    assert_eq!(request_count(&server).await, 1);
    let per_model = client.usage().per_model();
    assert!((per_model[MODEL].cost_usd - 0.021).abs() < 1e-9);
}

#[tokio::test]
async fn dollar_budget_without_price_refuses() {
    let server = MockServer::start().await;
    mount_success(&server, "ok").await;
    let client = ClientBuilder::from_config(&config_for(&server))
        .expect("valid config")
        .prices(PriceTable::empty())
        .budget(Budget { max_dollars: Some(1.0), ..Budget::default() })
        .build()
        .expect("stack builds");

    let error = client.complete(&question("q")).await.expect_err("no price");

    assert!(matches!(&error, Error::UnknownPrice { model } if model == MODEL), "{error}");
    assert_eq!(request_count(&server).await, 0);
}

#[tokio::test]
async fn cache_hit_is_served_after_budget_is_spent() {
    let server = MockServer::start().await;
    mount_success(&server, "ok").await;
    let cache_dir = tempfile::tempdir().expect("temp dir");
    let client = ClientBuilder::from_config(&config_for(&server))
        .expect("valid config")
        .retry(fast_retry(0))
        .cache_dir(cache_dir.path())
        .budget(Budget { max_calls: Some(1), ..Budget::default() })
        .build()
        .expect("stack builds");

    client.complete(&question("q")).await.expect("call 1");
    let repeated = client.complete(&question("q")).await.expect("cache hit is free");
    let new = client.complete(&question("new")).await;

    assert!(repeated.cached);
    assert!(matches!(new, Err(Error::BudgetExhausted { .. })));
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn concurrent_calls_cannot_overshoot_call_budget() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(completion_body("ok")).set_delay(Duration::from_millis(50)),
        )
        .mount(&server)
        .await;
    let client = Arc::new(
        ClientBuilder::from_config(&config_for(&server))
            .expect("valid config")
            .retry(fast_retry(0))
            .budget(Budget { max_calls: Some(3), ..Budget::default() })
            .build()
            .expect("stack builds"),
    );

    let tasks: Vec<_> = (0..10)
        .map(|index| {
            let client = client.clone();
            tokio::spawn(async move { client.complete(&question(&format!("q{index}"))).await })
        })
        .collect();
    let mut succeeded = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.expect("task runs") {
            Ok(_) => succeeded += 1,
            Err(Error::BudgetExhausted { .. }) => refused += 1,
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    assert_eq!(succeeded, 3);
    assert_eq!(refused, 7);
    assert_eq!(request_count(&server).await, 3);
}

#[tokio::test]
async fn concurrency_limit_serializes_requests() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(completion_body("ok")).set_delay(Duration::from_millis(100)),
        )
        .mount(&server)
        .await;
    let client = Arc::new(
        ClientBuilder::from_config(&config_for(&server))
            .expect("valid config")
            .rate_limits(RateLimits { max_concurrency: Some(2), ..RateLimits::default() })
            .build()
            .expect("stack builds"),
    );

    let started = Instant::now();
    let tasks: Vec<_> = (0..6)
        .map(|index| {
            let client = client.clone();
            tokio::spawn(async move { client.complete(&question(&format!("q{index}"))).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task runs").expect("200");
    }
    let elapsed = started.elapsed();

    assert_eq!(request_count(&server).await, 6);
    // Six 100 ms requests two at a time take at least three rounds.
    assert!(elapsed >= Duration::from_millis(290), "finished in {elapsed:?}");
}

#[tokio::test]
async fn requests_per_minute_limit_delays_excess_requests() {
    let server = MockServer::start().await;
    mount_success(&server, "ok").await;
    // 120 per minute is a burst of 120, then one request every 0.5 s.
    let client = ClientBuilder::from_config(&config_for(&server))
        .expect("valid config")
        .rate_limits(RateLimits { requests_per_minute: Some(120), ..RateLimits::default() })
        .build()
        .expect("stack builds");

    let started = Instant::now();
    for index in 0..121 {
        client.complete(&question(&format!("q{index}"))).await.expect("200");
    }
    let elapsed = started.elapsed();

    assert_eq!(request_count(&server).await, 121);
    assert!(elapsed >= Duration::from_millis(450), "finished in {elapsed:?}");
}

#[tokio::test]
async fn tokens_per_minute_limit_delays_excess_tokens() {
    // Each request is estimated at 11 tokens and reports 10, so 120 requests use up
    // the 1200-token burst and the 121st waits about 10 / (1200 / 60 s) = 0.5 s.
    let mock = Arc::new(optimizers::llm::MockClient::new(MODEL));
    for _ in 0..121 {
        mock.push_reply_completion(optimizers::llm::Completion {
            usage: optimizers::llm::TokenUsage { prompt_tokens: 10, completion_tokens: 0 },
            ..optimizers::llm::Completion::from_text(MODEL, "ok")
        });
    }
    let client = ClientBuilder::new(mock.clone())
        .rate_limits(RateLimits { tokens_per_minute: Some(1200), ..RateLimits::default() })
        .build()
        .expect("stack builds");

    let started = Instant::now();
    for _ in 0..121 {
        client.complete(&question("q")).await.expect("queued reply");
    }
    let elapsed = started.elapsed();

    assert_eq!(mock.requests().len(), 121);
    assert!(elapsed >= Duration::from_millis(400), "finished in {elapsed:?}");
}
