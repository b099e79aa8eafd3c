//! Adam: adaptive moment estimation, as in `torch.optim.Adam` without AMSGrad.

use parking_lot::Mutex;
use serde_json::json;
use tch::Tensor;
use trace_core::{BoxFuture, Node, Optimizer, Proposal, StepError, StepReport};

use super::sgd::check_setting;
use super::{
    apply_proposal, boxed, check_parameters, in_place_report, optional_tensor_from_json, optional_tensor_json,
    proposal, read_gradients,
};
use crate::summary::describe;
use crate::{Error, Result};

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
        Self { learning_rate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay: 0.0 }
    }

    fn validate(&self) -> Result<()> {
        check_setting("learning_rate", self.learning_rate, self.learning_rate > 0.0, "a finite number greater than 0")?;
        check_setting("beta1", self.beta1, (0.0..1.0).contains(&self.beta1), "a number in [0, 1)")?;
        check_setting("beta2", self.beta2, (0.0..1.0).contains(&self.beta2), "a number in [0, 1)")?;
        check_setting("epsilon", self.epsilon, self.epsilon > 0.0, "a finite number greater than 0")?;
        check_setting("weight_decay", self.weight_decay, self.weight_decay >= 0.0, "a finite number of at least 0")
    }
}

/// Adam over tensor parameter nodes.
///
/// At step `t` of a parameter `p` with gradient `g`: `g += weight_decay * p`;
/// `m = beta1 * m + (1 - beta1) * g`; `v = beta2 * v + (1 - beta2) * g^2`;
/// `p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)`.
/// A parameter that gets no gradient in a step keeps its moments and its step count, as in
/// PyTorch, so the bias corrections stay right when it is used again.
#[derive(Debug)]
pub struct Adam {
    config: AdamConfig,
    parameters: Vec<Node>,
    state: Mutex<AdamState>,
    log: Vec<StepReport>,
}

#[derive(Debug, Default)]
struct AdamState {
    moments: Vec<Option<Moments>>,
    /// The moments computed by the last `propose`, committed by `apply`.
    pending: Vec<Option<Moments>>,
}

#[derive(Debug)]
struct Moments {
    first: Tensor,
    second: Tensor,
    steps: i32,
}

impl Adam {
    /// Creates the optimizer over `parameters`, nodes that hold floating-point tensors
    /// recording gradients.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] for a setting out of range, [`Error::NotATensor`] and
    /// [`Error::NotTrainable`] for a parameter that cannot be trained.
    pub fn new(parameters: Vec<Node>, config: AdamConfig) -> Result<Self> {
        config.validate()?;
        check_parameters(&parameters)?;
        let state = AdamState {
            moments: parameters.iter().map(|_| None).collect(),
            pending: parameters.iter().map(|_| None).collect(),
        };
        Ok(Self { config, parameters, state: Mutex::new(state), log: Vec::new() })
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
        check_setting("learning_rate", learning_rate, learning_rate > 0.0, "a finite number greater than 0")?;
        self.config.learning_rate = learning_rate;
        Ok(())
    }

    fn propose_now(&mut self) -> Result<Proposal> {
        let gradients = read_gradients(&self.parameters)?;
        let state = self.state.get_mut();
        let _guard = tch::no_grad_guard();

        let mut new_tensors = Vec::new();
        for (index, gradient) in gradients.gradients.iter().enumerate() {
            state.pending[index] = None;
            let Some(gradient) = gradient else { continue };
            let (tensor, moments) =
                self.config.update(&gradients.parameters[index], gradient, state.moments[index].as_ref())?;
            state.pending[index] = Some(moments);
            new_tensors.push((index, tensor));
        }
        Ok(proposal(&self.parameters, new_tensors, &gradients))
    }

    /// Updates every parameter that has a gradient in place: the same arithmetic as
    /// `propose` followed by `apply`, with fewer temporary tensors.
    fn step_in_place(&mut self) -> Result<StepReport> {
        let gradients = read_gradients(&self.parameters)?;
        let state = self.state.get_mut();
        let _guard = tch::no_grad_guard();

        let mut updated = Vec::new();
        for (index, gradient) in gradients.gradients.iter().enumerate() {
            state.pending[index] = None;
            let Some(gradient) = gradient else { continue };
            let moments = &mut state.moments[index];
            self.config.update_in_place(&gradients.parameters[index], gradient, moments)?;
            updated.push(index);
        }
        Ok(in_place_report(&self.parameters, &updated, &gradients))
    }

    fn checkpoint(&self) -> Result<serde_json::Value> {
        let state = self.state.lock();
        let moments = state
            .moments
            .iter()
            .map(|moments| match moments {
                None => Ok(serde_json::Value::Null),
                Some(m) => Ok(json!({
                    "steps": m.steps,
                    "first": optional_tensor_json(Some(&m.first))?,
                    "second": optional_tensor_json(Some(&m.second))?,
                })),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(json!({ "optimizer": "Adam", "moments": moments }))
    }

    fn restore(&mut self, json: &serde_json::Value) -> Result<()> {
        let invalid = |message: String| Error::InvalidJson { message };
        let saved = json
            .get("moments")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| invalid("Adam state needs a `moments` list".to_owned()))?;
        if saved.len() != self.parameters.len() {
            return Err(invalid(format!(
                "Adam state has {} entries for {} parameters",
                saved.len(),
                self.parameters.len()
            )));
        }
        let mut moments = Vec::with_capacity(saved.len());
        for (entry, node) in saved.iter().zip(&self.parameters) {
            if entry.is_null() {
                moments.push(None);
                continue;
            }
            let like = crate::tensor::tensor_of(node)?;
            let steps = entry.get("steps").and_then(serde_json::Value::as_i64).and_then(|s| i32::try_from(s).ok());
            let first = optional_tensor_from_json(entry.get("first").unwrap_or(&serde_json::Value::Null), &like)?;
            let second = optional_tensor_from_json(entry.get("second").unwrap_or(&serde_json::Value::Null), &like)?;
            match (steps, first, second) {
                (Some(steps), Some(first), Some(second)) => moments.push(Some(Moments { first, second, steps })),
                _ => return Err(invalid(format!("Adam state of {} needs `steps`, `first` and `second`", node.key()))),
            }
        }
        let state = self.state.get_mut();
        state.pending = moments.iter().map(|_| None).collect();
        state.moments = moments;
        Ok(())
    }
}

impl AdamConfig {
    /// Returns the updated parameter and moments, leaving `parameter` unchanged.
    fn update(&self, parameter: &Tensor, gradient: &Tensor, moments: Option<&Moments>) -> Result<(Tensor, Moments)> {
        let AdamConfig { learning_rate, beta1, beta2, epsilon, weight_decay } = *self;
        let torch = |op: &'static str| {
            move |source| Error::torch(op, format!("adam update of {}", describe(parameter)), source)
        };

        let gradient = if weight_decay == 0.0 {
            gradient.shallow_clone()
        } else {
            gradient.f_add(&parameter.f_mul_scalar(weight_decay).map_err(torch("mul"))?).map_err(torch("add"))?
        };
        let (first, second, steps) = match moments {
            Some(m) => (m.first.f_mul_scalar(beta1), m.second.f_mul_scalar(beta2), m.steps),
            None => (parameter.f_zeros_like(), parameter.f_zeros_like(), 0),
        };
        let first = first.and_then(|m| m.f_add(&gradient.f_mul_scalar(1.0 - beta1)?)).map_err(torch("add"))?;
        let second = second
            .and_then(|v| v.f_add(&gradient.f_mul(&gradient)?.f_mul_scalar(1.0 - beta2)?))
            .map_err(torch("add"))?;
        let steps = steps.saturating_add(1);
        let first_correction = 1.0 - beta1.powi(steps);
        let second_correction = 1.0 - beta2.powi(steps);

        let denominator = second
            .f_sqrt()
            .and_then(|root| root.f_div_scalar(second_correction.sqrt()))
            .and_then(|root| root.f_add_scalar(epsilon))
            .map_err(torch("sqrt"))?;
        let new_parameter = first
            .f_div(&denominator)
            .and_then(|ratio| ratio.f_mul_scalar(learning_rate / first_correction))
            .and_then(|update| parameter.f_sub(&update))
            .map_err(torch("sub"))?;
        Ok((new_parameter, Moments { first, second, steps }))
    }
}

impl AdamConfig {
    /// Updates `parameter` and its moments in place.
    fn update_in_place(&self, parameter: &Tensor, gradient: &Tensor, moments: &mut Option<Moments>) -> Result<()> {
        let AdamConfig { learning_rate, beta1, beta2, epsilon, weight_decay } = *self;
        let torch = |op: &'static str| {
            move |source| Error::torch(op, format!("adam update of {}", describe(parameter)), source)
        };

        let decayed;
        let gradient = if weight_decay == 0.0 {
            gradient
        } else {
            decayed =
                gradient.f_add(&parameter.f_mul_scalar(weight_decay).map_err(torch("mul"))?).map_err(torch("add"))?;
            &decayed
        };
        if moments.is_none() {
            let zeros = || parameter.f_zeros_like().map_err(torch("zeros_like"));
            *moments = Some(Moments { first: zeros()?, second: zeros()?, steps: 0 });
        }
        let Some(Moments { first, second, steps }) = moments.as_mut() else { return Ok(()) };

        // m += (g - m) * (1 - beta1) is m = beta1 * m + (1 - beta1) * g, in one kernel.
        let _ = first.f_lerp_(gradient, 1.0 - beta1).map_err(torch("lerp_"))?;
        let squared = gradient.f_mul(gradient).map_err(torch("mul"))?;
        let _ = second.f_lerp_(&squared, 1.0 - beta2).map_err(torch("lerp_"))?;
        *steps = steps.saturating_add(1);
        let first_correction = 1.0 - beta1.powi(*steps);
        let second_correction = 1.0 - beta2.powi(*steps);

        let mut denominator = second.f_sqrt().map_err(torch("sqrt"))?;
        let _ = denominator.f_div_scalar_(second_correction.sqrt()).map_err(torch("div_"))?;
        let _ = denominator.f_add_scalar_(epsilon).map_err(torch("add_"))?;
        let scaled_first = first.f_mul_scalar(-learning_rate / first_correction).map_err(torch("mul"))?;
        let mut parameter = parameter.shallow_clone();
        let _ = parameter.f_addcdiv_(&scaled_first, &denominator).map_err(torch("addcdiv_"))?;
        Ok(())
    }
}

impl Optimizer for Adam {
    fn name(&self) -> &str {
        "Adam"
    }

    fn parameters(&self) -> &[Node] {
        &self.parameters
    }

    fn zero_feedback(&self) {
        super::zero_feedback(&self.parameters);
    }

    fn propose(&mut self) -> BoxFuture<'_, std::result::Result<Proposal, StepError>> {
        let result = boxed(self.propose_now());
        Box::pin(std::future::ready(result))
    }

    fn step(&mut self) -> BoxFuture<'_, std::result::Result<StepReport, StepError>> {
        let result = boxed(self.step_in_place()).map(|mut report| {
            report.step = self.log.len();
            report.optimizer = "Adam".to_owned();
            self.log.push(report.clone());
            report
        });
        Box::pin(std::future::ready(result))
    }

    fn apply(&mut self, proposal: &Proposal) -> StepReport {
        let state = self.state.get_mut();
        let mut report = apply_proposal(&self.parameters, proposal, |index| {
            if let Some(moments) = state.pending[index].take() {
                state.moments[index] = Some(moments);
            }
        });
        state.pending.iter_mut().for_each(|pending| *pending = None);
        report.step = self.log.len();
        report.optimizer = "Adam".to_owned();
        self.log.push(report.clone());
        report
    }

    fn step_log(&self) -> &[StepReport] {
        &self.log
    }

    fn checkpoint_state(&self) -> serde_json::Value {
        self.checkpoint().unwrap_or_else(|error| {
            tracing::warn!(%error, "failed to write the Adam state");
            serde_json::Value::Null
        })
    }

    fn restore_checkpoint_state(&mut self, state: &serde_json::Value) -> std::result::Result<(), String> {
        if state.is_null() {
            return Ok(());
        }
        self.restore(state).map_err(|error| error.to_string())
    }
}
