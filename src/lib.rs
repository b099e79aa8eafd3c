//! Trace-style end-to-end optimization of AI workflows.
//!
//! This facade re-exports the workspace crates:
//! - [`trace`]: the traced graph (values, nodes, operators, bundles, backward, summaries);
//! - [`kernels`]: tensors in the graph, numeric gradients from libtorch, SGD and Adam;
//! - [`optimizers`]: LLM clients and the optimizers that rewrite symbolic parameters;
//! - [`agents`]: example agents, tasks and the trainer.

pub use agents;
pub use kernels;
pub use optimizers;
pub use trace_core as trace;

/// Compiles and runs the README's Rust examples as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
