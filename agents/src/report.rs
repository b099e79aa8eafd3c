//! The report of an optimization run: JSON for tools, and a readable summary.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use optimizers::llm::usage::ModelUsage;
use serde::{Deserialize, Serialize};
use trace_core::ParameterState;

use crate::checkpoint::{StepRecord, write_atomic};
use crate::{Error, Result};

/// The reason a run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    /// Every step ran.
    Completed,
    /// The LLM budget ran out; the checkpoint contains the last completed step.
    BudgetExhausted {
        /// The client's message.
        message: String,
    },
    /// The LLM endpoint failed after its retries; the checkpoint contains the last
    /// completed step, so the run can be resumed.
    LlmFailed {
        /// The client's message.
        message: String,
    },
}

/// Mean scores on the validation and test splits.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitScores {
    /// Mean validation score.
    pub validation: f64,
    /// Mean test score.
    pub test: f64,
}

/// Example counts of the splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitCounts {
    /// Training examples.
    pub train: usize,
    /// Validation examples.
    pub validation: usize,
    /// Test examples.
    pub test: usize,
}

/// The outcome of an optimization run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The task name.
    pub task: String,
    /// The optimizer name.
    pub optimizer: String,
    /// The model that answered and optimized.
    pub model: String,
    /// The seed of the run.
    pub seed: u64,
    /// Example counts of the splits.
    pub splits: SplitCounts,
    /// Scores before optimization; `None` when the run stopped before measuring them.
    pub before: Option<SplitScores>,
    /// Scores of the best parameters after optimization; `None` when the run stopped early.
    pub after: Option<SplitScores>,
    /// One record per completed step.
    pub steps: Vec<StepRecord>,
    /// LLM usage per model.
    pub usage: BTreeMap<String, ModelUsage>,
    /// Wall time in seconds, over all sessions of a resumed run.
    pub wall_seconds: f64,
    /// The reason the run ended.
    pub stop: StopReason,
    /// The parameters the run ended with (the best by validation when it completed).
    pub parameters: ParameterState,
}

impl RunReport {
    /// Total usage over all models.
    pub fn total_usage(&self) -> ModelUsage {
        let mut total = ModelUsage::default();
        for usage in self.usage.values() {
            total.calls += usage.calls;
            total.cached_calls += usage.cached_calls;
            total.failed_calls += usage.failed_calls;
            total.prompt_tokens += usage.prompt_tokens;
            total.completion_tokens += usage.completion_tokens;
            total.cost_usd += usage.cost_usd;
        }
        total
    }

    /// Writes `report.json` and `report.txt` into `folder`.
    ///
    /// # Errors
    ///
    /// [`Error::CheckpointWrite`] when a file cannot be written.
    pub fn save(&self, folder: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|source| Error::CheckpointFormat {
            path: folder.join("report.json"),
            message: source.to_string(),
        })?;
        write_atomic(&folder.join("report.json"), &json)?;
        write_atomic(&folder.join("report.txt"), self.render().as_bytes())
    }

    /// Reads a report written by [`RunReport::save`].
    ///
    /// # Errors
    ///
    /// [`Error::CheckpointRead`] or [`Error::CheckpointFormat`] naming the file.
    pub fn load(path: &Path) -> Result<RunReport> {
        let bytes = std::fs::read(path).map_err(|source| Error::CheckpointRead { path: path.to_path_buf(), source })?;
        serde_json::from_slice(&bytes)
            .map_err(|source| Error::CheckpointFormat { path: path.to_path_buf(), message: source.to_string() })
    }

    /// A readable summary: scores before and after, per-step scores, usage, time and the
    /// final parameters.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Task {} optimized with {} on model {} (seed {})",
            self.task, self.optimizer, self.model, self.seed
        );
        let _ = writeln!(
            out,
            "Splits: {} train, {} validation, {} test examples",
            self.splits.train, self.splits.validation, self.splits.test
        );
        let _ = writeln!(out, "Stopped: {}", describe_stop(&self.stop));
        let _ = writeln!(out);

        let _ = writeln!(out, "{:<12}{:>10}{:>10}", "accuracy", "before", "after");
        let score = |scores: &Option<SplitScores>, pick: fn(&SplitScores) -> f64| {
            scores.as_ref().map_or("-".to_string(), |scores| percent(pick(scores)))
        };
        let (before, after) = (&self.before, &self.after);
        let _ = writeln!(
            out,
            "{:<12}{:>10}{:>10}",
            "validation",
            score(before, |s| s.validation),
            score(after, |s| s.validation)
        );
        let _ = writeln!(out, "{:<12}{:>10}{:>10}", "test", score(before, |s| s.test), score(after, |s| s.test));
        let _ = writeln!(out);

        if !self.steps.is_empty() {
            let _ = writeln!(
                out,
                "{:<6}{:>8}{:>12}{:>10}{:>9}{:>10}",
                "step", "train", "validation", "reverted", "updates", "seconds"
            );
            for step in &self.steps {
                let _ = writeln!(
                    out,
                    "{:<6}{:>8}{:>12}{:>10}{:>9}{:>10.1}",
                    step.step,
                    percent(step.train_score),
                    percent(step.validation_score),
                    if step.reverted { "yes" } else { "no" },
                    step.optimizer.updates.len(),
                    step.seconds
                );
                if let Some(error) = &step.optimizer.error {
                    let _ = writeln!(out, "      optimizer error: {error}");
                }
                for rejected in &step.optimizer.rejected {
                    let _ = writeln!(out, "      rejected update of {}: {}", rejected.key, rejected.reason);
                }
            }
            let _ = writeln!(out);
        }

        let total = self.total_usage();
        let _ = writeln!(
            out,
            "LLM usage: {} calls ({} cached), {} prompt + {} completion tokens, ${:.4}",
            total.calls, total.cached_calls, total.prompt_tokens, total.completion_tokens, total.cost_usd
        );
        let _ = writeln!(out, "Wall time: {:.1} s", self.wall_seconds);
        let _ = writeln!(out);

        let _ = writeln!(out, "Final parameters:");
        for (name, saved) in &self.parameters.parameters {
            let value = match &saved.value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(out, "  {name} ({}):", saved.kind);
            for line in value.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        out
    }
}

fn describe_stop(stop: &StopReason) -> String {
    match stop {
        StopReason::Completed => "after all steps".to_string(),
        StopReason::BudgetExhausted { message } => format!("early, the LLM budget ran out ({message})"),
        StopReason::LlmFailed { message } => {
            format!("early, the LLM endpoint failed ({message}); resume with --resume")
        }
    }
}

fn percent(score: f64) -> String {
    format!("{:.1}%", score * 100.0)
}
