//! Training jobs killed at any moment, then resumed: Phase I's categoriser (its epoch checkpoint
//! replaced after every epoch) is killed with `SIGKILL` at moments spread over a whole run, and
//! inside the writes of its checkpoint files (a file-size limit, whose `SIGXFSZ` ends the process
//! the moment a write crosses it); each time, a complete checkpoint is left, and the resumed run
//! ends with the same bytes as an uninterrupted one.
//!
//! Spec: spec/untrusted-input.md (section "Writers on a full disk or killed"),
//! spec/phase1-categoriser-training.md (checkpoints and resume).

#[path = "support/fixtures.rs"]
mod fixtures;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use seje::phase1::categoriser_training::{CHECKPOINT_DIR, MODEL_FILE};

fn categoriser(out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_seje"));
    cmd.env("SEJE_LOG", "off")
        .args(["features", "categoriser", "--food101"])
        .arg(fixtures::food101_mini())
        .arg("--out")
        .arg(out)
        .args(["--arch", "tiny", "--image-size", "36", "--crop", "32"])
        .args([
            "--epochs",
            "3",
            "--batch",
            "8",
            "--lr",
            "0.05",
            "--threads",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// What the checkpoint folder left by a killed run holds: `None` (no epoch saved yet) or the
/// epochs done, after checking that its files are complete and of one save.
fn checkpoint_left(out: &Path) -> Option<usize> {
    let dir = seje::files::current_dir(&out.join(CHECKPOINT_DIR))?;
    let state = std::fs::read_to_string(dir.join("state.json")).ok()?;
    let state: serde_json::Value = serde_json::from_str(&state)
        .unwrap_or_else(|e| panic!("{}: a torn state.json: {e}", dir.display()));
    let done = state["epochs_done"].as_u64().expect("epochs_done") as usize;
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        done,
        "{}: metrics of another save",
        dir.display()
    );
    for f in ["model.safetensors", "optim.safetensors"] {
        let t = tch::Tensor::read_safetensors(dir.join(f));
        assert!(t.is_ok(), "{}/{f}: not a whole file", dir.display());
    }
    Some(done)
}

#[test]
fn a_killed_categoriser_leaves_a_whole_checkpoint_and_resumes_to_the_same_bytes() {
    let _serial = fixtures::serial();
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let started = Instant::now();
    assert!(categoriser(&whole).status().unwrap().success());
    let whole_run = started.elapsed();
    let expected = std::fs::read(whole.join(MODEL_FILE)).unwrap();
    let model_size = std::fs::metadata(whole.join(CHECKPOINT_DIR).join("model.safetensors"))
        .unwrap()
        .len();

    let mut left = Vec::new();
    let mut finish = |out: &Path, what: String| {
        left.push(checkpoint_left(out));
        assert!(
            categoriser(out).status().unwrap().success(),
            "resuming after {what}"
        );
        assert!(
            std::fs::read(out.join(MODEL_FILE)).unwrap() == expected,
            "after {what}, the resumed run's model differs from the uninterrupted run's"
        );
    };
    // Killed at moments spread over a run.
    for k in 1..=6u32 {
        let out = tmp.path().join(format!("kill{k}"));
        let at = whole_run.mul_f64(f64::from(k) / 7.0);
        let mut child = categoriser(&out).spawn().unwrap();
        std::thread::sleep(at);
        child.kill().ok();
        child.wait().unwrap();
        finish(&out, format!("a kill at {at:?} of {whole_run:?}"));
    }
    // Killed inside the first file past 100 bytes, and inside the first save's model file.
    for limit in [100, model_size / 2] {
        let out = tmp.path().join(format!("limit{limit}"));
        let mut cmd = categoriser(&out);
        // SAFETY: only async-signal-safe calls (setrlimit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: libc::RLIM_INFINITY,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let status = cmd.status().unwrap();
        assert!(!status.success(), "a limit of {limit} bytes stops the run");
        finish(
            &out,
            format!("a kill at byte {limit} of a write ({status})"),
        );
    }
    eprintln!("checkpoints left by the kills (epochs done): {left:?}");
    // The kills hit before the first save and after a later one.
    assert!(left.contains(&None), "{left:?}");
    assert!(left.iter().any(|l| l.is_some_and(|d| d >= 1)), "{left:?}");
}
