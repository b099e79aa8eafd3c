//! LLM clients and the optimizers that rewrite symbolic parameters: OptoPrime, OptoPrimeMulti, OPRO and TextGrad.

pub mod error;
pub mod llm;

pub use error::{Error, Result};
pub use llm::{ChatRequest, ClientBuilder, Completion, LlmClient, LlmConfig, Message};
