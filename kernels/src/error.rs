//! The error type of the libtorch fast path.

/// An error from a tensor operation, a device choice or an optimizer step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A CUDA device was requested but libtorch reports none with that index.
    #[error("cuda device {index} is not available ({available} available); use the cpu or an available device")]
    CudaUnavailable {
        /// The requested device index.
        index: usize,
        /// The number of CUDA devices libtorch reports.
        available: usize,
    },

    /// libtorch rejected an operation, for instance for shapes that do not broadcast.
    #[error("{op} failed on {operands}: {message}")]
    Torch {
        /// The operation, such as `matmul`.
        op: &'static str,
        /// The operands with their shapes, such as `[2, 3] and [4, 5]`.
        operands: String,
        /// The first line of libtorch's message, without its C++ backtrace.
        message: String,
    },

    /// Two operands of an operation have different element types.
    #[error("{op} needs operands of one dtype, got {operands}; convert one with to_kind first")]
    DtypeMismatch {
        /// The operation.
        op: &'static str,
        /// The operands with their dtypes and shapes.
        operands: String,
    },

    /// Two operands of an operation are on different devices.
    #[error("{op} needs operands on one device, got {operands}; move one with to_device first")]
    DeviceMismatch {
        /// The operation.
        op: &'static str,
        /// The operands with their devices and shapes.
        operands: String,
    },

    /// Two operands of an operation that must have one shape have different shapes.
    #[error("{op} needs operands of one shape, got {operands}")]
    ShapeMismatch {
        /// The operation.
        op: &'static str,
        /// The operands with their shapes.
        operands: String,
    },

    /// An operand has a shape the operation does not accept.
    #[error("{op} got an operand of shape {shape:?}, expected {expected}")]
    InvalidShape {
        /// The operation.
        op: &'static str,
        /// The shape that was given.
        shape: Vec<i64>,
        /// The shapes the operation accepts.
        expected: &'static str,
    },

    /// A loss is NaN or infinite, so its gradients would be too.
    #[error("the loss is {value}, not a finite number; check the learning rate and the inputs")]
    NonFiniteLoss {
        /// The loss value.
        value: f64,
    },

    /// A gradient contains NaN or an infinity, so no parameter was updated.
    #[error("the gradient of parameter {parameter} (shape {shape:?}) is not finite; no parameter was updated")]
    NonFiniteGradient {
        /// The key of the parameter node.
        parameter: String,
        /// The shape of the parameter.
        shape: Vec<i64>,
    },

    /// An optimizer was given a tensor it cannot train.
    #[error(
        "parameter {parameter} cannot be trained: dtype {dtype}, requires_grad {requires_grad}; \
         use a floating-point tensor parameter"
    )]
    NotTrainable {
        /// The key or name of the parameter.
        parameter: String,
        /// The dtype of the tensor.
        dtype: String,
        /// Whether the tensor records gradients.
        requires_grad: bool,
    },

    /// A node that should contain a tensor contains another value.
    #[error("node {node} contains a {found}, not a tensor{}", error.as_ref().map(|e| format!(" (it is an exception: {e})")).unwrap_or_default())]
    NotATensor {
        /// The key of the node.
        node: String,
        /// The type tag of the value found.
        found: String,
        /// The error message when the node is an exception node.
        error: Option<String>,
    },

    /// A loss given as feedback is not a single floating-point number.
    #[error("the loss must be a floating-point tensor with one element, got {loss}; reduce it with sum or mean first")]
    InvalidLoss {
        /// The loss tensor, described by shape, dtype and device.
        loss: String,
    },

    /// Saved tensor JSON does not fit the tensor it is loaded into.
    #[error("invalid tensor JSON: {message}")]
    InvalidJson {
        /// The problem with the JSON.
        message: String,
    },

    /// The traced graph rejected an operation, for instance a second backward pass.
    #[error(transparent)]
    Graph(#[from] trace_core::Error),

    /// An optimizer or operation setting is out of range.
    #[error("invalid {name} {value}, expected {expected}")]
    InvalidSetting {
        /// The setting, such as `learning_rate`.
        name: &'static str,
        /// The value that was given.
        value: String,
        /// The accepted range.
        expected: &'static str,
    },
}

impl Error {
    /// Wraps a libtorch error from `op` on `operands`, keeping the first line of the message.
    #[cfg(feature = "torch")]
    pub(crate) fn torch(op: &'static str, operands: impl Into<String>, source: tch::TchError) -> Self {
        Self::Torch { op, operands: operands.into(), message: first_line(&source.to_string()) }
    }
}

/// Returns the first non-empty line of a libtorch message, which is followed by a C++
/// backtrace that is of no use to a caller.
#[cfg(feature = "torch")]
fn first_line(message: &str) -> String {
    let message = message.trim_start_matches("Internal torch error: ");
    let line = message.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or("no message");
    line.to_owned()
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
