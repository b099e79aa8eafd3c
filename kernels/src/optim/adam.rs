//! Adam: adaptive moment estimation, as in `torch.optim.Adam` without AMSGrad.

use super::sgd::check_setting;
use super::{StepReport, TensorOptimizer, check_parameters, finite_gradients, zero_gradients};
use crate::{Error, Result};
use tch::Tensor;

/// The settings of [`Adam`], with the meaning they have in `torch.optim.Adam`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// The learning rate, greater than zero.
    pub learning_rate: f64,
    /// The decay rate of the first-moment estimate, in `[0, 1)`.
    pub beta1: f64,
    /// The decay rate of the second-moment estimate, in `[0, 1)`.
    pub beta2: f64,
    /// The term added to the denominator for numerical stability, greater than zero.
    pub epsilon: f64,
    /// The L2 penalty added to the gradient, at least zero.
    pub weight_decay: f64,
}

impl AdamConfig {
    /// Returns the usual defaults (betas 0.9 and 0.999, epsilon 1e-8, no weight decay) with
    /// this learning rate.
    pub fn new(learning_rate: f64) -> Self {
        Self {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
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
            "beta1",
            self.beta1,
            (0.0..1.0).contains(&self.beta1),
            "a number in [0, 1)",
        )?;
        check_setting(
            "beta2",
            self.beta2,
            (0.0..1.0).contains(&self.beta2),
            "a number in [0, 1)",
        )?;
        check_setting(
            "epsilon",
            self.epsilon,
            self.epsilon > 0.0,
            "a finite number greater than 0",
        )?;
        check_setting(
            "weight_decay",
            self.weight_decay,
            self.weight_decay >= 0.0,
            "a finite number of at least 0",
        )
    }
}

/// Adam over tensor parameters.
///
/// At step `t`, per parameter `p` with gradient `g`: `g += weight_decay * p`;
/// `m = beta1 * m + (1 - beta1) * g`; `v = beta2 * v + (1 - beta2) * g^2`;
/// `p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)`.
/// A parameter that gets no gradient in a step keeps its moments, and its own step count
/// does not advance, so the bias corrections stay right when it is used again.
#[derive(Debug)]
pub struct Adam {
    config: AdamConfig,
    parameters: Vec<Tensor>,
    moments: Vec<Option<Moments>>,
    steps: u64,
}

#[derive(Debug)]
struct Moments {
    first: Tensor,
    second: Tensor,
    steps: i32,
}

impl Adam {
    /// Creates the optimizer over shallow handles to `parameters`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] for a setting out of range and [`Error::NotTrainable`] for a
    /// parameter that is not a floating-point tensor recording gradients.
    pub fn new(parameters: &[Tensor], config: AdamConfig) -> Result<Self> {
        config.validate()?;
        check_parameters(parameters)?;
        Ok(Self {
            config,
            parameters: parameters.iter().map(Tensor::shallow_clone).collect(),
            moments: parameters.iter().map(|_| None).collect(),
            steps: 0,
        })
    }

    /// Returns the settings.
    pub fn config(&self) -> &AdamConfig {
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
        let AdamConfig {
            learning_rate,
            beta1,
            beta2,
            epsilon,
            weight_decay,
        } = self.config;
        let parameter = &mut self.parameters[index];
        let torch = |op: &'static str| {
            move |source| Error::torch(op, format!("adam update of parameter {index}"), source)
        };

        let gradient = if weight_decay == 0.0 {
            gradient
        } else {
            gradient
                .f_add(&parameter.f_mul_scalar(weight_decay).map_err(torch("mul"))?)
                .map_err(torch("add"))?
        };
        let moments = match self.moments[index].take() {
            Some(moments) => moments,
            None => Moments {
                first: parameter.f_zeros_like().map_err(torch("zeros_like"))?,
                second: parameter.f_zeros_like().map_err(torch("zeros_like"))?,
                steps: 0,
            },
        };

        let first = moments
            .first
            .f_mul_scalar(beta1)
            .and_then(|m| m.f_add(&gradient.f_mul_scalar(1.0 - beta1)?))
            .map_err(torch("add"))?;
        let second = moments
            .second
            .f_mul_scalar(beta2)
            .and_then(|v| v.f_add(&gradient.f_mul(&gradient)?.f_mul_scalar(1.0 - beta2)?))
            .map_err(torch("add"))?;
        let steps = moments.steps.saturating_add(1);
        let first_correction = 1.0 - beta1.powi(steps);
        let second_correction = 1.0 - beta2.powi(steps);

        let denominator = second
            .f_sqrt()
            .and_then(|root| root.f_div_scalar(second_correction.sqrt()))
            .and_then(|root| root.f_add_scalar(epsilon))
            .map_err(torch("sqrt"))?;
        let update = first
            .f_div(&denominator)
            .and_then(|ratio| ratio.f_mul_scalar(learning_rate / first_correction))
            .map_err(torch("div"))?;
        let _updated = parameter.f_sub_(&update).map_err(torch("sub_"))?;

        self.moments[index] = Some(Moments {
            first,
            second,
            steps,
        });
        Ok(())
    }
}

impl TensorOptimizer for Adam {
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
