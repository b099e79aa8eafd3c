//! Stochastic gradient descent with momentum, dampening, weight decay and Nesterov momentum.

use super::{StepReport, TensorOptimizer, check_parameters, finite_gradients, zero_gradients};
use crate::{Error, Result};
use tch::Tensor;

/// The settings of [`Sgd`], with the meaning they have in `torch.optim.SGD`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// The learning rate, greater than zero.
    pub learning_rate: f64,
    /// The momentum factor, at least zero; zero is plain gradient descent.
    pub momentum: f64,
    /// The dampening of the gradient added to the momentum buffer, in `[0, 1]`.
    pub dampening: f64,
    /// The L2 penalty added to the gradient, at least zero.
    pub weight_decay: f64,
    /// Whether to use Nesterov momentum, which needs a positive momentum and no dampening.
    pub nesterov: bool,
}

impl SgdConfig {
    /// Returns plain SGD with this learning rate and momentum, and no dampening or decay.
    pub fn new(learning_rate: f64, momentum: f64) -> Self {
        Self {
            learning_rate,
            momentum,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    fn validate(&self) -> Result<()> {
        check_setting(
            "learning_rate",
            self.learning_rate,
            self.learning_rate > 0.0,
            "a finite number greater than 0",
        )?;
        check_setting(
            "momentum",
            self.momentum,
            self.momentum >= 0.0,
            "a finite number of at least 0",
        )?;
        check_setting(
            "dampening",
            self.dampening,
            (0.0..=1.0).contains(&self.dampening),
            "a number in [0, 1]",
        )?;
        check_setting(
            "weight_decay",
            self.weight_decay,
            self.weight_decay >= 0.0,
            "a finite number of at least 0",
        )?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::InvalidSetting {
                name: "nesterov",
                value: format!(
                    "true with momentum {} and dampening {}",
                    self.momentum, self.dampening
                ),
                expected: "a positive momentum and zero dampening",
            });
        }
        Ok(())
    }
}

pub(super) fn check_setting(
    name: &'static str,
    value: f64,
    valid: bool,
    expected: &'static str,
) -> Result<()> {
    if valid && value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidSetting {
            name,
            value: value.to_string(),
            expected,
        })
    }
}

/// Stochastic gradient descent over tensor parameters.
///
/// With momentum `m`, dampening `d`, weight decay `w` and learning rate `lr`, one step does,
/// per parameter `p` with gradient `g`:
/// `g += w * p`; `b = g` on the first step, else `b = m * b + (1 - d) * g`;
/// `g = g + m * b` with Nesterov momentum, else `g = b`; `p -= lr * g`.
/// This is the update of `torch.optim.SGD`.
#[derive(Debug)]
pub struct Sgd {
    config: SgdConfig,
    parameters: Vec<Tensor>,
    momentum_buffers: Vec<Option<Tensor>>,
    steps: u64,
}

impl Sgd {
    /// Creates the optimizer over shallow handles to `parameters`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] for a setting out of range and [`Error::NotTrainable`] for a
    /// parameter that is not a floating-point tensor recording gradients.
    pub fn new(parameters: &[Tensor], config: SgdConfig) -> Result<Self> {
        config.validate()?;
        check_parameters(parameters)?;
        Ok(Self {
            config,
            parameters: parameters.iter().map(Tensor::shallow_clone).collect(),
            momentum_buffers: parameters.iter().map(|_| None).collect(),
            steps: 0,
        })
    }

    /// Returns the settings.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// Sets the learning rate used from the next step on.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when `learning_rate` is not a finite number greater than 0.
    pub fn set_learning_rate(&mut self, learning_rate: f64) -> Result<()> {
        check_setting(
            "learning_rate",
            learning_rate,
            learning_rate > 0.0,
            "a finite number greater than 0",
        )?;
        self.config.learning_rate = learning_rate;
        Ok(())
    }

    fn update(&mut self, index: usize, gradient: Tensor) -> Result<()> {
        let SgdConfig {
            learning_rate,
            momentum,
            dampening,
            weight_decay,
            nesterov,
        } = self.config;
        let parameter = &mut self.parameters[index];
        let torch = |op: &'static str| {
            move |source| Error::torch(op, format!("sgd update of parameter {index}"), source)
        };

        let mut direction = if weight_decay == 0.0 {
            gradient
        } else {
            gradient
                .f_add(&parameter.f_mul_scalar(weight_decay).map_err(torch("mul"))?)
                .map_err(torch("add"))?
        };
        if momentum != 0.0 {
            let buffer = match self.momentum_buffers[index].take() {
                None => direction.f_detach_copy().map_err(torch("detach_copy"))?,
                Some(buffer) => buffer
                    .f_mul_scalar(momentum)
                    .and_then(|b| b.f_add(&direction.f_mul_scalar(1.0 - dampening)?))
                    .map_err(torch("add"))?,
            };
            direction = if nesterov {
                direction
                    .f_add(&buffer.f_mul_scalar(momentum).map_err(torch("mul"))?)
                    .map_err(torch("add"))?
            } else {
                buffer.shallow_clone()
            };
            self.momentum_buffers[index] = Some(buffer);
        }
        let _updated = parameter
            .f_sub_(
                &direction
                    .f_mul_scalar(learning_rate)
                    .map_err(torch("mul"))?,
            )
            .map_err(torch("sub_"))?;
        Ok(())
    }
}

impl TensorOptimizer for Sgd {
    fn zero_feedback(&mut self) -> Result<()> {
        zero_gradients(&self.parameters)
    }

    fn step(&mut self) -> Result<StepReport> {
        let (gradients, gradient_norm) = finite_gradients(&self.parameters)?;
        self.steps += 1;

        let mut updated = 0;
        let _guard = tch::no_grad_guard();
        for (index, gradient) in gradients.into_iter().enumerate() {
            if let Some(gradient) = gradient {
                self.update(index, gradient)?;
                updated += 1;
            }
        }
        Ok(StepReport {
            step: self.steps,
            updated,
            skipped: self.parameters.len() - updated,
            gradient_norm,
        })
    }
}
