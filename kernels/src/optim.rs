//! Gradient-descent optimizers for tensor parameters: SGD with momentum, and Adam.
//!
//! Both implement `trace_core::Optimizer`, the trait the LLM optimizers implement too, so a
//! trainer steps numeric and symbolic parameters the same way: `zero_feedback`, one backward
//! pass, then `step`. `propose` computes the new tensors from the gradients that libtorch's
//! backward left on the parameters, without changing anything; `apply` copies them into the
//! parameters in place, so every module and node that shares a parameter tensor gets the
//! update, and commits the optimizer's own state (momentum, moments) for those parameters.

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};

use tch::Tensor;
use trace_core::{Node, ParameterUpdate, Proposal, RejectedUpdate, StepReport, Value};

use crate::summary::{describe, format_number};
use crate::tensor::{tensor_of, tensor_of_value, tensor_value};
use crate::{Error, Result};

/// The gradients of an optimizer's parameters at the start of a step.
struct Gradients {
    /// The parameter tensors, in the optimizer's order.
    parameters: Vec<Tensor>,
    /// The gradient of each parameter, `None` where backward did not reach it.
    gradients: Vec<Option<Tensor>>,
    /// The L2 norm of all gradients together.
    norm: f64,
}

/// Reads the parameter tensors and their gradients, and checks that every gradient is
/// finite.
fn read_gradients(nodes: &[Node]) -> Result<Gradients> {
    let parameters = nodes.iter().map(tensor_of).collect::<Result<Vec<_>>>()?;
    let mut gradients = Vec::with_capacity(nodes.len());
    for parameter in &parameters {
        let gradient = parameter.f_grad().map_err(|source| Error::torch("grad", describe(parameter), source))?;
        gradients.push(gradient.defined().then_some(gradient));
    }

    let norms = gradient_norms(&gradients)?;
    let mut squared_norm = 0.0;
    for ((node, parameter), norm) in nodes.iter().zip(&parameters).zip(&norms) {
        let Some(norm) = norm else { continue };
        if !norm.is_finite() {
            return Err(Error::NonFiniteGradient { parameter: node.key().to_owned(), shape: parameter.size() });
        }
        squared_norm += norm * norm;
    }
    Ok(Gradients { parameters, gradients, norm: squared_norm.sqrt() })
}

/// Returns the L2 norm of each gradient that is present, reading all of them from the
/// device in one transfer.
pub(crate) fn gradient_norms(gradients: &[Option<Tensor>]) -> Result<Vec<Option<f64>>> {
    let present: Vec<&Tensor> = gradients.iter().flatten().collect();
    if present.is_empty() {
        return Ok(vec![None; gradients.len()]);
    }
    let norms = tch::no_grad(|| {
        let norms = present
            .iter()
            .map(|gradient| gradient.f_norm()?.f_to_kind(tch::Kind::Double))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let stacked = Tensor::f_stack(&norms, 0)?.f_to_device(tch::Device::Cpu)?;
        Vec::<f64>::try_from(&stacked)
    })
    .map_err(|source| Error::torch("norm", format!("{} gradients", present.len()), source))?;

    let mut norms = norms.into_iter();
    Ok(gradients.iter().map(|gradient| gradient.as_ref().and_then(|_| norms.next())).collect())
}

/// Checks that every node contains a floating-point tensor that records gradients.
fn check_parameters(nodes: &[Node]) -> Result<()> {
    for node in nodes {
        let tensor = tensor_of(node)?;
        if !tensor.is_floating_point() || !tensor.requires_grad() {
            return Err(Error::NotTrainable {
                parameter: node.key().to_owned(),
                dtype: crate::summary::dtype_name(tensor.kind()).to_owned(),
                requires_grad: tensor.requires_grad(),
            });
        }
    }
    Ok(())
}

/// Clears the feedback of `nodes` and zeroes their gradients.
fn zero_feedback(nodes: &[Node]) {
    for node in nodes {
        node.zero_feedback();
        let Ok(tensor) = tensor_of(node) else { continue };
        let Ok(mut gradient) = tensor.f_grad() else { continue };
        if gradient.defined()
            && let Err(error) = tch::no_grad(|| gradient.f_zero_())
        {
            tracing::warn!(parameter = node.key(), %error, "failed to zero a gradient");
        }
    }
}

/// Describes a parameter tensor for the step log by shape, dtype and L2 norm.
fn describe_with_norm(tensor: &Tensor) -> String {
    let norm = tch::no_grad(|| tensor.f_norm().and_then(|n| n.f_double_value(&[])));
    match norm {
        Ok(norm) => format!("{} norm={}", describe(tensor), format_number(norm)),
        Err(_) => describe(tensor),
    }
}

/// Builds the report of a step that updated the parameters at `updated` in place. The values
/// are described by shape only, because a norm per parameter would read every parameter
/// again on each step.
fn in_place_report(nodes: &[Node], updated: &[usize], gradients: &Gradients) -> StepReport {
    let updates = updated
        .iter()
        .map(|&index| {
            let tensor = &gradients.parameters[index];
            ParameterUpdate { key: nodes[index].key().to_owned(), before: describe(tensor), after: describe(tensor) }
        })
        .collect();
    StepReport {
        updates,
        reasoning: Some(format!(
            "gradient norm {}; {} of {} parameters had a gradient",
            format_number(gradients.norm),
            updated.len(),
            nodes.len()
        )),
        ..StepReport::default()
    }
}

/// Builds the proposal that replaces each parameter with its new tensor.
fn proposal(nodes: &[Node], new_tensors: Vec<(usize, Tensor)>, gradients: &Gradients) -> Proposal {
    let updated = new_tensors.len();
    let updates = new_tensors.into_iter().map(|(index, tensor)| (nodes[index].clone(), tensor_value(tensor))).collect();
    Proposal {
        updates,
        reasoning: Some(format!(
            "gradient norm {}; {updated} of {} parameters had a gradient",
            format_number(gradients.norm),
            nodes.len()
        )),
        ..Proposal::default()
    }
}

/// Copies each proposed tensor into its parameter in place and returns the report; `commit`
/// is called with the index of every parameter that was updated.
fn apply_proposal(nodes: &[Node], proposal: &Proposal, mut commit: impl FnMut(usize)) -> StepReport {
    let mut report = StepReport {
        terminated: proposal.terminated,
        reasoning: proposal.reasoning.clone(),
        llm_calls: proposal.llm_calls,
        warnings: proposal.warnings.clone(),
        ..StepReport::default()
    };
    if proposal.terminated {
        return report;
    }

    let _guard = tch::no_grad_guard();
    for (node, value) in &proposal.updates {
        let reject = |reason: String| RejectedUpdate { key: node.key().to_owned(), value: value.render(), reason };
        let Some(index) = nodes.iter().position(|own| own == node) else {
            report.rejected.push(reject("not a parameter of this optimizer".to_owned()));
            continue;
        };
        if !node.is_trainable() {
            report.rejected.push(reject("the parameter is not trainable".to_owned()));
            continue;
        }
        match copy_into(node, value) {
            Ok((before, after)) => {
                commit(index);
                report.updates.push(ParameterUpdate { key: node.key().to_owned(), before, after });
            }
            Err(error) => report.rejected.push(reject(error.to_string())),
        }
    }
    report
}

/// Copies the tensor in `value` into the tensor of `node`, returning descriptions of the
/// parameter before and after.
fn copy_into(node: &Node, value: &Value) -> Result<(String, String)> {
    let mut current = tensor_of(node)?;
    let Some(new) = tensor_of_value(value) else {
        return Err(Error::NotATensor { node: node.key().to_owned(), found: value.type_tag().to_owned(), error: None });
    };
    if new.size() != current.size() || new.kind() != current.kind() {
        return Err(Error::ShapeMismatch {
            op: "optimizer update",
            operands: format!("{} and {}", describe(&current), describe(&new)),
        });
    }
    let before = describe_with_norm(&current);
    current.f_copy_(&new).map_err(|source| Error::torch("copy_", describe(&current), source))?;
    Ok((before, describe_with_norm(&current)))
}

/// Turns a result into the boxed error type of `trace_core::Optimizer`.
fn boxed<T>(result: Result<T>) -> std::result::Result<T, trace_core::StepError> {
    result.map_err(|error| Box::new(error) as trace_core::StepError)
}

/// Writes an optional tensor for a checkpoint: `null` or its JSON form.
fn optional_tensor_json(tensor: Option<&Tensor>) -> Result<serde_json::Value> {
    tensor.map_or(Ok(serde_json::Value::Null), crate::json::tensor_to_json)
}

/// Reads an optional tensor written by [`optional_tensor_json`], shaped like `like`.
fn optional_tensor_from_json(json: &serde_json::Value, like: &Tensor) -> Result<Option<Tensor>> {
    if json.is_null() {
        return Ok(None);
    }
    let tensor = crate::json::tensor_from_json(json, None)?;
    if tensor.size() != like.size() {
        return Err(Error::InvalidJson {
            message: format!("state of shape {:?} for a parameter of shape {:?}", tensor.size(), like.size()),
        });
    }
    tensor
        .f_to_kind(like.kind())
        .and_then(|t| t.f_to_device(like.device()))
        .map(Some)
        .map_err(|source| Error::torch("restore", describe(like), source))
}
