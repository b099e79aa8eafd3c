//! Stochastic gradient descent with momentum, dampening, weight decay and Nesterov momentum.

use parking_lot::Mutex;
use serde_json::json;
use tch::Tensor;
use trace_core::{BoxFuture, Node, Optimizer, Proposal, StepError, StepReport};

use super::{
    apply_proposal, boxed, check_parameters, optional_tensor_from_json, optional_tensor_json, proposal, read_gradients,
};
use crate::summary::describe;
use crate::{Error, Result};

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
    /// Returns SGD with this learning rate and momentum, and no dampening or weight decay.
    pub fn new(learning_rate: f64, momentum: f64) -> Self {
        Self { learning_rate, momentum, dampening: 0.0, weight_decay: 0.0, nesterov: false }
    }

    fn validate(&self) -> Result<()> {
        check_setting("learning_rate", self.learning_rate, self.learning_rate > 0.0, "a finite number greater than 0")?;
        check_setting("momentum", self.momentum, self.momentum >= 0.0, "a finite number of at least 0")?;
        check_setting("dampening", self.dampening, (0.0..=1.0).contains(&self.dampening), "a number in [0, 1]")?;
        check_setting("weight_decay", self.weight_decay, self.weight_decay >= 0.0, "a finite number of at least 0")?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::InvalidSetting {
                name: "nesterov",
                value: format!("true with momentum {} and dampening {}", self.momentum, self.dampening),
                expected: "a positive momentum and zero dampening",
            });
        }
        Ok(())
    }

    /// Returns the updated parameter and momentum buffer, leaving `parameter` unchanged.
    fn update(
        &self,
        parameter: &Tensor,
        gradient: &Tensor,
        buffer: Option<&Tensor>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let SgdConfig { learning_rate, momentum, dampening, weight_decay, nesterov } = *self;
        let torch =
            |op: &'static str| move |source| Error::torch(op, format!("sgd update of {}", describe(parameter)), source);

        let mut direction = if weight_decay == 0.0 {
            gradient.shallow_clone()
        } else {
            gradient.f_add(&parameter.f_mul_scalar(weight_decay).map_err(torch("mul"))?).map_err(torch("add"))?
        };
        let mut new_buffer = None;
        if momentum != 0.0 {
            let buffer = match buffer {
                None => direction.f_detach_copy().map_err(torch("detach_copy"))?,
                Some(buffer) => buffer
                    .f_mul_scalar(momentum)
                    .and_then(|b| b.f_add(&direction.f_mul_scalar(1.0 - dampening)?))
                    .map_err(torch("add"))?,
            };
            direction = if nesterov {
                direction.f_add(&buffer.f_mul_scalar(momentum).map_err(torch("mul"))?).map_err(torch("add"))?
            } else {
                buffer.shallow_clone()
            };
            new_buffer = Some(buffer);
        }
        let new_parameter =
            direction.f_mul_scalar(learning_rate).and_then(|step| parameter.f_sub(&step)).map_err(torch("sub"))?;
        Ok((new_parameter, new_buffer))
    }
}

/// Checks one setting: finite and `valid`, else [`Error::InvalidSetting`].
pub(super) fn check_setting(name: &'static str, value: f64, valid: bool, expected: &'static str) -> Result<()> {
    if valid && value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidSetting { name, value: value.to_string(), expected })
    }
}

/// Stochastic gradient descent over tensor parameter nodes.
///
/// With momentum `m`, dampening `d`, weight decay `w` and learning rate `lr`, one step of a
/// parameter `p` with gradient `g` is: `g += w * p`; `b = g` on the first step, else
/// `b = m * b + (1 - d) * g`; `g = g + m * b` with Nesterov momentum, else `g = b`;
/// `p -= lr * g`. This is the update of `torch.optim.SGD`.
#[derive(Debug)]
pub struct Sgd {
    config: SgdConfig,
    parameters: Vec<Node>,
    state: Mutex<SgdState>,
    log: Vec<StepReport>,
}

#[derive(Debug, Default)]
struct SgdState {
    buffers: Vec<Option<Tensor>>,
    /// The buffers computed by the last `propose`, committed by `apply`.
    pending: Vec<Option<Tensor>>,
}

impl Sgd {
    /// Creates the optimizer over `parameters`, nodes that hold floating-point tensors
    /// recording gradients.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] for a setting out of range, [`Error::NotATensor`] and
    /// [`Error::NotTrainable`] for a parameter that cannot be trained.
    pub fn new(parameters: Vec<Node>, config: SgdConfig) -> Result<Self> {
        config.validate()?;
        check_parameters(&parameters)?;
        let state = SgdState {
            buffers: parameters.iter().map(|_| None).collect(),
            pending: parameters.iter().map(|_| None).collect(),
        };
        Ok(Self { config, parameters, state: Mutex::new(state), log: Vec::new() })
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
            let (tensor, buffer) =
                self.config.update(&gradients.parameters[index], gradient, state.buffers[index].as_ref())?;
            state.pending[index] = buffer;
            new_tensors.push((index, tensor));
        }
        Ok(proposal(&self.parameters, new_tensors, &gradients))
    }

    fn checkpoint(&self) -> Result<serde_json::Value> {
        let state = self.state.lock();
        let buffers =
            state.buffers.iter().map(|buffer| optional_tensor_json(buffer.as_ref())).collect::<Result<Vec<_>>>()?;
        Ok(json!({ "optimizer": "SGD", "momentum_buffers": buffers }))
    }

    fn restore(&mut self, json: &serde_json::Value) -> Result<()> {
        let invalid = |message: String| Error::InvalidJson { message };
        let saved = json
            .get("momentum_buffers")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| invalid("SGD state needs a `momentum_buffers` list".to_owned()))?;
        if saved.len() != self.parameters.len() {
            return Err(invalid(format!(
                "SGD state has {} entries for {} parameters",
                saved.len(),
                self.parameters.len()
            )));
        }
        let buffers = saved
            .iter()
            .zip(&self.parameters)
            .map(|(entry, node)| optional_tensor_from_json(entry, &crate::tensor::tensor_of(node)?))
            .collect::<Result<Vec<_>>>()?;
        let state = self.state.get_mut();
        state.pending = buffers.iter().map(|_| None).collect();
        state.buffers = buffers;
        Ok(())
    }
}

impl Optimizer for Sgd {
    fn name(&self) -> &str {
        "SGD"
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

    fn apply(&mut self, proposal: &Proposal) -> StepReport {
        let state = self.state.get_mut();
        let mut report = apply_proposal(&self.parameters, proposal, |index| {
            if let Some(buffer) = state.pending[index].take() {
                state.buffers[index] = Some(buffer);
            }
        });
        state.pending.iter_mut().for_each(|pending| *pending = None);
        report.step = self.log.len();
        report.optimizer = "SGD".to_owned();
        self.log.push(report.clone());
        report
    }

    fn step_log(&self) -> &[StepReport] {
        &self.log
    }

    fn checkpoint_state(&self) -> serde_json::Value {
        self.checkpoint().unwrap_or_else(|error| {
            tracing::warn!(%error, "failed to write the SGD state");
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
