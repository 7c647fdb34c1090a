//! A training run's directory: resolved config, manifest, `metrics.jsonl`, and checkpoints
//! written atomically so an interrupted run resumes exactly.
//!
//! Spec: spec/phase2-run-directory.md.
//!
//! Layout:
//! ```text
//! RUN/config.toml          resolved configuration (after --set)
//! RUN/manifest.json        code version, libtorch, device, seed, config hash, input checksums
//! RUN/metrics.jsonl        one JSON object per epoch (appended)
//! RUN/checkpoints/last/    model, discriminator, both optimiser states, training state
//! RUN/checkpoints/best/    the same for the best validation score
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::{io, write_atomic};
use crate::phase2::config::TrainConfig;
use crate::phase2::step::Trainer;

/// Where a run stands between epochs: everything the loop needs to continue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainState {
    /// Epochs completed.
    pub epoch: usize,
    /// Iterations completed.
    pub iteration: u64,
    /// Values of the gradient penalty's α stream drawn so far (its position; spec:
    /// phase2-training-step.md).
    #[serde(default)]
    pub alphas_drawn: u64,
    /// 1 before the learning-rate drop, 2 after.
    pub stage: u8,
    /// Epochs since the last improvement of the validation score.
    pub epochs_without_improvement: usize,
    /// Best validation score so far and the epoch that reached it.
    pub best: Option<(f64, usize)>,
    /// Whether the schedule has ended the run.
    pub finished: bool,
}

impl TrainState {
    /// A run that has not started.
    pub fn start() -> Self {
        Self {
            epoch: 0,
            iteration: 0,
            alphas_drawn: 0,
            stage: 1,
            epochs_without_improvement: 0,
            best: None,
            finished: false,
        }
    }
}

/// What produced a run, written once when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Package version.
    pub seje_version: String,
    /// Git commit of the source tree, when it could be read.
    pub git_commit: Option<String>,
    /// Whether the source tree had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// libtorch the binary was built against.
    pub libtorch_version: String,
    /// Device the run uses.
    pub device: String,
    /// The run's seed.
    pub seed: u64,
    /// SHA-256 of the resolved configuration.
    pub config_hash: String,
    /// SHA-256 of every input file the caller listed (feature files, pretrained weights).
    pub inputs: Vec<(String, String)>,
    /// What defined the splits: im2recipe's key files, or which rule (spec/data-recipe1m.md).
    #[serde(default)]
    pub splits: Option<crate::data::splits::SplitSource>,
}

/// A run directory.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The resolved configuration the run in `path` was started with (`config.toml`): what a
    /// resume that names no configuration reads.
    ///
    /// Errors: `path` holds no run.
    pub fn config_of(path: &Path) -> Result<PathBuf> {
        let config_file = path.join("config.toml");
        if !config_file.exists() {
            return Err(Error::Invalid {
                what: format!("run directory {}", path.display()),
                problem: "holds no run to resume (no config.toml)".into(),
            });
        }
        Ok(config_file)
    }

    /// Starts a new run in `path` (which must not hold one) or, with `resume`, reopens one whose
    /// resolved configuration equals `cfg` (unless `force`). Returns the directory and, when
    /// resuming, the configuration hash it was started with.
    pub fn open(path: &Path, cfg: &TrainConfig, resume: bool, force: bool) -> Result<Self> {
        let config_file = path.join("config.toml");
        let exists = config_file.exists();
        if resume {
            Self::config_of(path)?;
            let text = std::fs::read_to_string(&config_file).map_err(io(&config_file))?;
            let old = TrainConfig::parse(&text, &config_file.display().to_string(), &[])?;
            if old.hash() != cfg.hash() && !force {
                return Err(Error::Invalid {
                    what: format!("run directory {}", path.display()),
                    problem: format!(
                        "was started with another configuration (hash {} there, {} now); resume \
                         with the same config and --set values, or force it",
                        &old.hash()[..12],
                        &cfg.hash()[..12]
                    ),
                });
            }
            if old.hash() != cfg.hash() {
                tracing::warn!(path = %path.display(), "resuming with a different configuration (forced)");
                write_atomic(&config_file, cfg.to_toml().as_bytes())?;
            }
        } else {
            if exists {
                return Err(Error::Invalid {
                    what: format!("run directory {}", path.display()),
                    problem: "already holds a run; resume it or choose another directory".into(),
                });
            }
            std::fs::create_dir_all(path.join("checkpoints")).map_err(io(path))?;
            write_atomic(&config_file, cfg.to_toml().as_bytes())?;
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `manifest.json` (replacing an older one).
    pub fn write_manifest(&self, manifest: &Manifest) -> Result<()> {
        let text = serde_json::to_string_pretty(manifest).expect("a manifest serialises");
        write_atomic(&self.path.join("manifest.json"), text.as_bytes())
    }

    /// Appends one JSON line to `metrics.jsonl` and flushes it.
    pub fn append_metrics<T: Serialize>(&self, record: &T) -> Result<()> {
        let file = self.path.join("metrics.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .map_err(io(&file))?;
        let line = serde_json::to_string(record).expect("a metrics record serialises");
        writeln!(f, "{line}").map_err(io(&file))?;
        f.sync_data().map_err(io(&file))
    }

    /// Saves the trainer and `state` as checkpoint `name` (`last`, `best`): everything goes to a
    /// temporary directory first, which then replaces the old checkpoint by renames, so a kill at
    /// any point leaves either the old or the new checkpoint complete.
    pub fn save_checkpoint(&self, name: &str, trainer: &Trainer, state: &TrainState) -> Result<()> {
        let dir = self.path.join("checkpoints");
        let tmp = dir.join(format!(".{name}.partial"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        if let Err(e) = write_checkpoint_files(&tmp, trainer, state) {
            // Best effort: a full disk should not keep the partial copy; the previous checkpoint
            // is untouched either way.
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let target = dir.join(name);
        crate::files::replace_dir(&tmp, &target)?;
        tracing::debug!(checkpoint = %target.display(), epoch = state.epoch, "checkpoint written");
        Ok(())
    }

    /// Loads checkpoint `name` into `trainer` and returns its state. A checkpoint interrupted
    /// between the two renames of [`RunDir::save_checkpoint`] is recovered from `.name.old`.
    pub fn load_checkpoint(&self, name: &str, trainer: &mut Trainer) -> Result<TrainState> {
        let dir = self.path.join("checkpoints");
        let source = crate::files::current_dir(&dir.join(name)).unwrap_or_else(|| dir.join(name));
        let state_file = source.join("state.json");
        let text = std::fs::read_to_string(&state_file).map_err(io(&state_file))?;
        let state: TrainState = serde_json::from_str(&text).map_err(|e| Error::Config {
            origin: state_file.display().to_string(),
            problem: e.to_string(),
        })?;
        let model = source.join("model.safetensors");
        crate::checkpoint::safetensors::check_safetensors(&model)?;
        trainer
            .vs
            .load(&model)
            .map_err(|e| Error::torch_file(&model, e))?;
        trainer.alphas.seek(state.alphas_drawn);
        trainer
            .opt
            .load_state(crate::checkpoint::safetensors::read_safetensors(
                &source.join("optim.safetensors"),
            )?)?;
        if let (Some((dvs, _)), Some(opt_d)) = (&mut trainer.disc, &mut trainer.opt_d) {
            let disc = source.join("disc.safetensors");
            crate::checkpoint::safetensors::check_safetensors(&disc)?;
            dvs.load(&disc).map_err(|e| Error::torch_file(&disc, e))?;
            opt_d.load_state(crate::checkpoint::safetensors::read_safetensors(
                &source.join("optim_disc.safetensors"),
            )?)?;
        }
        Ok(state)
    }

    /// Whether checkpoint `name` exists.
    pub fn has_checkpoint(&self, name: &str) -> bool {
        crate::files::current_dir(&self.path.join("checkpoints").join(name))
            .is_some_and(|d| d.join("state.json").exists())
    }
}

/// The files of one checkpoint, written into the folder `tmp`; every error names its file.
fn write_checkpoint_files(tmp: &Path, trainer: &Trainer, state: &TrainState) -> Result<()> {
    let file = |f: &str| tmp.join(f);
    let named = |f: &str| {
        let path = file(f);
        move |e| Error::torch_file(&path, e)
    };
    trainer
        .vs
        .save(file("model.safetensors"))
        .map_err(named("model.safetensors"))?;
    tch::Tensor::write_safetensors(&trainer.opt.state(), file("optim.safetensors"))
        .map_err(named("optim.safetensors"))?;
    if let (Some((dvs, _)), Some(opt_d)) = (&trainer.disc, &trainer.opt_d) {
        dvs.save(file("disc.safetensors"))
            .map_err(named("disc.safetensors"))?;
        tch::Tensor::write_safetensors(&opt_d.state(), file("optim_disc.safetensors"))
            .map_err(named("optim_disc.safetensors"))?;
    }
    let state_text = serde_json::to_string_pretty(state).expect("a state serialises");
    let state_file = tmp.join("state.json");
    std::fs::write(&state_file, state_text).map_err(|source| Error::Write {
        path: state_file.clone(),
        source,
    })?;
    Ok(())
}

/// The git commit and dirty flag of the source tree this binary was built from, read at run
/// time when that tree is still there (`None` otherwise, e.g. a binary carried to a GPU machine).
pub fn source_version() -> (Option<String>, Option<bool>) {
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]);
    let dirty = commit
        .as_ref()
        .and_then(|_| git(&["status", "--porcelain", "--untracked-files=no"]))
        .map(|s| !s.is_empty());
    (commit, dirty)
}
