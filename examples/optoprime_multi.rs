//! OptoPrimeMulti against a real OpenAI-compatible endpoint: three candidates per step at
//! temperatures 0.0, 0.6 and 1.2, the best chosen by evaluating `3 * x - 12` on each.
//!
//! Run with `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `OPTO_MODEL` (or `OPENAI_MODEL`) set:
//! `cargo run --example optoprime_multi`.

#![allow(clippy::print_stdout)] // An example reports its progress on the terminal.

use std::sync::Arc;

use anyhow::Context;
use optimizers::llm::{ClientBuilder, LlmClient, LlmConfig};
use optimizers::{OptoPrimeMulti, ScoreFn, Selector};
use trace_core::{Node, Optimizer, Proposal, Value};

const MAX_STEPS: usize = 4;

/// Scores a candidate by how close `3 * x - 12` gets to 0 with its value of `x`.
fn score() -> ScoreFn {
    Arc::new(|proposal: Proposal| {
        Box::pin(async move {
            match proposal.updates.first() {
                Some((_, Value::Int(x))) => -((3 * x - 12) as f64).abs(),
                _ => f64::NEG_INFINITY,
            }
        })
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = LlmConfig::from_env().context(
        "set OPENAI_BASE_URL, OPENAI_API_KEY and OPTO_MODEL (or OPENAI_MODEL) to an OpenAI-compatible endpoint",
    )?;
    let client: Arc<dyn LlmClient> = Arc::new(ClientBuilder::from_config(&config)?.build()?);

    let x = Node::parameter("x", 0);
    let mut optimizer = OptoPrimeMulti::new(vec![x.clone()], client)
        .with_temperatures(vec![0.0, 0.6, 1.2])
        .with_selector(Selector::Best(score()));

    for step in 0..MAX_STEPS {
        let output = &(&x * 3) - 12;
        let value = output.value();
        println!("step {step}: x = {}, f(x) = {value}", x.value());
        if value == Value::Int(0) {
            println!("solved");
            return Ok(());
        }

        output.backward(format!("f(x) returned {value}, but it should return 0"))?;
        match optimizer.step().await {
            Ok(report) => println!("  {} LLM calls; {}", report.llm_calls, report.warnings.join("; ")),
            Err(error) => println!("  step failed: {error}"),
        }
        optimizer.zero_feedback();
    }
    println!("not solved in {MAX_STEPS} steps; x = {}", x.value());
    Ok(())
}
