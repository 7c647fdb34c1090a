//! Build script: embeds the libtorch library directory as an rpath, so `seje`, its tests and its
//! benches find `libtorch_cpu.so` without `LD_LIBRARY_PATH`, records the libtorch version, and
//! compiles the Adam kernel shim (`src/nn/adam_kernels.cpp`) against libtorch's headers.
//!
//! Spec: spec/runtime.md, spec/phase2-adam.md. torch-sys publishes the directory it linked against as
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

/// Compiles `src/nn/adam_kernels.cpp` the way torch-sys compiles its own C++ (C++17, the CXX11
/// ABI of the pinned wheels); the library it calls into is the libtorch torch-sys links.
fn adam_kernels(libtorch: &Path) {
    const SHIM: &str = "src/nn/adam_kernels.cpp";
    println!("cargo:rerun-if-changed={SHIM}");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    cc::Build::new()
        .cpp(true)
        .file(SHIM)
        .include(libtorch.join("include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(false)
        .compile("seje_adam_kernels");
}

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let dir = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys publishes DEP_TCH_LIBTORCH_LIB (its `links = \"tch\"` key)");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    let libtorch = Path::new(&dir)
        .parent()
        .expect("the libtorch library directory has a parent");
    let version = header_version(libtorch).unwrap_or_else(|| String::from("unknown"));
    adam_kernels(libtorch);
    println!("cargo:rustc-env=SEJE_LIBTORCH_VERSION={version}");
}
