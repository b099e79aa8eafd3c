//! Two optimization steps of `opto run` against the real local model, which the command
//! starts itself when no endpoint is set. Needs `scripts/setup-local-llm`, which
//! `scripts/test` runs first.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{describe, opto, read_json};
use optimizers::local_server::LocalServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_model_completes_two_steps() {
    let local = LocalServerConfig::default();
    let python = local.root.join(".venv/bin/python");
    let weights = local.model.path(&local.root);
    assert!(
        python.is_file() && weights.is_file(),
        "the local model is not set up ({} or {} is missing); run scripts/setup-local-llm once, then rerun the tests",
        python.display(),
        weights.display()
    );
    let workdir = tempfile::tempdir().unwrap();
    let output_dir = workdir.path().join("run");
    let data_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");

    let output = opto(workdir.path())
        .args(["run", "object_counting", "--data-dir"])
        .arg(&data_dir)
        .args(["--train", "2", "--validation", "1", "--test", "1", "--batch-size", "2", "--steps", "2"])
        .args(["--local-threads", "1", "--local-parallel", "1", "--output"])
        .arg(&output_dir)
        .arg("--cache-dir")
        .arg(workdir.path().join("cache"))
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = read_json(&output_dir.join("report.json"));
    assert_eq!(report["stop"]["kind"], "completed", "{report}");
    assert_eq!(report["model"], "local");
    assert_eq!(report["steps"].as_array().map(Vec::len), Some(2), "{report}");
    assert!(report["before"]["test"].is_number(), "{report}");
    assert!(report["after"]["test"].is_number(), "{report}");
    let requests = |field: &str| -> u64 {
        let usage = report["usage"].as_object().cloned().unwrap_or_default();
        usage.values().map(|model| model[field].as_u64().unwrap_or(0)).sum()
    };
    // 2 answers before, then per step 2 training answers, at least 1 optimizer request and
    // 1 validation answer, then 1 test answer: 11 requests. A question asked again with the
    // same prompt is a cache hit.
    assert!(requests("calls") + requests("cached_calls") >= 11, "too few LLM requests: {report}");
    assert!(requests("calls") >= 2 + 2, "the model answered and optimized: {report}");
    let summary = std::fs::read_to_string(output_dir.join("report.txt")).unwrap();
    assert!(summary.contains("accuracy"), "{summary}");
}
