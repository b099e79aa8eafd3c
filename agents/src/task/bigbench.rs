//! Loader of BIG-bench `task.json` files and BIG-Bench-Hard JSON files.
//!
//! BIG-bench (`bigbench/benchmark_tasks/<task>/task.json` in the `bigbench` 1.0.0 package):
//! an object with metadata and `examples`. The metadata keys are `name`, `description`,
//! `keywords`, `metrics` and `preferred_score`, and optionally `task_prefix`,
//! `example_input_prefix` and `append_choices_to_input`. Each example has an `input` and
//! either a `target` or `target_scores`. A `target` is a string or a list of accepted
//! strings, such as `["three", "3"]`. A `target_scores` map goes from option text to score,
//! and the options with the top score are correct.
//!
//! BIG-Bench-Hard: `{"examples": [{"input": ..., "target": ...}]}`, where the input already
//! contains any instructions and options, and the target is a string such as `(A)`.

use std::path::Path;

use serde_json::{Map, Value};

use super::seeded_rng::{SeededRng, hash_text};
use super::{Example, Metric, Task, TaskSource, read_json};
use crate::{Error, Result};

/// Keys that only BIG-bench files have, used to tell them from BIG-Bench-Hard files.
const BIGBENCH_METADATA_KEYS: [&str; 5] = ["name", "description", "keywords", "metrics", "preferred_score"];

/// Loads a BIG-bench `task.json` or a BIG-Bench-Hard JSON file; the format is detected.
///
/// Questions are the file's `input`, preceded by `task_prefix` and `example_input_prefix`
/// when the file sets them. Multiple-choice examples (`target_scores`) list their options
/// as `(A) ...` lines. The order is shuffled with a seed taken from the input, because in
/// BIG-bench files the correct option usually comes first. Files with
/// `append_choices_to_input: false` keep the question open and accept the option text.
///
/// # Errors
///
/// See [`load_task_file`](super::load_task_file).
pub fn load_bigbench(path: impl AsRef<Path>) -> Result<Task> {
    let path = path.as_ref();
    let root = read_json(path)?;
    task_from_json(path, &root)
}

/// Builds a task from the parsed content of a BIG-bench or BIG-Bench-Hard file.
pub(super) fn task_from_json(path: &Path, root: &Value) -> Result<Task> {
    let invalid = |reason: String| Error::InvalidTaskFile { path: path.to_path_buf(), reason };
    let Value::Object(object) = root else {
        return Err(invalid("expected a JSON object with an `examples` list".to_owned()));
    };
    let Some(examples) = object.get("examples") else {
        return Err(invalid("missing the `examples` list".to_owned()));
    };
    let Value::Array(examples) = examples else {
        return Err(invalid("`examples` must be a list of objects".to_owned()));
    };
    if examples.is_empty() {
        return Err(Error::EmptyTaskFile { path: path.to_path_buf() });
    }

    let is_bigbench = BIGBENCH_METADATA_KEYS.iter().any(|key| object.contains_key(*key));
    let name = string_field(object, "name").map(str::to_owned).unwrap_or_else(|| default_name(path));
    let description = string_field(object, "description").unwrap_or_default().to_owned();
    let format = InputFormat::from_metadata(object);
    let prefers_choices = string_field(object, "preferred_score") == Some("multiple_choice_grade");

    let mut parsed = Vec::with_capacity(examples.len());
    for (index, example) in examples.iter().enumerate() {
        let location = format!("example {index}");
        let example = parse_example(example, &format, prefers_choices, &format!("{name}/{index}"))
            .map_err(|reason| Error::InvalidExample { path: path.to_path_buf(), location, reason })?;
        parsed.push(example);
    }

    let metric =
        if parsed.iter().all(|example| example.is_choice) { Metric::MultipleChoice } else { Metric::ExactMatch };
    if prefers_choices && metric != Metric::MultipleChoice {
        tracing::warn!(path = %path.display(), "task prefers multiple_choice_grade but some examples have no target_scores; scoring by exact match");
    }
    let source = if is_bigbench {
        TaskSource::BigBench { path: path.to_path_buf() }
    } else {
        TaskSource::BigBenchHard { path: path.to_path_buf() }
    };
    Ok(Task { name, description, source, metric, examples: parsed.into_iter().map(|parsed| parsed.example).collect() })
}

/// Name of a file without one: the folder of a `task.json`, else the file stem.
fn default_name(path: &Path) -> String {
    let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or("task");
    let folder = path.parent().and_then(Path::file_name).and_then(|name| name.to_str());
    if let (true, Some(folder)) = (stem == "task", folder) {
        return folder.to_owned();
    }
    stem.to_owned()
}

fn string_field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// Settings that turn an example's `input` into the question text.
struct InputFormat {
    prefix: String,
    append_choices: bool,
}

impl InputFormat {
    fn from_metadata(object: &Map<String, Value>) -> Self {
        let task_prefix = string_field(object, "task_prefix").unwrap_or_default();
        let input_prefix = string_field(object, "example_input_prefix").unwrap_or_default();
        let prefix = format!("{task_prefix}{input_prefix}").trim_start().to_owned();
        let append_choices = object.get("append_choices_to_input").and_then(Value::as_bool).unwrap_or(true);
        Self { prefix, append_choices }
    }
}

struct ParsedExample {
    example: Example,
    is_choice: bool,
}

fn parse_example(
    value: &Value,
    format: &InputFormat,
    prefers_choices: bool,
    id: &str,
) -> std::result::Result<ParsedExample, String> {
    let Value::Object(object) = value else {
        return Err("expected an object with `input` and `target`".to_owned());
    };
    let input = match object.get("input") {
        Some(Value::String(input)) if !input.trim().is_empty() => input.as_str(),
        Some(Value::String(_)) => return Err("`input` is empty".to_owned()),
        Some(_) => return Err("`input` must be a string".to_owned()),
        None => return Err("missing `input`".to_owned()),
    };
    let question = format!("{}{input}", format.prefix);

    let target_scores = object.get("target_scores");
    let use_scores = target_scores.is_some() && (prefers_choices || !object.contains_key("target"));
    if let Some(scores) = target_scores.filter(|_| use_scores) {
        let example = choice_example(id, &question, scores, format.append_choices)?;
        return Ok(ParsedExample { example, is_choice: true });
    }

    let targets = match object.get("target") {
        Some(Value::String(target)) => vec![target.clone()],
        Some(Value::Number(number)) => vec![number.to_string()],
        Some(Value::Array(items)) => items.iter().map(target_text).collect::<std::result::Result<Vec<_>, _>>()?,
        Some(_) => return Err("`target` must be a string or a list of strings".to_owned()),
        None => return Err("missing `target` or `target_scores`".to_owned()),
    };
    if targets.is_empty() || targets.iter().all(|target| target.trim().is_empty()) {
        return Err("`target` is empty".to_owned());
    }
    Ok(ParsedExample { example: Example::new(id, question, targets), is_choice: false })
}

fn target_text(value: &Value) -> std::result::Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        _ => Err(format!("`target` list items must be strings, found {value}")),
    }
}

/// Builds a multiple-choice example from a `target_scores` map.
fn choice_example(
    id: &str,
    question: &str,
    scores: &Value,
    append_choices: bool,
) -> std::result::Result<Example, String> {
    let Value::Object(scores) = scores else {
        return Err("`target_scores` must be an object from option to score".to_owned());
    };
    let mut options = Vec::with_capacity(scores.len());
    for (option, score) in scores {
        let score =
            score.as_f64().ok_or_else(|| format!("score of option '{option}' must be a number, found {score}"))?;
        options.push((option.clone(), score));
    }
    let best = options.iter().map(|(_, score)| *score).fold(f64::NEG_INFINITY, f64::max);
    if options.is_empty() || best <= 0.0 {
        return Err("`target_scores` has no option with a positive score".to_owned());
    }
    let targets: Vec<String> =
        options.iter().filter(|(_, score)| *score == best).map(|(option, _)| option.clone()).collect();

    // Options are labelled (A) to (Z), so longer lists stay an open question.
    if !append_choices || options.len() > 26 {
        return Ok(Example::new(id, question, targets));
    }
    let mut choices: Vec<String> = options.into_iter().map(|(option, _)| option).collect();
    SeededRng::new(hash_text(question)).shuffle(&mut choices);
    let listed: Vec<String> =
        choices.iter().zip('A'..='Z').map(|(choice, letter)| format!("({letter}) {choice}")).collect();
    let mut example = Example::new(id, format!("{question}\nOptions:\n{}", listed.join("\n")), targets);
    example.choices = choices;
    Ok(example)
}
