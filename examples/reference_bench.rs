//! Runs one benchmark case of the side-by-side comparison with the Python reference and
//! prints one JSON object on stdout. `scripts/bench-reference` runs every case of both
//! systems and collects the objects; `scripts/reference_bench.py` is the Python side.
//!
//! Cases:
//! - `graph SHAPE SIZE`: builds a chain (`x + 1 + 1 ...`) or a balanced binary tree of
//!   additions with SIZE operators, then runs backward with the graph propagator and
//!   builds the summary the optimizer reads. Prints the seconds of each phase and the peak
//!   resident size.
//! - `prompt SHAPE SIZE REPEATS`: the same graph, then the median time of building one
//!   OptoPrime prompt (summary included) and the prompt's length in characters.
//! - `step BASE_URL STEPS BATCH`: STEPS optimization steps of a one-parameter prompt
//!   template against the OpenAI-compatible endpoint at BASE_URL (a mock on 127.0.0.1).
//!   Each step evaluates a minibatch of BATCH questions concurrently through a traced LLM
//!   call, runs one backward from all outputs, and then one OptoPrime step.
//!
//! Run with `cargo run --release --example reference_bench -- graph chain 10000`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use optimizers::llm::{ApiKey, ClientBuilder, LlmClient, LlmConfig, RateLimits};
use optimizers::{OptoPrime, OptoPrimeConfig};
use serde_json::json;
use trace_core::{BackwardOptions, Feedback, Node, Optimizer, Summary, backward, ops};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |index: usize, name: &str| -> Result<&str> {
        args.get(index).map(String::as_str).with_context(|| format!("missing argument {name}; see the file's doc"))
    };
    let report = match arg(0, "CASE")? {
        "graph" => graph_case(arg(1, "SHAPE")?, arg(2, "SIZE")?.parse()?)?,
        "prompt" => prompt_case(arg(1, "SHAPE")?, arg(2, "SIZE")?.parse()?, arg(3, "REPEATS")?.parse()?)?,
        "step" => step_case(arg(1, "BASE_URL")?, arg(2, "STEPS")?.parse()?, arg(3, "BATCH")?.parse()?)?,
        other => bail!("unknown case '{other}'; use graph, prompt or step"),
    };
    println!("{report}");
    Ok(())
}

/// Builds a chain `x + 1 + 1 + ...` of `operators` additions and returns the parameters and the output.
fn chain(operators: usize) -> (Vec<Node>, Node) {
    let x = Node::parameter("x", 0);
    let one = Node::constant(1);
    let mut out = x.clone();
    for _ in 0..operators {
        out = &out + &one;
    }
    (vec![x], out)
}

/// Builds a balanced binary tree of additions over `operators + 1` parameters.
fn tree(operators: usize) -> (Vec<Node>, Node) {
    let leaves: Vec<Node> = (0..=operators).map(|i| Node::parameter("w", i as i64)).collect();
    let mut level = leaves.clone();
    while level.len() > 1 {
        level =
            level.chunks(2).map(|pair| if pair.len() == 2 { &pair[0] + &pair[1] } else { pair[0].clone() }).collect();
    }
    let out = level.pop().unwrap_or_else(|| Node::constant(0));
    (leaves, out)
}

fn build(shape: &str, size: usize) -> Result<(Vec<Node>, Node)> {
    match shape {
        "chain" => Ok(chain(size)),
        "tree" => Ok(tree(size)),
        other => bail!("unknown shape '{other}'; use chain or tree"),
    }
}

/// Reads the peak resident size of this process in bytes from `/proc/self/status`.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn graph_case(shape: &str, size: usize) -> Result<serde_json::Value> {
    let started = Instant::now();
    let (parameters, out) = build(shape, size)?;
    let construct = started.elapsed().as_secs_f64();

    let started = Instant::now();
    out.backward("feedback")?;
    let backward_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let summary = Summary::of(&parameters);
    let summary_seconds = started.elapsed().as_secs_f64();
    if summary.code.len() != size {
        bail!("the summary has {} operator lines, expected {size}", summary.code.len());
    }
    Ok(json!({
        "system": "rust",
        "case": "graph",
        "shape": shape,
        "size": size,
        "construct_s": construct,
        "backward_s": backward_seconds,
        "summary_s": summary_seconds,
        "peak_rss_bytes": peak_rss_bytes(),
    }))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Creates a client for prompt building only, which never sends a request.
fn unused_client() -> Result<Arc<dyn LlmClient>> {
    let config = LlmConfig {
        base_url: "http://127.0.0.1:9/v1".to_owned(),
        api_key: ApiKey::new("sk-unused"),
        model: "unused".to_owned(),
        timeout: Duration::from_secs(1),
    };
    Ok(Arc::new(ClientBuilder::from_config(&config)?.build()?))
}

fn prompt_case(shape: &str, size: usize, repeats: usize) -> Result<serde_json::Value> {
    let (parameters, out) = build(shape, size)?;
    out.backward("The output should be larger.")?;
    // A large limit, so that the whole problem is shown, as the reference does.
    let config = OptoPrimeConfig { max_prompt_tokens: 100_000_000, ..OptoPrimeConfig::default() };
    let optimizer = OptoPrime::new(parameters, unused_client()?).with_config(config);

    let mut times = Vec::with_capacity(repeats);
    let mut characters = 0;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let messages = optimizer.prompt()?;
        times.push(started.elapsed().as_secs_f64());
        characters = messages.iter().map(|message| message.content.chars().count()).sum();
    }
    Ok(json!({
        "system": "rust",
        "case": "prompt",
        "shape": shape,
        "size": size,
        "prompt_s_median": median(times),
        "repeats": repeats.max(1),
        "prompt_chars": characters,
        "prompt_tokens_estimate": characters / 4,
    }))
}

const QUESTIONS: usize = 64;

fn step_case(base_url: &str, steps: usize, batch: usize) -> Result<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let config = LlmConfig {
            base_url: base_url.to_owned(),
            api_key: ApiKey::new("sk-mock"),
            model: "mock".to_owned(),
            timeout: Duration::from_secs(30),
        };
        let client: Arc<dyn LlmClient> = Arc::new(
            ClientBuilder::from_config(&config)?
                .rate_limits(RateLimits { max_concurrency: Some(batch.max(1)), ..RateLimits::default() })
                .build()?,
        );
        let call = agents::llm_call::LlmCall::new(client.clone(), 0.0, 16);
        let template = Node::parameter("template", "Q: {question} A:");
        let mut optimizer = OptoPrime::new(vec![template.clone()], client);

        let mut step_seconds = Vec::with_capacity(steps);
        let mut llm_calls = 0;
        let started = Instant::now();
        for step in 0..steps {
            let step_started = Instant::now();
            let evaluations = (0..batch).map(|index| {
                let call = &call;
                let template = &template;
                let number = (step * batch + index) % QUESTIONS;
                async move {
                    let question = Node::input("question", format!("How many apples are in {number} baskets of one?"));
                    let prompt = ops::format(template, &[("question", &question)]);
                    let answer = call.call(&prompt).await?;
                    let correct = answer.value().render().trim() == number.to_string();
                    let feedback = if correct {
                        Feedback::from("correct")
                    } else {
                        Feedback::from(format!("expected {number}, got {}", answer.value().render()))
                    };
                    anyhow::Ok((answer, feedback))
                }
            });
            let outputs = futures::future::try_join_all(evaluations).await?;
            llm_calls += outputs.len();
            backward(&outputs, &BackwardOptions::default())?;
            let report = optimizer.step().await.map_err(|error| anyhow::anyhow!("optimizer step failed: {error}"))?;
            llm_calls += report.llm_calls;
            template.zero_feedback();
            step_seconds.push(step_started.elapsed().as_secs_f64());
        }
        let total = started.elapsed().as_secs_f64();
        Ok(json!({
            "system": "rust",
            "case": "step",
            "steps": steps,
            "batch": batch,
            "total_s": total,
            "step_s": step_seconds,
            "llm_calls": llm_calls,
            "final_template": template.value().render(),
        }))
    })
}
