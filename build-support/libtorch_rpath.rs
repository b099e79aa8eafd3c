// Shared by the build scripts of the packages that link libtorch through `tch`. Each one
// pulls it in with `include!` and calls `emit_libtorch_rpath` from `main`.

/// Emits an rpath to libtorch's library folder, so that the package's binaries, tests,
/// examples, benches and doctests find libtorch without `LD_LIBRARY_PATH`.
///
/// The folder is `$LIBTORCH_LIB` if set, else `$LIBTORCH/lib`, the same variables that
/// torch-sys reads. `.cargo/config.toml` sets `LIBTORCH` to the workspace's `.libtorch`.
/// Nothing is emitted when the package's `torch` feature is off or the target is not
/// Linux or macOS.
fn emit_libtorch_rpath() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_LIB");

    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os != "linux" && target_os != "macos" {
        return;
    }

    let lib_dir = match (std::env::var_os("LIBTORCH_LIB"), std::env::var_os("LIBTORCH")) {
        (Some(lib), _) => std::path::PathBuf::from(lib),
        (None, Some(root)) => std::path::Path::new(&root).join("lib"),
        // torch-sys then looks for a system libtorch, which the loader finds by itself.
        (None, None) => return,
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
}
