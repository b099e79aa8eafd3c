//! End-to-end runs of the `opto` binary against a scripted OpenAI-compatible server on
//! 127.0.0.1: a full run, resume after a kill, Ctrl-C, an exhausted budget, an endpoint
//! that goes down, a bad task file, the battleship task, and the `report`, `eval`,
//! `graph` and `split` subcommands, and a run that starts from saved parameters.
//!
//! The scripted model answers each question of `tests/fixtures/numbers.json` with the right
//! number inside a sentence, so the initial extraction (the trimmed reply) scores 0%, and
//! the scripted optimizer reply replaces it with one that keeps the last number (100%).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    SUGGESTED_EXTRACTOR, SUGGESTED_TEMPLATE, Script, ScriptedServer, describe, endpoint_arguments, numbers_task, opto,
    read_json, run_arguments,
};

/// Requests of a two-step run: 2 validation and 2 test answers before, then per step 2
/// training answers, 1 optimizer request and 2 validation answers, then 2 test answers.
const TWO_STEP_REQUESTS: usize = 4 + 2 * 5 + 2;

/// LLM requests of a report, summed over models.
fn total_calls(report: &serde_json::Value) -> u64 {
    let usage = report["usage"].as_object().cloned().unwrap_or_default();
    usage.values().map(|model| model["calls"].as_u64().unwrap_or(0)).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_run_writes_report_with_new_parameters() {
    let server = ScriptedServer::start(Script::default()).await;
    let workdir = tempfile::tempdir().unwrap();
    let output_dir = workdir.path().join("run");

    let output = opto(workdir.path()).args(run_arguments(&server.endpoint(), &output_dir, 2)).output().await.unwrap();

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("accuracy"), "{stdout}");
    assert!(stdout.contains("Report written to"), "{stdout}");
    let report = read_json(&output_dir.join("report.json"));
    assert_eq!(report["stop"]["kind"], "completed");
    assert_eq!(report["before"]["test"], 0.0);
    assert_eq!(report["after"]["test"], 1.0);
    assert_eq!(report["steps"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["steps"][0]["reverted"], false);
    assert_eq!(report["parameters"]["parameters"]["prompt_template"]["value"], SUGGESTED_TEMPLATE);
    assert_eq!(report["parameters"]["parameters"]["extract_answer"]["value"], SUGGESTED_EXTRACTOR);
    assert_eq!(total_calls(&report), TWO_STEP_REQUESTS as u64);
    assert!(output_dir.join("report.txt").exists());
    assert_eq!(server.counts.optimizer(), 2);
    assert_eq!(server.counts.total(), TWO_STEP_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_eval_and_graph_use_saved_run() {
    let server = ScriptedServer::start(Script::default()).await;
    let workdir = tempfile::tempdir().unwrap();
    let output_dir = workdir.path().join("run");
    let run = opto(workdir.path()).args(run_arguments(&server.endpoint(), &output_dir, 1)).output().await.unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    let task = numbers_task().display().to_string();
    let graph_path = workdir.path().join("graph.dot");

    let report = opto(workdir.path()).args(["report".as_ref(), output_dir.as_os_str()]).output().await.unwrap();
    let report_json = opto(workdir.path())
        .args(["report".as_ref(), output_dir.as_os_str(), "--json".as_ref()])
        .output()
        .await
        .unwrap();
    let eval = opto(workdir.path())
        .args(["eval", &task, "--train", "4", "--validation", "2", "--test", "2", "--split", "test", "--parameters"])
        .arg(output_dir.join("report.json"))
        .args(endpoint_arguments(&server.endpoint()))
        .output()
        .await
        .unwrap();
    let graph = opto(workdir.path())
        .args(["graph", &task, "--train", "4", "--validation", "2", "--test", "2", "--output"])
        .arg(&graph_path)
        .args(endpoint_arguments(&server.endpoint()))
        .output()
        .await
        .unwrap();

    assert_eq!(report.status.code(), Some(0), "{}", describe(&report));
    let summary = String::from_utf8_lossy(&report.stdout);
    let test_row = summary.lines().find(|line| line.starts_with("test ")).map(|line| line.split_whitespace().collect());
    assert_eq!(test_row, Some(vec!["test", "0.0%", "100.0%"]), "{summary}");
    assert!(summary.contains("Final parameters:"), "{summary}");
    assert_eq!(report_json.status.code(), Some(0), "{}", describe(&report_json));
    let parsed: serde_json::Value = serde_json::from_slice(&report_json.stdout).unwrap();
    assert_eq!(parsed["after"]["test"], 1.0);
    assert_eq!(eval.status.code(), Some(0), "{}", describe(&eval));
    let eval_stdout = String::from_utf8_lossy(&eval.stdout);
    assert!(eval_stdout.contains("Test accuracy: 100.0% over 2 examples"), "{eval_stdout}");
    assert_eq!(graph.status.code(), Some(0), "{}", describe(&graph));
    let dot = std::fs::read_to_string(&graph_path).unwrap();
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(dot.contains("call_llm"), "{dot}");
    assert!(dot.contains("eval"), "{dot}");
    assert!(dot.contains("__code"), "{dot}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_run_resumes_after_last_step() {
    let slow = Script { later_optimizer_delay: Some(Duration::from_secs(30)), ..Script::default() };
    let first_server = ScriptedServer::start(slow).await;
    let workdir = tempfile::tempdir().unwrap();
    let output_dir = workdir.path().join("run");
    let checkpoint_path = output_dir.join("checkpoint.json");
    let mut child = opto(workdir.path())
        .args(run_arguments(&first_server.endpoint(), &output_dir, 2))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let started = Instant::now();
    let checkpoint = loop {
        if let Ok(text) = std::fs::read_to_string(&checkpoint_path)
            && let Ok(checkpoint) = serde_json::from_str::<serde_json::Value>(&text)
            && checkpoint["completed_steps"].as_u64() >= Some(1)
        {
            break checkpoint;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no checkpoint with a completed step after 60 s");
        assert!(child.try_wait().unwrap().is_none(), "opto exited before the second step");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The second step's optimizer request is held for 30 s, so once it arrives the kill
    // lands inside that step.
    while first_server.counts.optimizer() < 2 {
        assert!(started.elapsed() < Duration::from_secs(60), "the second step sent no optimizer request after 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().await.unwrap();
    let second_server = ScriptedServer::start(Script::default()).await;
    let mut arguments = run_arguments(&second_server.endpoint(), &output_dir, 2);
    arguments.push("--resume".into());
    let resumed = opto(workdir.path()).args(arguments).output().await.unwrap();

    assert_eq!(checkpoint["completed_steps"], 1);
    assert_eq!(first_server.counts.optimizer(), 2, "the second step was in progress when the run was killed");
    assert_eq!(resumed.status.code(), Some(0), "{}", describe(&resumed));
    let report = read_json(&output_dir.join("report.json"));
    assert_eq!(report["steps"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["steps"][0], checkpoint["steps"][0], "the completed step is kept as it was");
    assert_eq!(report["before"]["test"], checkpoint["initial_test"]);
    assert_eq!(report["after"]["test"], 1.0);
    assert_eq!(second_server.counts.optimizer(), 1, "only the unfinished step runs again");
    assert_eq!(second_server.counts.answers(), 2 + 2 + 2, "no scores before optimization are computed again");
    assert_eq!(total_calls(&report), TWO_STEP_REQUESTS as u64, "the usage of the completed step is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_stops_with_status_130() {
    let slow = Script { later_optimizer_delay: Some(Duration::from_secs(30)), ..Script::default() };
    let server = ScriptedServer::start(slow).await;
    let workdir = tempfile::tempdir().unwrap();
    let output_dir = workdir.path().join("run");
    let checkpoint_path = output_dir.join("checkpoint.json");
    let child = opto(workdir.path())
        .args(run_arguments(&server.endpoint(), &output_dir, 2))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();

    let started = Instant::now();
    while server.counts.optimizer() < 2 {
        assert!(started.elapsed() < Duration::from_secs(60), "the second step did not start within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let signal = tokio::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().await.unwrap();
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();

    assert!(signal.success());
    assert_eq!(output.status.code(), Some(130), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("continue with --resume"), "{stderr}");
    let checkpoint = read_json(&checkpoint_path);
    assert_eq!(checkpoint["completed_steps"], 1);
    assert!(!output_dir.join("report.json").exists(), "an interrupted run writes no report");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_budget_stops_with_status_two() {
    let server = ScriptedServer::start(Script::default()).await;
    let workdir = tempfile::tempdir().unwrap();
    let output_dir = workdir.path().join("run");
    // 4 answers before optimization and 5 requests of the first step; the second step
    // gets its 2 training answers and then runs out before its optimizer request.
    let mut arguments = run_arguments(&server.endpoint(), &output_dir, 3);
    arguments.extend(["--max-calls".into(), "11".into()]);

    let output = opto(workdir.path()).args(arguments).output().await.unwrap();

    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert_eq!(server.counts.total(), 11, "the budget is a hard limit on requests");
    let report = read_json(&output_dir.join("report.json"));
    assert_eq!(report["stop"]["kind"], "budget_exhausted");
    assert!(report["after"].is_null());
    let checkpoint = read_json(&output_dir.join("checkpoint.json"));
    assert_eq!(checkpoint["completed_steps"], 1);
    assert_eq!(checkpoint["parameters"]["parameters"]["extract_answer"]["value"], SUGGESTED_EXTRACTOR);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("budget"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_retries_then_stops_with_status_three() {
    // The first step's 9 requests succeed; every later request gets a 500.
    let server = ScriptedServer::start(Script { fail_after: Some(9), ..Script::default() }).await;
    let workdir = tempfile::tempdir().unwrap();
    let output_dir = workdir.path().join("run");

    let output = opto(workdir.path()).args(run_arguments(&server.endpoint(), &output_dir, 3)).output().await.unwrap();

    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(server.counts.failed() >= 3, "a failed request is sent 1 + 2 times, got {}", server.counts.failed());
    let report = read_json(&output_dir.join("report.json"));
    assert_eq!(report["stop"]["kind"], "llm_failed");
    assert!(report["stop"]["message"].as_str().unwrap_or_default().contains("500"), "{}", report["stop"]);
    let checkpoint = read_json(&output_dir.join("checkpoint.json"));
    assert_eq!(checkpoint["completed_steps"], 1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("--resume"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_task_file_is_a_clear_error() {
    let workdir = tempfile::tempdir().unwrap();
    let broken = workdir.path().join("broken.json");
    std::fs::write(&broken, "{\"examples\": [ {\"input\": \"no target\"").unwrap();
    let missing = workdir.path().join("missing.json");
    // Nothing listens on this endpoint: a task error must come before any request.
    let endpoint = "http://127.0.0.1:9/v1";

    for task in [&broken, &missing] {
        let mut arguments = run_arguments(endpoint, &workdir.path().join("run"), 1);
        arguments[1] = task.display().to_string();

        let output = opto(workdir.path()).args(arguments).output().await.unwrap();

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        assert!(stderr.contains(&task.display().to_string()), "the error names the file: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line without repeated causes: {stderr}");
        assert!(!workdir.path().join("run").exists(), "no run folder for a task that does not load");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn battleship_run_rewrites_act() {
    // Shoots next to the first hit that still has a free neighbor, else every other cell.
    let hunt = "function act(board, plan) {\n  for (let y = 0; y < board.size; y++) {\n    for (let x = 0; x < board.size; x++) {\n      if (board.rows[y][x] === 'X') {\n        const next = neighbors(board, x, y);\n        if (next.length > 0) return next[0];\n      }\n    }\n  }\n  for (let y = 0; y < board.size; y++) {\n    for (let x = y % 2; x < board.size; x += 2) {\n      if (board.rows[y][x] === '.') return [x, y];\n    }\n  }\n  for (let y = 0; y < board.size; y++) {\n    const x = board.rows[y].indexOf('.');\n    if (x >= 0) return [x, y];\n  }\n  return [0, 0];\n}";
    let script = Script { suggestion: Some(serde_json::json!({ "act": hunt })), ..Script::default() };
    let server = ScriptedServer::start(script).await;
    let workdir = tempfile::tempdir().unwrap();
    let output_dir = workdir.path().join("run");

    let output = opto(workdir.path())
        .args(["run", "battleship", "--train", "4", "--validation", "8", "--test", "8", "--batch-size", "2"])
        .args(["--steps", "1", "--output"])
        .arg(&output_dir)
        .args(endpoint_arguments(&server.endpoint()))
        .output()
        .await
        .unwrap();

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(server.counts.answers(), 0, "the games need no model, only the optimizer does");
    assert_eq!(server.counts.optimizer(), 1);
    let report = read_json(&output_dir.join("report.json"));
    assert_eq!(report["task"], "battleship");
    assert_eq!(report["parameters"]["parameters"]["act"]["value"], hunt);
    let before = report["before"]["test"].as_f64().unwrap();
    let after = report["after"]["test"].as_f64().unwrap();
    assert!(after > before, "test score {before} -> {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_lists_run_examples() {
    let workdir = tempfile::tempdir().unwrap();
    let task = numbers_task().display().to_string();
    let sizes = ["--train", "4", "--validation", "2", "--test", "3", "--seed", "3"];

    let output = opto(workdir.path())
        .args(["split", &task])
        .args(sizes)
        .args(["--steps", "2", "--batch-size", "3"])
        .output()
        .await
        .unwrap();

    assert!(output.status.success(), "{}", describe(&output));
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listing["metric"], "exact_match");
    assert_eq!(listing["seed"], 3);
    let ids = |split: &str| -> Vec<String> {
        listing[split].as_array().unwrap().iter().map(|example| example["id"].as_str().unwrap().to_owned()).collect()
    };
    let train = ids("train");
    assert_eq!((train.len(), ids("validation").len(), ids("test").len()), (4, 2, 3));
    let mut all: Vec<String> = [train.clone(), ids("validation"), ids("test")].concat();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 9, "an example appears in two splits: {all:?}");
    let minibatches = listing["minibatches"].as_array().unwrap();
    assert_eq!(minibatches.len(), 2);
    for batch in minibatches {
        let batch: Vec<&str> = batch.as_array().unwrap().iter().map(|id| id.as_str().unwrap()).collect();
        assert_eq!(batch.len(), 3);
        assert!(batch.iter().all(|id| train.iter().any(|train_id| train_id == id)), "{batch:?} not in {train:?}");
    }

    // `opto graph` runs the first training example of the same split.
    let server = ScriptedServer::start(Script::default()).await;
    let dot = workdir.path().join("graph.dot");
    let output = opto(workdir.path())
        .args(["graph", &task])
        .args(sizes)
        .args(endpoint_arguments(&server.endpoint()))
        .args(["--example", "0", "--output", &dot.display().to_string()])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let first_question = listing["train"][0]["input"].as_str().unwrap();
    let graph = std::fs::read_to_string(&dot).unwrap();
    assert!(graph.contains(first_question), "{first_question:?} is not in the graph:\n{graph}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_starts_from_saved_parameters() {
    let server = ScriptedServer::start(Script::default()).await;
    let workdir = tempfile::tempdir().unwrap();
    let first = workdir.path().join("first");
    let run = opto(workdir.path()).args(run_arguments(&server.endpoint(), &first, 1)).output().await.unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    assert_eq!(read_json(&first.join("report.json"))["before"]["test"], 0.0);

    let second = workdir.path().join("second");
    let run = opto(workdir.path())
        .args(run_arguments(&server.endpoint(), &second, 1))
        .arg("--parameters")
        .arg(first.join("report.json"))
        .output()
        .await
        .unwrap();

    assert_eq!(run.status.code(), Some(0), "{}", describe(&run));
    let report = read_json(&second.join("report.json"));
    assert_eq!(report["before"]["test"], 1.0, "the run starts from the first run's parameters: {report}");
    assert_eq!(report["parameters"], read_json(&first.join("report.json"))["parameters"]);

    let renamed = workdir.path().join("renamed.json");
    let mut state = read_json(&first.join("report.json"))["parameters"].clone();
    state["parameters"]["extract_answer"]["value"] = "function other(reply) { return reply; }".into();
    std::fs::write(&renamed, state.to_string()).unwrap();
    let requests_before = server.counts.total();
    let run = opto(workdir.path())
        .args(run_arguments(&server.endpoint(), &workdir.path().join("renamed"), 1))
        .arg("--parameters")
        .arg(&renamed)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    assert!(stderr.contains("parameter extract_answer in"), "the error names the parameter: {stderr}");
    assert!(stderr.contains("renamed from `extract_answer` to `other`"), "{stderr}");
    assert_eq!(server.counts.total(), requests_before, "no request before the parameters are checked");

    let missing = workdir.path().join("missing.json");
    let run = opto(workdir.path())
        .args(run_arguments(&server.endpoint(), &workdir.path().join("third"), 1))
        .arg("--parameters")
        .arg(&missing)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    assert!(stderr.contains(&missing.display().to_string()), "the error names the file: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_at_start_reports_no_scores() {
    let server = ScriptedServer::start(Script { fail_after: Some(0), ..Script::default() }).await;
    let workdir = tempfile::tempdir().unwrap();
    let output_dir = workdir.path().join("run");

    let output = opto(workdir.path()).args(run_arguments(&server.endpoint(), &output_dir, 1)).output().await.unwrap();

    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let report = read_json(&output_dir.join("report.json"));
    assert_eq!(report["stop"]["kind"], "llm_failed");
    assert!(report["before"].is_null(), "scores that were never measured: {}", report["before"]);
    assert!(report["after"].is_null(), "{}", report["after"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let test_row = stdout.lines().find(|line| line.starts_with("test ")).map(|line| line.split_whitespace().collect());
    assert_eq!(test_row, Some(vec!["test", "-", "-"]), "{stdout}");
}
