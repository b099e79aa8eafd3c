//! Example agents, tasks with train, validation and test splits, and the trainer that optimizes them.

pub mod agent;
pub mod battleship_agent;
pub mod checkpoint;
pub mod error;
pub mod evaluate;
pub mod llm_call;
pub mod qa;
pub mod report;
pub mod task;
pub mod trainer;

pub use agent::{Agent, Judgement};
pub use checkpoint::{Checkpoint, StepRecord};
pub use error::{Error, Result};
pub use evaluate::{Evaluation, evaluate};
pub use report::{RunReport, SplitScores, StopReason};
pub use trainer::{Trainer, TrainerConfig};
