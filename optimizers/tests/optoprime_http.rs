//! End to end over HTTP: OptoPrime, through the OpenAI-compatible client, against a
//! wiremock server on 127.0.0.1 with canned replies, drives `x` until `3 * x - 12` is 0.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use optimizers::llm::{ClientBuilder, LlmClient};
use optimizers::{OptoPrime, OptoPrimeConfig};
use serde_json::json;
use trace_core::{Node, Optimizer, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Responds to chat completions with the next canned `(text, finish_reason)` in order.
struct Canned {
    replies: Vec<(String, &'static str)>,
    next: AtomicUsize,
}

impl Respond for Canned {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let index = self.next.fetch_add(1, Ordering::SeqCst);
        let Some((text, finish_reason)) = self.replies.get(index) else {
            return ResponseTemplate::new(500)
                .set_body_json(common::error_body("no canned reply left", "server_error"));
        };
        let mut body = common::completion_body(text);
        body["choices"][0]["finish_reason"] = json!(finish_reason);
        ResponseTemplate::new(200).set_body_json(body)
    }
}

fn f(x: &Node) -> Node {
    &(x * 3) - 12
}

#[tokio::test]
async fn steps_drive_x_to_the_root() {
    let x = Node::parameter("x", 0);
    let key = x.key().to_string();
    let colon_key = format!("x:{}", &key[1..]);
    let replies = vec![
        (
            format!(
                "The output is 12 too low, so x should grow by 4.\n```json\n{{'reasoning': 'guess', 'suggestion': {{'{key}': 2,}}}}\n```"
            ),
            "stop",
        ),
        (r#"{"reasoning": "f(2) = -6, so x still has to grow, by"#.to_string(), "length"),
        (
            format!(r#"{{"reasoning": "overshoot on purpose", "answer": None, "suggestion": {{"{colon_key}": "5"}}}}"#),
            "stop",
        ),
        (format!(r#"{{"reasoning": "f is linear with slope 3", "answer": "", "suggestion": {{"{key}": 4}}}}"#), "stop"),
    ];
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(common::COMPLETIONS_PATH))
        .respond_with(Canned { replies, next: AtomicUsize::new(0) })
        .mount(&server)
        .await;
    let client: Arc<dyn LlmClient> =
        Arc::new(ClientBuilder::from_config(&common::config_for(&server)).unwrap().no_retry().build().unwrap());
    let config = OptoPrimeConfig { memory_size: 3, ..OptoPrimeConfig::default() };
    let mut optimizer = OptoPrime::new(vec![x.clone()], client).with_config(config);

    let mut outputs = Vec::new();
    for _ in 0..6 {
        let output = f(&x);
        let value = output.value();
        outputs.push(value.clone());
        if value == Value::Int(0) {
            break;
        }
        output.backward(format!("f(x) returned {value}, but it should return 0")).unwrap();
        optimizer.step().await.unwrap();
        optimizer.zero_feedback();
    }

    assert_eq!(x.value(), Value::Int(4));
    assert_eq!(outputs, [Value::Int(-12), Value::Int(-6), Value::Int(3), Value::Int(0)]);
    let calls: Vec<usize> = optimizer.step_log().iter().map(|report| report.llm_calls).collect();
    assert_eq!(calls, [1, 2, 1]);
    let bodies = common::request_bodies(&server).await;
    assert_eq!(bodies.len(), 4);
    let user_prompt = |index: usize| bodies[index]["messages"][1]["content"].as_str().unwrap_or_default().to_string();
    assert!(user_prompt(0).contains(&format!("#Variables\n(int) {key}=0\n")), "{}", user_prompt(0));
    assert!(user_prompt(1).contains(&format!("#Variables\n(int) {key}=2\n")));
    assert!(user_prompt(1).contains("Feedback: f(x) returned -12, but it should return 0"));
    assert!(user_prompt(3).contains("#Feedback\nf(x) returned 3, but it should return 0"));
    assert_eq!(bodies[0]["response_format"]["type"], "json_schema");
    assert_eq!(bodies[0]["response_format"]["json_schema"]["name"], "optoprime_reply");
    let retry = &bodies[2]["messages"];
    assert_eq!(retry[2]["role"], "assistant");
    assert!(retry[3]["content"].as_str().unwrap_or_default().contains("cut off by the token limit"), "{retry}");
}
