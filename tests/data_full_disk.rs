//! Writers on a full file system: a write that runs out of space fails with an error naming the
//! file, leaves the previous complete file in place and leaves no temporary file behind.
//!
//! A file-size limit (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so the write returns `EFBIG`)
//! stands in for a full disk. It applies to the whole process, so this binary holds this one
//! test only.
//!
//! Spec: spec/untrusted-input.md (section "Writers on a full disk").

#[path = "support/errors.rs"]
mod errors;

use std::path::Path;

use seje::checkpoint::epoch::{EpochCheckpoint, EpochState};
use seje::data::feature_store::FeatureWriter;
use seje::files::write_atomic;
use seje::nn::backbone::BackboneConfig;
use seje::phase2::config::TrainConfig;
use seje::phase2::model::ModelConfig;
use seje::phase2::objective::ObjectiveConfig;
use seje::phase2::recipe_encoder::RecipeEncoderConfig;
use seje::phase2::run_dir::{RunDir, TrainState};
use seje::phase2::step::Trainer;

/// Limits the size of any file this process writes to `bytes`.
fn limit_file_size(bytes: u64) {
    // SAFETY: ignoring SIGXFSZ and setting a resource limit affect only this process, which
    // runs this one test.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut lim: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim), 0);
        lim.rlim_cur = bytes;
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

/// A feature store of `rows` rows of 256 floats.
fn store(rows: usize, value: f32) -> FeatureWriter {
    let ids: Vec<String> = (0..rows).map(|i| format!("r{i:05}")).collect();
    let mut w = FeatureWriter::new(ids, &"0".repeat(64)).unwrap();
    w.add_f32("x", &[rows, 256], &vec![value; rows * 256])
        .unwrap();
    w
}

/// A small Phase II trainer (the tiny backbone) whose checkpoint is a few hundred kilobytes.
fn trainer() -> Trainer {
    let model = ModelConfig {
        backbone: BackboneConfig::tiny(),
        category_feature: 4,
        recipe: RecipeEncoderConfig {
            sentence: 4,
            hidden: 4,
            term: 4,
            embedding: 8,
        },
        classes: Some(3),
    };
    Trainer::new(
        &model,
        &ObjectiveConfig::paper(),
        1e-3,
        seje::nn::adam::AdamKernel::Single,
        tch::Device::Cpu,
        1,
    )
    .unwrap()
}

/// Every file under `dir` with its bytes, by relative path.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The files of `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn writers_on_a_full_file_system_fail_by_name_and_keep_the_previous_file() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("state.json");
    let features = dir.path().join("term.safetensors");
    // The previous complete files, written while there is room.
    write_atomic(&json, b"{\"epoch\": 1}").unwrap();
    store(4, 1.0).write(&features).unwrap();
    let before_json = std::fs::read(&json).unwrap();
    let before_store = std::fs::read(&features).unwrap();
    // A Phase I epoch checkpoint (1 MB of variables) and a Phase II run directory's checkpoint.
    let ckpt_dir = dir.path().join("phase1/checkpoint");
    let ckpt = EpochCheckpoint::create(&ckpt_dir).unwrap();
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _x = vs.root().var("x", &[1000, 256], tch::nn::Init::Const(1.0));
    let epoch = |n: usize| EpochState::<u32> {
        fingerprint: "f".into(),
        epochs_done: n,
        records: (0..n as u32).collect(),
    };
    ckpt.save(&vs, &[], &epoch(1)).unwrap();
    let paper = Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/configs/paper.toml");
    let run = RunDir::open(
        &dir.path().join("run"),
        &TrainConfig::load(&paper, &[]).unwrap(),
        false,
        false,
    )
    .unwrap();
    let t = trainer();
    run.save_checkpoint("last", &t, &TrainState::start())
        .unwrap();
    let before_phase1 = tree(&dir.path().join("phase1"));
    let before_run = tree(&dir.path().join("run/checkpoints"));
    let before_listing = listing(dir.path());

    limit_file_size(64 * 1024);

    // The epoch checkpoint of the next epoch: its 1 MB model does not fit.
    let err = ckpt.save(&vs, &[], &epoch(2)).expect_err("past the limit");
    let text = errors::chain(&err);
    assert!(
        text.contains(".checkpoint.partial/model.safetensors"),
        "names the file: {text}"
    );
    assert_eq!(
        tree(&dir.path().join("phase1")),
        before_phase1,
        "the epoch-1 checkpoint stays, whole, and no partial folder is left"
    );
    // The run directory's `last` checkpoint.
    let err = run
        .save_checkpoint("last", &t, &TrainState::start())
        .expect_err("past the limit");
    let text = errors::chain(&err);
    assert!(
        text.contains(".last.partial/model.safetensors"),
        "names the file: {text}"
    );
    assert_eq!(
        tree(&dir.path().join("run/checkpoints")),
        before_run,
        "the previous `last` stays, whole, and no partial folder is left"
    );

    // An atomic file of 1 MiB.
    let err = write_atomic(&json, &vec![b' '; 1 << 20]).expect_err("past the limit");
    let text = errors::chain(&err);
    assert!(text.contains("state.json"), "names the file: {text}");
    assert!(
        text.to_lowercase().contains("file too large"),
        "says why: {text}"
    );
    // A feature store of 1,000 × 256 floats (1 MB).
    let err = store(1000, 2.0)
        .write(&features)
        .expect_err("past the limit");
    let text = errors::chain(&err);
    assert!(text.contains("term.safetensors"), "names the file: {text}");

    assert_eq!(
        std::fs::read(&json).unwrap(),
        before_json,
        "the old state.json stays"
    );
    assert_eq!(
        std::fs::read(&features).unwrap(),
        before_store,
        "the old store stays"
    );
    assert_eq!(
        listing(dir.path()),
        before_listing,
        "no temporary file is left"
    );
    let reopened = seje::data::feature_store::FeatureStore::open(&features).unwrap();
    assert_eq!(reopened.ids().len(), 4);
}
