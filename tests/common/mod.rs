//! Helpers of the end-to-end tests: a scripted OpenAI-compatible server on 127.0.0.1 and a
//! runner for the `opto` binary.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The template that the scripted optimizer reply suggests by default.
pub(crate) const SUGGESTED_TEMPLATE: &str = "Reply with the number only.\n\nQuestion: {question}\nAnswer:";

/// The extraction function that the scripted optimizer reply suggests by default: it
/// returns the last number of the reply.
pub(crate) const SUGGESTED_EXTRACTOR: &str = "function extract_answer(reply) {\n  const numbers = reply.match(/\\d+/g);\n  return numbers ? numbers[numbers.length - 1] : reply.trim();\n}";

/// How the scripted server behaves.
#[derive(Clone, Debug, Default)]
pub(crate) struct Script {
    /// Requests served normally before every later request gets a 500.
    pub(crate) fail_after: Option<usize>,
    /// Delay of every optimizer reply after the first.
    pub(crate) later_optimizer_delay: Option<Duration>,
    /// The `suggestion` of every optimizer reply; `None` suggests [`SUGGESTED_TEMPLATE`]
    /// and [`SUGGESTED_EXTRACTOR`].
    pub(crate) suggestion: Option<Value>,
}

/// Request counts of a scripted server.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Every request to `/v1/chat/completions`.
    pub(crate) total: AtomicUsize,
    /// Question-answering requests: one user message.
    pub(crate) answers: AtomicUsize,
    /// Optimizer requests: a system message and a user message.
    pub(crate) optimizer: AtomicUsize,
    /// Requests answered with a 500.
    pub(crate) failed: AtomicUsize,
}

impl Counts {
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    pub(crate) fn answers(&self) -> usize {
        self.answers.load(Ordering::SeqCst)
    }

    pub(crate) fn optimizer(&self) -> usize {
        self.optimizer.load(Ordering::SeqCst)
    }

    pub(crate) fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }
}

/// Answers a question of `tests/fixtures/numbers.json` correctly but wordily, and answers
/// every optimizer request with the suggestion of its [`Script`].
struct ScriptedLlm {
    script: Script,
    counts: Arc<Counts>,
}

impl Respond for ScriptedLlm {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let number = self.counts.total.fetch_add(1, Ordering::SeqCst) + 1;
        if self.script.fail_after.is_some_and(|limit| number > limit) {
            self.counts.failed.fetch_add(1, Ordering::SeqCst);
            return ResponseTemplate::new(500).set_body_json(json!({
                "error": {"message": "the scripted server is down", "type": "server_error", "param": null, "code": null}
            }));
        }

        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let is_optimizer = messages.iter().any(|message| message["role"] == "system");
        if is_optimizer {
            let call = self.counts.optimizer.fetch_add(1, Ordering::SeqCst) + 1;
            let suggestion = self.script.suggestion.clone().unwrap_or_else(
                || json!({"prompt_template": SUGGESTED_TEMPLATE, "extract_answer": SUGGESTED_EXTRACTOR}),
            );
            let reply = json!({
                "reasoning": "The replies hold the right number inside a sentence, so the extraction must keep only the number.",
                "answer": "",
                "suggestion": suggestion
            });
            let response = ResponseTemplate::new(200).set_body_json(completion(&reply.to_string()));
            return match self.script.later_optimizer_delay {
                Some(delay) if call > 1 => response.set_delay(delay),
                _ => response,
            };
        }

        self.counts.answers.fetch_add(1, Ordering::SeqCst);
        let question = messages.last().and_then(|message| message["content"].as_str()).unwrap_or_default();
        let reply = match digits_in_parentheses(question) {
            Some(digits) => format!("Sure. The number is {digits}."),
            None => "I do not know.".to_string(),
        };
        ResponseTemplate::new(200).set_body_json(completion(&reply))
    }
}

/// The digits of the first `(123)` in `text`.
fn digits_in_parentheses(text: &str) -> Option<&str> {
    let start = text.find('(')? + 1;
    let length = text[start..].find(')')?;
    let inner = &text[start..start + length];
    (!inner.is_empty() && inner.chars().all(|c| c.is_ascii_digit())).then_some(inner)
}

fn completion(text: &str) -> Value {
    json!({
        "id": "chatcmpl-e2e",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}
    })
}

/// A scripted server listening on 127.0.0.1, and its request counts.
pub(crate) struct ScriptedServer {
    pub(crate) server: MockServer,
    pub(crate) counts: Arc<Counts>,
}

impl ScriptedServer {
    pub(crate) async fn start(script: Script) -> ScriptedServer {
        let server = MockServer::start().await;
        let counts = Arc::new(Counts::default());
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ScriptedLlm { script, counts: counts.clone() })
            .mount(&server)
            .await;
        ScriptedServer { server, counts }
    }

    /// The `--endpoint` value.
    pub(crate) fn endpoint(&self) -> String {
        format!("{}/v1", self.server.uri())
    }
}

/// The fixture task of numbers written as words.
pub(crate) fn numbers_task() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/numbers.json")
}

/// An `opto` command run in `workdir`, with no endpoint settings from the environment.
pub(crate) fn opto(workdir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_opto"));
    command
        .current_dir(workdir)
        .env("OPENAI_API_KEY", "test-key")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPTO_MODEL")
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    command
}

/// The arguments of `opto run` on the numbers task against `endpoint`: 4 training, 2
/// validation and 2 test examples, minibatches of 2, no cache, short retries.
pub(crate) fn run_arguments(endpoint: &str, output: &Path, steps: usize) -> Vec<String> {
    let mut arguments: Vec<String> = vec!["run".into(), numbers_task().display().to_string()];
    arguments.extend(endpoint_arguments(endpoint));
    arguments.extend(
        [
            "--train",
            "4",
            "--validation",
            "2",
            "--test",
            "2",
            "--batch-size",
            "2",
            "--steps",
            &steps.to_string(),
            "--output",
            &output.display().to_string(),
        ]
        .map(String::from),
    );
    arguments
}

/// The endpoint options shared by every subcommand that talks to a model.
pub(crate) fn endpoint_arguments(endpoint: &str) -> Vec<String> {
    ["--endpoint", endpoint, "--model", "test", "--no-cache", "--max-retries", "2", "--retry-base-ms", "10"]
        .map(String::from)
        .to_vec()
}

/// Standard output and standard error of a finished command, for assertion messages.
pub(crate) fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Reads a JSON file written by a run.
pub(crate) fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}
