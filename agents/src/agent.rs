//! The agent trait: a module whose parameters an optimizer trains, run once per example.

use trace_core::{BoxFuture, Module, Node};

use crate::Result;
use crate::task::Example;

/// A workflow with trainable parameters that answers one example at a time.
///
/// `forward` runs the agent on an example and returns the traced output, so that feedback
/// on the answer can be sent backward to the agent's parameters. An error inside a traced
/// step (a wrong type, a script error) belongs in the graph as an exception node; `forward`
/// returns `Err` only when the run cannot go on, such as an LLM endpoint that stays down or
/// a budget that ran out.
pub trait Agent: Module + Send + Sync {
    /// Runs the agent on `example` and returns its traced output.
    fn forward<'a>(&'a self, example: &'a Example) -> BoxFuture<'a, Result<Node>>;

    /// The answer text read from an output of [`Agent::forward`]; by default its value
    /// rendered as text.
    fn answer(&self, output: &Node) -> String {
        output.value().render()
    }

    /// Grades an output itself, for agents such as a game player whose output is its score.
    /// `None`, the default, leaves the grading to the task's metric on [`Agent::answer`].
    fn judge(&self, output: &Node, example: &Example) -> Option<Judgement> {
        let _ = (output, example);
        None
    }
}

/// The grade of one output by its own agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    /// The score, 0.0 to 1.0.
    pub score: f64,
    /// The feedback to send backward from the output.
    pub feedback: String,
}
