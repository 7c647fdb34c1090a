//! Training configuration: the paper's file parses, unknown keys and bad overrides are named,
//! overrides change the hash.
//!
//! Spec: spec/phase2-training-config.md.

use seje::phase2::config::TrainConfig;

fn paper_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/configs/paper.toml")
}

#[test]
fn the_paper_config_parses_to_the_authors_values() {
    let cfg = TrainConfig::load(&paper_path(), &[]).unwrap();
    // Relative paths are resolved against the config's directory: the repository root, shown
    // as `REPO` so the snapshot does not depend on where the repository lives.
    let repo = env!("CARGO_MANIFEST_DIR");
    insta::assert_snapshot!("config_paper_resolved", cfg.to_toml().replace(repo, "REPO"));
    assert!(cfg.data.root.starts_with(repo) && cfg.data.root.ends_with("/data/recipe1m"));
    let model = cfg.model.model_config().unwrap();
    assert_eq!(model.backbone.feature_dim(), 2048);
    assert_eq!(cfg.optim.batch_size, 100);
}

#[test]
fn every_paper_key_says_where_it_comes_from() {
    let text = std::fs::read_to_string(paper_path()).unwrap();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with('[') {
            continue;
        }
        let comment = t.split_once('#').map(|(_, c)| c.trim()).unwrap_or("");
        assert!(
            ["code", "paper", "ours"]
                .iter()
                .any(|s| comment.starts_with(s)),
            "paper/configs/paper.toml:{}: `{t}` has no source comment (code:, paper: or ours:)",
            i + 1
        );
    }
}

#[test]
fn overrides_apply_and_change_the_hash() {
    let base = TrainConfig::load(&paper_path(), &[]).unwrap();
    let cfg = TrainConfig::load(
        &paper_path(),
        &[
            "schedule.max_epochs=2".into(),
            "objective.triplet.negatives=instance".into(),
            "run.device=cpu".into(),
        ],
    )
    .unwrap();
    assert_eq!(cfg.schedule.max_epochs, 2);
    assert_eq!(cfg.run.device, "cpu");
    assert_ne!(cfg.hash(), base.hash());
    assert_eq!(
        base.hash(),
        TrainConfig::load(&paper_path(), &[]).unwrap().hash()
    );
}

#[test]
fn unknown_keys_and_bad_values_are_named() {
    let text = std::fs::read_to_string(paper_path()).unwrap();
    let err = TrainConfig::parse(&format!("{text}\n[extra]\nx = 1\n"), "t.toml", &[]).unwrap_err();
    assert!(
        err.to_string().starts_with("t.toml: unknown field `extra`"),
        "{err}"
    );
    let err = TrainConfig::parse(&text, "t.toml", &["schedule.max_epoch=2".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--set schedule.max_epoch=2: no key `schedule.max_epoch` in the config"
    );
    let err = TrainConfig::parse(&text, "t.toml", &["optim.lr=fast".into()]).unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid type: string \"fast\", expected f64"),
        "{err}"
    );
    let err =
        TrainConfig::parse(&text, "t.toml", &["objective.alignment_weight=-1".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "objective.alignment_weight: must be a finite number >= 0, got -1"
    );
    let err = TrainConfig::parse(&text, "t.toml", &["model.backbone=vgg".into()]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("backbone: unknown architecture `vgg`"),
        "{err}"
    );
}
