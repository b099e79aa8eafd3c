//! The libtorch fast path: tensor values, traced numeric operators and the SGD and Adam optimizers.
//!
//! Everything that touches libtorch sits behind the `torch` cargo feature (on by default).
//! libtorch itself comes from `scripts/setup-libtorch`, which installs it into `.libtorch/`
//! at the workspace root; the build finds it there through `.cargo/config.toml`.

mod error;

#[cfg(feature = "torch")]
pub mod device;
#[cfg(feature = "torch")]
pub mod optim;
#[cfg(feature = "torch")]
pub mod tensor;

pub use error::{Error, Result};

/// The `tch` crate this one is built on, so that callers use the same version.
#[cfg(feature = "torch")]
pub use tch;
