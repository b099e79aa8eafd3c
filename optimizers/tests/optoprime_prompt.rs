//! The rendered OptoPrime prompt of a small graph, snapshot-tested. The file contains one test
//! so that node keys, which come from process-wide counters, are the same on every run.

use std::sync::Arc;

use optimizers::OptoPrime;
use optimizers::llm::MockClient;
use trace_core::{Node, Optimizer, Parameter, Value, ops};

#[tokio::test]
async fn prompt_of_small_graph() {
    let greeting = Parameter::new("greeting", "Hello").description("The greeting word").constraint("One word.").build();
    let count = Node::parameter("count", 2);
    let name = Node::input("name", "Ada");
    let repeated = &count * 2;
    let message = ops::format(&greeting, &[("name", &name)]);
    let output = ops::format(&Node::input("template", "{m} x{n}"), &[("m", &message), ("n", &repeated)]);
    output.backward("Expected \"Hello, Ada!\" printed 3 times.").unwrap();
    let reply = r#"{"reasoning": "r", "answer": "", "suggestion": {"greeting0": "Hello, {name}!", "count0": 3}}"#;
    let mock = Arc::new(MockClient::new("mock").reply(reply));
    let mut optimizer = OptoPrime::new(vec![greeting.clone(), count.clone()], mock.clone());

    let report = optimizer.step().await.unwrap();

    let request = &mock.requests()[0];
    insta::assert_snapshot!("optoprime_system", request.messages[0].content);
    insta::assert_snapshot!("optoprime_user", request.messages[1].content);
    assert_eq!(greeting.value(), Value::from("Hello, {name}!"));
    assert_eq!(count.value(), Value::Int(3));
    assert_eq!(report.updates.len(), 2);
    assert_eq!(report.llm_calls, 1);
}
