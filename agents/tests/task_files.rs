//! Loading BIG-bench, BIG-Bench-Hard and GSM8K task files, good and bad.

use std::path::{Path, PathBuf};

use agents::Error;
use agents::task::{Metric, SplitSizes, TaskSource, load_bigbench, load_gsm8k, load_task_file};

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(relative)
}

#[test]
fn bigbench_list_targets() -> anyhow::Result<()> {
    let task = load_task_file(fixture("bigbench/object_counting/task.json"))?;

    assert_eq!(task.name, "object_counting");
    assert!(task.description.starts_with("Questions that involve enumerating"), "{}", task.description);
    assert!(matches!(task.source, TaskSource::BigBench { .. }), "{:?}", task.source);
    assert_eq!(task.metric, Metric::ExactMatch);
    assert_eq!(task.examples.len(), 4);
    let first = &task.examples[0];
    assert_eq!(first.id, "object_counting/0");
    assert_eq!(first.input, "I have a clarinet, a violin, and a flute. How many musical instruments do I have?");
    assert_eq!(first.targets, vec!["three".to_owned(), "3".to_owned()]);
    assert!(first.choices.is_empty());
    assert_eq!(task.score("3", first), 1.0);
    assert_eq!(task.score("Three", first), 1.0);
    assert_eq!(task.score("4", first), 0.0);
    Ok(())
}

#[test]
fn bigbench_prefixes_build_question() -> anyhow::Result<()> {
    let task = load_bigbench(fixture("bigbench/word_sorting/task.json"))?;

    assert_eq!(task.examples[0].input, "Sort the following words alphabetically:\nList: stick gelatine");
    assert_eq!(task.examples[0].targets, vec!["gelatine stick".to_owned()]);
    assert_eq!(task.score("gelatine stick", &task.examples[0]), 1.0);
    assert_eq!(task.score("stick gelatine", &task.examples[0]), 0.0);
    Ok(())
}

#[test]
fn bigbench_choices_kept_open() -> anyhow::Result<()> {
    let task = load_task_file(fixture("bigbench/date_understanding/task.json"))?;

    assert_eq!(task.metric, Metric::MultipleChoice);
    let first = &task.examples[0];
    assert_eq!(first.input, "Yesterday was April 30, 2021. What is the date today in MM/DD/YYYY?");
    assert_eq!(first.targets, vec!["05/01/2021".to_owned()]);
    assert!(first.choices.is_empty(), "append_choices_to_input is false: {:?}", first.choices);
    assert_eq!(task.score("05/01/2021", first), 1.0);
    assert_eq!(task.score("04/29/2021", first), 0.0);
    Ok(())
}

#[test]
fn bigbench_choices_listed_shuffled() -> anyhow::Result<()> {
    let task = load_task_file(fixture("bigbench/listed_choices/task.json"))?;
    let again = load_task_file(fixture("bigbench/listed_choices/task.json"))?;

    assert_eq!(task, again, "option order must not change between loads");
    assert_eq!(task.metric, Metric::MultipleChoice);
    let first = &task.examples[0];
    let mut sorted = first.choices.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["apple", "chair", "cloud", "stone"]);
    assert!(first.input.starts_with("Which is a fruit?\nOptions:\n(A) "), "{}", first.input);
    let apple = first.choices.iter().position(|choice| choice == "apple").expect("apple is an option");
    let letter = char::from(b'A' + u8::try_from(apple)?);
    assert!(first.input.contains(&format!("({letter}) apple")), "{}", first.input);
    assert_eq!(task.score(&format!("({letter})"), first), 1.0);
    assert_eq!(task.score("apple", first), 1.0);
    let wrong = char::from(b'A' + u8::try_from((apple + 1) % 4)?);
    assert_eq!(task.score(&format!("({wrong})"), first), 0.0);
    assert_eq!(task.examples[1].targets, vec!["red".to_owned()]);
    Ok(())
}

#[test]
fn bbh_format_detected() -> anyhow::Result<()> {
    let task = load_task_file(fixture("bbh/boolean_expressions.json"))?;

    assert_eq!(task.name, "boolean_expressions");
    assert!(matches!(task.source, TaskSource::BigBenchHard { .. }), "{:?}", task.source);
    assert_eq!(task.metric, Metric::ExactMatch);
    assert_eq!(task.examples.len(), 3);
    assert_eq!(task.examples[0].input, "not ( True ) and ( True ) is");
    assert_eq!(task.examples[0].targets, vec!["False".to_owned()]);
    assert_eq!(task.score("false", &task.examples[0]), 1.0);
    Ok(())
}

#[test]
fn gsm8k_jsonl_loads() -> anyhow::Result<()> {
    let task = load_task_file(fixture("gsm8k/sample.jsonl"))?;

    assert_eq!(task.name, "sample");
    assert!(matches!(task.source, TaskSource::Gsm8k { .. }), "{:?}", task.source);
    assert_eq!(task.metric, Metric::NumericMatch);
    assert_eq!(task.examples.len(), 3, "the blank line is skipped");
    let first = &task.examples[0];
    assert_eq!(first.id, "sample/0");
    assert!(first.input.starts_with("Natalia sold clips"), "{}", first.input);
    assert_eq!(first.targets, vec!["72".to_owned()]);
    assert!(
        first.solution.as_deref().is_some_and(|solution| solution.ends_with("in April and May.")),
        "{:?}",
        first.solution
    );
    assert_eq!(task.examples[1].targets, vec!["2000".to_owned()]);
    assert_eq!(task.examples[2].targets, vec!["3.75".to_owned()]);
    assert_eq!(task.score("The answer is 2,000 pens", &task.examples[1]), 1.0);
    assert_eq!(task.score("3.75", &task.examples[2]), 1.0);
    assert_eq!(task.score("3.7", &task.examples[2]), 0.0);
    Ok(())
}

#[test]
fn gsm8k_json_list_loads() -> anyhow::Result<()> {
    let detected = load_task_file(fixture("gsm8k/sample.json"))?;
    let direct = load_gsm8k(fixture("gsm8k/sample.json"))?;

    assert_eq!(detected, direct);
    assert_eq!(detected.examples.len(), 2);
    assert_eq!(detected.examples[1].targets, vec!["30".to_owned()]);
    Ok(())
}

#[test]
fn task_split_is_seeded() -> anyhow::Result<()> {
    let task = load_task_file(fixture("bigbench/object_counting/task.json"))?;
    let sizes = SplitSizes { train: 2, validation: 1, test: None };

    let first = task.split(3, sizes)?;
    let second = task.split(3, sizes)?;
    let too_many = task.split(3, SplitSizes { train: 4, validation: 1, test: None });

    assert_eq!(first, second);
    assert_eq!(first.train.len(), 2);
    assert_eq!(first.validation.len(), 1);
    assert_eq!(first.test.len(), 1);
    assert!(matches!(too_many, Err(Error::SplitTooLarge { requested: 5, available: 4, .. })), "{too_many:?}");
    Ok(())
}

/// Loads a bad fixture and returns the error message, checking that it names the file.
fn load_error(relative: &str) -> (Error, String) {
    let path = fixture(relative);
    let error = load_task_file(&path).expect_err("a bad task file must not load");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "message does not name the file: {message}");
    (error, message)
}

#[test]
fn missing_file_is_not_found() {
    let (error, message) = load_error("bad/does_not_exist.json");

    assert!(matches!(error, Error::TaskFileNotFound { .. }), "{error:?}");
    assert!(message.contains("not found"), "{message}");
}

#[test]
fn broken_json_reports_position() {
    let (error, message) = load_error("bad/not_json.json");

    assert!(matches!(error, Error::TaskFileJson { .. }), "{error:?}");
    assert!(message.contains("not valid JSON"), "{message}");
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn empty_file_is_invalid_json() {
    let (error, _) = load_error("bad/empty_file.json");

    assert!(matches!(error, Error::TaskFileJson { .. }), "{error:?}");
}

#[test]
fn wrong_shapes_are_explained() {
    let cases = [
        ("bad/no_examples.json", "an object without `examples`"),
        ("bad/number.json", "found a number"),
        ("bad/examples_not_list.json", "`examples` must be a list"),
    ];
    for (relative, expected) in cases {
        let (error, message) = load_error(relative);

        assert!(matches!(error, Error::InvalidTaskFile { .. }), "{relative}: {error:?}");
        assert!(message.contains(expected), "{relative}: {message}");
    }
}

#[test]
fn empty_tasks_are_rejected() {
    for relative in ["bad/empty_examples.json", "bad/empty.jsonl"] {
        let (error, message) = load_error(relative);

        assert!(matches!(error, Error::EmptyTaskFile { .. }), "{relative}: {error:?}");
        assert!(message.contains("contains no examples"), "{relative}: {message}");
    }
}

#[test]
fn bad_examples_name_location() {
    let cases = [
        ("bad/missing_input.json", "example 1", "missing `input`"),
        ("bad/bad_target.json", "example 0", "`target` must be a string or a list of strings"),
        ("bad/no_correct_choice.json", "example 0", "no option with a positive score"),
        ("bad/no_final_answer.jsonl", "line 2", "no `#### N` line"),
        ("bad/broken_line.jsonl", "line 2", "not valid JSON"),
        ("bad/non_numeric_answer.jsonl", "line 1", "'many' after `####` is not a number"),
    ];
    for (relative, location, reason) in cases {
        let (error, message) = load_error(relative);

        assert!(matches!(error, Error::InvalidExample { .. }), "{relative}: {error:?}");
        assert!(message.contains(location), "{relative}: {message}");
        assert!(message.contains(reason), "{relative}: {message}");
    }
}

#[test]
fn real_bigbench_object_counting() -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/bigbench/object_counting/task.json");
    if !path.is_file() {
        anyhow::bail!(
            "{} is missing; run scripts/fetch-data once to download the BIG-bench task files, then rerun the tests",
            path.display()
        );
    }

    let task = load_task_file(&path)?;
    let splits = task.split(0, SplitSizes { train: 20, validation: 20, test: Some(100) })?;

    assert_eq!(task.name, "object_counting");
    assert_eq!(task.examples.len(), 1000);
    assert_eq!(task.metric, Metric::ExactMatch);
    assert!(task.examples.iter().all(|example| example.targets.len() == 2), "every target is [word, digits]");
    assert_eq!(task.score("3", &task.examples[0]), 1.0, "{:?}", task.examples[0]);
    assert_eq!(splits.test.len(), 100);
    Ok(())
}

#[test]
fn real_fetched_files_load() -> anyhow::Result<()> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    let cases = [
        ("bigbench/word_sorting/task.json", 1900, Metric::ExactMatch),
        ("bigbench/date_understanding/task.json", 369, Metric::MultipleChoice),
        ("gsm8k/test.jsonl", 100, Metric::NumericMatch),
    ];
    for (relative, count, metric) in cases {
        let path = data.join(relative);
        if !path.is_file() {
            anyhow::bail!(
                "{} is missing; run scripts/fetch-data once to download the task data, then rerun the tests",
                path.display()
            );
        }

        let task = load_task_file(&path)?;

        assert_eq!(task.examples.len(), count, "{relative}");
        assert_eq!(task.metric, metric, "{relative}");
    }
    Ok(())
}
