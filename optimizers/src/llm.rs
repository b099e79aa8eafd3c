//! The LLM client layer: an object-safe chat trait, an OpenAI-compatible client, and
//! layers for retries, rate limits, a disk cache, usage accounting with a budget, and
//! record/replay.
//!
//! [`ClientBuilder`] composes the layers, outermost first, as
//! `span -> cache -> budget and usage -> limiter -> recorder -> retry -> HTTP`.
//! The cache sits outside the budget so that a cache hit is free and is served even
//! when the budget is spent. The limiter sits outside the retry, so one logical call
//! keeps one concurrency slot and one request-per-minute unit across its retries.

pub mod cache;
pub mod client;
pub mod config;
pub mod limiter;
pub mod message;
pub mod mock;
pub mod openai;
pub mod replay;
pub mod retry;
pub mod stack;
pub mod usage;

pub use cache::{CachedClient, DiskCache, request_key};
pub use client::LlmClient;
pub use config::{ApiKey, LlmConfig};
pub use limiter::{RateLimitedClient, RateLimits};
pub use message::{ChatRequest, Completion, FinishReason, Message, ResponseFormat, Role, TokenUsage};
pub use mock::MockClient;
pub use openai::OpenAiClient;
pub use replay::{RecordingClient, ReplayClient};
pub use retry::{RetryPolicy, RetryingClient};
pub use stack::{ClientBuilder, ClientStack};
pub use usage::{Budget, BudgetResource, MeteredClient, ModelPrice, ModelUsage, PriceTable, UsageTracker};
