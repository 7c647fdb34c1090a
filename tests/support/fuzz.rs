//! A fuzzing engine on stable Rust: mutations of a seed corpus (bit flips, interesting integers,
//! truncation, chunk deletion, duplication and splicing, tokens from a dictionary, and a target's
//! own structure-aware mutation), run in a worker child process under a time and memory watchdog.
//!
//! The parent (the `#[test]`) starts the worker, a copy of the test binary running the same test
//! with `SEJE_FUZZ_WORKER` set, and watches its memory. The worker first replays every input
//! saved under `fixtures/fuzz/<target>/`, then runs its budget. Before each execution it writes
//! the input to a crash file, so an input that aborts, overflows the stack or exhausts memory is
//! still known: the parent saves it under `fixtures/fuzz/<target>/` and fails. A panic, or an
//! input that runs past the time limit, is saved by the worker itself.
//!
//! Budgets: `SEJE_FUZZ_RUNS` executions per target (default 1,500: what `cargo xtask test` runs,
//! deterministic for a seed), or `SEJE_FUZZ_SECONDS` (what `cargo xtask fuzz --seconds N` sets);
//! `SEJE_FUZZ_SEED` (default 1) seeds the mutations.
//!
//! Spec: spec/untrusted-input.md (section "Fuzzing").

#![allow(dead_code)]

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

#[path = "watchdog.rs"]
mod watchdog;

/// One execution may take this long (debug build) before it counts as a hang.
pub const PER_INPUT: Duration = Duration::from_secs(5);
/// The worker may hold this much memory before the parent kills it.
pub const MAX_MIB: u64 = 1536;

/// What a target does with one input: `Ok` when the reader accepted it, `Err` with the refusal.
/// Either is fine; a panic, a hang or a blow-up is a finding.
pub type Run = fn(&[u8], &Path) -> Result<(), String>;

/// A structure-aware mutation of an input of a target.
pub type Structured = fn(&mut Rng, &[u8], &Target) -> Vec<u8>;

/// A reader to fuzz.
pub struct Target {
    /// Its name: `fixtures/fuzz/<name>/`, `cargo xtask fuzz --target <name>`.
    pub name: &'static str,
    /// The inputs mutations start from: committed fixtures and hostile structures.
    pub seeds: Vec<Vec<u8>>,
    /// Tokens of the format, inserted or overwritten at random places.
    pub dictionary: Vec<Vec<u8>>,
    /// A structure-aware mutation (for example: mutate the pickle inside a zip, then re-zip).
    pub structured: Option<Structured>,
    /// The reader, given the input and a file path holding the same bytes.
    pub run: Run,
}

/// SplitMix64: small, fast and the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Integers that sit on boundaries: lengths and counts a reader must not trust.
const INTERESTING: [u64; 12] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
];

/// One random byte-level or dictionary mutation of `data`.
pub fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, dictionary: &[Vec<u8>]) {
    let len = data.len();
    match rng.below(9) {
        0 if len > 0 => {
            let at = rng.below(len);
            data[at] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let at = rng.below(len);
            data[at] = INTERESTING[rng.below(5)] as u8;
        }
        2 if len >= 8 => {
            // An interesting integer of 1, 2, 4 or 8 bytes, either byte order.
            let width = [1, 2, 4, 8][rng.below(4)];
            let at = rng.below(len - width + 1);
            let v = INTERESTING[rng.below(INTERESTING.len())];
            let bytes = if rng.chance(2) {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            let src = if rng.chance(2) {
                &bytes[..width]
            } else {
                &bytes[8 - width..]
            };
            data[at..at + width].copy_from_slice(src);
        }
        3 if len > 0 => data.truncate(rng.below(len)),
        4 if len > 1 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(64));
            data.drain(at..at + n);
        }
        5 if len > 1 => {
            // Duplicate a chunk in place, a few times.
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(32));
            let chunk = data[at..at + n].to_vec();
            for _ in 0..1 + rng.below(8) {
                data.splice(at..at, chunk.iter().copied());
            }
        }
        6 | 7 if !dictionary.is_empty() => {
            let token = &dictionary[rng.below(dictionary.len())];
            let at = rng.below(len + 1);
            if rng.chance(2) || at + token.len() > len {
                data.splice(at..at, token.iter().copied());
            } else {
                data[at..at + token.len()].copy_from_slice(token);
            }
        }
        _ => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let random: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            data.splice(at..at, random);
        }
    }
}

/// The folder of saved findings for `target`.
pub fn findings_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/fuzz")
        .join(target)
}

/// Saves `input` under `fixtures/fuzz/<target>/<sha256 prefix>.bin`; returns the path.
pub fn save_finding(target: &str, input: &[u8]) -> PathBuf {
    let dir = findings_dir(target);
    std::fs::create_dir_all(&dir).expect("fixtures/fuzz/<target> can be created");
    let digest = Sha256::digest(input);
    let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{name}.bin"));
    std::fs::write(&path, input).expect("the finding is saved");
    path
}

/// The saved findings of `target`, in name order.
fn saved(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(findings_dir(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("a saved finding reads");
            (p, bytes)
        })
        .collect()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The whole fuzz test of `target`: in the parent, start and watch the worker; in the worker,
/// replay and fuzz. `test_name` is the `#[test]` function's name (the worker runs only it).
pub fn fuzz(test_name: &str, target: impl FnOnce() -> Target) {
    if std::env::var_os("SEJE_FUZZ_WORKER").is_some() {
        worker(target());
        return;
    }
    let target = target();
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let crash = scratch.path().join("current.bin");
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args([test_name, "--exact", "--nocapture", "--test-threads", "1"])
        .env("SEJE_FUZZ_WORKER", "1")
        .env("SEJE_FUZZ_CRASH", &crash);
    let budget = env_u64("SEJE_FUZZ_SECONDS").map_or(Duration::from_secs(600), |s| {
        Duration::from_secs(s) + PER_INPUT * 2 + Duration::from_secs(60)
    });
    let run = watchdog::run(cmd, budget, MAX_MIB);
    let report: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("fuzz "))
        .collect();
    for line in &report {
        eprintln!("{line}");
    }
    if run.code != Some(0) {
        // The worker died on an input (abort, stack overflow, the watchdog's kill): the crash
        // file holds it, unless the worker saved it itself.
        let saved_by_worker = run.stderr.contains("fuzz finding saved");
        // The worker could not write or remove its crash file (a full disk): the harness failed,
        // not the reader, and the crash file says nothing; no finding is saved.
        if run.stderr.contains("the crash file is written")
            || run.stderr.contains("the crash file is removed")
        {
            panic!(
                "fuzz target `{}`: the harness could not write or remove its crash file {} (a full \
                 disk?); this is not a finding and nothing was saved\n{}",
                target.name,
                crash.display(),
                run.stderr
            );
        }
        let mut note = String::new();
        if !saved_by_worker {
            if let Ok(input) = std::fs::read(&crash) {
                let path = save_finding(target.name, &input);
                note = format!("; the input is saved as {}", path.display());
            }
        }
        let tail: String = run
            .stderr
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "fuzz target `{}` failed (exit {:?}, killed: {:?}, {:?}, peak {:.0} MiB){note}\n{tail}",
            target.name, run.code, run.killed, run.wall, run.peak_mib
        );
    }
    assert!(
        report.iter().any(|l| l.contains("executions")),
        "the worker reported nothing:\n{}",
        run.stderr
    );
}

/// Executes one input: written to the crash file, which is also the file the reader is given,
/// then the reader under the time watch.
fn execute(
    target: &Target,
    input: &[u8],
    crash: &Path,
    started: &AtomicU64,
    base: Instant,
) -> Result<bool, String> {
    std::fs::write(crash, input).expect("the crash file is written");
    started.store(base.elapsed().as_nanos() as u64 + 1, Ordering::SeqCst);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input, crash)));
    started.store(0, Ordering::SeqCst);
    // Only an input that never finished stays in the crash file.
    std::fs::remove_file(crash).expect("the crash file is removed");
    match result {
        Ok(Ok(())) => Ok(true),
        Ok(Err(_)) => Ok(false),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            Err(why)
        }
    }
}

fn worker(target: Target) {
    let crash = PathBuf::from(std::env::var_os("SEJE_FUZZ_CRASH").expect("SEJE_FUZZ_CRASH"));
    let base = Instant::now();
    let started = Arc::new(AtomicU64::new(0));
    {
        // The hang watch: an input running past PER_INPUT is saved and the worker aborts.
        let started = started.clone();
        let crash = crash.clone();
        let name = target.name;
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(50));
            let at = started.load(Ordering::SeqCst);
            if at != 0 && base.elapsed().as_nanos() as u64 > at + PER_INPUT.as_nanos() as u64 {
                if let Ok(input) = std::fs::read(&crash) {
                    let path = save_finding(name, &input);
                    eprintln!(
                        "fuzz finding saved: an input ran past {PER_INPUT:?}: {}",
                        path.display()
                    );
                }
                std::process::abort();
            }
        });
    }
    let fail = |input: &[u8], why: String| -> ! {
        let path = save_finding(target.name, input);
        eprintln!("fuzz finding saved: a panic ({why}): {}", path.display());
        panic!(
            "fuzz target `{}`: a panic on {}: {why}",
            target.name,
            path.display()
        );
    };
    // 1. Every input that ever failed.
    let replays = saved(target.name);
    for (path, input) in &replays {
        if let Err(why) = execute(&target, input, &crash, &started, base) {
            panic!("fuzz replay of {} panics: {why}", path.display());
        }
    }
    // 2. The seeds as they are.
    let mut corpus = target.seeds.clone();
    let mut executions = 0u64;
    let mut accepted = 0u64;
    for seed in &target.seeds {
        executions += 1;
        match execute(&target, seed, &crash, &started, base) {
            Ok(ok) => accepted += u64::from(ok),
            Err(why) => fail(seed, why),
        }
    }
    // 3. Mutations, within the budget.
    let seed = env_u64("SEJE_FUZZ_SEED").unwrap_or(1);
    let mut rng = Rng::new(seed ^ name_hash(target.name));
    let runs = env_u64("SEJE_FUZZ_RUNS").unwrap_or(1_500);
    let seconds = env_u64("SEJE_FUZZ_SECONDS");
    let clock = Instant::now();
    loop {
        let done = match seconds {
            Some(s) => clock.elapsed() >= Duration::from_secs(s),
            None => executions >= runs + target.seeds.len() as u64,
        };
        if done {
            break;
        }
        let mut input = corpus[rng.below(corpus.len())].clone();
        match target.structured {
            Some(structured) if rng.chance(2) => input = structured(&mut rng, &input, &target),
            _ => {
                for _ in 0..1 + rng.below(4) {
                    mutate_bytes(&mut rng, &mut input, &target.dictionary);
                }
            }
        }
        executions += 1;
        match execute(&target, &input, &crash, &started, base) {
            Ok(true) => {
                accepted += 1;
                // An accepted mutant reaches deeper into the format: keep a bounded number.
                if corpus.len() < 512 && input.len() < 1 << 20 {
                    corpus.push(input);
                }
            }
            Ok(false) => {}
            Err(why) => fail(&input, why),
        }
    }
    eprintln!(
        "fuzz {}: executions {executions}, accepted {accepted}, replayed {}, corpus {}, seed {seed}, {:.1} s",
        target.name,
        replays.len(),
        corpus.len(),
        clock.elapsed().as_secs_f64()
    );
}

fn name_hash(name: &str) -> u64 {
    let digest = Sha256::digest(name.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}
