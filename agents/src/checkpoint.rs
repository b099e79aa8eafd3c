//! Checkpoints of an optimization run, written after every step so that a run that stops
//! (killed, out of budget, endpoint down) loses at most the step in progress.
//!
//! A checkpoint is one JSON file. It is written to a temporary file in the same folder,
//! flushed to disk, and renamed over the old one, so a reader sees either the old or the
//! new checkpoint, never a partial one. It never contains an API key: parameters, optimizer
//! state, usage counts and the step log only.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use optimizers::llm::usage::ModelUsage;
use serde::{Deserialize, Serialize};
use trace_core::{ParameterState, StepReport};

use crate::{Error, Result};

/// The checkpoint format version.
pub const CHECKPOINT_VERSION: u32 = 1;

/// The record of one training step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step number, from 0.
    pub step: usize,
    /// Mean score on the step's minibatch, before the update.
    pub train_score: f64,
    /// Mean validation score after the update.
    pub validation_score: f64,
    /// Whether the update was undone because validation got worse than the best so far.
    pub reverted: bool,
    /// The optimizer's report.
    pub optimizer: StepReport,
    /// Seconds the step took.
    pub seconds: f64,
}

/// The state of a run after a completed step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The format version.
    pub version: u32,
    /// The task name.
    pub task: String,
    /// The optimizer name.
    pub optimizer: String,
    /// The seed of the run, which fixes splits and minibatches.
    pub seed: u64,
    /// Steps completed; the next step to run has this number.
    pub completed_steps: usize,
    /// Parameters after the last completed step.
    pub parameters: ParameterState,
    /// Parameters with the best validation score so far.
    pub best_parameters: ParameterState,
    /// The best validation score so far.
    pub best_validation: f64,
    /// Validation score before any update.
    pub initial_validation: f64,
    /// Test score before any update.
    pub initial_test: f64,
    /// The optimizer's own state, such as its memory.
    pub optimizer_state: serde_json::Value,
    /// One record per completed step.
    pub steps: Vec<StepRecord>,
    /// LLM usage per model so far.
    pub usage: BTreeMap<String, ModelUsage>,
    /// Wall time of the run so far, in seconds.
    pub elapsed_seconds: f64,
}

impl Checkpoint {
    /// Writes the checkpoint to `path` atomically.
    ///
    /// # Errors
    ///
    /// [`Error::CheckpointWrite`] with the path when the folder cannot be created or the
    /// file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|source| Error::CheckpointFormat { path: path.to_path_buf(), message: source.to_string() })?;
        write_atomic(path, &json)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`].
    ///
    /// # Errors
    ///
    /// [`Error::CheckpointRead`] when the file cannot be read, [`Error::CheckpointFormat`]
    /// when it is not a checkpoint of this version.
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = fs::read(path).map_err(|source| Error::CheckpointRead { path: path.to_path_buf(), source })?;
        let checkpoint: Checkpoint = serde_json::from_slice(&bytes)
            .map_err(|source| Error::CheckpointFormat { path: path.to_path_buf(), message: source.to_string() })?;
        if checkpoint.version != CHECKPOINT_VERSION {
            return Err(Error::CheckpointFormat {
                path: path.to_path_buf(),
                message: format!("version {} is not the supported version {CHECKPOINT_VERSION}", checkpoint.version),
            });
        }
        Ok(checkpoint)
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let error = |source| Error::CheckpointWrite { path: path.to_path_buf(), source };
    let folder = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(folder).map_err(error)?;

    let mut temporary = tempfile::NamedTempFile::new_in(folder).map_err(error)?;
    temporary.write_all(bytes).map_err(error)?;
    temporary.as_file().sync_all().map_err(error)?;
    temporary.persist(path).map_err(|persist| error(persist.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            task: "object_counting".into(),
            optimizer: "OptoPrime".into(),
            seed: 7,
            completed_steps: 2,
            parameters: ParameterState { version: 1, parameters: BTreeMap::new() },
            best_parameters: ParameterState { version: 1, parameters: BTreeMap::new() },
            best_validation: 0.5,
            initial_validation: 0.25,
            initial_test: 0.2,
            optimizer_state: serde_json::json!({"memory": []}),
            steps: Vec::new(),
            usage: BTreeMap::new(),
            elapsed_seconds: 3.5,
        }
    }

    #[test]
    fn save_and_load_round_trip() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("run/checkpoint.json");

        checkpoint().save(&path).unwrap();

        assert_eq!(Checkpoint::load(&path).unwrap(), checkpoint());
        let leftovers = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "only the checkpoint itself stays in the folder");
    }

    #[test]
    fn truncated_checkpoint_is_a_format_error() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("checkpoint.json");
        checkpoint().save(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

        let error = Checkpoint::load(&path).unwrap_err();

        assert!(matches!(error, Error::CheckpointFormat { .. }), "{error}");
    }

    #[test]
    fn missing_checkpoint_names_the_path() {
        let error = Checkpoint::load(Path::new("/nonexistent/checkpoint.json")).unwrap_err();

        assert!(error.to_string().contains("/nonexistent/checkpoint.json"), "{error}");
    }
}
