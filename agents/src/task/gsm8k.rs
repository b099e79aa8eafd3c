//! Loader of GSM8K-style math word problems.
//!
//! The GSM8K format (Cobbe et al., 2021): one JSON object per line with a `question` and an
//! `answer` whose worked solution ends with a line `#### N`, the final number. A JSON list
//! of the same objects is accepted too.

use std::path::Path;

use serde_json::Value;

use super::answer::parse_number;
use super::{Example, Metric, Task, TaskSource, read_text};
use crate::{Error, Result};

/// Loads GSM8K problems from JSON Lines (`*.jsonl`) or from a JSON list.
///
/// Each example's target is the number after the last `####` with thousands commas
/// removed; the text before it becomes [`Example::solution`]. The metric is
/// [`Metric::NumericMatch`]. Blank lines are skipped.
///
/// # Errors
///
/// See [`load_task_file`](super::load_task_file).
pub fn load_gsm8k(path: impl AsRef<Path>) -> Result<Task> {
    let path = path.as_ref();
    let text = read_text(path)?;
    if path.extension().is_some_and(|extension| extension == "jsonl") {
        let mut examples = Vec::new();
        for (line_index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let location = format!("line {}", line_index + 1);
            let value: Value = serde_json::from_str(line).map_err(|error| Error::InvalidExample {
                path: path.to_path_buf(),
                location: location.clone(),
                reason: format!("not valid JSON: {error}"),
            })?;
            examples.push(parse_problem(path, &value, examples.len(), location)?);
        }
        return finish(path, examples);
    }

    let root: Value =
        serde_json::from_str(&text).map_err(|source| Error::TaskFileJson { path: path.to_path_buf(), source })?;
    task_from_json(path, &root)
}

/// Builds a task from a parsed JSON list of problems.
pub(super) fn task_from_json(path: &Path, root: &Value) -> Result<Task> {
    let Value::Array(items) = root else {
        return Err(Error::InvalidTaskFile {
            path: path.to_path_buf(),
            reason: "expected a list of {\"question\", \"answer\"} objects".to_owned(),
        });
    };
    let mut examples = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        examples.push(parse_problem(path, item, index, format!("example {index}"))?);
    }
    finish(path, examples)
}

fn finish(path: &Path, examples: Vec<Example>) -> Result<Task> {
    if examples.is_empty() {
        return Err(Error::EmptyTaskFile { path: path.to_path_buf() });
    }
    Ok(Task {
        name: task_name(path),
        description: "Grade-school math word problems with a numeric answer".to_owned(),
        source: TaskSource::Gsm8k { path: path.to_path_buf() },
        metric: Metric::NumericMatch,
        examples,
    })
}

fn parse_problem(path: &Path, value: &Value, index: usize, location: String) -> Result<Example> {
    let invalid = |reason: &str| Error::InvalidExample {
        path: path.to_path_buf(),
        location: location.clone(),
        reason: reason.to_owned(),
    };
    let Value::Object(object) = value else {
        return Err(invalid("expected an object with `question` and `answer`"));
    };
    let question =
        object.get("question").and_then(Value::as_str).ok_or_else(|| invalid("missing the string `question`"))?;
    let answer = object.get("answer").and_then(Value::as_str).ok_or_else(|| invalid("missing the string `answer`"))?;
    let Some((solution, final_answer)) = answer.rsplit_once("####") else {
        return Err(invalid("`answer` has no `#### N` line with the final number"));
    };
    let final_answer = final_answer.trim();
    let Some(value) = parse_number(final_answer) else {
        return Err(Error::InvalidExample {
            path: path.to_path_buf(),
            location,
            reason: format!("the final answer '{final_answer}' after `####` is not a number"),
        });
    };

    let mut example = Example::new(format!("{}/{index}", task_name(path)), question.trim(), vec![format_number(value)]);
    example.solution = Some(solution.trim().to_owned());
    Ok(example)
}

/// Returns the task name: the file stem, with `gsm8k_` before the split names `test` and `train`.
fn task_name(path: &Path) -> String {
    let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or("gsm8k");
    if stem == "test" || stem == "train" { format!("gsm8k_{stem}") } else { stem.to_owned() }
}

/// Writes a number without a fractional part when it is whole, such as `1200` for `1,200`.
fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 { format!("{value:.0}") } else { value.to_string() }
}
