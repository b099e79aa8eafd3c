//! The rendered prompts of OPRO and TextGrad, snapshot-tested. The file contains one test so
//! that node keys, which come from process-wide counters, are the same on every run.

use std::sync::Arc;

use optimizers::llm::MockClient;
use optimizers::{Opro, OproConfig, TextGrad, TextGradConfig};
use trace_core::{Node, Optimizer, Parameter, Value, ops};

#[tokio::test]
async fn prompts_of_opro_and_textgrad() {
    let rate = Parameter::new("rate", 0.5).constraint("Between 0 and 1.").build();
    let opro_mock = Arc::new(MockClient::new("mock"));
    let config = OproConfig { objective: Some("Make the score 1.".into()), ..OproConfig::default() };
    let mut opro = Opro::new(vec![rate.clone()], opro_mock.clone()).with_config(config);
    for (feedback, reply) in [("score 0.5", "0.7"), ("score 0.7", "0.9")] {
        (&rate * 1.0).backward(feedback).unwrap();
        opro_mock.push_reply(format!(r#"{{"reasoning": "higher", "suggestion": {{"rate0": {reply}}}}}"#));
        opro.step().await.unwrap();
        opro.zero_feedback();
    }

    let template = Parameter::new("template", "Hi {name}.").description("A greeting template").build();
    let greeting = ops::format(&template, &[("name", &Node::input("name", "Ada"))]);
    greeting.backward("Too short; welcome the guest.").unwrap();
    let textgrad_mock = Arc::new(
        MockClient::new("mock")
            .reply("Add a welcome.")
            .reply("<IMPROVED_VARIABLE>Welcome, {name}!</IMPROVED_VARIABLE>"),
    );
    let config = TextGradConfig { objective: Some("A warm greeting.".into()), ..TextGradConfig::default() };
    let mut textgrad = TextGrad::new(vec![template.clone()], textgrad_mock.clone()).with_config(config);
    textgrad.step().await.unwrap();

    let opro_requests = opro_mock.requests();
    insta::assert_snapshot!("opro_system", opro_requests[1].messages[0].content);
    insta::assert_snapshot!("opro_user", opro_requests[1].messages[1].content);
    let textgrad_requests = textgrad_mock.requests();
    insta::assert_snapshot!("textgrad_system", textgrad_requests[0].messages[0].content);
    insta::assert_snapshot!("textgrad_gradient", textgrad_requests[0].messages[1].content);
    insta::assert_snapshot!("textgrad_descent", textgrad_requests[1].messages[1].content);
    assert_eq!(rate.value(), Value::Float(0.9));
    assert_eq!(template.value(), Value::from("Welcome, {name}!"));
}
