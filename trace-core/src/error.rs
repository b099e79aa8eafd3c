//! The error type of the graph crate.

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while building, propagating through or persisting a traced graph.
///
/// An error raised *inside* a traced operator is not an `Error`: it becomes an exception
/// node, so that it can be sent back as feedback. `Error` is for misuse of the graph itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bundle read a node that was not one of its declared inputs.
    #[error(
        "operator `{op}` read node `{node}`, which is not one of its inputs; pass it as an input or allow external dependencies on the bundle"
    )]
    ExternalDependency {
        /// The operator name.
        op: String,
        /// The key of the node that was read.
        node: String,
    },

    /// A bundle was called with a different number of inputs than it declares.
    #[error("operator `{op}` takes {expected} inputs ({names}) but was called with {found}")]
    InputCount {
        /// The operator name.
        op: String,
        /// The number of declared inputs.
        expected: usize,
        /// The declared input names, comma separated.
        names: String,
        /// The number of inputs passed.
        found: usize,
    },

    /// Backward reached a node whose graph was already released by an earlier backward.
    #[error(
        "node `{node}` was already used by a backward pass; pass `retain_graph: true` to the first backward to run backward twice"
    )]
    AlreadyBackwarded {
        /// The key of the node.
        node: String,
    },

    /// Backward was called without any output.
    #[error("backward needs at least one output with feedback")]
    NoOutputs,

    /// A propagator failed on one node.
    #[error("propagator failed at node `{node}` (operator `{op}`): {message}")]
    Propagator {
        /// The key of the node.
        node: String,
        /// The operator name of the node.
        op: String,
        /// What the propagator reported.
        message: String,
    },

    /// A propagator returned feedback for the wrong number of parents.
    #[error("propagator returned feedback for {found} parents at node `{node}`, which has {expected}")]
    PropagatorArity {
        /// The key of the node.
        node: String,
        /// The number of parents of the node.
        expected: usize,
        /// The number of entries the propagator returned.
        found: usize,
    },

    /// Feedback that carries its own backward (a loss tensor, for example) failed to run it.
    #[error("feedback at output `{node}` failed to run its backward: {message}")]
    FeedbackBackward {
        /// The key of the output node.
        node: String,
        /// What the feedback value reported.
        message: String,
    },

    /// A value was set on a node that is not a parameter.
    #[error("node `{node}` is not a parameter, so its value cannot be set")]
    NotAParameter {
        /// The key of the node.
        node: String,
    },

    /// A value had a different type than the one required.
    #[error("{context}: expected a value of type `{expected}`, found `{found}` ({value})")]
    Type {
        /// Where the value was used (a node key, a parameter name or an argument).
        context: String,
        /// The required type tag.
        expected: String,
        /// The type tag of the value found.
        found: String,
        /// A short rendering of the value found.
        value: String,
    },

    /// A traced operator raised an error, and the caller asked for it as a Rust error.
    #[error("operator `{op}` raised an error at node `{node}`: {message}")]
    Operator {
        /// The key of the exception node.
        node: String,
        /// The operator name.
        op: String,
        /// The error message.
        message: String,
    },

    /// A saved parameter state has a newer format version than this build reads.
    #[error(
        "the saved state has format version {found}, but this build reads version {supported} or older; load it with the release that wrote it"
    )]
    UnsupportedStateVersion {
        /// The version in the saved state.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },

    /// A saved parameter state lacks a parameter that the module has.
    #[error("parameter `{name}` is missing from the saved state; save the module again or add `{name}` to the file")]
    MissingParameter {
        /// The parameter name.
        name: String,
    },

    /// A saved parameter state has a parameter that the module does not have.
    #[error(
        "the saved state has parameter `{name}`, which the module does not have; remove it from the file or load it into the module it came from"
    )]
    UnexpectedParameter {
        /// The parameter name.
        name: String,
    },

    /// A code parameter's value is not the source of exactly one JavaScript function.
    #[error("invalid code for node `{node}`: {reason}")]
    InvalidCode {
        /// The key of the code parameter, or `source` for source that is not in a node yet.
        node: String,
        /// The problem, and what the source must look like instead.
        reason: String,
    },

    /// The JavaScript engine could not start.
    #[error("failed to start the JavaScript engine: {reason}")]
    EngineStart {
        /// What failed.
        reason: String,
    },

    /// The JavaScript engine's workers have stopped, so it takes no more work.
    #[error("the JavaScript engine has stopped; start a new engine")]
    EngineStopped,

    /// A host function could not be registered.
    #[error("invalid host function `{name}`: {reason}")]
    InvalidHostFunction {
        /// The name the function was to be registered under.
        name: String,
        /// The problem with the name or the function.
        reason: String,
    },

    /// Parameter state could not be parsed or serialized as JSON.
    #[error("invalid parameter state JSON: {0}")]
    Json(#[from] serde_json::Error),
}
