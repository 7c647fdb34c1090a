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
            ["code:", "paper:", "inferred:", "ours:"]
                .iter()
                .any(|s| comment.starts_with(s)),
            "paper/configs/paper.toml:{}: `{t}` has no source comment (code:, paper:, inferred: \
             or ours:)",
            i + 1
        );
    }
}

fn config_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("paper/configs")
        .join(name)
}

/// The keys of a config file with their comments (`(line number, key line, comment)`).
fn keyed_lines(name: &str) -> Vec<(usize, String, String)> {
    std::fs::read_to_string(config_path(name))
        .unwrap()
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let t = line.trim();
            (!t.is_empty() && !t.starts_with('#') && !t.starts_with('[')).then(|| {
                let comment = t.split_once('#').map(|(_, c)| c.trim()).unwrap_or("");
                (i + 1, t.to_string(), comment.to_string())
            })
        })
        .collect()
}

#[test]
fn every_released_code_key_cites_a_file_and_line() {
    // `file.py:N`: ".py:" followed by a digit.
    let cites = |c: &str| {
        c.match_indices(".py:")
            .any(|(i, _)| c[i + 4..].starts_with(|ch: char| ch.is_ascii_digit()))
    };
    let lines = keyed_lines("authors-code.toml");
    assert!(lines.len() > 30, "{} keys", lines.len());
    for (n, t, comment) in lines {
        if t.starts_with("preset") {
            continue;
        }
        assert!(
            cites(&comment),
            "paper/configs/authors-code.toml:{n}: `{t}` cites no file:line of the released code"
        );
    }
}

#[test]
fn layers_say_why_they_change_a_key() {
    for name in [
        "fixture-mini.toml",
        "synthetic.toml",
        "synthetic-scratch.toml",
    ] {
        let lines = keyed_lines(name);
        assert!(
            lines[0].1.starts_with("extends = "),
            "{name} extends no preset"
        );
        for (n, t, comment) in &lines[1..] {
            assert!(
                comment.starts_with("ours:") || comment.starts_with("tuned:"),
                "paper/configs/{name}:{n}: `{t}` says neither ours: nor tuned:"
            );
        }
    }
}

#[test]
fn the_presets_differ_where_the_spec_says() {
    let flat = |cfg: &TrainConfig| -> std::collections::BTreeMap<String, String> {
        fn walk(
            prefix: &str,
            v: &toml::Value,
            out: &mut std::collections::BTreeMap<String, String>,
        ) {
            match v {
                toml::Value::Table(t) => {
                    for (k, v) in t {
                        let key = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        walk(&key, v, out);
                    }
                }
                other => {
                    out.insert(prefix.to_string(), other.to_string());
                }
            }
        }
        let mut out = std::collections::BTreeMap::new();
        walk(
            "",
            &toml::Value::Table(cfg.to_toml().parse().unwrap()),
            &mut out,
        );
        out
    };
    let paper = flat(&TrainConfig::load(&config_path("paper.toml"), &[]).unwrap());
    let authors = flat(&TrainConfig::load(&config_path("authors-code.toml"), &[]).unwrap());
    assert_eq!(
        paper.keys().collect::<Vec<_>>(),
        authors.keys().collect::<Vec<_>>()
    );
    let differ: Vec<&str> = paper
        .iter()
        .filter(|(k, v)| authors[*k] != **v)
        .map(|(k, _)| k.as_str())
        .collect();
    // spec/phase2-training-config.md, "Presets and layers": the table of differences.
    assert_eq!(
        differ,
        [
            "data.images",
            "objective.alignment_form",
            "objective.triplet.negatives",
            "preset",
            "run.cudnn_benchmark",
        ]
    );
}

#[test]
fn a_layer_changes_only_keys_of_its_preset() {
    let dir = tempfile::tempdir().unwrap();
    let paper = config_path("paper.toml");
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("extends = \"{}\"\n{body}", paper.display())).unwrap();
        p
    };
    let ok = write("ok.toml", "[optim]\nbatch_size = 8\n");
    let cfg = TrainConfig::load(&ok, &[]).unwrap();
    assert_eq!((cfg.optim.batch_size, cfg.preset.as_str()), (8, "paper"));
    // Paths the preset set stay resolved against the preset's directory.
    assert!(
        cfg.data.root.ends_with("/data/recipe1m"),
        "{}",
        cfg.data.root
    );
    assert!(!cfg.data.root.starts_with(&dir.path().display().to_string()));

    let typo = write("typo.toml", "[model]\nbackbon = \"tiny\"\n");
    let err = TrainConfig::load(&typo, &[]).unwrap_err().to_string();
    assert!(
        err.ends_with("no key `model.backbon` in the preset it extends"),
        "{err}"
    );

    let renamed = write("renamed.toml", "preset = \"mine\"\n");
    let err = TrainConfig::load(&renamed, &[]).unwrap_err().to_string();
    assert!(
        err.ends_with("a layer cannot set `preset`: it takes the preset it extends"),
        "{err}"
    );

    let cycle = dir.path().join("cycle.toml");
    std::fs::write(&cycle, "extends = \"cycle.toml\"\n").unwrap();
    let err = TrainConfig::load(&cycle, &[]).unwrap_err().to_string();
    assert!(err.contains("layers of `extends` (a cycle?)"), "{err}");

    // --preset with a path to a preset file.
    let cfg = TrainConfig::load_with_preset(
        &ok,
        Some(config_path("authors-code.toml").to_str().unwrap()),
        &[],
    )
    .unwrap();
    assert_eq!(
        (cfg.optim.batch_size, cfg.preset.as_str()),
        (8, "authors-code")
    );
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

#[test]
fn the_split_rule_and_its_vocabulary_are_checked_together() {
    let paper = TrainConfig::load(&paper_path(), &[]).unwrap();
    assert_eq!(
        paper.data.split_rule,
        seje::data::splits::RuleName::Im2recipe
    );
    assert!(paper.data.split_vocab.ends_with("/data/features/vocab.bin"));
    for (set, problem) in [
        (
            "data.split_vocab=\"\"",
            "data.split_rule = \"im2recipe\" needs data.split_vocab",
        ),
        (
            "data.split_rule=\"valid-count\"",
            "the valid-count rule reads no vocabulary",
        ),
        ("data.split_rule=\"im2recipes\"", "unknown variant"),
    ] {
        let e = TrainConfig::load(&paper_path(), &[set.to_string()]).unwrap_err();
        assert!(e.to_string().contains(problem), "{set}: {e}");
    }
    // The layers keep the valid-count rule their committed measurements used.
    for layer in [
        "fixture-mini.toml",
        "synthetic.toml",
        "synthetic-scratch.toml",
    ] {
        let cfg = TrainConfig::load(&config_path(layer), &[]).unwrap();
        assert_eq!(
            cfg.data.split_rule,
            seje::data::splits::RuleName::ValidCount,
            "{layer}"
        );
    }
}

#[test]
fn with_key_files_the_vocabulary_is_not_read() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("no-such-vocab.bin");
    let sets = |root: &std::path::Path| {
        vec![
            format!("data.root=\"{}\"", root.display()),
            format!("data.split_vocab=\"{}\"", missing.display()),
        ]
    };
    let cfg = TrainConfig::load(&paper_path(), &sets(root.path())).unwrap();
    let e = cfg.data.split_rule().unwrap_err();
    assert!(e.to_string().contains("no-such-vocab.bin"), "{e}");
    let keys =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/recipe1m-splits/keys");
    for f in ["train_keys.pkl", "val_keys.pkl", "test_keys.pkl"] {
        std::fs::copy(keys.join(f), root.path().join(f)).unwrap();
    }
    let rule = cfg.data.split_rule().unwrap();
    assert_eq!(rule.name(), "im2recipe");
}
