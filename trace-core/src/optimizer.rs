//! The optimizer trait shared by the LLM optimizers and the numeric ones (SGD, Adam), so
//! that one training step can update prompts, code and tensors together.
//!
//! An optimizer owns a list of parameters. After a backward pass it [`propose`]s new values
//! from the feedback those parameters received, and [`step`] applies them to trainable
//! parameters only, passing each through the parameter's projections.
//!
//! [`propose`]: Optimizer::propose
//! [`step`]: Optimizer::step

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::node::Node;
use crate::value::Value;

/// A boxed, `Send` future, the return type of the trait's async methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The error of an optimizer step: each optimizer crate returns its own error type here,
/// which callers can downcast (a budget that ran out, say).
pub type StepError = Box<dyn std::error::Error + Send + Sync>;

/// New values for parameters, not yet applied.
#[derive(Clone, Debug, Default)]
pub struct Proposal {
    /// The parameters and their proposed values.
    pub updates: Vec<(Node, Value)>,
    /// Whether the optimizer decided that nothing should change (an LLM that answered
    /// `TERMINATE`, for example).
    pub terminated: bool,
    /// The optimizer's explanation, if it gave one.
    pub reasoning: Option<String>,
    /// Number of LLM calls spent on this proposal.
    pub llm_calls: usize,
    /// Problems with the proposal that did not stop it, such as an unknown variable name
    /// that was dropped; each describes what was wrong.
    pub warnings: Vec<String>,
}

/// One parameter change in a step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParameterUpdate {
    /// The parameter key.
    pub key: String,
    /// The value before the step, as rendered for prompts.
    pub before: String,
    /// The value after the step, as rendered for prompts.
    pub after: String,
}

/// A proposed value that was not applied, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectedUpdate {
    /// The parameter key.
    pub key: String,
    /// The proposed value, as rendered for prompts.
    pub value: String,
    /// The reason the value was rejected.
    pub reason: String,
}

/// The record of one step, kept in the optimizer's step log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The step number, from 0.
    pub step: usize,
    /// The optimizer name.
    pub optimizer: String,
    /// Applied changes.
    pub updates: Vec<ParameterUpdate>,
    /// Proposed changes that were not applied.
    pub rejected: Vec<RejectedUpdate>,
    /// Whether the optimizer decided that nothing should change.
    pub terminated: bool,
    /// The optimizer's explanation, if any.
    pub reasoning: Option<String>,
    /// Number of LLM calls spent on the step.
    pub llm_calls: usize,
    /// Warnings about the proposal.
    pub warnings: Vec<String>,
    /// The error that kept the step from proposing anything, if one did.
    pub error: Option<String>,
}

/// Maps a proposed value to the value actually stored: a formatter, a clamp to a range, a
/// check that rejects the value with a reason.
pub trait Projection: Send + Sync + fmt::Debug {
    /// The projected value, or why `value` cannot be used.
    ///
    /// # Errors
    ///
    /// A reason, reported as a [`RejectedUpdate`].
    fn project(&self, node: &Node, value: Value) -> Result<Value, String>;
}

/// Clamps numeric values into a range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClampProjection {
    /// The lowest allowed value.
    pub min: f64,
    /// The highest allowed value.
    pub max: f64,
}

impl Projection for ClampProjection {
    fn project(&self, _node: &Node, value: Value) -> Result<Value, String> {
        match value {
            Value::Int(i) => {
                let clamped = (i as f64).clamp(self.min, self.max);
                Ok(if clamped == i as f64 { Value::Int(i) } else { Value::Float(clamped) })
            }
            Value::Float(f) if f.is_nan() => Err("NaN is not a valid value".to_string()),
            Value::Float(f) => Ok(Value::Float(f.clamp(self.min, self.max))),
            other => Err(format!("expected a number to clamp, found `{}`", other.type_tag())),
        }
    }
}

/// Parameters with their projections: the part of an optimizer that applies updates.
#[derive(Clone, Debug, Default)]
pub struct ParameterSet {
    parameters: Vec<Node>,
    projections: Vec<(Node, Arc<dyn Projection>)>,
}

impl ParameterSet {
    /// A set of parameters without projections.
    pub fn new(parameters: Vec<Node>) -> ParameterSet {
        ParameterSet { parameters, projections: Vec::new() }
    }

    /// The parameters.
    pub fn nodes(&self) -> &[Node] {
        &self.parameters
    }

    /// Adds a projection that runs on every new value of `parameter`, after the
    /// projections added before it.
    pub fn add_projection(&mut self, parameter: &Node, projection: Arc<dyn Projection>) {
        self.projections.push((parameter.clone(), projection));
    }

    /// Applies `proposal`: each value goes through type checking and the parameter's
    /// projections, and is stored only on trainable parameters of this set. A value equal
    /// to the current one is not an update; the report warns about it instead. Returns the
    /// report of what changed and what was rejected; `step` and `optimizer` are left for
    /// the caller to fill in.
    pub fn apply(&self, proposal: &Proposal) -> StepReport {
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

        for (node, value) in &proposal.updates {
            let reject =
                |reason: String| RejectedUpdate { key: node.key().to_string(), value: value.preview(), reason };
            if !self.parameters.contains(node) {
                report.rejected.push(reject("not a parameter of this optimizer".to_string()));
                continue;
            }
            if !node.is_trainable() {
                report.rejected.push(reject("the parameter is not trainable".to_string()));
                continue;
            }
            let before = node.value_untracked();
            let projected = self.project(node, &before, value.clone());
            match projected {
                Ok(after) if after == before => {
                    report.warnings.push(format!("the suggested value of {} equals its current value", node.key()));
                }
                Ok(after) => {
                    let update =
                        ParameterUpdate { key: node.key().to_string(), before: before.render(), after: after.render() };
                    if node.set_value(after).is_ok() {
                        report.updates.push(update);
                    }
                }
                Err(reason) => report.rejected.push(reject(reason)),
            }
        }
        report
    }

    fn project(&self, node: &Node, current: &Value, value: Value) -> Result<Value, String> {
        let value = match (current, value) {
            (Value::Float(_), Value::Int(i)) => Value::Float(i as f64),
            (_, value) => value,
        };
        if !current.accepts(&value) {
            return Err(format!("expected a value of type `{}`, found `{}`", current.type_tag(), value.type_tag()));
        }
        self.projections
            .iter()
            .filter(|(target, _)| target == node)
            .try_fold(value, |value, (_, projection)| projection.project(node, value))
    }
}

/// An optimizer of parameters from the feedback they received.
pub trait Optimizer: Send + Sync {
    /// A short name for logs and reports, such as `OptoPrime` or `Adam`.
    fn name(&self) -> &str;

    /// The parameters this optimizer may change.
    fn parameters(&self) -> &[Node];

    /// Clears the feedback of every parameter, before the next backward pass.
    fn zero_feedback(&self) {
        self.parameters().iter().for_each(Node::zero_feedback);
    }

    /// Proposes new values from the feedback, without applying them.
    fn propose(&mut self) -> BoxFuture<'_, Result<Proposal, StepError>>;

    /// Applies a proposal to the trainable parameters and records it in the step log.
    fn apply(&mut self, proposal: &Proposal) -> StepReport;

    /// Proposes and applies new values.
    fn step(&mut self) -> BoxFuture<'_, Result<StepReport, StepError>> {
        Box::pin(async move {
            let proposal = self.propose().await?;
            Ok(self.apply(&proposal))
        })
    }

    /// The reports of all steps so far.
    fn step_log(&self) -> &[StepReport];

    /// State to keep in a checkpoint besides the parameter values (an LLM optimizer's
    /// memory, Adam's moments); `Null` when there is none.
    fn checkpoint_state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restores state written by [`Optimizer::checkpoint_state`].
    ///
    /// # Errors
    ///
    /// A message saying why the state does not fit this optimizer.
    fn restore_checkpoint_state(&mut self, _state: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(updates: Vec<(Node, Value)>) -> Proposal {
        Proposal { updates, ..Proposal::default() }
    }

    #[test]
    fn apply_updates_only_trainable_members() {
        let trainable = Node::parameter("a", 1);
        let frozen = Node::input("b", 1);
        let stranger = Node::parameter("c", 1);
        let set = ParameterSet::new(vec![trainable.clone(), frozen.clone()]);

        let report = set.apply(&proposal(vec![
            (trainable.clone(), Value::Int(2)),
            (frozen.clone(), Value::Int(3)),
            (stranger.clone(), Value::Int(4)),
        ]));

        assert_eq!(trainable.value(), Value::Int(2));
        assert_eq!(frozen.value(), Value::Int(1));
        assert_eq!(stranger.value(), Value::Int(1));
        assert_eq!(report.updates.len(), 1);
        assert_eq!(
            report.rejected.iter().map(|r| r.reason.as_str()).collect::<Vec<_>>(),
            ["the parameter is not trainable", "not a parameter of this optimizer"]
        );
    }

    #[test]
    fn projections_clamp_and_types_are_checked() {
        let rate = Node::parameter("rate", 0.5);
        let name = Node::parameter("name", "x");
        let mut set = ParameterSet::new(vec![rate.clone(), name.clone()]);
        set.add_projection(&rate, Arc::new(ClampProjection { min: 0.0, max: 1.0 }));

        let report = set.apply(&proposal(vec![(rate.clone(), Value::Int(3)), (name.clone(), Value::Int(1))]));

        assert_eq!(rate.value(), Value::Float(1.0));
        assert_eq!(name.value(), Value::from("x"));
        assert_eq!(report.rejected[0].reason, "expected a value of type `str`, found `int`");
    }

    #[test]
    fn unchanged_value_is_not_an_update() {
        let x = Node::parameter("x", 1);
        let set = ParameterSet::new(vec![x.clone()]);

        let report = set.apply(&proposal(vec![(x.clone(), Value::Int(1))]));

        assert!(report.updates.is_empty());
        assert_eq!(report.warnings, [format!("the suggested value of {} equals its current value", x.key())]);
    }

    #[test]
    fn terminated_proposal_changes_nothing() {
        let x = Node::parameter("x", 1);
        let set = ParameterSet::new(vec![x.clone()]);

        let report =
            set.apply(&Proposal { updates: vec![(x.clone(), Value::Int(5))], terminated: true, ..Proposal::default() });

        assert!(report.terminated);
        assert_eq!(x.value(), Value::Int(1));
        assert!(report.updates.is_empty());
    }
}
