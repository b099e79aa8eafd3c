//! One question of a task with its accepted answers.

use serde::{Deserialize, Serialize};

/// A question with the answers that count as correct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// Identifier that is stable for a given source, such as `object_counting/17`.
    pub id: String,
    /// The full question shown to the model.
    pub input: String,
    /// Accepted answers; matching any one of them is correct. Never empty.
    pub targets: Vec<String>,
    /// Options shown in `input` as `(A) ...`, `(B) ...`; empty when the question is open.
    pub choices: Vec<String>,
    /// Worked solution from the source, such as a GSM8K rationale.
    pub solution: Option<String>,
}

impl Example {
    /// Creates an open question with accepted answers.
    pub fn new(id: impl Into<String>, input: impl Into<String>, targets: Vec<String>) -> Self {
        Self { id: id.into(), input: input.into(), targets, choices: Vec::new(), solution: None }
    }

    /// Returns the first accepted answer, the canonical one.
    pub fn target(&self) -> &str {
        self.targets.first().map_or("", String::as_str)
    }
}
