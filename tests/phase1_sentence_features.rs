//! `seje features sentences` on `fixtures/recipe1m-mini`: every row with the right shapes and
//! counts, byte-identical reruns with one seed, a run killed after an epoch and resumed equals an
//! uninterrupted one, a checkpoint from other settings is refused, the loss falls, Phase II reads
//! the result, the command line.
//!
//! Spec: spec/phase1-sentence-features.md.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fixtures.rs"]
mod fixtures;
use cli::seje;

use std::path::{Path, PathBuf};

use fixtures::recipe1m_mini as mini;
use seje::data::feature_store::FeatureStore;
use seje::data::pairs;
use seje::phase1::sentence_features::{
    write_sentence_features, SentenceFeaturesConfig, SentenceFeaturesSummary, ABORT_ENV,
    CHECKPOINT_DIR, SENTENCES_FILE,
};
use seje::phase1::text_features::{write_text_features, TextFeaturesConfig, VECTORS_FILE};
use seje::phase1::word2vec::Word2VecConfig;
use tch::Device;

/// Word vectors of the fixture (16-d), trained once per test into `dir`.
fn vectors(dir: &Path) -> PathBuf {
    let cfg = TextFeaturesConfig {
        word2vec: Word2VecConfig {
            size: 16,
            iter: 2,
            min_count: 2,
            threads: 1,
            ..Word2VecConfig::paper()
        },
        ..TextFeaturesConfig::default()
    };
    write_text_features(&mini(), dir, &cfg, &|_, _| {}).expect("text features");
    dir.join(VECTORS_FILE)
}

fn small() -> SentenceFeaturesConfig {
    SentenceFeaturesConfig {
        hidden: 12,
        vocab: 50,
        epochs: 3,
        batch: 32,
        lr: 3e-3,
        ..SentenceFeaturesConfig::default()
    }
}

fn run(w2v: &Path, out: &Path, cfg: &SentenceFeaturesConfig) -> SentenceFeaturesSummary {
    // One libtorch thread, as the CLI runs with --threads 1 in the resume test.
    tch::set_num_threads(1);
    write_sentence_features(
        &mini(),
        &seje::data::splits::SplitRule::ValidCount,
        w2v,
        out,
        None,
        cfg,
        Device::Cpu,
        false,
        &|_, _| {},
    )
    .expect("sentence features")
}

#[test]
fn every_row_is_written_and_the_same_seed_gives_the_same_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w2v = vectors(&dir.path().join("text"));
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let sa = run(&w2v, &a, &small());
    let sb = run(&w2v, &b, &small());
    assert_eq!(sa.recipes, 160);
    assert_eq!(sa.losses.len(), 3);
    assert_eq!(sa.losses, {
        let mut l = sb.losses.clone();
        for (x, y) in l.iter_mut().zip(&sa.losses) {
            x.seconds = y.seconds;
        }
        l
    });
    assert!(
        sa.losses[2].loss < sa.losses[0].loss,
        "the next-sentence loss falls: {:?}",
        sa.losses
    );
    let (x, y) = (
        std::fs::read(a.join(SENTENCES_FILE)).unwrap(),
        std::fs::read(b.join(SENTENCES_FILE)).unwrap(),
    );
    assert!(x == y, "two runs with one seed differ");
    for f in ["model.safetensors", "optim.safetensors"] {
        assert!(
            std::fs::read(a.join(CHECKPOINT_DIR).join(f)).unwrap()
                == std::fs::read(b.join(CHECKPOINT_DIR).join(f)).unwrap(),
            "{f} differs"
        );
    }

    let store = FeatureStore::open(&a.join(SENTENCES_FILE)).expect("store");
    let (dataset, _) = pairs::open(&mini()).unwrap();
    let ids: Vec<String> = dataset.rows().into_iter().map(|(id, _)| id).collect();
    assert_eq!(store.ids(), ids.as_slice());
    assert_eq!(store.info("f_sent").unwrap().shape, vec![160, 20, 12]);
    let lengths: Vec<i64> = store
        .bytes("lengths")
        .unwrap()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    // The fixture's instruction counts, capped at 20.
    let mut want = std::collections::HashMap::new();
    seje::data::recipe1m::read_layer1(&mini(), |r| {
        want.insert(r.id.clone(), r.instructions.len().min(20) as i64);
        Ok(())
    })
    .unwrap();
    let f: Vec<f32> = store
        .bytes("f_sent")
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    for (row, id) in ids.iter().enumerate() {
        assert_eq!(lengths[row], want[id], "{id}");
        for j in 0..20 {
            let v = &f[(row * 20 + j) * 12..(row * 20 + j + 1) * 12];
            let zero = v.iter().all(|&x| x == 0.0);
            assert_eq!(zero, j as i64 >= lengths[row], "{id} sentence {j}");
        }
    }
}

#[test]
fn a_run_killed_after_an_epoch_resumes_to_the_same_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w2v = vectors(&dir.path().join("text"));
    let whole = dir.path().join("whole");
    run(&w2v, &whole, &small());

    // Killed after epoch 1 (a separate process, aborted by signal).
    let killed = dir.path().join("killed");
    let out = seje()
        .env(ABORT_ENV, "1")
        .args(["--log", "warn", "features", "sentences", "--root"])
        .arg(mini())
        .arg("--w2v")
        .arg(&w2v)
        .arg("--out")
        .arg(&killed)
        .args([
            "--hidden", "12", "--vocab", "50", "--epochs", "3", "--batch", "32",
        ])
        .args(["--lr", "3e-3", "--threads", "1"])
        .output()
        .expect("seje runs");
    assert!(!out.status.success(), "the run should have aborted");
    assert!(!killed.join(SENTENCES_FILE).exists());
    let state = std::fs::read_to_string(killed.join(CHECKPOINT_DIR).join("state.json")).unwrap();
    assert!(state.contains("\"epochs_done\": 1"), "{state}");

    let resumed = run(&w2v, &killed, &small());
    assert_eq!(resumed.resumed_from, 1);
    assert_eq!(resumed.losses.len(), 3);
    for f in [
        SENTENCES_FILE.to_string(),
        format!("{CHECKPOINT_DIR}/model.safetensors"),
        format!("{CHECKPOINT_DIR}/optim.safetensors"),
    ] {
        assert!(
            std::fs::read(whole.join(&f)).unwrap() == std::fs::read(killed.join(&f)).unwrap(),
            "{f}: resumed differs from uninterrupted"
        );
    }

    // A checkpoint from other settings is refused, then --force starts over.
    let other = SentenceFeaturesConfig {
        lr: 1e-3,
        ..small()
    };
    let e = write_sentence_features(
        &mini(),
        &seje::data::splits::SplitRule::ValidCount,
        &w2v,
        &killed,
        None,
        &other,
        Device::Cpu,
        false,
        &|_, _| {},
    )
    .expect_err("other settings");
    assert!(e.to_string().contains("--force"), "{e}");
    let s = write_sentence_features(
        &mini(),
        &seje::data::splits::SplitRule::ValidCount,
        &w2v,
        &killed,
        None,
        &other,
        Device::Cpu,
        true,
        &|_, _| {},
    )
    .expect("forced");
    assert_eq!(s.resumed_from, 0);
}

#[test]
fn phase_two_reads_the_sentences_next_to_the_other_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w2v = vectors(&dir.path().join("text"));
    let feats = dir.path().join("features");
    let stand_in = seje::phase1::stand_in::StandInConfig {
        term_dim: 16,
        sentence_dim: 12,
        ..Default::default()
    };
    seje::phase1::stand_in::write_features(&mini(), &feats, &stand_in).expect("stand-in");
    run(&w2v, &feats, &small());
    let cfg = seje::phase2::config::TrainConfig::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/configs/fixture-mini.toml"),
        &["model.term=16".to_string(), "model.sentence=12".to_string()],
    )
    .expect("config");
    seje::phase2::inputs::PhaseTwoInputs::open(&feats, &cfg.model).expect("Phase II opens them");
}

#[test]
fn errors_name_the_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = write_sentence_features(
        &mini(),
        &seje::data::splits::SplitRule::ValidCount,
        &dir.path().join("missing.bin"),
        dir.path(),
        None,
        &small(),
        Device::Cpu,
        false,
        &|_, _| {},
    )
    .expect_err("no vectors");
    assert!(e.to_string().contains("missing.bin"), "{e}");
}

#[test]
fn from_t7_converts_only_files_that_hold_every_recipe() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The committed im2recipe-layout sample holds other recipes than the fixture.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/t7/encs_sample.t7");
    std::fs::copy(&sample, dir.path().join("encs_train_1024.t7")).unwrap();
    let out = seje()
        .args(["--log", "warn", "features", "sentences", "--root"])
        .arg(mini())
        .arg("--from-t7")
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .expect("seje runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (dataset, _) = pairs::open(&mini()).unwrap();
    let first = &dataset.rows()[0].0;
    assert!(stderr.contains(first.as_str()), "{stderr}");

    let empty = tempfile::tempdir().expect("temp dir");
    let out = seje()
        .args(["features", "sentences", "--root"])
        .arg(mini())
        .arg("--from-t7")
        .arg(empty.path())
        .arg("--out")
        .arg(empty.path())
        .output()
        .expect("seje runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("encs_{train,val,test}_1024.t7"));
}
