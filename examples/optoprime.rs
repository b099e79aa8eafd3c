//! OptoPrime against a real OpenAI-compatible endpoint: find `x` so that the traced
//! function `3 * x - 12` returns 0.
//!
//! Run with `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `OPTO_MODEL` (or `OPENAI_MODEL`) set:
//! `cargo run --example optoprime`.

#![allow(clippy::print_stdout)] // An example reports its progress on the terminal.

use std::sync::Arc;

use anyhow::Context;
use optimizers::llm::{ClientBuilder, LlmClient, LlmConfig};
use optimizers::{OptoPrime, OptoPrimeConfig};
use trace_core::{Node, Optimizer, Value};

const MAX_STEPS: usize = 5;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = LlmConfig::from_env().context(
        "set OPENAI_BASE_URL, OPENAI_API_KEY and OPTO_MODEL (or OPENAI_MODEL) to an OpenAI-compatible endpoint",
    )?;
    let client: Arc<dyn LlmClient> = Arc::new(ClientBuilder::from_config(&config)?.build()?);

    let x = Node::parameter("x", 0);
    let settings = OptoPrimeConfig { memory_size: 3, ..OptoPrimeConfig::default() };
    let mut optimizer = OptoPrime::new(vec![x.clone()], client).with_config(settings);

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
            Ok(report) => println!("  {} LLM calls, updates {:?}", report.llm_calls, report.updates),
            Err(error) => println!("  step failed: {error}"),
        }
        optimizer.zero_feedback();
    }
    println!("not solved in {MAX_STEPS} steps; x = {}", x.value());
    Ok(())
}
