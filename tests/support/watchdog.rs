//! A child process run under a time and memory watchdog: its memory is sampled every 2 ms and it
//! is killed past either limit, so a reader that blows up fails the test instead of taking the
//! machine down. The peak is the largest high-water mark (`VmHWM`) sampled: the kernel's own
//! `ru_maxrss` would not do, since a child started by `posix_spawn` shares the test's memory
//! until it executes, and that is counted as the child's.
//!
//! Spec: spec/untrusted-input.md (section "How the limits are tested").

#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a watched child did.
#[derive(Debug)]
pub struct Watched {
    /// Its exit code; `None` when a signal ended it (the watchdog's kill among them).
    pub code: Option<i32>,
    /// Whether the watchdog killed it, and why.
    pub killed: Option<String>,
    /// Its standard error.
    pub stderr: String,
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// Peak resident memory sampled (`VmHWM`), MiB: a lower bound by at most the last 2 ms.
    pub peak_mib: f64,
}

/// The resident high-water mark of process `pid` in KiB, from `/proc/<pid>/status`.
fn hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `cmd` to its end, killing it once it has run `max_wall` or holds more than `max_mib`.
pub fn run(mut cmd: Command, max_wall: Duration, max_mib: u64) -> Watched {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("the child starts");
    let pid = child.id();
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).ok();
        text
    });
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(hwm_kib(pid).unwrap_or(0));
                let why = if start.elapsed() > max_wall {
                    Some(format!("ran past {max_wall:?}"))
                } else {
                    (peak > max_mib * 1024)
                        .then(|| format!("held {} MiB, over {max_mib}", peak / 1024))
                };
                if let Some(why) = why {
                    // SAFETY: `pid` is our child, not yet reaped: the main thread reaps it with
                    // `waitpid` and only then sets `done`.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                    return (Some(why), peak);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (None, peak)
        })
    };
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is valid for writes.
    let reaped = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
    assert_eq!(reaped, pid as libc::pid_t, "waitpid reaps the child");
    let wall = start.elapsed();
    done.store(true, Ordering::SeqCst);
    let (killed, peak_kib) = watcher.join().expect("the watchdog thread");
    // The child is reaped: `Child`'s drop neither waits nor kills.
    drop(child);
    Watched {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        killed,
        stderr: reader.join().expect("the stderr reader"),
        wall,
        peak_mib: peak_kib as f64 / 1024.0,
    }
}
