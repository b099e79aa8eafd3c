//! OPRO, TextGrad and OptoPrimeMulti against the scripted mock.

use std::sync::Arc;

use optimizers::llm::{MockClient, Role};
use optimizers::{Error, Opro, OproConfig, OptoPrimeMulti, Selector, TextGrad, TextGradConfig};
use trace_core::{Node, Optimizer, Proposal, Value, ops};

fn suggestion(key: &str, value: &str) -> String {
    format!(r#"{{"reasoning": "r", "suggestion": {{"{key}": {value}}}}}"#)
}

#[tokio::test]
async fn opro_shows_history_without_graph() {
    let x = Node::parameter("x", 1);
    let mock = Arc::new(MockClient::new("mock"));
    let config =
        OproConfig { objective: Some("Make x * 3 equal 12.".into()), history_size: 2, ..OproConfig::default() };
    let mut optimizer = Opro::new(vec![x.clone()], mock.clone()).with_config(config);

    for (feedback, reply) in [("3 is too small", "2"), ("6 is too small", "5"), ("15 is too big", "4")] {
        (&x * 3).backward(feedback).unwrap();
        mock.push_reply(suggestion(x.key(), reply));
        optimizer.step().await.unwrap();
        optimizer.zero_feedback();
    }

    assert_eq!(x.value(), Value::Int(4));
    let prompts: Vec<String> = mock.requests().iter().map(|r| r.messages[1].content.clone()).collect();
    assert!(prompts[0].starts_with("#Objective\nMake x * 3 equal 12.\n"), "{}", prompts[0]);
    assert!(!prompts[0].contains("#Code"));
    assert!(
        prompts[1].contains(&format!("Attempt 1:\n(int) {}=1\nFeedback: 3 is too small", x.key())),
        "{}",
        prompts[1]
    );
    assert!(prompts[1].contains(&format!("Attempt 2:\n(int) {}=2\nFeedback: 6 is too small", x.key())));
    assert!(!prompts[2].contains("3 is too small"), "history of 2 keeps only the last two");
    assert!(prompts[2].contains(&format!("#Current variables\n(int) {}=5", x.key())));
    assert_eq!(optimizer.history().len(), 2);
    assert_eq!(optimizer.checkpoint_state()["history"][1]["feedback"], "15 is too big");
}

#[tokio::test]
async fn opro_retries_bad_reply() {
    let prompt = Node::parameter("prompt", "Answer.");
    ops::format(&prompt, &[]).backward("too vague").unwrap();
    let mock = Arc::new(
        MockClient::new("mock").reply("{'reasoning': 'r'}").reply(suggestion(prompt.key(), "\"Answer in one word.\"")),
    );
    let mut optimizer = Opro::new(vec![prompt.clone()], mock.clone());

    let report = optimizer.step().await.unwrap();

    assert_eq!(prompt.value(), Value::from("Answer in one word."));
    assert_eq!(report.llm_calls, 2);
    assert!(mock.requests()[1].messages[3].content.contains("no \"suggestion\" object"));
}

#[tokio::test]
async fn textgrad_walks_edges_backward() {
    let x = Node::parameter("x", 2);
    let doubled = &x * 2;
    let shifted = &doubled + 1;
    shifted.backward("the result should be 9").unwrap();
    let mock = Arc::new(
        MockClient::new("mock")
            .reply("The doubled value should be 8.")
            .reply("x should be 4.")
            .reply("Here it is: <IMPROVED_VARIABLE>4</IMPROVED_VARIABLE>"),
    );
    let config = TextGradConfig { objective: Some("Reach 9.".into()), ..TextGradConfig::default() };
    let mut optimizer = TextGrad::new(vec![x.clone()], mock.clone()).with_config(config);

    let report = optimizer.step().await.unwrap();

    assert_eq!(x.value(), Value::Int(4));
    assert_eq!(report.llm_calls, 3);
    let prompts: Vec<String> = mock.requests().iter().map(|r| r.messages[1].content.clone()).collect();
    assert!(prompts[0].contains(&format!("{} = add(x={}, y=", shifted.key(), doubled.key())), "{}", prompts[0]);
    assert!(prompts[0].contains("<FEEDBACK>the result should be 9</FEEDBACK>"));
    assert!(prompts[0].contains(&format!("how the input `{}` should change", doubled.key())));
    assert!(prompts[1].contains("<FEEDBACK>The doubled value should be 8.</FEEDBACK>"));
    assert!(prompts[1].contains(&format!("how the input `{}` should change", x.key())));
    assert!(prompts[2].contains(&format!("Improve the variable `{}` of type (int)", x.key())), "{}", prompts[2]);
    assert!(prompts[2].contains("<VARIABLE>\n2\n</VARIABLE>"), "{}", prompts[2]);
    assert!(prompts[2].contains("<FEEDBACK>x should be 4.</FEEDBACK>"));
    assert!(prompts[2].contains("The overall goal: Reach 9."));
    assert_eq!(report.reasoning.as_deref(), Some(format!("{}: x should be 4.", x.key()).as_str()));
}

#[tokio::test]
async fn textgrad_reduces_feedback_of_shared_node() {
    let x = Node::parameter("x", "hi");
    let first = x.upper();
    let second = x.strip();
    trace_core::backward(
        &[(first.clone(), "too loud".into()), (second.clone(), "too short".into())],
        &trace_core::BackwardOptions::default(),
    )
    .unwrap();
    let mock = Arc::new(
        MockClient::new("mock")
            .reply("quieter")
            .reply("longer")
            .reply("quieter and longer")
            .reply("<IMPROVED_VARIABLE>hello there</IMPROVED_VARIABLE>"),
    );
    let mut optimizer = TextGrad::new(vec![x.clone()], mock.clone());

    let report = optimizer.step().await.unwrap();

    assert_eq!(x.value(), Value::from("hello there"));
    assert_eq!(report.llm_calls, 4);
    let reduce_prompt = &mock.requests()[2].messages[1].content;
    assert!(reduce_prompt.contains("<FEEDBACK>quieter</FEEDBACK>\n<FEEDBACK>longer</FEEDBACK>"), "{reduce_prompt}");
}

#[tokio::test]
async fn textgrad_retries_missing_tag() {
    let x = Node::parameter("x", "hi");
    ops::format(&x, &[]).backward("say more").unwrap();
    let mock = Arc::new(
        MockClient::new("mock")
            .reply("")
            .reply("Use a longer greeting.")
            .reply("hello there")
            .reply("<IMPROVED_VARIABLE>hello there</IMPROVED_VARIABLE>"),
    );
    let mut optimizer = TextGrad::new(vec![x.clone()], mock.clone());

    let report = optimizer.step().await.unwrap();

    assert_eq!(x.value(), Value::from("hello there"));
    assert_eq!(report.llm_calls, 4);
    let requests = mock.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests[1].messages[3].content.starts_with("Your reply could not be used: the reply is empty"));
    assert_eq!(requests[3].messages[2].role, Role::Assistant);
    assert_eq!(requests[3].messages[2].content, "hello there");
    assert!(requests[3].messages[3].content.contains("has no <IMPROVED_VARIABLE> tag"));
}

#[tokio::test]
async fn textgrad_gives_up_after_retries() {
    let x = Node::parameter("x", 1);
    (&x + 1).backward("too small").unwrap();
    let mock = Arc::new(MockClient::new("mock").reply("increase x").reply("5").reply("five").reply("6"));
    let mut optimizer = TextGrad::new(vec![x.clone()], mock.clone());

    let error = optimizer.step().await.unwrap_err();

    let error = error.downcast::<Error>().unwrap();
    assert!(matches!(*error, Error::InvalidReply { attempts: 4, .. }), "{error}");
    assert_eq!(x.value(), Value::Int(1));
    assert_eq!(optimizer.step_log()[0].llm_calls, 4);
}

fn multi_graph() -> Node {
    let x = Node::parameter("x", 1);
    (&x * 3).backward("should be 12").expect("backward on a fresh output succeeds");
    x
}

#[tokio::test]
async fn multi_samples_each_temperature_and_takes_majority() {
    let x = multi_graph();
    let mock = Arc::new(
        MockClient::new("mock")
            .reply(suggestion(x.key(), "5"))
            .reply(suggestion(x.key(), "4"))
            .reply(suggestion(x.key(), "4.0")),
    );
    let mut optimizer = OptoPrimeMulti::new(vec![x.clone()], mock.clone()).with_temperatures(vec![0.0, 0.7, 1.4]);

    let report = optimizer.step().await.unwrap();

    assert_eq!(x.value(), Value::Int(4));
    assert_eq!(report.llm_calls, 3);
    let requests = mock.requests();
    assert_eq!(requests.iter().map(|r| r.temperature).collect::<Vec<_>>(), [Some(0.0), Some(0.7), Some(1.4)]);
    assert_eq!(requests.iter().map(|r| r.rollout).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(requests[0].messages, requests[2].messages);
    assert!(report.warnings.iter().any(|w| w == "chose candidate 1 (temperature 0.7) of 3 by Majority"), "{report:?}");
}

#[tokio::test]
async fn multi_best_uses_score_function() {
    let x = multi_graph();
    let mock = Arc::new(
        MockClient::new("mock")
            .reply(suggestion(x.key(), "5"))
            .reply(suggestion(x.key(), "4"))
            .reply(suggestion(x.key(), "9")),
    );
    let score: optimizers::ScoreFn = Arc::new(|proposal: Proposal| {
        Box::pin(async move {
            let Some((_, Value::Int(candidate))) = proposal.updates.first() else { return f64::NEG_INFINITY };
            -((candidate * 3 - 12) as f64).abs()
        })
    });
    let mut optimizer = OptoPrimeMulti::new(vec![x.clone()], mock).with_selector(Selector::Best(score));

    optimizer.step().await.unwrap();

    assert_eq!(x.value(), Value::Int(4));
}

#[tokio::test]
async fn multi_last_survives_failed_candidates() {
    let x = multi_graph();
    let mock =
        Arc::new(MockClient::new("mock").reply(suggestion(x.key(), "5")).reply("nonsense").reply("still nonsense"));
    let config = optimizers::OptoPrimeConfig { max_retries: 1, ..Default::default() };
    let mut optimizer = OptoPrimeMulti::new(vec![x.clone()], mock.clone())
        .with_config(config)
        .with_temperatures(vec![0.0, 1.0])
        .with_selector(Selector::Last);

    let report = optimizer.step().await.unwrap();

    assert_eq!(x.value(), Value::Int(5));
    assert_eq!(report.llm_calls, 3);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("candidate 1: OptoPrimeMulti could not use the LLM reply after 2 calls")),
        "{report:?}"
    );
}

#[tokio::test]
async fn multi_fails_when_every_candidate_fails() {
    let x = multi_graph();
    let mock = Arc::new(MockClient::new("mock").reply("a").reply("b"));
    let config = optimizers::OptoPrimeConfig { max_retries: 0, ..Default::default() };
    let mut optimizer =
        OptoPrimeMulti::new(vec![x.clone()], mock).with_config(config).with_temperatures(vec![0.0, 1.0]);

    let error = optimizer.step().await.unwrap_err();

    assert!(matches!(*error.downcast::<Error>().unwrap(), Error::NoCandidate { count: 2, .. }));
    assert_eq!(optimizer.step_log()[0].llm_calls, 2);
    assert_eq!(x.value(), Value::Int(1));
}

#[tokio::test]
async fn multi_counts_failed_request_of_candidate() {
    let x = multi_graph();
    let server_error =
        Error::Http { status: 500, message: "overloaded".into(), body: String::new(), retry_after: None };
    let mock = Arc::new(MockClient::new("mock").reply(suggestion(x.key(), "5")).fail(server_error));
    let mut optimizer = OptoPrimeMulti::new(vec![x.clone()], mock.clone()).with_temperatures(vec![0.0, 1.0]);

    let report = optimizer.step().await.unwrap();

    assert_eq!(x.value(), Value::Int(5));
    assert_eq!(mock.requests().len(), 2);
    assert_eq!(report.llm_calls, 2, "the failed request counts too: {report:?}");
}
