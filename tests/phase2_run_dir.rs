//! Run directories: new versus resumed runs, configuration checks, atomic checkpoints.
//!
//! Spec: spec/phase2-run-directory.md.

use seje::nn::backbone::BackboneConfig;
use seje::phase2::config::TrainConfig;
use seje::phase2::model::ModelConfig;
use seje::phase2::objective::ObjectiveConfig;
use seje::phase2::recipe_encoder::RecipeEncoderConfig;
use seje::phase2::run_dir::{RunDir, TrainState};
use seje::phase2::step::Trainer;
use tch::Device;

fn config(overrides: &[&str]) -> TrainConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/configs/paper.toml");
    TrainConfig::load(
        &path,
        &overrides.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )
    .unwrap()
}

fn trainer(seed: u64) -> Trainer {
    seje::runtime::seed_everything(seed, Some(1));
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
        Device::Cpu,
        seed as u32,
    )
    .unwrap()
}

#[test]
fn a_run_directory_is_new_or_resumed_never_both() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let cfg = config(&[]);
    RunDir::open(&run, &cfg, false, false).unwrap();
    assert!(run.join("config.toml").exists());
    let err = RunDir::open(&run, &cfg, false, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("already holds a run; resume it or choose another directory"),
        "{err}"
    );
    RunDir::open(&run, &cfg, true, false).unwrap();
    let other = config(&["schedule.max_epochs=3"]);
    let err = RunDir::open(&run, &other, true, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("was started with another configuration"),
        "{err}"
    );
    RunDir::open(&run, &other, true, true).unwrap();
    let stored = TrainConfig::load(&run.join("config.toml"), &[]).unwrap();
    assert_eq!(
        stored.schedule.max_epochs, 3,
        "a forced resume records the new configuration"
    );
    let err = RunDir::open(&dir.path().join("nothing"), &cfg, true, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("holds no run to resume (no config.toml)"),
        "{err}"
    );
}

#[test]
fn checkpoints_round_trip_and_survive_an_interrupted_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::open(&dir.path().join("run"), &config(&[]), false, false).unwrap();
    let saved = trainer(3);
    let state = TrainState {
        epoch: 4,
        iteration: 77,
        alphas_drawn: 1230,
        stage: 2,
        epochs_without_improvement: 1,
        best: Some((1.25, 3)),
        finished: false,
    };
    run.save_checkpoint("last", &saved, &state).unwrap();
    let mut loaded = trainer(5);
    assert_eq!(run.load_checkpoint("last", &mut loaded).unwrap(), state);
    // The α stream continues where the saved run stood.
    assert_eq!(loaded.alphas.drawn(), 1230);
    assert_eq!(
        loaded.alphas.take(3),
        seje::phase2::step::interpolation_weights(5, 3, 1230)
    );
    for (name, t) in saved.vs.variables() {
        assert!(t.equal(&loaded.vs.variables()[&name]), "{name}");
    }
    // A kill between the two renames leaves only `.last.old`: it is still found.
    let ck = dir.path().join("run/checkpoints");
    std::fs::rename(ck.join("last"), ck.join(".last.old")).unwrap();
    assert!(run.has_checkpoint("last"));
    let mut again = trainer(6);
    assert_eq!(run.load_checkpoint("last", &mut again).unwrap(), state);
    // Saving again replaces it cleanly.
    run.save_checkpoint("last", &saved, &TrainState::start())
        .unwrap();
    assert!(ck.join("last/state.json").exists() && !ck.join(".last.old").exists());
}

#[test]
fn metrics_are_appended_one_line_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::open(&dir.path().join("run"), &config(&[]), false, false).unwrap();
    run.append_metrics(&serde_json::json!({"epoch": 1, "loss": 0.5}))
        .unwrap();
    run.append_metrics(&serde_json::json!({"epoch": 2, "loss": 0.25}))
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    assert_eq!(
        text,
        "{\"epoch\":1,\"loss\":0.5}\n{\"epoch\":2,\"loss\":0.25}\n"
    );
}
