//! OptoPrime sends rejected updates back to the model with the reasons, and reports every
//! attempt of the step.

use std::sync::Arc;

use optimizers::OptoPrime;
use optimizers::llm::MockClient;
use trace_core::{ClampProjection, Node, Optimizer, Projection, Value};

/// Rejects odd numbers.
#[derive(Debug)]
struct EvenOnly;

impl Projection for EvenOnly {
    fn project(&self, _node: &Node, value: Value) -> Result<Value, String> {
        match value {
            Value::Int(i) if i % 2 == 0 => Ok(Value::Int(i)),
            other => Err(format!("{other} is not an even integer")),
        }
    }
}

fn suggestion(key: &str, value: &str) -> String {
    format!(r#"{{"reasoning": "r", "answer": "", "suggestion": {{"{key}": {value}}}}}"#)
}

fn graph() -> Node {
    let x = Node::parameter("x", 2);
    let doubled = &x * 2;
    doubled.backward("the output should be 12").expect("backward on a fresh output succeeds");
    x
}

#[tokio::test]
async fn rejected_values_are_sent_back_with_reasons() {
    let x = graph();
    let mock = Arc::new(MockClient::new("mock").reply(suggestion(x.key(), "5")).reply(suggestion(x.key(), "6")));
    let mut optimizer = OptoPrime::new(vec![x.clone()], mock.clone());
    optimizer.add_projection(&x, Arc::new(EvenOnly));

    let report = optimizer.step().await.expect("the step succeeds");

    assert_eq!(x.value(), Value::Int(6));
    assert_eq!(report.llm_calls, 2);
    assert_eq!(report.updates.len(), 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].reason, "5 is not an even integer");
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let second_prompt = &requests[1].messages.last().expect("a user message").content;
    assert!(second_prompt.contains("was not applied"), "{second_prompt}");
    assert!(second_prompt.contains("5 is not an even integer"), "{second_prompt}");
    assert_eq!(optimizer.step_log().len(), 1);
}

#[tokio::test]
async fn rejections_stop_after_the_retry_limit() {
    let x = graph();
    let replies = (0..10).fold(MockClient::new("mock"), |mock, _| mock.reply(suggestion(x.key(), "7")));
    let mock = Arc::new(replies);
    let mut optimizer = OptoPrime::new(vec![x.clone()], mock.clone());
    optimizer.add_projection(&x, Arc::new(EvenOnly));
    let retries = optimizer.config().max_retries;

    let report = optimizer.step().await.expect("the step succeeds");

    assert_eq!(x.value(), Value::Int(2));
    assert_eq!(mock.requests().len(), retries + 1);
    assert_eq!(report.llm_calls, retries + 1);
    assert_eq!(report.rejected.len(), retries + 1);
    assert!(report.updates.is_empty());
}

#[tokio::test]
async fn accepted_values_need_one_call() {
    let x = graph();
    let mock = Arc::new(MockClient::new("mock").reply(suggestion(x.key(), "40")));
    let mut optimizer = OptoPrime::new(vec![x.clone()], mock.clone());
    optimizer.add_projection(&x, Arc::new(ClampProjection { min: 0.0, max: 10.0 }));

    let report = optimizer.step().await.expect("the step succeeds");

    assert_eq!(x.value(), Value::Float(10.0));
    assert_eq!(report.llm_calls, 1);
    assert!(report.rejected.is_empty());
}
