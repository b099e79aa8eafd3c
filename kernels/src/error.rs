//! The error type of the libtorch fast path.

/// An error from a tensor operation, a device choice or an optimizer step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A CUDA device was requested but libtorch reports none with that index.
    #[error("cuda device {index} is not available ({available} available); use the cpu or a visible device")]
    CudaUnavailable {
        /// The requested device index.
        index: usize,
        /// The number of CUDA devices libtorch reports.
        available: usize,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
