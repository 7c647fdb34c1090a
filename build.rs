//! Build script: embeds the libtorch library directory as an rpath, so `seje`, its tests and its
//! benches find `libtorch_cpu.so` without `LD_LIBRARY_PATH`, and records the libtorch version.
//!
//! Spec: spec/runtime.md. torch-sys publishes the directory it linked against as
//! `DEP_TCH_LIBTORCH_LIB` (its `links = "tch"` key); we depend on torch-sys directly to read it.

use std::path::Path;

/// `MAJOR.MINOR.PATCH` from libtorch's `torch/headeronly/version.h`.
fn header_version(libtorch: &Path) -> Option<String> {
    let header = libtorch.join("include/torch/headeronly/version.h");
    println!("cargo:rerun-if-changed={}", header.display());
    let text = std::fs::read_to_string(header).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("#define TORCH_VERSION_{name} ")))
            .map(|v| v.trim().to_string())
    };
    Some(format!(
        "{}.{}.{}",
        field("MAJOR")?,
        field("MINOR")?,
        field("PATCH")?
    ))
}

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let mut version = String::from("unknown");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        if let Some(v) = Path::new(&dir).parent().and_then(header_version) {
            version = v;
        }
    }
    println!("cargo:rustc-env=SEJE_LIBTORCH_VERSION={version}");
}
