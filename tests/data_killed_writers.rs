//! Writers killed at any point: `seje features stand-in` (three feature stores, 14 MB in all on
//! the mini fixture) writes into a folder holding an earlier run's stores and is killed, at
//! sixteen moments spread over a whole run (`SIGKILL`) and at chosen bytes of its writes (a
//! file-size limit whose signal, `SIGXFSZ`, ends the process the moment a write crosses it).
//! Afterwards every store is whole, either the earlier one or the new one, byte for byte, and a
//! run to the end leaves the new ones.
//!
//! Spec: spec/untrusted-input.md (section "Writers on a full disk or killed").

#[path = "support/fixtures.rs"]
mod fixtures;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const STORES: [&str; 3] = [
    "term.safetensors",
    "sentences.safetensors",
    "categories.safetensors",
];

fn stand_in(out: &Path, seed: u32) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_seje"));
    cmd.env("SEJE_LOG", "off")
        .args(["features", "stand-in", "--root"])
        .arg(fixtures::recipe1m_mini())
        .arg("--out")
        .arg(out)
        .args(["--seed", &seed.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn stores(dir: &Path) -> BTreeMap<&'static str, Vec<u8>> {
    STORES
        .iter()
        .map(|s| (*s, std::fs::read(dir.join(s)).unwrap_or_default()))
        .collect()
}

#[test]
fn a_killed_feature_writer_leaves_each_store_old_or_new_and_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let old_dir = tmp.path().join("old");
    let new_dir = tmp.path().join("new");
    assert!(stand_in(&old_dir, 1).status().unwrap().success());
    let started = Instant::now();
    assert!(stand_in(&new_dir, 2).status().unwrap().success());
    let whole_run = started.elapsed();
    let (old, new) = (stores(&old_dir), stores(&new_dir));
    for s in STORES {
        assert_ne!(old[s], new[s], "{s}: the two seeds give different stores");
    }

    let work = tmp.path().join("work");
    let mut outcomes = BTreeMap::new();
    let mut check = |what: String| {
        for s in STORES {
            let got = std::fs::read(work.join(s)).unwrap();
            let which = if got == old[s] {
                "old"
            } else if got == new[s] {
                "new"
            } else {
                panic!(
                    "{s} after {what}: {} bytes, neither the old store nor the new one",
                    got.len()
                )
            };
            *outcomes.entry((s, which)).or_insert(0) += 1;
        }
    };
    let reset = || {
        std::fs::remove_dir_all(&work).ok();
        std::fs::create_dir_all(&work).unwrap();
        for s in STORES {
            std::fs::write(work.join(s), &old[s]).unwrap();
        }
    };
    // Killed at moments spread over a run.
    for k in 0..16u32 {
        reset();
        let at = whole_run.mul_f64(f64::from(k) / 15.0);
        let mut child = stand_in(&work, 2).spawn().unwrap();
        std::thread::sleep(at);
        child.kill().ok();
        child.wait().unwrap();
        check(format!("a kill at {at:?} of {whole_run:?}"));
    }
    // Killed inside a write: past byte `limit` of any file, SIGXFSZ ends the process.
    let sizes: Vec<u64> = STORES.iter().map(|s| new[s].len() as u64).collect();
    let mut limits = vec![0, 8, 4096];
    for &n in &sizes {
        limits.extend([n / 2, n - 1]);
    }
    for limit in limits {
        reset();
        let mut cmd = stand_in(&work, 2);
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
        check(format!("a kill at byte {limit} of a write ({status})"));
    }
    eprintln!("outcomes: {outcomes:?}");
    // The kills left old stores and new ones.
    assert!(outcomes.keys().any(|(_, w)| *w == "old"), "{outcomes:?}");
    assert!(outcomes.keys().any(|(_, w)| *w == "new"), "{outcomes:?}");

    // A run to the end after a kill replaces whatever was left.
    assert!(stand_in(&work, 2).status().unwrap().success());
    assert_eq!(stores(&work), new);
}
