//! The step log shared by the LLM optimizers: applied proposals and failed steps.

use trace_core::{ParameterSet, Proposal, StepReport};
use tracing::debug;

use crate::error::Error;

/// Applies `proposal` to `parameters` and appends the report to `log`.
pub(crate) fn apply_and_record(
    parameters: &ParameterSet,
    log: &mut Vec<StepReport>,
    optimizer: &str,
    proposal: &Proposal,
) -> StepReport {
    let mut report = parameters.apply(proposal);
    report.step = log.len();
    report.optimizer = optimizer.to_string();
    debug!(
        optimizer,
        step = report.step,
        updated = report.updates.len(),
        rejected = report.rejected.len(),
        terminated = report.terminated,
        llm_calls = report.llm_calls,
        "optimizer step applied"
    );
    log.push(report.clone());
    report
}

/// Appends a report of a step that failed with `error` to `log`.
pub(crate) fn record_failure(log: &mut Vec<StepReport>, optimizer: &str, error: &Error) {
    let report = StepReport {
        step: log.len(),
        optimizer: optimizer.to_string(),
        llm_calls: error.llm_calls(),
        error: Some(error.to_string()),
        ..StepReport::default()
    };
    tracing::error!(optimizer, step = report.step, %error, "optimizer step failed");
    log.push(report);
}
