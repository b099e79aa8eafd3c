//! Example agents, tasks with train, validation and test splits, and the trainer that optimizes them.

pub mod error;
pub mod task;

pub use error::{Error, Result};
