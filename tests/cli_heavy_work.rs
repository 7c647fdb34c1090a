//! Heavy work announced (issue 28): a job sized for a GPU does not start on the CPU unless the
//! CPU was asked for; a few small steps are timed first and the estimate of the whole job, with a
//! lighter alternative, is the error.
//!
//! Spec: spec/cli.md (heavy work announced).

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fixtures.rs"]
mod fixtures;

use std::time::{Duration, Instant};

use cli::seje;

fn refused(args: &[&str], lighter: &str) {
    let started = Instant::now();
    let o = seje()
        .arg("--log")
        .arg("error")
        .args(args)
        .output()
        .unwrap();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?} went on: {err}");
    for words in [
        "is sized for a GPU and would run on this CPU: one batch takes about",
        "GiB of memory",
        lighter,
        "pass --device cpu",
    ] {
        assert!(err.contains(words), "{args:?}: says `{words}`: {err}");
    }
    assert!(took < Duration::from_secs(120), "{args:?}: {took:?}");
}

#[test]
fn a_gpu_sized_categoriser_on_the_cpu_is_estimated_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("categoriser");
    refused(
        &[
            "features",
            "categoriser",
            "--food101",
            fixtures::food101_mini().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--arch",
            "resnet50",
            "--image-size",
            "180",
            "--crop",
            "160",
            "--epochs",
            "1",
        ],
        "`--arch tiny --image-size 36 --crop 32`",
    );
    assert!(!out.join("checkpoint").exists(), "nothing was trained");
}

#[test]
fn a_gpu_sized_phase2_configuration_on_the_cpu_is_estimated_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let config = fixtures::repo().join("paper/configs/fixture-mini.toml");
    refused(
        &[
            "train",
            "--no-progress",
            "--config",
            config.to_str().unwrap(),
            "--run-dir",
            run.to_str().unwrap(),
            "--set",
            "model.backbone=\"resnet50\"",
            "--set",
            "data.resize=180",
            "--set",
            "data.crop=160",
            "--set",
            "schedule.max_epochs=1",
        ],
        "`--config paper/configs/synthetic.toml`",
    );
    assert!(!run.join("checkpoints").exists(), "nothing was trained");
}
