//! Trainable code: JavaScript functions whose source is a parameter, run in an embedded
//! QuickJS engine (`rquickjs`).
//!
//! A script has the ECMAScript standard library and the host functions registered on its
//! [`Engine`], nothing else: no file, network or process access, no module loader, no
//! `require`, `fetch`, `console`, `std` or `os`. Each engine has memory, wall-time and
//! stack limits; exceeding one makes the call fail with a message naming the limit, and
//! the engine stays usable. Scripts run in strict mode. Each source gets a global scope of
//! its own on each worker, kept between calls of that source, so a global that a function
//! sets can still be there at its next call on the same worker.
//!
//! The value of a code parameter ([`code_parameter`]) is the source of one function
//! declaration. Its constraint records the name and signature, and [`CodeProjection`]
//! rejects updates that change them. [`JsFunction`] calls it on nodes and records `eval` nodes, and a failure
//! becomes an exception node whose text is the source with the failing line marked.
//!
//! # Threads
//!
//! A QuickJS runtime must stay on one thread, so each engine runs its runtimes on worker
//! threads fed by channels ([`EngineConfig::with_workers`], one by default). The handle is
//! `Send + Sync`, blocking calls wait on a condition variable and async calls are `std`
//! futures woken by the worker, so calls from tokio tasks do not block the executor. The
//! alternative, `rquickjs`'s `parallel` feature, puts the runtime behind a lock on the
//! caller's thread: a call awaited on a tokio task would then block that executor thread
//! for up to the time limit.

mod annotate;
mod call;
mod config;
mod convert;
mod engine;
mod host;
mod parameter;
mod reply;
mod signature;
mod worker;

pub use call::{EVAL_OP, JsFunction};
pub use config::EngineConfig;
pub use engine::Engine;
pub use parameter::{
    CODE_KEY_BASE, CheckedCodeProjection, CodeProjection, code_parameter, code_parameter_with_description,
    signature_constraint,
};
pub use signature::FunctionSignature;
