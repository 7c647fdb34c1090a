//! The per-epoch checkpoint of an offline training job (Phase I's sentence encoder and image
//! categoriser): variables, optimiser state, per-epoch records and a fingerprint of everything
//! that decides the result, so a killed job resumes where it stopped and a changed one is refused.
//!
//! Spec: spec/phase1-sentence-features.md and spec/phase1-categoriser-training.md (checkpoints
//! and resume).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::{current_dir, io, replace_dir};

/// Where an offline training job (the sentence encoder, the categoriser) stands between epochs:
/// the fingerprint of its settings and inputs, the epochs done and one record per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochState<R> {
    /// SHA-256 of everything that decides the job's result.
    pub fingerprint: String,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Every completed epoch's record (what `metrics.jsonl` lists).
    pub records: Vec<R>,
}

/// Named tensors, as an optimiser's state is saved and restored.
pub type NamedTensors = Vec<(String, tch::Tensor)>;

/// The per-epoch checkpoint directory of an offline training job: `model.safetensors` (the
/// variables), `optim.safetensors` (the optimiser's state), `metrics.jsonl` and `state.json`.
/// Each save writes all four into a sibling folder `.NAME.partial`, which then replaces the
/// directory ([`replace_dir`]), so a kill at any point leaves the previous epoch's checkpoint or
/// the new one, never a model of one epoch with the state of another.
#[derive(Debug, Clone)]
pub struct EpochCheckpoint {
    dir: PathBuf,
}

impl EpochCheckpoint {
    /// The checkpoint in `dir` (its parent is created; `dir` itself comes with the first save).
    pub fn create(dir: &Path) -> Result<Self> {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// `.NAME.partial` beside the directory: where a save is written before it replaces it.
    fn partial(&self) -> PathBuf {
        let name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.dir.with_file_name(format!(".{name}.partial"))
    }

    /// Saves the variables, the optimiser's state and `state`.
    pub fn save<R: Serialize>(
        &self,
        vs: &tch::nn::VarStore,
        optimiser: &[(String, tch::Tensor)],
        state: &EpochState<R>,
    ) -> Result<()> {
        let tmp = self.partial();
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|source| Error::Write {
            path: tmp.clone(),
            source,
        })?;
        if let Err(e) = write_epoch_files(&tmp, vs, optimiser, state) {
            // Best effort: a full disk should not keep the partial copy; the previous checkpoint
            // is untouched either way.
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        replace_dir(&tmp, &self.dir)
    }

    /// The saved state if there is one and `force` is off: its fingerprint must equal
    /// `fingerprint` (else an error naming the checkpoint: "it was trained with {what}", `what`
    /// saying what may differ and how to start over); then the variables are loaded into `vs` and the optimiser's
    /// state is returned with it. `None`: start from scratch.
    pub fn resume<R: serde::de::DeserializeOwned>(
        &self,
        fingerprint: &str,
        force: bool,
        what: &str,
        vs: &mut tch::nn::VarStore,
    ) -> Result<Option<(EpochState<R>, NamedTensors)>> {
        let Some(dir) = current_dir(&self.dir) else {
            return Ok(None);
        };
        let state_path = dir.join("state.json");
        if force || !state_path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&state_path).map_err(io(&state_path))?;
        let saved: EpochState<R> = serde_json::from_str(&text).map_err(|e| Error::Invalid {
            what: state_path.display().to_string(),
            problem: e.to_string(),
        })?;
        if saved.fingerprint != fingerprint {
            return Err(Error::Invalid {
                what: format!("checkpoint {}", self.dir.display()),
                problem: format!("it was trained with {what}"),
            });
        }
        let weights = dir.join("model.safetensors");
        super::safetensors::check_safetensors(&weights)?;
        vs.load(&weights)
            .map_err(|e| Error::torch_file(&weights, e))?;
        let optim = dir.join("optim.safetensors");
        let optimiser = super::safetensors::read_safetensors(&optim)?;
        Ok(Some((saved, optimiser)))
    }
}

/// The four files of one save, written into the folder `tmp`; every error names its file.
fn write_epoch_files<R: Serialize>(
    tmp: &Path,
    vs: &tch::nn::VarStore,
    optimiser: &[(String, tch::Tensor)],
    state: &EpochState<R>,
) -> Result<()> {
    let model = tmp.join("model.safetensors");
    vs.save(&model).map_err(|e| Error::torch_file(&model, e))?;
    let optim = tmp.join("optim.safetensors");
    let named: Vec<(&str, &tch::Tensor)> = optimiser.iter().map(|(k, t)| (k.as_str(), t)).collect();
    tch::Tensor::write_safetensors(&named, &optim).map_err(|e| Error::torch_file(&optim, e))?;
    let mut lines = String::new();
    for r in &state.records {
        lines.push_str(&serde_json::to_string(r).expect("records serialise"));
        lines.push('\n');
    }
    let write = |name: &str, bytes: &[u8]| {
        let path = tmp.join(name);
        std::fs::write(&path, bytes).map_err(|source| Error::Write { path, source })
    };
    write("metrics.jsonl", lines.as_bytes())?;
    let json = serde_json::to_string_pretty(state).expect("the state serialises");
    write("state.json", json.as_bytes())
}
