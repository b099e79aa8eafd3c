//! OptoPrime against the scripted mock: updates, the corpus of bad replies, memory, the
//! prompt size limit and checkpoint state.

use std::sync::Arc;

use optimizers::llm::{Completion, FinishReason, MockClient, ResponseFormat, Role};
use optimizers::{Error, OptoPrime, OptoPrimeConfig};
use trace_core::{ClampProjection, Node, Optimizer, Parameter, Value};

/// A parameter `x` (int), a prompt parameter, and a frozen input, combined into one output
/// that has received feedback.
struct Graph {
    x: Node,
    prompt: Node,
    frozen: Node,
}

fn graph() -> Graph {
    let x = Node::parameter("x", 1);
    let prompt = Node::parameter("prompt", "Say hi.");
    let frozen = Node::input("frozen", 10);
    let sum = &x + &frozen;
    let text = trace_core::ops::format(&prompt, &[("n", &sum)]);
    text.backward("the number should be 15").expect("backward on a fresh output succeeds");
    Graph { x, prompt, frozen }
}

fn optimizer(graph: &Graph, mock: &Arc<MockClient>) -> OptoPrime {
    let parameters = vec![graph.x.clone(), graph.prompt.clone(), graph.frozen.clone()];
    OptoPrime::new(parameters, mock.clone())
}

fn suggestion(key: &str, value: &str) -> String {
    format!(r#"{{"reasoning": "r", "answer": "", "suggestion": {{"{key}": {value}}}}}"#)
}

#[tokio::test]
async fn step_updates_exactly_the_suggested_parameters() {
    let graph = graph();
    let mock = Arc::new(MockClient::new("mock").reply(suggestion(graph.x.key(), "5")));
    let mut optimizer = optimizer(&graph, &mock);

    let report = optimizer.step().await.unwrap();

    assert_eq!(graph.x.value(), Value::Int(5));
    assert_eq!(graph.prompt.value(), Value::from("Say hi."));
    assert_eq!(graph.frozen.value(), Value::Int(10));
    assert_eq!(report.updates.len(), 1);
    assert_eq!(report.updates[0].key, graph.x.key());
    assert_eq!(report.updates[0].before, "1");
    assert_eq!(report.updates[0].after, "5");
    assert_eq!(report.llm_calls, 1);
    assert_eq!(optimizer.step_log().len(), 1);
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let ResponseFormat::JsonSchema { schema, .. } = &requests[0].response_format else {
        panic!("expected a JSON Schema response format, found {:?}", requests[0].response_format);
    };
    let schema: serde_json::Value = serde_json::from_str(schema).expect("the schema is JSON");
    let suggestion = &schema["properties"]["suggestion"];
    assert_eq!(suggestion["required"], serde_json::json!([graph.x.key(), graph.prompt.key()]));
    assert_eq!(suggestion["properties"][graph.x.key()]["type"], "integer");
    assert_eq!(suggestion["properties"][graph.prompt.key()]["type"], "string");
    assert_eq!(requests[0].messages.iter().map(|m| m.role).collect::<Vec<_>>(), [Role::System, Role::User]);
}

/// One entry of the corpus: the scripted replies, then what must happen.
struct Case {
    name: &'static str,
    replies: Vec<Completion>,
    calls: usize,
    x_after: Option<i64>,
}

fn text(reply: &str) -> Completion {
    Completion::from_text("mock", reply)
}

fn cut_off(reply: &str) -> Completion {
    Completion { finish_reason: FinishReason::Length, ..Completion::from_text("mock", reply) }
}

fn corpus(x: &str) -> Vec<Case> {
    let good = text(&suggestion(x, "7"));
    vec![
        Case {
            name: "prose around json",
            replies: vec![text(&format!("Let me think.\n{}\nThat should work.", suggestion(x, "7")))],
            calls: 1,
            x_after: Some(7),
        },
        Case {
            name: "code fence",
            replies: vec![text(&format!("```json\n{}\n```", suggestion(x, "7")))],
            calls: 1,
            x_after: Some(7),
        },
        Case {
            name: "single quotes",
            replies: vec![text(&format!("{{'reasoning': 'r', 'suggestion': {{'{x}': 7}}}}"))],
            calls: 1,
            x_after: Some(7),
        },
        Case {
            name: "trailing commas",
            replies: vec![text(&format!(r#"{{"reasoning": "r", "suggestion": {{"{x}": 7,}},}}"#))],
            calls: 1,
            x_after: Some(7),
        },
        Case {
            name: "python literals",
            replies: vec![text(&format!(r#"{{"reasoning": None, "answer": False, "suggestion": {{"{x}": 7}}}}"#))],
            calls: 1,
            x_after: Some(7),
        },
        Case {
            name: "nested suggestion",
            replies: vec![text(&format!(r#"{{"reasoning": "r", "suggestion": {{"suggestion": {{"{x}": 7}}}}}}"#))],
            calls: 1,
            x_after: Some(7),
        },
        Case { name: "number as string", replies: vec![text(&suggestion(x, "\"7\""))], calls: 1, x_after: Some(7) },
        Case { name: "colon alias", replies: vec![text(&suggestion(&colon(x), "7"))], calls: 1, x_after: Some(7) },
        Case {
            name: "value of the wrong type",
            replies: vec![text(&suggestion(x, "\"seven\"")), good.clone()],
            calls: 2,
            x_after: Some(7),
        },
        Case {
            name: "truncated output",
            replies: vec![cut_off(r#"{"reasoning": "The output is too low because the"#), good.clone()],
            calls: 2,
            x_after: Some(7),
        },
        Case { name: "empty reply", replies: vec![text(""), good.clone()], calls: 2, x_after: Some(7) },
        Case {
            name: "intermediate key",
            replies: vec![text(&suggestion("add0", "7")), good.clone()],
            calls: 2,
            x_after: Some(7),
        },
        Case {
            name: "missing suggestion",
            replies: vec![text(r#"{"reasoning": "x should be 5 higher"}"#), good.clone()],
            calls: 2,
            x_after: Some(7),
        },
        Case {
            name: "prose only",
            replies: vec![text("I would increase the number."), good.clone()],
            calls: 2,
            x_after: Some(7),
        },
        Case { name: "terminate", replies: vec![text("TERMINATE")], calls: 1, x_after: None },
    ]
}

/// `x:0` for `x0`: the key form of the Python reference.
fn colon(key: &str) -> String {
    let digits = key.trim_start_matches(|c: char| !c.is_ascii_digit());
    format!("{}:{digits}", &key[..key.len() - digits.len()])
}

#[tokio::test]
async fn bad_replies_are_repaired_or_retried() {
    for index in 0..corpus("x0").len() {
        let graph = graph();
        let case = corpus(graph.x.key()).remove(index);
        let mock = case.replies.into_iter().fold(MockClient::new("mock"), MockClient::reply_completion);
        let mock = Arc::new(mock);
        let mut optimizer = optimizer(&graph, &mock);

        let report = optimizer.step().await.unwrap_or_else(|error| panic!("{}: {error}", case.name));

        assert_eq!(mock.requests().len(), case.calls, "{}: LLM calls", case.name);
        assert_eq!(report.llm_calls, case.calls, "{}: reported calls", case.name);
        assert_eq!(graph.x.value(), Value::Int(case.x_after.unwrap_or(1)), "{}: value of x", case.name);
        assert_eq!(report.terminated, case.x_after.is_none(), "{}: terminated", case.name);
        assert_eq!(graph.prompt.value(), Value::from("Say hi."), "{}: prompt", case.name);
    }
}

#[tokio::test]
async fn retry_sends_error_and_valid_keys() {
    let graph = graph();
    let x = graph.x.key().to_string();
    let mock = Arc::new(MockClient::new("mock").reply(suggestion("add0", "7")).reply(suggestion(&x, "7")));
    let mut optimizer = optimizer(&graph, &mock);

    optimizer.step().await.unwrap();

    let retry = &mock.requests()[1];
    assert_eq!(retry.messages.len(), 4);
    assert_eq!(retry.messages[2].role, Role::Assistant);
    assert_eq!(retry.messages[2].content, suggestion("add0", "7"));
    let follow_up = &retry.messages[3].content;
    assert!(follow_up.contains("names no known variable, only `add0`"), "{follow_up}");
    assert!(follow_up.contains(&format!("{x}, {}", graph.prompt.key())), "{follow_up}");
    assert!(!follow_up.contains(graph.frozen.key()), "{follow_up}");
}

#[tokio::test]
async fn replies_that_stay_bad_fail_the_step() {
    let graph = graph();
    let mock = Arc::new(MockClient::new("mock").reply("no idea").reply("{}").reply(suggestion("add0", "1")));
    let mut optimizer = optimizer(&graph, &mock);

    let error = optimizer.step().await.unwrap_err();

    let error = error.downcast::<Error>().unwrap();
    assert!(matches!(*error, Error::InvalidReply { attempts: 3, .. }), "{error}");
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(graph.x.value(), Value::Int(1));
    let logged = &optimizer.step_log()[0];
    assert_eq!(logged.llm_calls, 3);
    assert!(logged.error.as_deref().unwrap().contains("names no known variable"), "{logged:?}");
    assert!(logged.updates.is_empty());
}

#[tokio::test]
async fn retry_limit_is_configurable() {
    let graph = graph();
    let mock = Arc::new(MockClient::new("mock").reply("no idea"));
    let config = OptoPrimeConfig { max_retries: 0, ..OptoPrimeConfig::default() };
    let mut optimizer = optimizer(&graph, &mock).with_config(config);

    let error = optimizer.step().await.unwrap_err();

    assert!(error.to_string().contains("after 1 calls"), "{error}");
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn function_name_maps_to_code_parameter() {
    let code = Parameter::new("__code", Value::Code("function triple(n) { return 2 * n; }".into()))
        .constraint("function triple(n)")
        .build();
    let output = trace_core::ops::format(&code, &[]);
    output.backward("triple(2) returned 4, expected 6").unwrap();
    let new_source = "function triple(n) { return 3 * n; }";
    let mock = Arc::new(MockClient::new("mock").reply(format!(r#"{{"suggestion": {{"triple": "{new_source}"}}}}"#)));
    let mut optimizer = OptoPrime::new(vec![code.clone()], mock.clone());

    let report = optimizer.step().await.unwrap();

    assert_eq!(code.value(), Value::Code(new_source.into()));
    assert!(report.warnings.iter().any(|w| w.contains(&format!("key `triple` was read as `{}`", code.key()))));
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn non_trainable_parameter_is_never_changed() {
    let graph = graph();
    let frozen = graph.frozen.key().to_string();
    let reply = format!(r#"{{"suggestion": {{"{frozen}": 99, "{}": 2}}}}"#, graph.x.key());
    let mock = Arc::new(
        MockClient::new("mock").reply(reply).reply(suggestion(&frozen, "99")).reply(suggestion(&frozen, "99")),
    );
    let mut optimizer = optimizer(&graph, &mock);

    let first = optimizer.step().await.unwrap();
    let second = optimizer.step().await;

    assert_eq!(graph.frozen.value(), Value::Int(10));
    assert_eq!(graph.x.value(), Value::Int(2));
    assert!(first.warnings.iter().any(|w| w.contains(&format!("unknown keys were ignored: `{frozen}`"))), "{first:?}");
    assert!(second.is_err());
    let user_prompt = &mock.requests()[0].messages[1].content;
    assert!(user_prompt.contains(&format!("#Inputs\n(int) {frozen}=10")), "{user_prompt}");
}

#[tokio::test]
async fn memory_shows_past_feedback() {
    let x = Node::parameter("x", 1);
    let mock = Arc::new(MockClient::new("mock"));
    let config = OptoPrimeConfig { memory_size: 2, ..OptoPrimeConfig::default() };
    let mut optimizer = OptoPrime::new(vec![x.clone()], mock.clone()).with_config(config);

    for (value, feedback) in [(3, "1 is too small"), (9, "3 is still too small"), (9, "9 is too big")] {
        let y = &x * 1;
        y.backward(feedback).unwrap();
        mock.push_reply(suggestion(x.key(), &value.to_string()));
        optimizer.step().await.unwrap();
        optimizer.zero_feedback();
    }

    let prompts: Vec<String> = mock.requests().iter().map(|r| r.messages[1].content.clone()).collect();
    assert!(!prompts[0].contains("tried before"));
    assert!(
        prompts[1].contains(&format!("Variables:\n(int) {}=1\nFeedback: 1 is too small", x.key())),
        "{}",
        prompts[1]
    );
    assert!(prompts[2].contains("Feedback: 1 is too small"));
    assert!(prompts[2].contains(&format!("(int) {}=3\nFeedback: 3 is still too small", x.key())), "{}", prompts[2]);
    assert_eq!(optimizer.memory().len(), 2);
    assert_eq!(optimizer.memory()[1].feedback, "9 is too big");
}

#[tokio::test]
async fn memory_survives_checkpoint() {
    let x = Node::parameter("x", 1);
    (&x * 2).backward("too small").unwrap();
    let mock = Arc::new(MockClient::new("mock").reply(suggestion(x.key(), "2")));
    let config = OptoPrimeConfig { memory_size: 3, ..OptoPrimeConfig::default() };
    let mut optimizer = OptoPrime::new(vec![x.clone()], mock.clone()).with_config(config.clone());
    optimizer.step().await.unwrap();

    let state = optimizer.checkpoint_state();
    let mut restored = OptoPrime::new(vec![x.clone()], mock).with_config(config);
    restored.restore_checkpoint_state(&state).unwrap();

    assert_eq!(restored.memory(), optimizer.memory());
    assert!(restored.restore_checkpoint_state(&serde_json::json!({"memory": "x"})).is_err());
}

#[tokio::test]
async fn projection_runs_on_new_value() {
    let rate = Node::parameter("rate", 0.5);
    (&rate * 2.0).backward("higher").unwrap();
    let mock = Arc::new(MockClient::new("mock").reply(suggestion(rate.key(), "3")));
    let mut optimizer = OptoPrime::new(vec![rate.clone()], mock);
    optimizer.add_projection(&rate, Arc::new(ClampProjection { min: 0.0, max: 1.0 }));

    optimizer.step().await.unwrap();

    assert_eq!(rate.value(), Value::Float(1.0));
}

#[tokio::test]
async fn large_graph_is_shortened_to_the_limit() {
    let x = Node::parameter("x", 0);
    let mut total = x.clone();
    for _ in 0..3000 {
        total = &total + 1;
    }
    total.backward("should be 0").unwrap();
    let mock = Arc::new(MockClient::new("mock").reply(suggestion(x.key(), "-3000")));
    let config = OptoPrimeConfig { max_prompt_tokens: 4000, ..OptoPrimeConfig::default() };
    let mut optimizer = OptoPrime::new(vec![x.clone()], mock.clone()).with_config(config);

    let report = optimizer.step().await.unwrap();

    let request = &mock.requests()[0];
    let chars: usize = request.messages.iter().map(|m| m.content.chars().count()).sum();
    assert!(chars <= 4000 * 4, "prompt of {chars} characters");
    let user = &request.messages[1].content;
    assert!(user.contains("lines omitted to fit the prompt size limit"));
    assert!(user.contains(&format!("#Variables\n(int) {}=0", x.key())));
    assert!(user.contains("#Feedback\nshould be 0"));
    assert!(report.warnings.iter().any(|w| w.contains("shortened to fit the limit of 4000 prompt tokens")));
    assert_eq!(x.value(), Value::Int(-3000));
}

#[tokio::test]
async fn step_without_feedback_is_an_error() {
    let x = Node::parameter("x", 1);
    let mock = Arc::new(MockClient::new("mock"));
    let mut optimizer = OptoPrime::new(vec![x], mock.clone());

    let error = optimizer.step().await.unwrap_err();

    assert!(matches!(*error.downcast::<Error>().unwrap(), Error::NoFeedback { .. }));
    assert!(mock.requests().is_empty());
    assert!(optimizer.step_log()[0].error.is_some());
}

#[tokio::test]
async fn custom_objective_and_templates() {
    let graph = graph();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("optoprime")).unwrap();
    std::fs::write(dir.path().join("optoprime/system.tera"), "Custom system prompt.").unwrap();
    let mock = Arc::new(MockClient::new("mock").reply(suggestion(graph.x.key(), "2")));
    let config = OptoPrimeConfig {
        objective: Some("Make the number 15.".into()),
        json_mode: false,
        ..OptoPrimeConfig::default()
    };
    let mut optimizer = optimizer(&graph, &mock)
        .with_config(config)
        .with_templates(optimizers::Templates::from_dir(dir.path()).unwrap());

    optimizer.step().await.unwrap();

    let request = &mock.requests()[0];
    assert_eq!(request.messages[0].content, "Custom system prompt.");
    assert!(request.messages[1].content.contains("#Instruction\nMake the number 15.\n"));
    assert_eq!(request.response_format, ResponseFormat::Text);
}

#[test]
fn reply_form_shows_three_keys_of_many() {
    let parameters: Vec<Node> = (0..5).map(|value| Node::parameter("w", value)).collect();
    let sum = parameters[1..].iter().fold(parameters[0].clone(), |total, parameter| &total + parameter);
    sum.backward("The sum should be larger.").unwrap();
    let optimizer = OptoPrime::new(parameters.clone(), Arc::new(MockClient::new("mock")));

    let user = optimizer.prompt().unwrap()[1].content.clone();

    let keys: Vec<&str> = parameters.iter().map(Node::key).collect();
    assert!(user.contains(&format!("may use in \"suggestion\" are: {}.", keys.join(", "))), "{user}");
    let reply_form = format!(
        "\"{0}\": <new value of {0}>, \"{1}\": <new value of {1}>, \"{2}\": <new value of {2}>, ...}}",
        keys[0], keys[1], keys[2]
    );
    assert!(user.contains(&reply_form), "{user}");
    assert!(!user.contains(&format!("<new value of {}>", keys[3])), "{user}");
}

#[tokio::test]
async fn rejected_follow_up_fails_the_step_only() {
    let x = Node::parameter("x", 1);
    let output = &x + 1;
    output.backward("The output should be 5.").unwrap();
    let too_long = Error::Http {
        status: 400,
        message: "request exceeds the context".into(),
        body: String::new(),
        retry_after: None,
    };
    let mock = Arc::new(MockClient::new("mock").reply("not json").fail(too_long));
    let mut optimizer = OptoPrime::new(vec![x.clone()], mock.clone());

    let error = optimizer.step().await.unwrap_err();

    let error = *error.downcast::<Error>().unwrap();
    assert!(matches!(&error, Error::InvalidReply { attempts: 2, .. }), "{error}");
    assert!(error.to_string().contains("rejected the follow-up request"), "{error}");
    assert_eq!(mock.requests().len(), 2);
    assert_eq!(x.value(), Value::Int(1));
}
