//! The committed fixtures are exactly what the generator makes: `fixtures/recipe1m-mini` and
//! `fixtures/food101-mini` are regenerated from `SynthConfig::fixture_mini()` into a temporary
//! directory and compared file by file, byte for byte.
//!
//! Spec: spec/data-synthetic-benchmark.md (section "Fixtures").
//!
//! After a deliberate change of the generator, regenerate and commit:
//!
//! ```sh
//! rm -rf fixtures/recipe1m-mini fixtures/food101-mini
//! cargo run --bin seje -- synth --preset fixture-mini \
//!     --out fixtures/recipe1m-mini --food101 fixtures/food101-mini
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use seje::data::synth::{self, SynthConfig};

const REGENERATE: &str = "rm -rf fixtures/recipe1m-mini fixtures/food101-mini && cargo run --bin seje -- synth --preset fixture-mini --out fixtures/recipe1m-mini --food101 fixtures/food101-mini";

/// Every file under `root`, by path relative to it, with its bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root").to_path_buf();
                out.insert(rel, std::fs::read(&path).expect("readable"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn assert_same_tree(committed: &Path, fresh: &Path) {
    let (a, b) = (tree(committed), tree(fresh));
    let only_committed: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_fresh: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(
        only_committed.is_empty() && only_fresh.is_empty(),
        "{}: files differ from a fresh generation\n  only committed: {only_committed:?}\n  only generated: {only_fresh:?}\n  regenerate: {REGENERATE}",
        committed.display()
    );
    let differing: Vec<_> = a
        .iter()
        .filter(|(k, v)| b[*k] != **v)
        .map(|(k, _)| k)
        .collect();
    assert!(
        differing.is_empty(),
        "{}: {} files differ byte-wise from a fresh generation, first {:?}\n  regenerate: {REGENERATE}",
        committed.display(),
        differing.len(),
        differing.first()
    );
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

#[test]
fn recipe1m_mini_regenerates_byte_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    synth::generate(&SynthConfig::fixture_mini(), dir.path()).expect("generate");
    assert_same_tree(&fixtures().join("recipe1m-mini"), dir.path());
}

#[test]
fn food101_mini_regenerates_byte_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    synth::generate_food101(&SynthConfig::fixture_mini(), dir.path()).expect("generate");
    assert_same_tree(&fixtures().join("food101-mini"), dir.path());
}

#[test]
fn generation_does_not_depend_on_the_thread_count() {
    let mut cfg = SynthConfig::fixture_mini();
    cfg.recipes = 24;
    cfg.max_images = 3;
    let dirs: Vec<_> = [1, 3]
        .into_iter()
        .map(|threads| {
            let dir = tempfile::tempdir().expect("tempdir");
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool")
                .install(|| synth::generate(&cfg, dir.path()))
                .expect("generate");
            dir
        })
        .collect();
    assert_same_tree(dirs[0].path(), dirs[1].path());
}
