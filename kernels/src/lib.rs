//! The libtorch fast path: tensor values, traced numeric operators and the SGD and Adam optimizers.
//!
//! Tensors are values of the traced graph ([`tensor::TensorValue`]). Operators on tensor
//! nodes ([`ops::TensorOps`], and `+ - * /`) record message nodes while libtorch records its
//! own autograd history, and a whole `tch::nn` module call can be one fused node
//! ([`module::TracedModule`]). Given as feedback, a scalar loss tensor runs libtorch's
//! backward once ([`backward_loss`]): every tensor parameter gets its gradient, and symbolic
//! parameters upstream get the loss and the gradient norms as text. [`optim::Sgd`] and
//! [`optim::Adam`] then update the tensors through the same `trace_core::Optimizer` trait as
//! the LLM optimizers.
//!
//! Everything that touches libtorch sits behind the `torch` cargo feature (on by default).
//! libtorch itself comes from `scripts/setup-libtorch`, which installs it into `.libtorch/`
//! at the workspace root, where the build finds it through `.cargo/config.toml`.

mod error;

#[cfg(feature = "torch")]
pub mod device;
#[cfg(feature = "torch")]
mod json;
#[cfg(feature = "torch")]
mod loss;
#[cfg(feature = "torch")]
pub mod module;
#[cfg(feature = "torch")]
pub mod ops;
#[cfg(feature = "torch")]
pub mod optim;
#[cfg(feature = "torch")]
pub mod summary;
#[cfg(feature = "torch")]
pub mod tensor;

pub use error::{Error, Result};
#[cfg(feature = "torch")]
pub use json::{tensor_from_json, tensor_to_json};
#[cfg(feature = "torch")]
pub use loss::{backward_loss, loss_feedback};

/// The `tch` crate this one is built on, so that callers use the same version.
#[cfg(feature = "torch")]
pub use tch;
