//! Numeric and symbolic parameters trained in one loop, with one backward pass per step.
//! Adam trains a linear classifier of iris species. OptoPrime, through a real
//! OpenAI-compatible endpoint, chooses which two of the four measurements the classifier
//! gets as input.
//!
//! Every step computes the cross-entropy of the classifier, sends it backward once (libtorch
//! fills the gradients, and the `features` parameter receives the loss and the gradient norms
//! as text) and steps Adam. Every `ROUND` steps OptoPrime reads that text and may propose
//! other measurements.
//!
//! Run with `OPENAI_BASE_URL`, `OPENAI_API_KEY` and `OPTO_MODEL` (or `OPENAI_MODEL`) set:
//! `cargo run --example hybrid`.

#![allow(clippy::print_stdout)] // An example reports its progress on the terminal.

use std::sync::Arc;

use anyhow::Context;
use kernels::ops::TensorOps;
use kernels::optim::{Adam, AdamConfig};
use kernels::tch::{Device, Kind, Tensor};
use kernels::tensor::{tensor_input, tensor_of, tensor_of_value, tensor_parameter, tensor_value};
use optimizers::OptoPrime;
use optimizers::llm::{ClientBuilder, LlmClient, LlmConfig};
use trace_core::{Bundle, Optimizer, Parameter, Value};

const MEASUREMENTS: [&str; 4] = ["sepal length", "sepal width", "petal length", "petal width"];
const ROUND: usize = 50;
const ROUNDS: usize = 4;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = LlmConfig::from_env().context(
        "set OPENAI_BASE_URL, OPENAI_API_KEY and OPTO_MODEL (or OPENAI_MODEL) to an OpenAI-compatible endpoint",
    )?;
    let client: Arc<dyn LlmClient> = Arc::new(ClientBuilder::from_config(&config)?.build()?);

    let dataset = linfa_datasets::iris();
    let values: Vec<f32> = dataset.records.iter().map(|x| *x as f32).collect();
    let features = Tensor::from_slice(&values).reshape([-1, 4]);
    let features = (&features - features.mean_dim(0, false, Kind::Float)) / features.std_dim(0, true, false);
    let labels = Tensor::from_slice(&dataset.targets.iter().map(|y| *y as i64).collect::<Vec<_>>());

    let chosen = Parameter::new("features", Value::List(vec!["sepal length".into(), "sepal width".into()]))
        .description("The two iris measurements the classifier gets as input")
        .constraint(format!("Exactly two distinct names out of {MEASUREMENTS:?}"))
        .build();
    let weight = tensor_parameter("weight", &Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)))?;
    let bias = tensor_parameter("bias", &Tensor::zeros([3], (Kind::Float, Device::Cpu)))?;
    let mut adam = Adam::new(vec![weight.clone(), bias.clone()], AdamConfig::new(0.05))?;
    let mut llm = OptoPrime::new(vec![chosen.clone()], client);

    let x = tensor_input("measurements", &features);
    let y = tensor_input("species", &labels);
    let select = Bundle::new(
        "select_columns",
        "Keeps the named measurements, in order, as the classifier's input.",
        &["measurements", "names"],
    );

    for step in 0..ROUND * ROUNDS {
        adam.zero_feedback();
        llm.zero_feedback();
        let columns = select.call(&[&x, &chosen], |values| select_columns(&values[0], &values[1]))?;
        let loss = (&columns.matmul(&weight) + &bias).cross_entropy(&y);
        if let Some(error) = loss.error() {
            // The exception goes back as feedback, so OptoPrime learns why its choice failed.
            println!("step {step}: {error}");
            loss.backward(format!("the classifier could not run: {error}"))?;
        } else {
            kernels::backward_loss(&loss)?;
            adam.step().await.map_err(|error| anyhow::anyhow!(error))?;
        }

        if step % ROUND == ROUND - 1 {
            let loss_text = tensor_of(&loss).map(|t| t.double_value(&[])).map_or("-".to_owned(), |l| format!("{l:.4}"));
            println!("step {step}: features = {}, loss = {loss_text}", chosen.value());
            match llm.step().await {
                Ok(report) => println!("  OptoPrime: {} LLM calls, updates {:?}", report.llm_calls, report.updates),
                Err(error) => println!("  OptoPrime step failed: {error}"),
            }
        }
    }
    Ok(())
}

/// Returns the columns of `measurements` named by `names`, or why they cannot be chosen.
fn select_columns(measurements: &Value, names: &Value) -> Result<Value, String> {
    let all = tensor_of_value(measurements).ok_or("the measurements are not a tensor")?;
    let Value::List(names) = names else {
        return Err(format!("features must be a list of two names, found {names}"));
    };
    if names.len() != 2 {
        return Err(format!("features must name exactly two measurements, found {}", names.len()));
    }
    let indices = names
        .iter()
        .map(|name| {
            MEASUREMENTS
                .iter()
                .position(|known| Value::from(*known) == *name)
                .map(|index| index as i64)
                .ok_or(format!("unknown measurement {name}; use one of {MEASUREMENTS:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(tensor_value(all.index_select(1, &Tensor::from_slice(&indices))))
}
