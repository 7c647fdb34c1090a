//! A checkpoint in the authors' layout (DataParallel names, the dict `train.py` saves) loads into
//! our model through the documented name mapping and reproduces their model's outputs.
//!
//! Spec: spec/phase2-encoders.md (the whole model and the authors' checkpoint).

#[path = "support/cli.rs"]
mod cli;

#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/tensors.rs"]
mod tensors;
use tensors::max_abs_diff;

use std::collections::HashMap;
use std::path::PathBuf;

use seje::checkpoint::{load_into, read_state_dict, read_torch_file};
use seje::nn::backbone::BackboneConfig;
use seje::phase2::discriminator::{Discriminator, DiscriminatorConfig};
use seje::phase2::model::{authors_checkpoint_name, JointEmbedding, JointInput, ModelConfig};
use seje::phase2::recipe_encoder::RecipeEncoderConfig;
use tch::{nn, Device, Tensor};

/// The small widths `generate.py` uses.
fn tiny(classes: Option<i64>) -> ModelConfig {
    ModelConfig {
        backbone: BackboneConfig::tiny(),
        category_feature: 4,
        recipe: RecipeEncoderConfig {
            sentence: 6,
            hidden: 6,
            term: 5,
            embedding: 8,
        },
        classes,
    }
}

fn dir() -> PathBuf {
    fixtures::repo().join("fixtures/golden/authors_checkpoint")
}

// Python: AuthorsModel(...).eval()(img, cat, sents, lengths, term) and disc(e_r) (generate.py)
#[test]
fn golden_the_authors_checkpoint_reproduces_their_outputs() {
    let g: HashMap<String, Tensor> = Tensor::read_npz(dir().join("golden.npz"))
        .unwrap()
        .into_iter()
        .collect();
    let cfg = tiny(Some(3));
    let vs = nn::VarStore::new(Device::Cpu);
    let model = JointEmbedding::new(vs.root(), &cfg);
    let file = dir().join("seje_tiny.pth.tar");
    let report = load_into(
        &vs,
        &file,
        read_state_dict(&file, Some("state_dict")).unwrap(),
        authors_checkpoint_name,
    )
    .unwrap();
    assert_eq!(report.loaded, vs.variables().len());
    assert!(
        report
            .skipped
            .iter()
            .all(|n| n.ends_with("num_batches_tracked")),
        "{:?}",
        report.skipped
    );
    let meta = read_torch_file(&file).unwrap();
    assert_eq!(meta.get("epoch").and_then(|v| v.as_int()), Some(7));

    let input = JointInput {
        images: &g["img"],
        category: &g["cat"],
        sentences: &g["sents"],
        lengths: &g["lengths"],
        term: &g["term"],
    };
    let out = tch::no_grad(|| model.forward(&input, false)).unwrap();
    for (what, got, want) in [
        ("e_v", &out.image, &g["e_v"]),
        ("e_r", &out.recipe, &g["e_r"]),
        (
            "image logits",
            out.image_logits.as_ref().unwrap(),
            &g["logits_v"],
        ),
        (
            "recipe logits",
            out.recipe_logits.as_ref().unwrap(),
            &g["logits_r"],
        ),
    ] {
        let d = max_abs_diff(got, want);
        assert!(d <= 1e-5, "{what}: max |ours - theirs| = {d:e}");
    }

    let dvs = nn::VarStore::new(Device::Cpu);
    let disc = Discriminator::new(
        dvs.root(),
        &DiscriminatorConfig {
            input: 8,
            hidden: [4, 2],
            slope: 0.2,
        },
    );
    let dfile = dir().join("seje_tiny_cm.pth.tar");
    load_into(
        &dvs,
        &dfile,
        read_state_dict(&dfile, Some("state_dict")).unwrap(),
        authors_checkpoint_name,
    )
    .unwrap();
    let d = max_abs_diff(
        &tch::no_grad(|| disc.score(&out.recipe)),
        &g["disc_on_recipes"],
    );
    assert!(d <= 1e-5, "discriminator: {d:e}");
}

#[test]
fn a_checkpoint_for_another_model_is_refused_naming_what_is_missing() {
    let cfg = tiny(None);
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = JointEmbedding::new(vs.root(), &cfg);
    let file = dir().join("seje_tiny.pth.tar");
    let err = load_into(
        &vs,
        &file,
        read_state_dict(&file, Some("state_dict")).unwrap(),
        authors_checkpoint_name,
    )
    .unwrap_err()
    .to_string();
    assert!(err.ends_with("expected only entries the model has, found unexpected `semantic_branch.weight`, `semantic_branch.bias`"), "{err}");
}

fn seje() -> assert_cmd::Command {
    cli::seje_logging("warn")
}

/// `seje import-checkpoint` of the tiny authors'-layout checkpoint under the fixture layer, with
/// `extra` arguments.
fn import(run: &std::path::Path, extra: &[&std::ffi::OsStr]) -> assert_cmd::assert::Assert {
    seje()
        .arg("import-checkpoint")
        .arg("--checkpoint")
        .arg(dir().join("seje_tiny.pth.tar"))
        .arg("--config")
        .arg(fixtures::repo().join("paper/configs/fixture-mini.toml"))
        .arg("--run-dir")
        .arg(run)
        .args(extra)
        .assert()
}

#[test]
fn the_authors_checkpoint_becomes_a_run_that_embeds_as_their_model() {
    // Features of the fixture at the checkpoint's widths (f_term 5, sentences 6, f_cat 4, 3
    // classes), so the imported run can embed the fixture's test split.
    let tmp = tempfile::tempdir().unwrap();
    let features = tmp.path().join("features");
    seje::phase1::stand_in::write_features(
        &fixtures::recipe1m_mini(),
        &features,
        &seje::phase1::stand_in::StandInConfig {
            term_dim: 5,
            sentence_dim: 6,
            category_dim: 4,
            classes: 3,
            ..Default::default()
        },
    )
    .unwrap();
    let run = tmp.path().join("run");
    let set = format!("data.features=\"{}\"", features.display());
    let out = import(&run, &["--set".as_ref(), set.as_ref()]).success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains(
            "architecture  tiny backbone, f_cat 4, sentence 6, LSTM hidden 6, f_term 5, \
             embedding 8, 3 classes"
        ),
        "{stdout}"
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("import.json")).unwrap()).unwrap();
    assert_eq!(record["epoch"], 7);
    assert_eq!(record["discriminator"], serde_json::Value::Null);
    assert_eq!(record["fresh_optimiser_state"], true);

    // The run's best checkpoint is the authors' model: their PyTorch outputs on the golden inputs.
    let g: HashMap<String, Tensor> = Tensor::read_npz(dir().join("golden.npz"))
        .unwrap()
        .into_iter()
        .collect();
    let m = seje::phase2::run_model::load_run_model(&run, "best", Some("cpu")).unwrap();
    assert_eq!(m.state.epoch, 7);
    let input = JointInput {
        images: &g["img"],
        category: &g["cat"],
        sentences: &g["sents"],
        lengths: &g["lengths"],
        term: &g["term"],
    };
    let o = tch::no_grad(|| m.trainer.model.forward(&input, false)).unwrap();
    for (what, got, want) in [("e_v", &o.image, &g["e_v"]), ("e_r", &o.recipe, &g["e_r"])] {
        let d = max_abs_diff(got, want);
        assert!(d <= 1e-5, "{what}: max |imported - theirs| = {d:e}");
    }

    // And `seje embed` takes it like any trained run.
    let emb = tmp.path().join("test.safetensors");
    seje()
        .args(["embed", "--split", "test", "--run-dir"])
        .arg(&run)
        .arg("--out")
        .arg(&emb)
        .assert()
        .success();
    let e = seje::eval::Embeddings::read_safetensors(&emb).unwrap();
    assert_eq!((e.n, e.d), (32, 8));
    assert!(e.image.iter().chain(&e.recipe).all(|v| v.is_finite()));
}

#[test]
fn a_checkpoint_with_one_wrong_shape_is_refused_naming_the_tensor() {
    let file = dir().join("seje_tiny.pth.tar");
    let mut tensors = read_state_dict(&file, Some("state_dict")).unwrap();
    let name = "visionMLP.module.4.0.conv1.weight";
    let (_, t) = tensors.iter_mut().find(|(n, _)| n == name).unwrap();
    let good = t.size();
    let mut bad = good.clone();
    bad[0] += 1;
    *t = Tensor::zeros(bad.as_slice(), (tch::Kind::Float, Device::Cpu));
    let e = seje::phase2::authors_import::read_architecture(&tensors, &file)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "closest is tiny, with 1 mismatches: `{name}`: expected shape {good:?}, found {bad:?}"
        )),
        "{e}"
    );
}

#[test]
fn a_discriminator_that_does_not_fit_is_refused_before_the_run_exists() {
    // The tiny discriminator (hidden 4, 2) against the configuration's (hidden 512, 256).
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let cm = dir().join("seje_tiny_cm.pth.tar");
    let out = import(&run, &["--discriminator".as_ref(), cm.as_os_str()]).failure();
    let e = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        e.contains("seje_tiny_cm.pth.tar")
            && e.contains("`module.model.0.weight` of shape [512, 8]"),
        "{e}"
    );
    assert!(e.contains("found shape [4, 8]"), "{e}");
    assert!(!run.exists(), "nothing is written when the import fails");
}

#[test]
fn every_backbone_is_told_apart_by_its_shapes() {
    // Checkpoints in the authors' names made from our own models at small widths.
    for backbone in ["resnet50", "wide_resnet50_2", "tiny"] {
        let cfg = ModelConfig {
            backbone: BackboneConfig::by_name(backbone).unwrap(),
            ..tiny(Some(3))
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = JointEmbedding::new(vs.root(), &cfg);
        let tensors: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .map(|(n, t)| (seje::phase2::model::authors_name(&n), t))
            .collect();
        let arch =
            seje::phase2::authors_import::read_architecture(&tensors, std::path::Path::new("x"))
                .unwrap();
        assert_eq!(arch.backbone, backbone);
        assert_eq!(
            (
                arch.category_feature,
                arch.sentence,
                arch.hidden,
                arch.term,
                arch.embedding
            ),
            (4, 6, 6, 5, 8)
        );
        assert_eq!(arch.classes, 3);
    }
}
