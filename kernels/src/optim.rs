//! Gradient-descent optimizers for tensor parameters: SGD with momentum and Adam.
//!
//! Both hold shallow handles to the parameter tensors, so an update is seen by every node
//! and module that shares the tensor. They read the gradients that libtorch's backward left
//! on the parameters and update them in place with gradient recording switched off.

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::{Error, Result};
use tch::Tensor;

/// An optimizer stepped once per training step, after a backward pass.
///
/// This is the contract a trainer relies on to update numeric and symbolic parameters in the
/// same step: clear the feedback of the last step, run backward, then call `step`.
pub trait TensorOptimizer {
    /// Clears the feedback that the last backward pass left on the parameters.
    ///
    /// # Errors
    ///
    /// [`Error::Torch`] when libtorch fails to zero a gradient.
    fn zero_feedback(&mut self) -> Result<()>;

    /// Updates every parameter from its feedback and returns what was done.
    ///
    /// # Errors
    ///
    /// [`Error::NonFiniteGradient`] when a gradient holds NaN or an infinity, in which case no
    /// parameter is changed, and [`Error::Torch`] when libtorch fails an update.
    fn step(&mut self) -> Result<StepReport>;
}

/// The outcome of one optimizer step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The number of the step, starting at 1.
    pub step: u64,
    /// The number of parameters that had a gradient and were updated.
    pub updated: usize,
    /// The number of parameters left unchanged because backward gave them no gradient.
    pub skipped: usize,
    /// The L2 norm of all gradients together, before the update.
    pub gradient_norm: f64,
}

/// Returns the gradient of `parameter`, or `None` when backward has not reached it.
fn gradient_of(parameter: &Tensor, index: usize) -> Result<Option<Tensor>> {
    let gradient = parameter
        .f_grad()
        .map_err(|source| Error::torch("grad", format!("parameter {index}"), source))?;
    Ok(gradient.defined().then_some(gradient))
}

/// Collects the gradients of `parameters` and checks that all of them are finite.
///
/// Returns one entry per parameter and the L2 norm of all gradients together.
fn finite_gradients(parameters: &[Tensor]) -> Result<(Vec<Option<Tensor>>, f64)> {
    let mut gradients = Vec::with_capacity(parameters.len());
    let mut squared_norm = 0.0;
    for (index, parameter) in parameters.iter().enumerate() {
        let gradient = gradient_of(parameter, index)?;
        if let Some(gradient) = &gradient {
            let norm = gradient
                .f_norm()
                .and_then(|norm| norm.f_double_value(&[]))
                .map_err(|source| {
                    Error::torch("norm", format!("gradient of parameter {index}"), source)
                })?;
            if !norm.is_finite() {
                return Err(Error::NonFiniteGradient {
                    parameter: index,
                    shape: parameter.size(),
                });
            }
            squared_norm += norm * norm;
        }
        gradients.push(gradient);
    }
    Ok((gradients, squared_norm.sqrt()))
}

/// Zeroes the gradients of `parameters` that have one.
fn zero_gradients(parameters: &[Tensor]) -> Result<()> {
    for (index, parameter) in parameters.iter().enumerate() {
        if let Some(mut gradient) = gradient_of(parameter, index)? {
            tch::no_grad(|| gradient.f_zero_().map(drop)).map_err(|source| {
                Error::torch("zero_", format!("gradient of parameter {index}"), source)
            })?;
        }
    }
    Ok(())
}

/// Checks that every parameter is a floating-point tensor that records gradients.
fn check_parameters(parameters: &[Tensor]) -> Result<()> {
    for (index, parameter) in parameters.iter().enumerate() {
        if !parameter.is_floating_point() || !parameter.requires_grad() {
            return Err(Error::NotTrainable {
                parameter: index,
                dtype: format!("{:?}", parameter.kind()),
                requires_grad: parameter.requires_grad(),
            });
        }
    }
    Ok(())
}
