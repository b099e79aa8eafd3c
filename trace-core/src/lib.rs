//! The traced graph: values, nodes, operators, bundles, backward propagation and summaries.
//!
//! A workflow runs once on [`Node`]s. Every operator on nodes (arithmetic, comparisons,
//! string and container operations, [`Bundle`]s wrapping Rust functions) records a message
//! node whose parents are its inputs, so the outputs carry the graph of the run with them.
//! There is no global graph: concurrent runs build separate graphs that share only their
//! parameter nodes.
//!
//! Feedback on outputs is then sent backward with [`backward`] or [`Node::backward`], and
//! each parameter keeps what reached it. [`Summary::of`] turns that into what an optimizer
//! prompt needs: the operator lines between the parameters and the outputs, the values
//! around them, and the feedback.
//!
//! ```
//! use trace_core::{Node, Summary, ops};
//!
//! let template = Node::parameter("template", "Q: {question} A:");
//! let question = Node::input("question", "What is 2 + 2?");
//! let prompt = ops::format(&template, &[("question", &question)]);
//! let words = prompt.split(" ").len();
//!
//! words.backward("the prompt is too long")?;
//! let summary = Summary::of(&[template.clone()]);
//!
//! assert_eq!(summary.code.len(), 3);
//! assert_eq!(summary.variables[0].key, template.key());
//! assert_eq!(summary.feedback_text(), "the prompt is too long");
//! # Ok::<(), trace_core::Error>(())
//! ```
//!
//! With the default feature `js`, code parameters are JavaScript functions run in a
//! sandboxed QuickJS engine; see [`JsFunction`].
//!
//! This crate does no I/O and depends on no async runtime; bundles wrap async functions with
//! plain `std` futures.

mod backward;
mod bundle;
#[cfg(feature = "js")]
mod code;
pub mod dot;
mod error;
mod key;
mod module;
mod node;
mod op;
pub mod ops;
mod optimizer;
mod scope;
mod summary;
mod value;

pub use backward::{
    BackwardOptions, BackwardPass, Feedback, FeedbackItem, GraphPropagator, ParameterFeedback, Propagator, backward,
};
pub use bundle::{Bundle, IntoOutput, TracedFn, TypedOperator};
#[cfg(feature = "js")]
pub use code::{
    CODE_KEY_BASE, CheckedCodeProjection, CodeProjection, EVAL_OP, Engine, EngineConfig, FunctionSignature, JsFunction,
    code_parameter, code_parameter_with_description, signature_constraint,
};
pub use error::{Error, Result};
pub use module::{Module, ParameterState, STATE_VERSION, SavedParameter};
pub use node::{Node, NodeKind, Parameter};
pub use op::OpSpec;
pub use ops::IntoNode;
pub use optimizer::{
    BoxFuture, ClampProjection, Optimizer, ParameterSet, ParameterUpdate, Projection, Proposal, RejectedUpdate,
    StepError, StepReport,
};
pub use scope::{StopTracing, stop_tracing};
pub use summary::{OpLine, OutputFeedback, Summary, SummaryEntry};
pub use value::{BinaryOp, CompareOp, ExtValue, FromValue, TypeError, Value};
