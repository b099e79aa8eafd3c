//! Mixed backward: a scalar loss tensor given as feedback runs libtorch's backward once, and
//! the symbolic parameters upstream get text feedback made from the numbers.

use std::fmt::Write as _;
use std::sync::Arc;

use tch::{Kind, Tensor};
use trace_core::{BackwardPass, Feedback, Node, NodeKind, Value};

use crate::summary::describe;
use crate::tensor::{tensor_of, tensor_of_value};
use crate::{Error, Result};

/// The largest number of parameters whose gradient norms the feedback text lists.
const LISTED_GRADIENTS: usize = 8;

/// Returns the feedback that makes `trace_core`'s backward run libtorch's backward from the
/// loss tensor in `loss`.
///
/// # Errors
///
/// [`Error::NotATensor`] when `loss` contains no tensor (an exception node, for example).
pub fn loss_feedback(loss: &Node) -> Result<Feedback> {
    let _loss = tensor_of(loss)?;
    Ok(Feedback::Value(loss.value()))
}

/// Runs one backward pass from `loss`: libtorch computes the gradient of every tensor
/// parameter, and every parameter upstream, symbolic ones included, receives the loss and
/// the gradient norms as text feedback.
///
/// ```
/// use kernels::ops::TensorOps;
/// use kernels::tch::Tensor;
/// use kernels::tensor::{tensor_input, tensor_of, tensor_parameter};
///
/// let w = tensor_parameter("w", &Tensor::from_slice(&[2.0f64]))?;
/// let x = tensor_input("x", &Tensor::from_slice(&[3.0f64]));
/// let loss = (&w * &x).sum();
///
/// kernels::backward_loss(&loss)?;
///
/// assert_eq!(tensor_of(&w)?.grad().double_value(&[0]), 3.0);
/// assert!(w.feedback()[0].items[0].text.starts_with("loss = 6"));
/// # Ok::<(), kernels::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::NotATensor`] when `loss` contains no tensor, and [`Error::Graph`] when the graph
/// rejects the pass: it was already used by a backward pass, or the loss is not a finite
/// scalar (the message then names the loss).
pub fn backward_loss(loss: &Node) -> Result<Arc<BackwardPass>> {
    Ok(loss.backward(loss_feedback(loss)?)?)
}

/// Runs libtorch's backward from `loss` and describes the result for the symbolic parameters
/// among `graph`: the loss, and the gradient norm of each tensor parameter when `graph` has a
/// trainable parameter that is not a tensor.
///
/// A loss that records no autograd history (computed without gradients, say) is only
/// reported, since there is nothing to differentiate.
pub(crate) fn run_backward(loss: &Tensor, graph: &[Node]) -> Result<String> {
    if loss.numel() != 1 || !loss.is_floating_point() {
        return Err(Error::InvalidLoss { loss: describe(loss) });
    }
    let value = loss
        .f_to_kind(Kind::Double)
        .and_then(|t| t.f_reshape([-1]))
        .and_then(|t| t.f_double_value(&[0]))
        .map_err(|source| Error::torch("backward", describe(loss), source))?;
    if !value.is_finite() {
        return Err(Error::NonFiniteLoss { value });
    }

    let mut text = format!("loss = {}", crate::summary::format_number(value));
    if !loss.requires_grad() {
        text.push_str("; the loss records no gradients, so no tensor parameter was updated");
        return Ok(text);
    }
    // NOTE: libtorch frees its graph here: tch 0.26 has no fallible backward that keeps it,
    // so a second trace backward with `retain_graph: true` fails with libtorch's message.
    loss.f_backward().map_err(|source| Error::torch("backward", describe(loss), source))?;

    // The norms are read only when a symbolic parameter will get this text: computing them
    // reads every gradient, which costs as much as an optimizer step on a large model.
    let has_symbolic_parameter = graph.iter().any(|node| {
        node.is_trainable()
            && node.with_value(|value: &Value| value.downcast_ext::<crate::tensor::TensorValue>().is_none())
    });
    if !has_symbolic_parameter {
        return Ok(text);
    }
    let norms = gradient_norms(graph)?;
    if norms.is_empty() {
        return Ok(text);
    }
    text.push_str("; gradient norms: ");
    for (position, (key, norm)) in norms.iter().take(LISTED_GRADIENTS).enumerate() {
        if position > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{key} = {}", crate::summary::format_number(*norm));
    }
    if norms.len() > LISTED_GRADIENTS {
        let _ = write!(text, " and {} more", norms.len() - LISTED_GRADIENTS);
    }
    Ok(text)
}

/// Returns the L2 norm of the gradient of every tensor parameter in `graph` that has one.
fn gradient_norms(graph: &[Node]) -> Result<Vec<(String, f64)>> {
    let mut keys = Vec::new();
    let mut gradients = Vec::new();
    for node in graph.iter().filter(|node| node.kind() == NodeKind::Parameter) {
        let Some(tensor) = node.with_value(|value: &Value| tensor_of_value(value)) else { continue };
        if !tensor.requires_grad() {
            continue;
        }
        let gradient = tensor.f_grad().map_err(|source| Error::torch("grad", describe(&tensor), source))?;
        if gradient.defined() {
            keys.push(node.key().to_owned());
            gradients.push(Some(gradient));
        }
    }
    let norms = crate::optim::gradient_norms(&gradients)?;
    Ok(keys.into_iter().zip(norms).filter_map(|(key, norm)| norm.map(|norm| (key, norm))).collect())
}
