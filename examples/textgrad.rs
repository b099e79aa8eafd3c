//! TextGrad against a real OpenAI-compatible endpoint: improve a greeting template until a
//! rule-based judge accepts the greeting it produces.
//!
//! Run with `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `OPTO_MODEL` (or `OPENAI_MODEL`) set:
//! `cargo run --example textgrad`.

#![allow(clippy::print_stdout)] // An example reports its progress on the terminal.

use std::sync::Arc;

use anyhow::Context;
use optimizers::llm::{ClientBuilder, LlmClient, LlmConfig};
use optimizers::{TextGrad, TextGradConfig};
use trace_core::{Node, Optimizer, Parameter, ops};

const MAX_STEPS: usize = 4;

/// Judges a greeting and returns the feedback, or `None` when the greeting passes.
fn judge(greeting: &str) -> Option<String> {
    let mut problems = Vec::new();
    if !greeting.contains("Ada") {
        problems.push("it must address the guest by name");
    }
    if !greeting.to_lowercase().contains("welcome") {
        problems.push("it must contain the word \"welcome\"");
    }
    if greeting.split_whitespace().count() > 12 {
        problems.push("it must have at most 12 words");
    }
    (!problems.is_empty()).then(|| format!("The greeting \"{greeting}\" is rejected: {}.", problems.join("; ")))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = LlmConfig::from_env().context(
        "set OPENAI_BASE_URL, OPENAI_API_KEY and OPTO_MODEL (or OPENAI_MODEL) to an OpenAI-compatible endpoint",
    )?;
    let client: Arc<dyn LlmClient> = Arc::new(ClientBuilder::from_config(&config)?.build()?);

    let template = Parameter::new("template", "Hi.")
        .description("A greeting template; {name} is replaced by the guest's name")
        .build();
    let name = Node::input("name", "Ada");
    let settings = TextGradConfig {
        objective: Some("A short, warm welcome that names the guest.".into()),
        ..TextGradConfig::default()
    };
    let mut optimizer = TextGrad::new(vec![template.clone()], client).with_config(settings);

    for step in 0..MAX_STEPS {
        let greeting = ops::format(&template, &[("name", &name)]);
        let text = greeting.value().render();
        println!("step {step}: {text}");
        let Some(feedback) = judge(&text) else {
            println!("accepted");
            return Ok(());
        };

        greeting.backward(feedback)?;
        match optimizer.step().await {
            Ok(report) => println!("  {} LLM calls", report.llm_calls),
            Err(error) => println!("  step failed: {error}"),
        }
        optimizer.zero_feedback();
    }
    println!("not accepted in {MAX_STEPS} steps");
    Ok(())
}
