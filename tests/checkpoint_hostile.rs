//! Hostile `torch.save` files and pickles, built byte by byte: each is refused quickly, in bounded
//! memory, with an error that names the file and what is wrong. The shared-reference pickle of
//! issue 26 (a 150-byte archive that once ran past 60 s and 13 GB) goes through the real command
//! under a watchdog.
//!
//! Spec: spec/untrusted-input.md, spec/checkpoint-format.md (section "Limits").

#[path = "support/errors.rs"]
mod errors;
#[path = "support/fixtures.rs"]
mod fixtures;
// Every test holds `fixtures::serial()`: the timed one measures a command, not its neighbours.
#[path = "support/watchdog.rs"]
mod watchdog;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use seje::checkpoint::{read_string_list_pickle, read_torch_file};

/// Counts the bytes this test binary holds on the Rust heap, and their peak.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the most heap it held above what was held before, MiB
/// (the caller holds `fixtures::serial()`, so no other test allocates meanwhile).
fn heap_peak<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let before = HELD.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    (out, peak as f64 / (1 << 20) as f64)
}

/// A `torch.save` zip archive holding `pkl` as `archive/data.pkl`, plus `records` under
/// `archive/data/`, each stored or deflated.
fn torch_zip(pkl: &[u8], records: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("archive/data.pkl", stored).unwrap();
        zip.write_all(pkl).unwrap();
        zip.start_file("archive/byteorder", stored).unwrap();
        zip.write_all(b"little").unwrap();
        for (name, bytes, deflate) in records {
            let options = if *deflate { deflated } else { stored };
            zip.start_file(format!("archive/data/{name}"), options)
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

/// `PROTO 2`, `NONE`, then `n` times `DUP TUPLE2`, `STOP`: a tuple tower of 2^n leaves in
/// 4 + 2n bytes.
fn shared_tower(n: usize) -> Vec<u8> {
    let mut pkl = vec![0x80, 2, b'N'];
    for _ in 0..n {
        pkl.extend([b'2', 0x86]);
    }
    pkl.push(b'.');
    pkl
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Refused within `limit`, with a message holding `file` and every one of `words`.
fn refused(
    path: &Path,
    result: seje::Result<impl std::fmt::Debug>,
    started: Instant,
    words: &[&str],
) {
    let took = started.elapsed();
    let err = result.expect_err("a hostile file must be refused");
    let text = errors::chain(&err);
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(text.contains(&*name), "the error names the file: {text}");
    for w in words {
        assert!(text.contains(w), "the error says `{w}`: {text}");
    }
    assert!(took < Duration::from_secs(2), "refused in {took:?}: {text}");
}

#[test]
fn shared_reference_archive_is_refused_by_the_command_in_a_second_and_200_mb() {
    let _serial = fixtures::serial();
    let dir = tempfile::tempdir().unwrap();
    let archive = torch_zip(&shared_tower(60), &[]);
    assert!(
        archive.len() < 400,
        "a few hundred bytes: {}",
        archive.len()
    );
    let weights = write(dir.path(), "tower.pth", &archive);
    let image = fixtures::food101_mini().join("images/apple_pie/1118651.jpg");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_seje"));
    cmd.env("SEJE_LOG", "warn")
        .args(["classify", "--arch", "tiny", "--weights"])
        .arg(&weights)
        .arg(&image);
    // Killed well before it could take the machine down, should the limit ever go.
    let run = watchdog::run(cmd, Duration::from_secs(20), 2048);
    assert_eq!(run.killed, None, "the watchdog had to stop it: {run:?}");
    assert_eq!(run.code, Some(1), "refused with an error: {run:?}");
    assert!(
        run.stderr.contains("tower.pth") && run.stderr.contains("shared references"),
        "the error names the file and the cause: {}",
        run.stderr
    );
    // The whole command, libtorch's start included.
    assert!(run.wall < Duration::from_secs(1), "took {:?}", run.wall);
    assert!(run.peak_mib < 200.0, "peak {:.0} MiB", run.peak_mib);
    eprintln!(
        "command refused in {:?}, peak resident {:.0} MiB",
        run.wall, run.peak_mib
    );
    // The reader alone, in this process: its exact heap peak.
    let started = Instant::now();
    let (result, peak) = heap_peak(|| read_torch_file(&weights));
    refused(&weights, result, started, &["shared references"]);
    assert!(peak < 100.0, "the reader held {peak:.1} MiB");
    eprintln!(
        "reader refused in {:?}, heap peak {peak:.1} MiB",
        started.elapsed()
    );
}

#[test]
fn shared_reference_towers_within_the_budget_still_read() {
    let _serial = fixtures::serial();
    // 2^12 leaves unfold to 8,191 nodes: a legitimate amount of sharing is no error.
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "small_tower.pth",
        &torch_zip(&shared_tower(12), &[]),
    );
    let value = read_torch_file(&path).expect("a small tower reads");
    let mut leaves = 0;
    let mut todo = vec![&value];
    while let Some(v) = todo.pop() {
        match v.as_seq() {
            Some(items) => todo.extend(items),
            None => leaves += 1,
        }
    }
    assert_eq!(leaves, 1 << 12);
}

#[test]
fn a_dict_key_built_from_shared_references_is_refused() {
    let _serial = fixtures::serial();
    // {tower: None}: hashing the key would walk 2^60 leaves; a key may hold 64 values.
    let mut pkl = vec![0x80, 2, b'}'];
    pkl.extend(&shared_tower(60)[2..shared_tower(60).len() - 1]);
    pkl.extend([b'N', b's', b'.']);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "tower_key.pth", &torch_zip(&pkl, &[]));
    let started = Instant::now();
    refused(
        &path,
        read_torch_file(&path),
        started,
        &["a dict key of at most 64 values"],
    );
}

#[test]
fn a_list_as_dict_key_is_refused_as_python_would() {
    let _serial = fixtures::serial();
    let pkl = [0x80, 2, b'}', b']', b'N', b's', b'.'];
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "list_key.pth", &torch_zip(&pkl, &[]));
    let started = Instant::now();
    refused(
        &path,
        read_torch_file(&path),
        started,
        &["an unhashable list as a dict key"],
    );
}

#[test]
fn a_dict_of_many_keys_is_built_in_linear_time() {
    let _serial = fixtures::serial();
    // One SETITEMS of 200,000 distinct int keys: a linear scan per key would take minutes.
    let n: u32 = 200_000;
    let mut pkl = vec![0x80, 2, b'}', b'('];
    for k in 0..n {
        pkl.push(b'J');
        pkl.extend(k.to_le_bytes());
        pkl.push(b'N');
    }
    pkl.extend([b'u', b'.']);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "many_keys.pth", &torch_zip(&pkl, &[]));
    let started = Instant::now();
    let value = read_torch_file(&path).expect("a big dict reads");
    assert_eq!(value.as_dict().unwrap().entries.len(), n as usize);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_million_deep_nesting_is_refused_and_dropped_without_overflowing_the_stack() {
    let _serial = fixtures::serial();
    // NONE, then TUPLE1 a million times: dropping it recursively would overflow the stack and
    // abort the whole test binary.
    let mut pkl = vec![0x80, 2, b'N'];
    pkl.extend(std::iter::repeat_n(0x85, 1_000_000));
    pkl.push(b'.');
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "deep.pth", &torch_zip(&pkl, &[]));
    let started = Instant::now();
    refused(
        &path,
        read_torch_file(&path),
        started,
        &["nested at most 256 deep"],
    );
    // A truncated one (no STOP) leaves the tower on the machine's stack, dropped with it.
    let cut = &pkl[..pkl.len() - 1];
    let path = write(dir.path(), "deep_cut.pth", &torch_zip(cut, &[]));
    let started = Instant::now();
    refused(&path, read_torch_file(&path), started, &["STOP"]);
}

#[test]
fn a_zip_bomb_record_is_refused_before_it_is_inflated() {
    let _serial = fixtures::serial();
    // A float storage of 64 MiB of zeros deflates to about 64 KiB; the archive may extract to
    // 4 times its size plus 1 MiB.
    let numel: u64 = 16 << 20;
    let zeros = vec![0u8; (numel * 4) as usize];
    let mut pkl = vec![0x80, 2];
    // _rebuild_tensor_v2((storage pid), 0, (numel,), (1,), False, OrderedDict())
    pkl.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
    pkl.extend(
        b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu",
    );
    pkl.push(0x8a);
    pkl.push(8);
    pkl.extend(numel.to_le_bytes());
    pkl.extend(b"tQ");
    pkl.extend(b"K\x00");
    pkl.push(0x8a);
    pkl.push(8);
    pkl.extend(numel.to_le_bytes());
    pkl.push(0x85);
    pkl.extend(b"K\x01\x85\x89ccollections\nOrderedDict\n)R");
    pkl.extend(b"tR.");
    let archive = torch_zip(&pkl, &[("0", &zeros, true)]);
    assert!(
        archive.len() < 1 << 20,
        "the bomb is small: {}",
        archive.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bomb.pth", &archive);
    let started = Instant::now();
    refused(
        &path,
        read_torch_file(&path),
        started,
        &["declaring 67108864 bytes (a zip bomb?)"],
    );
    // The same record stored, not deflated, is a legitimate 64 MiB tensor.
    let archive = torch_zip(&pkl, &[("0", &zeros, false)]);
    let path = write(dir.path(), "stored.pth", &archive);
    let t = read_torch_file(&path).expect("a stored record reads");
    assert_eq!(t.as_tensor().unwrap().size(), [numel as i64]);
}

#[test]
fn a_string_list_pickle_that_reuses_one_string_is_refused() {
    let _serial = fixtures::serial();
    // A 1 MiB string memoised once and fetched 100,000 times: 100 GB of copies from 1.2 MB.
    let mut pkl = vec![0x80, 2, b']', b'('];
    pkl.push(b'X');
    pkl.extend((1u32 << 20).to_le_bytes());
    pkl.extend(std::iter::repeat_n(b'a', 1 << 20));
    pkl.extend([b'q', 0]);
    for _ in 0..100_000 {
        pkl.extend([b'h', 0]);
    }
    pkl.extend([b'e', b'.']);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "keys.pkl", &pkl);
    let started = Instant::now();
    refused(
        &path,
        read_string_list_pickle(&path),
        started,
        &["through a string used many times"],
    );
}

#[test]
fn a_broadcast_view_cannot_size_a_model() {
    let _serial = fixtures::serial();
    let weights = fixtures::repo().join("fixtures/golden/checkpoint/broadcast_fc.pt");
    let image = fixtures::food101_mini().join("images/apple_pie/1118651.jpg");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_seje"));
    cmd.env("SEJE_LOG", "warn")
        .args(["classify", "--arch", "tiny", "--weights"])
        .arg(&weights)
        .arg(&image);
    let run = watchdog::run(cmd, Duration::from_secs(20), 2048);
    assert_eq!(run.killed, None, "the watchdog had to stop it: {run:?}");
    assert_eq!(run.code, Some(1), "refused with an error: {run:?}");
    assert!(
        run.stderr.contains("broadcast_fc.pt")
            && run
                .stderr
                .contains("views that fit in the file's 1676 bytes once made contiguous")
            && run
                .stderr
                .contains("`fc.weight`, a view of shape [1000000, 1000000] and stride [0, 0]"),
        "the error names the file, the tensor, its shape and stride: {}",
        run.stderr
    );
    assert!(run.wall < Duration::from_secs(2), "took {:?}", run.wall);
    assert!(run.peak_mib < 300.0, "peak {:.0} MiB", run.peak_mib);
}

#[test]
fn a_safetensors_header_whose_offsets_overflow_is_refused_without_a_panic() {
    // One U8 tensor ending at 2^64 - 1: tch's reader adds that to the header size unchecked.
    let header = br#"{"x":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,18446744073709551615]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "overflow.safetensors", &bytes);
    let started = Instant::now();
    let result = seje::checkpoint::safetensors::read_safetensors(&path);
    refused(
        &path,
        result,
        started,
        &["data_offsets [0, 18446744073709551615]"],
    );
}
