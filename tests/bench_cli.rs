//! `seje bench step` end to end: one warm-up and one timed training step of the fixture-mini
//! configuration on the CPU, JSON report with every field, a positive throughput.
//!
//! Spec: spec/phase2-training-loop.md (throughput benchmark).

#[path = "support/cli.rs"]
mod cli;
use cli::seje;

use std::path::Path;

#[test]
fn bench_step_reports_throughput_as_json() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/configs/fixture-mini.toml");
    let out = seje()
        .args(["--log", "warn", "bench", "step", "--config"])
        .arg(&config)
        .args([
            "--device",
            "cpu",
            "--warmup",
            "1",
            "--iterations",
            "1",
            "--json",
        ])
        .output()
        .expect("seje runs");
    assert!(
        out.status.success(),
        "seje bench step failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    for key in [
        "implementation",
        "device",
        "config",
        "backbone",
        "precision",
        "cudnn_benchmark",
        "adam",
        "batch",
        "crop",
        "warmup",
        "iterations",
        "seconds",
        "ms_per_iteration",
        "images_per_second",
        "last_total_loss",
        "device_memory_used_bytes",
    ] {
        assert!(v.get(key).is_some(), "field `{key}` missing: {v}");
    }
    assert_eq!(v["implementation"], "seje");
    assert_eq!(v["device"], "cpu");
    assert_eq!(v["precision"], "f32");
    assert_eq!(v["adam"], "single", "optim.adam's default");
    assert_eq!(v["batch"], 16, "fixture-mini's optim.batch_size");
    assert_eq!(v["iterations"], 1);
    assert!(
        v["images_per_second"].as_f64().is_some_and(|x| x > 0.0),
        "{v}"
    );
    assert!(
        v["last_total_loss"].as_f64().is_some_and(f64::is_finite),
        "{v}"
    );
    assert!(v["device_memory_used_bytes"].is_null(), "CPU: {v}");
}

#[test]
fn bench_step_refuses_zero_iterations() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/configs/fixture-mini.toml");
    let out = seje()
        .args(["--log", "warn", "bench", "step", "--config"])
        .arg(&config)
        .args(["--device", "cpu", "--iterations", "0"])
        .output()
        .expect("seje runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--iterations: must be at least 1"), "{err}");
}
