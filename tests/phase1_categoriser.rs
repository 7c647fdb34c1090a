//! `seje classify` end to end against PyTorch + torchvision: a `.pth` written by `torch.save`,
//! photos preprocessed by Pillow and torchvision, logits compared.
//!
//! Spec: spec/phase1-categoriser.md.

#[path = "support/cli.rs"]
mod cli;

#[derive(serde::Deserialize)]
struct Golden {
    images: Vec<GoldenImage>,
}

#[derive(serde::Deserialize)]
struct GoldenImage {
    file: String,
    logits: Vec<f64>,
}

#[derive(serde::Deserialize)]
struct Prediction {
    top: Vec<(i64, String, f64)>,
    logits: Vec<f64>,
}

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seje() -> assert_cmd::Command {
    let mut cmd = cli::seje();
    cmd.current_dir(root());
    cmd
}

// Python: model.fc(model.features(tf(Image.open(f).convert("RGB")).unsqueeze(0))) (generate.py)
#[test]
fn golden_logits_equal_torchvision_on_the_same_photos() {
    let golden: Golden = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/golden/classify/golden.json")).unwrap(),
    )
    .unwrap();
    let mut cmd = seje();
    cmd.args([
        "classify",
        "--arch",
        "tiny",
        "--weights",
        "fixtures/golden/classify/tiny_classifier.pth",
    ])
    .args(["--resize", "72", "--crop", "64", "--json"]);
    for g in &golden.images {
        cmd.arg(&g.file);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<Prediction> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got.len(), golden.images.len());
    for (p, g) in got.iter().zip(&golden.images) {
        for (a, b) in p.logits.iter().zip(&g.logits) {
            assert!(
                (a - b).abs() <= 1e-5,
                "{}: logit {a} vs torchvision {b}",
                g.file
            );
        }
        assert_eq!(p.top.len(), 5);
        let best = g
            .logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0 as i64;
        assert_eq!(p.top[0].0, best, "{}: top class", g.file);
        let total: f64 = p.top.iter().map(|t| t.2).sum();
        assert!(
            (total - 1.0).abs() < 1e-9,
            "five classes of five: probabilities sum to 1"
        );
    }
}

#[test]
fn weights_of_another_architecture_are_refused_naming_the_entry() {
    let out = seje()
        .args([
            "classify",
            "--arch",
            "resnet50",
            "--weights",
            "fixtures/golden/classify/tiny_classifier.pth",
        ])
        .arg("fixtures/food101-mini/images/apple_pie/1118651.jpg")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: loading resnet50 from fixtures/golden/classify/tiny_classifier.pth: fixtures/golden/classify/tiny_classifier.pth: expected `conv1.weight` of shape [64, 3, 7, 7]"),
        "{err}"
    );
}

#[test]
fn wrong_class_names_and_unreadable_images_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let names = dir.path().join("names.txt");
    std::fs::write(&names, "a\nb\n").unwrap();
    let out = seje()
        .args([
            "classify",
            "--arch",
            "tiny",
            "--weights",
            "fixtures/golden/classify/tiny_classifier.pth",
        ])
        .arg("--classes")
        .arg(&names)
        .arg("fixtures/food101-mini/images/apple_pie/1118651.jpg")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("class names: 2 names for a classifier with 5 classes"));
    let bad = dir.path().join("bad.jpg");
    std::fs::write(&bad, b"not an image").unwrap();
    let out = seje()
        .args([
            "classify",
            "--arch",
            "tiny",
            "--resize",
            "72",
            "--crop",
            "64",
            "--weights",
            "fixtures/golden/classify/tiny_classifier.pth",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("image {}", bad.display())), "{err}");
}

#[test]
fn classify_help_snapshot() {
    let out = seje().args(["classify", "--help"]).output().unwrap();
    insta::assert_snapshot!("cli_classify_help", String::from_utf8(out.stdout).unwrap());
}
