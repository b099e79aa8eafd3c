//! The error type of the `agents` crate.

use std::path::PathBuf;

/// Errors of loading tasks, playing games, running agents and training them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A task file does not exist.
    #[error("task file {path} not found")]
    TaskFileNotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// A task file exists but could not be read.
    #[error("failed to read task file {path}: {source}")]
    TaskFileRead {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A task file is not valid JSON.
    #[error("task file {path} is not valid JSON: {source}")]
    TaskFileJson {
        /// The file.
        path: PathBuf,
        /// The parse error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A task file is valid JSON but not in a known task format.
    #[error("invalid task file {path}: {reason}")]
    InvalidTaskFile {
        /// The file.
        path: PathBuf,
        /// Description of the problem and of the expected shape.
        reason: String,
    },
    /// A task file contains no examples.
    #[error("task file {path} contains no examples")]
    EmptyTaskFile {
        /// The file.
        path: PathBuf,
    },
    /// One example of a task file is malformed.
    #[error("invalid {location} in task file {path}: {reason}")]
    InvalidExample {
        /// The file.
        path: PathBuf,
        /// The example, such as `example 3` (0-based) or `line 7` (1-based).
        location: String,
        /// Description of the problem.
        reason: String,
    },
    /// A generated task name is unknown.
    #[error("unknown generated task '{name}'; expected one of: {known}")]
    UnknownGeneratedTask {
        /// The requested name.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// The split sizes add up to more examples than the task has.
    #[error(
        "task '{task}' has {available} examples, fewer than the {requested} requested for train, validation and test; lower the split sizes"
    )]
    SplitTooLarge {
        /// Name of the task.
        task: String,
        /// Sum of the requested split sizes.
        requested: usize,
        /// Number of examples in the task.
        available: usize,
    },
    /// A Battleship board configuration cannot be played.
    #[error("invalid Battleship board: {reason}")]
    InvalidBoard {
        /// Description of the problem with the configuration.
        reason: String,
    },
    /// A Battleship shot is outside the board.
    #[error("shot ({x}, {y}) is outside the {size}x{size} board; x and y must be in 0..{size}")]
    ShotOutOfBounds {
        /// Column of the shot.
        x: i64,
        /// Row of the shot.
        y: i64,
        /// Width and height of the board.
        size: usize,
    },
    /// A Battleship shot was fired after the game ended.
    #[error("the Battleship game is over after {shots} shots; start a new game")]
    GameOver {
        /// Number of shots fired.
        shots: usize,
    },

    /// An LLM call failed for good (after its retries), or the budget ran out.
    #[error(transparent)]
    Llm(#[from] optimizers::Error),

    /// The traced graph was misused, such as a second backward through the same nodes.
    #[error(transparent)]
    Graph(#[from] trace_core::Error),

    /// An optimizer step failed for a reason other than the LLM client.
    #[error("optimizer step {step} failed: {message}")]
    Optimizer {
        /// The step number.
        step: usize,
        /// What the optimizer reported.
        message: String,
    },

    /// A checkpoint or report could not be written.
    #[error("cannot write {path}: {source}; check that the output folder is writable")]
    CheckpointWrite {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// A checkpoint could not be read.
    #[error("cannot read checkpoint {path}: {source}")]
    CheckpointRead {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// A checkpoint is not valid JSON of the expected shape, or belongs to another run.
    #[error("invalid checkpoint {path}: {message}; delete it to start the run again")]
    CheckpointFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Result of `agents` operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
