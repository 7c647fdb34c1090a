//! `seje features categoriser` on `fixtures/food101-mini` with a tiny configuration: every file
//! written, byte-identical reruns with one seed, the training loss falls, the reported accuracy
//! equals a recomputation through the saved weights, a run killed after an epoch and resumed
//! equals an uninterrupted one, a checkpoint from other settings is refused, `--init` (a
//! safetensors file, and a `torch.save` `.pth` through the command) replaces only `fc`,
//! `seje classify` loads the result, errors name the bad input.
//!
//! Spec: spec/phase1-categoriser-training.md. food101-mini has 2 training images per class, too
//! few to generalise: the above-chance accuracy is measured on a generated set (the spec page).

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fixtures.rs"]
mod fixtures;
use cli::seje;

use std::path::{Path, PathBuf};

use fixtures::{food101_mini as mini, serial as lock};
use seje::data::food101::read_food101;
use seje::phase1::categoriser_training::{
    load_trained, train_categoriser, CategoriserTrainingConfig, CategoriserTrainingSummary,
    TrainedInfo, ABORT_ENV, CHECKPOINT_DIR, CLASSES_FILE, INFO_FILE, MODEL_FILE,
};
use tch::{Device, Tensor};

fn small() -> CategoriserTrainingConfig {
    CategoriserTrainingConfig {
        arch: "tiny".into(),
        image_size: 36,
        crop: 32,
        epochs: 12,
        batch: 8,
        lr: 0.05,
        ..CategoriserTrainingConfig::default()
    }
}

fn run(
    out: &Path,
    init: Option<&Path>,
    cfg: &CategoriserTrainingConfig,
) -> CategoriserTrainingSummary {
    let _serial = lock();
    // One libtorch thread, as the CLI runs with --threads 1 in the resume test.
    tch::set_num_threads(1);
    train_categoriser(&mini(), out, init, cfg, Device::Cpu, false, &|_, _| {})
        .expect("categoriser training")
}

fn bytes(p: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(p.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
}

#[test]
fn every_file_is_written_the_loss_falls_and_the_accuracy_is_what_the_weights_give() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let sa = run(&a, None, &small());
    let sb = run(&b, None, &small());
    assert_eq!((sa.classes, sa.train, sa.test), (42, 84, 42));
    assert_eq!(sa.epochs.len(), 12);
    for f in [
        MODEL_FILE.to_string(),
        format!("{CHECKPOINT_DIR}/model.safetensors"),
        format!("{CHECKPOINT_DIR}/optim.safetensors"),
    ] {
        assert!(
            bytes(a.join(&f)) == bytes(b.join(&f)),
            "{f} differs between two runs"
        );
    }
    for (x, y) in sa.epochs.iter().zip(&sb.epochs) {
        assert_eq!((x.loss, x.top1, x.top5), (y.loss, y.top1, y.top5));
    }
    let (first, last) = (sa.epochs[0].loss, sa.epochs[11].loss);
    assert!(
        last < 0.8 * first,
        "the training loss falls: {:?}",
        sa.epochs.iter().map(|e| e.loss).collect::<Vec<_>>()
    );

    // The files: torchvision names with the dataset's fc, the class names, the description.
    let weights = Tensor::read_safetensors(a.join(MODEL_FILE)).unwrap();
    let fc = weights
        .iter()
        .find(|(n, _)| n == "fc.weight")
        .expect("fc.weight");
    assert_eq!(fc.1.size(), vec![42, 256]);
    assert!(weights
        .iter()
        .any(|(n, _)| n == "layer4.0.downsample.1.running_var"));
    let set = read_food101(&mini()).unwrap();
    let names = std::fs::read_to_string(a.join(CLASSES_FILE)).unwrap();
    assert_eq!(names.lines().collect::<Vec<_>>(), set.classes);
    let info: TrainedInfo = serde_json::from_slice(&bytes(a.join(INFO_FILE))).unwrap();
    assert_eq!((info.arch.as_str(), info.classes), ("tiny", 42));
    assert_eq!((info.image_size, info.crop, info.epochs), (36, 32, 12));
    assert_eq!(
        (info.top1, info.top5),
        (sa.epochs[11].top1, sa.epochs[11].top5)
    );

    // The reported test accuracy, recomputed one image at a time through the saved weights.
    let model = load_trained(&a).expect("loads");
    let files: Vec<PathBuf> = set.test.iter().map(|(rel, _)| mini().join(rel)).collect();
    let preds = model.classify(&files, 5).unwrap();
    let (mut top1, mut top5) = (0usize, 0usize);
    for (p, (_, label)) in preds.iter().zip(&set.test) {
        top1 += usize::from(p.top[0].0 == *label as i64);
        top5 += usize::from(p.top.iter().any(|t| t.0 == *label as i64));
        assert_eq!(p.top[0].1, set.classes[p.top[0].0 as usize]);
    }
    assert_eq!(top1 as f64 / 42.0, info.top1);
    assert_eq!(top5 as f64 / 42.0, info.top5);

    // `seje classify` reads the same files.
    let out = seje()
        .args(["--log", "warn", "classify", "--arch", "tiny", "--weights"])
        .arg(a.join(MODEL_FILE))
        .arg("--classes")
        .arg(a.join(CLASSES_FILE))
        .args(["--resize", "36", "--crop", "32", "--top", "1"])
        .arg(&files[0])
        .output()
        .expect("seje runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("1. {}", preds[0].top[0].1)),
        "{text}"
    );
}

#[test]
fn a_run_killed_after_an_epoch_resumes_to_the_same_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = CategoriserTrainingConfig {
        epochs: 3,
        ..small()
    };
    let whole = dir.path().join("whole");
    let uninterrupted = run(&whole, None, &cfg);

    let killed = dir.path().join("killed");
    let out = seje()
        .env(ABORT_ENV, "2")
        .args(["--log", "warn", "features", "categoriser", "--food101"])
        .arg(mini())
        .arg("--out")
        .arg(&killed)
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
        .output()
        .expect("seje runs");
    assert!(!out.status.success(), "the run should have aborted");
    assert!(!killed.join(MODEL_FILE).exists());
    let state = std::fs::read_to_string(killed.join(CHECKPOINT_DIR).join("state.json")).unwrap();
    assert!(state.contains("\"epochs_done\": 2"), "{state}");

    let resumed = run(&killed, None, &cfg);
    assert_eq!(resumed.resumed_from, 2);
    assert_eq!(resumed.epochs.len(), 3);
    for (x, y) in resumed.epochs.iter().zip(&uninterrupted.epochs) {
        assert_eq!(
            (x.loss, x.top1, x.top5, x.lr),
            (y.loss, y.top1, y.top5, y.lr)
        );
    }
    for f in [
        MODEL_FILE.to_string(),
        format!("{CHECKPOINT_DIR}/model.safetensors"),
        format!("{CHECKPOINT_DIR}/optim.safetensors"),
    ] {
        assert!(
            bytes(whole.join(&f)) == bytes(killed.join(&f)),
            "{f}: resumed differs from uninterrupted"
        );
    }

    // A finished checkpoint is reused: no epoch is trained again.
    let again = run(&killed, None, &cfg);
    assert_eq!(again.resumed_from, 3);
    assert!(bytes(whole.join(MODEL_FILE)) == bytes(killed.join(MODEL_FILE)));

    // A checkpoint from other settings is refused, then --force starts over.
    let other = CategoriserTrainingConfig { lr: 0.01, ..cfg };
    let serial = lock();
    let e = train_categoriser(
        &mini(),
        &killed,
        None,
        &other,
        Device::Cpu,
        false,
        &|_, _| {},
    )
    .expect_err("other settings");
    assert!(
        e.to_string().contains("other settings") && e.to_string().contains("--force"),
        "{e}"
    );
    let s = train_categoriser(
        &mini(),
        &killed,
        None,
        &other,
        Device::Cpu,
        true,
        &|_, _| {},
    )
    .expect("forced");
    drop(serial);
    assert_eq!(s.resumed_from, 0);
}

#[test]
fn init_weights_keep_the_trunk_and_get_a_new_fc() {
    let dir = tempfile::tempdir().expect("temp dir");
    // An "ImageNet" tiny classifier with 10 classes, torchvision names.
    let serial = lock();
    tch::manual_seed(7);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let cfg10 = seje::nn::backbone::BackboneConfig::tiny().with_classes(Some(10));
    let _m = seje::nn::backbone::Backbone::new(vs.root(), &cfg10);
    let init = dir.path().join("init.safetensors");
    vs.save(&init).unwrap();
    drop(serial);

    // A learning rate so small the weights cannot move visibly: conv1 stays the init's.
    let cfg = CategoriserTrainingConfig {
        epochs: 1,
        lr: 1e-12,
        ..small()
    };
    let out = dir.path().join("out");
    let s = run(&out, Some(&init), &cfg);
    assert_eq!(s.epochs.len(), 1);
    let before = Tensor::read_safetensors(&init).unwrap();
    let after = Tensor::read_safetensors(out.join(MODEL_FILE)).unwrap();
    let get = |v: &[(String, Tensor)], n: &str| {
        v.iter()
            .find(|(k, _)| k == n)
            .map(|(_, t)| t.shallow_clone())
            .unwrap_or_else(|| panic!("{n}"))
    };
    let diff = (get(&before, "conv1.weight") - get(&after, "conv1.weight"))
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff < 1e-6, "conv1 moved by {diff}");
    assert_eq!(get(&after, "fc.weight").size(), vec![42, 256]);
    let info: TrainedInfo = serde_json::from_slice(&bytes(out.join(INFO_FILE))).unwrap();
    assert!(info.init_sha256.is_some());

    // Weights of another architecture are refused, naming the file.
    let _serial = lock();
    let e = train_categoriser(
        &mini(),
        &dir.path().join("o2"),
        Some(&init),
        &CategoriserTrainingConfig {
            arch: "resnet50".into(),
            ..cfg
        },
        Device::Cpu,
        false,
        &|_, _| {},
    )
    .expect_err("wrong architecture");
    assert!(e.to_string().contains("init.safetensors"), "{e}");
}

#[test]
fn a_torchvision_pth_initialises_the_trunk_through_the_command() {
    // `torch.save` of a tiny torchvision-family classifier with 5 classes (with
    // `num_batches_tracked` entries), as ImageNet's `wide_resnet50_2-95faca4d.pth` is saved.
    let pth =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/classify/tiny_classifier.pth");
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("out");
    let out = seje()
        .args(["--log", "warn", "features", "categoriser", "--food101"])
        .arg(mini())
        .arg("--out")
        .arg(&out_dir)
        .arg("--init")
        .arg(&pth)
        .args(["--arch", "tiny", "--image-size", "36", "--crop", "32"])
        .args([
            "--epochs",
            "1",
            "--batch",
            "8",
            "--lr",
            "1e-12",
            "--threads",
            "1",
        ])
        .output()
        .expect("seje runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("epoch   1   loss") && text.contains("top-5"),
        "{text}"
    );
    let before = seje::checkpoint::read_state_dict(&pth, None).unwrap();
    let after = Tensor::read_safetensors(out_dir.join(MODEL_FILE)).unwrap();
    let find = |v: &[(String, Tensor)], n: &str| {
        v.iter()
            .find(|(k, _)| k == n)
            .map(|(_, t)| t.shallow_clone())
            .unwrap_or_else(|| panic!("{n}"))
    };
    for name in ["conv1.weight", "layer3.0.conv2.weight"] {
        let d = (find(&before, name) - find(&after, name))
            .abs()
            .max()
            .double_value(&[]);
        assert!(d < 1e-6, "{name} moved by {d}");
    }
    assert_eq!(find(&before, "fc.weight").size(), vec![5, 256]);
    assert_eq!(find(&after, "fc.weight").size(), vec![42, 256]);
}

/// A copy of the fixture that the error tests may break.
fn copy_mini(to: &Path) {
    for entry in walk(&mini()) {
        let rel = entry.strip_prefix(mini()).unwrap();
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &dst).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn errors_name_the_bad_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("food");
    copy_mini(&root);
    let train = |root: &Path| {
        train_categoriser(
            root,
            &dir.path().join("out"),
            None,
            &small(),
            Device::Cpu,
            false,
            &|_, _| {},
        )
        .expect_err("should fail")
        .to_string()
    };

    // An image listed in train.txt is missing.
    let first = std::fs::read_to_string(root.join("meta/train.txt")).unwrap();
    let entry = first.lines().next().unwrap().to_string();
    std::fs::remove_file(root.join(format!("images/{entry}.jpg"))).unwrap();
    let e = train(&root);
    assert!(
        e.contains(&format!("images/{entry}.jpg"))
            && e.contains("listed in meta/train.txt but missing"),
        "{e}"
    );

    // A class that classes.txt does not list.
    std::fs::write(root.join("meta/train.txt"), "no_such_class/1\n").unwrap();
    let e = train(&root);
    assert!(
        e.contains("meta/train.txt line 1") && e.contains("no_such_class"),
        "{e}"
    );

    // No classes.txt.
    std::fs::remove_file(root.join("meta/classes.txt")).unwrap();
    let e = train(&root);
    assert!(e.contains("meta/classes.txt: not found"), "{e}");

    // Bad settings.
    let e = train_categoriser(
        &mini(),
        &dir.path().join("out"),
        None,
        &CategoriserTrainingConfig {
            crop: 40,
            ..small()
        },
        Device::Cpu,
        false,
        &|_, _| {},
    )
    .expect_err("crop > image size");
    assert!(e.to_string().contains("resize 36 and crop 40"), "{e}");
}
