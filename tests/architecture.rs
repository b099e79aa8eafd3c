//! Checks the crate boundaries against `cargo metadata` and the sources. The graph crate
//! pulls in no async runtime, HTTP client or libtorch. Only `kernels` links libtorch, only
//! `optimizers` talks HTTP, and no crate but `kernels` contains `unsafe` code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Direct normal dependencies of each workspace member, by package name.
fn workspace_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");

    let mut dependencies = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("package name").to_string();
        let normal: BTreeSet<String> = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|dependency| dependency["kind"].is_null())
            .map(|dependency| dependency["name"].as_str().expect("dependency name").to_string())
            .collect();
        dependencies.insert(name, normal);
    }
    dependencies
}

#[test]
fn trace_core_has_no_runtime_http_or_torch() {
    let dependencies = workspace_dependencies();

    let core = &dependencies["trace-core"];

    for forbidden in ["tokio", "reqwest", "async-openai", "tch", "torch-sys", "hyper"] {
        assert!(!core.contains(forbidden), "trace-core depends on {forbidden}");
    }
}

#[test]
fn only_kernels_depends_on_tch() {
    let dependencies = workspace_dependencies();

    let users: Vec<&String> =
        dependencies.iter().filter(|(_, deps)| deps.contains("tch")).map(|(name, _)| name).collect();

    assert_eq!(users, ["kernels"]);
}

#[test]
fn only_optimizers_talks_http() {
    let dependencies = workspace_dependencies();

    for http in ["reqwest", "async-openai", "hyper"] {
        let users: Vec<&String> =
            dependencies.iter().filter(|(_, deps)| deps.contains(http)).map(|(name, _)| name).collect();
        assert!(users.iter().all(|name| *name == "optimizers"), "{http} is used by {users:?}");
    }
}

/// Every `.rs` file under `folder`, skipping build output.
fn rust_files(folder: &Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(folder) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "target") {
                rust_files(&path, files);
            }
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn no_unsafe_code_outside_kernels() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for folder in ["src", "trace-core", "optimizers", "agents", "tests", "examples"] {
        rust_files(&root.join(folder), &mut files);
    }
    let needle = ["unsafe", " {"].concat();
    let needle_fn = ["unsafe", " fn"].concat();
    let needle_impl = ["unsafe", " impl"].concat();

    let offenders: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            text.contains(&needle) || text.contains(&needle_fn) || text.contains(&needle_impl)
        })
        .map(|path| path.display().to_string())
        .collect();

    assert!(offenders.is_empty(), "unsafe code outside kernels: {offenders:?}");
}
