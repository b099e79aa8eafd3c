//! Build script: points the runtime loader at libtorch.

include!("build-support/libtorch_rpath.rs");

fn main() {
    emit_libtorch_rpath();
}
