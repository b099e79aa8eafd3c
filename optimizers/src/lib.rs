//! LLM clients and the optimizers that rewrite symbolic parameters: OptoPrime, OptoPrimeMulti, OPRO and TextGrad.
//!
//! Every optimizer implements [`trace_core::Optimizer`], keeps its client as
//! `Arc<dyn LlmClient>`, renders its prompts from the Tera templates of [`Templates`], and
//! applies updates through a [`trace_core::ParameterSet`], so only trainable parameters
//! change and projections run on every new value.

pub mod error;
pub mod llm;
pub mod local_server;
mod multi;
mod opro;
mod optoprime;
mod reply;
mod step_log;
mod templates;
mod textgrad;

pub use error::{Error, Result};
pub use llm::{ChatRequest, ClientBuilder, Completion, LlmClient, LlmConfig, Message};
pub use multi::{OptoPrimeMulti, ScoreFn, Selector};
pub use opro::{HistoryEntry, Opro, OproConfig};
pub use optoprime::{MemoryEntry, OptoPrime, OptoPrimeConfig};
pub use templates::Templates;
pub use textgrad::{TextGrad, TextGradConfig};
