//! The trainer: minibatches evaluated concurrently, one backward per minibatch, an optimizer
//! step, validation with revert to the best parameters, and a checkpoint after every step.
//!
//! A run that stops early (budget exhausted, LLM endpoint down after its retries) ends
//! cleanly with the checkpoint of the last completed step on disk; `resume` continues from
//! it. Minibatches depend only on the seed and the step number, so a resumed run draws the
//! same minibatches as an uninterrupted one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use optimizers::llm::usage::{ModelUsage, UsageTracker};
use trace_core::{BackwardOptions, Feedback, Node, Optimizer, StepReport, backward};

use crate::agent::Agent;
use crate::checkpoint::{CHECKPOINT_VERSION, Checkpoint, StepRecord};
use crate::evaluate::{Evaluation, evaluate, mean_score};
use crate::report::{RunReport, SplitCounts, SplitScores, StopReason};
use crate::task::{Example, Splits, Task};
use crate::{Error, Result};

/// Settings of a training run.
#[derive(Clone, Debug)]
pub struct TrainerConfig {
    /// Optimizer steps to run.
    pub steps: usize,
    /// Training examples per step.
    pub batch_size: usize,
    /// Examples evaluated at the same time; the LLM client's own limits apply on top.
    pub concurrency: usize,
    /// Seed of the minibatch draws.
    pub seed: u64,
    /// Folder for `checkpoint.json`, `report.json` and `report.txt`.
    pub output_dir: PathBuf,
    /// Continue from the checkpoint in `output_dir` if there is one.
    pub resume: bool,
    /// Model name, for the report.
    pub model: String,
    /// Show progress bars on the terminal.
    pub progress: bool,
}

/// The agent, optimizer and data of one training run.
pub struct Trainer<'a> {
    /// The agent whose parameters are trained.
    pub agent: &'a dyn Agent,
    /// The optimizer of the agent's parameters.
    pub optimizer: &'a mut dyn Optimizer,
    /// The task, for its name and metric.
    pub task: &'a Task,
    /// The splits to train, validate and test on.
    pub splits: &'a Splits<Example>,
    /// The LLM usage tracker shared with the clients, for the report and checkpoints.
    pub usage: Option<Arc<UsageTracker>>,
    /// Settings.
    pub config: TrainerConfig,
}

/// Progress of a run, saved as the checkpoint after every step.
struct RunState {
    checkpoint: Checkpoint,
}

impl Trainer<'_> {
    /// Runs the optimization and writes the report.
    ///
    /// # Errors
    ///
    /// [`Error::CheckpointWrite`], [`Error::CheckpointRead`] or [`Error::CheckpointFormat`]
    /// for checkpoint files; [`Error::Graph`] for a misused graph. An exhausted budget or a
    /// failed LLM endpoint is not an error, because the report records why the run stopped.
    pub async fn run(&mut self) -> Result<RunReport> {
        let started = Instant::now();
        let checkpoint_path = self.config.output_dir.join("checkpoint.json");

        let mut state = match self.resume_state(&checkpoint_path)? {
            Some(state) => state,
            None => match self.initial_state().await {
                Ok(state) => state,
                Err(StepFailure::Stop(reason)) => return self.stopped_before_start(reason),
                Err(StepFailure::Error(error)) => return Err(error),
            },
        };
        let elapsed_before = state.checkpoint.elapsed_seconds;

        let steps = ProgressBar::new(self.config.steps as u64)
            .with_style(bar_style("steps"))
            .with_position(state.checkpoint.completed_steps as u64);
        if !self.config.progress {
            steps.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }

        let mut stop = StopReason::Completed;
        while state.checkpoint.completed_steps < self.config.steps {
            let step = state.checkpoint.completed_steps;
            let step_started = Instant::now();
            match self.run_step(step, &mut state).await {
                Ok(record) => {
                    tracing::info!(
                        step,
                        train = record.train_score,
                        validation = record.validation_score,
                        reverted = record.reverted,
                        "step done"
                    );
                    let mut record = record;
                    record.seconds = step_started.elapsed().as_secs_f64();
                    state.checkpoint.steps.push(record);
                    state.checkpoint.completed_steps += 1;
                    state.checkpoint.elapsed_seconds = elapsed_before + started.elapsed().as_secs_f64();
                    state.checkpoint.usage = self.usage_snapshot();
                    state.checkpoint.save(&checkpoint_path)?;
                    steps.inc(1);
                }
                Err(StepFailure::Stop(reason)) => {
                    tracing::warn!(step, reason = ?reason, "run stopped early; the checkpoint keeps the last completed step");
                    stop = reason;
                    break;
                }
                Err(StepFailure::Error(error)) => return Err(error),
            }
        }
        steps.finish_and_clear();

        let after = match stop {
            StopReason::Completed => match self.final_scores(&state).await {
                Ok(scores) => Some(scores),
                Err(StepFailure::Stop(reason)) => {
                    stop = reason;
                    None
                }
                Err(StepFailure::Error(error)) => return Err(error),
            },
            _ => None,
        };

        let report = RunReport {
            task: self.task.name.clone(),
            optimizer: self.optimizer.name().to_string(),
            model: self.config.model.clone(),
            seed: self.config.seed,
            splits: self.split_counts(),
            before: Some(SplitScores {
                validation: state.checkpoint.initial_validation,
                test: state.checkpoint.initial_test,
            }),
            after,
            steps: state.checkpoint.steps.clone(),
            usage: self.usage_snapshot(),
            wall_seconds: elapsed_before + started.elapsed().as_secs_f64(),
            stop,
            parameters: self.agent.state(),
        };
        report.save(&self.config.output_dir)?;
        Ok(report)
    }

    fn resume_state(&mut self, path: &std::path::Path) -> Result<Option<RunState>> {
        if !self.config.resume || !path.exists() {
            return Ok(None);
        }
        let checkpoint = Checkpoint::load(path)?;
        if checkpoint.task != self.task.name || checkpoint.seed != self.config.seed {
            return Err(Error::CheckpointFormat {
                path: path.to_path_buf(),
                message: format!(
                    "it belongs to task {} with seed {}, not task {} with seed {}",
                    checkpoint.task, checkpoint.seed, self.task.name, self.config.seed
                ),
            });
        }
        self.agent.load_state(&checkpoint.parameters)?;
        self.optimizer
            .restore_checkpoint_state(&checkpoint.optimizer_state)
            .map_err(|message| Error::CheckpointFormat { path: path.to_path_buf(), message })?;
        if let Some(tracker) = &self.usage {
            tracker.restore(&checkpoint.usage);
        }
        tracing::info!(completed_steps = checkpoint.completed_steps, path = %path.display(), "resuming from checkpoint");
        Ok(Some(RunState { checkpoint }))
    }

    async fn initial_state(&mut self) -> std::result::Result<RunState, StepFailure> {
        let validation = self.score("validation before", &self.splits.validation).await?;
        let test = self.score("test before", &self.splits.test).await?;
        tracing::info!(validation, test, "scores before optimization");

        let parameters = self.agent.state();
        let checkpoint = Checkpoint {
            version: CHECKPOINT_VERSION,
            task: self.task.name.clone(),
            optimizer: self.optimizer.name().to_string(),
            seed: self.config.seed,
            completed_steps: 0,
            parameters: parameters.clone(),
            best_parameters: parameters,
            best_validation: validation,
            initial_validation: validation,
            initial_test: test,
            optimizer_state: self.optimizer.checkpoint_state(),
            steps: Vec::new(),
            usage: self.usage_snapshot(),
            elapsed_seconds: 0.0,
        };
        let path = self.config.output_dir.join("checkpoint.json");
        checkpoint.save(&path).map_err(StepFailure::Error)?;
        Ok(RunState { checkpoint })
    }

    fn stopped_before_start(&self, stop: StopReason) -> Result<RunReport> {
        let report = RunReport {
            task: self.task.name.clone(),
            optimizer: self.optimizer.name().to_string(),
            model: self.config.model.clone(),
            seed: self.config.seed,
            splits: self.split_counts(),
            before: None,
            after: None,
            steps: Vec::new(),
            usage: self.usage_snapshot(),
            wall_seconds: 0.0,
            stop,
            parameters: self.agent.state(),
        };
        report.save(&self.config.output_dir)?;
        Ok(report)
    }

    async fn run_step(&mut self, step: usize, state: &mut RunState) -> std::result::Result<StepRecord, StepFailure> {
        let batch = minibatch(&self.splits.train, self.config.batch_size, self.config.seed, step);
        self.optimizer.zero_feedback();

        let evaluations = self.evaluate_examples(&format!("step {step}"), &batch).await?;
        let train_score = mean_score(&evaluations);
        let seeds: Vec<(Node, Feedback)> = evaluations.iter().map(Evaluation::seed).collect();
        backward(&seeds, &BackwardOptions::default()).map_err(|error| StepFailure::Error(error.into()))?;

        let mut report = match self.optimizer.step().await {
            Ok(report) => report,
            Err(error) => {
                let message = classify_step_error(step, error)?;
                tracing::warn!(step, error = %message, "optimizer step proposed nothing; the run goes on");
                let logged = self.optimizer.step_log().last().filter(|logged| logged.error.is_some()).cloned();
                logged.unwrap_or(StepReport { error: Some(message), ..StepReport::default() })
            }
        };
        report.step = step;
        report.optimizer = self.optimizer.name().to_string();
        self.optimizer.zero_feedback();

        let validation_score = self.score(&format!("validation {step}"), &self.splits.validation).await?;
        let reverted = validation_score < state.checkpoint.best_validation;
        if reverted {
            self.agent
                .load_state(&state.checkpoint.best_parameters)
                .map_err(|error| StepFailure::Error(error.into()))?;
        } else {
            state.checkpoint.best_validation = validation_score;
            state.checkpoint.best_parameters = self.agent.state();
        }
        state.checkpoint.parameters = self.agent.state();
        state.checkpoint.optimizer_state = self.optimizer.checkpoint_state();

        Ok(StepRecord { step, train_score, validation_score, reverted, optimizer: report, seconds: 0.0 })
    }

    async fn final_scores(&self, state: &RunState) -> std::result::Result<SplitScores, StepFailure> {
        self.agent.load_state(&state.checkpoint.best_parameters).map_err(|error| StepFailure::Error(error.into()))?;
        let test = self.score("test after", &self.splits.test).await?;
        Ok(SplitScores { validation: state.checkpoint.best_validation, test })
    }

    async fn score(&self, label: &str, examples: &[Example]) -> std::result::Result<f64, StepFailure> {
        let evaluations = self.evaluate_examples(label, examples).await?;
        Ok(mean_score(&evaluations))
    }

    async fn evaluate_examples(
        &self,
        label: &str,
        examples: &[Example],
    ) -> std::result::Result<Vec<Evaluation>, StepFailure> {
        let bar = ProgressBar::new(examples.len() as u64).with_style(bar_style(label));
        if !self.config.progress {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let result = evaluate(self.agent, self.task, examples, self.config.concurrency, &|| bar.inc(1)).await;
        bar.finish_and_clear();
        result.map_err(classify_error)
    }

    fn usage_snapshot(&self) -> BTreeMap<String, ModelUsage> {
        self.usage.as_ref().map(|tracker| tracker.per_model()).unwrap_or_default()
    }

    fn split_counts(&self) -> SplitCounts {
        SplitCounts {
            train: self.splits.train.len(),
            validation: self.splits.validation.len(),
            test: self.splits.test.len(),
        }
    }
}

/// The reason a step did not complete.
enum StepFailure {
    /// The run must stop cleanly, keeping the last checkpoint.
    Stop(StopReason),
    /// A failure of the trainer itself.
    Error(Error),
}

fn classify_error(error: Error) -> StepFailure {
    match error {
        Error::Llm(llm) => StepFailure::Stop(classify_llm_error(&llm)),
        other => StepFailure::Error(other),
    }
}

fn classify_llm_error(error: &optimizers::Error) -> StopReason {
    match error {
        optimizers::Error::BudgetExhausted { .. } => StopReason::BudgetExhausted { message: error.to_string() },
        other => StopReason::LlmFailed { message: other.to_string() },
    }
}

/// Sorts an optimizer error: `Ok` with its message when the step failed but the run can go
/// on (a reply that stayed unusable after the optimizer's retries), otherwise the failure.
fn classify_step_error(step: usize, error: trace_core::StepError) -> std::result::Result<String, StepFailure> {
    let llm = match error.downcast::<optimizers::Error>() {
        Ok(llm) => llm,
        Err(other) => return Err(StepFailure::Error(Error::Optimizer { step, message: other.to_string() })),
    };
    match *llm {
        optimizers::Error::InvalidReply { .. }
        | optimizers::Error::NoFeedback { .. }
        | optimizers::Error::NoCandidate { .. } => Ok(llm.to_string()),
        ref other => Err(StepFailure::Stop(classify_llm_error(other))),
    }
}

/// The training examples of one step: `batch_size` distinct examples drawn with a generator
/// seeded by the run's seed and the step number.
pub fn minibatch(train: &[Example], batch_size: usize, seed: u64, step: usize) -> Vec<Example> {
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut state = seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for i in (1..order.len()).rev() {
        state = splitmix64(state);
        let j = (state % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order.into_iter().take(batch_size).map(|i| train[i].clone()).collect()
}

fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn bar_style(label: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!("{label:>18} [{{bar:30}}] {{pos}}/{{len}} {{elapsed}}"))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}
