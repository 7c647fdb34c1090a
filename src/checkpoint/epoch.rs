//! The per-epoch checkpoint of an offline training job (Phase I's sentence encoder and image
//! categoriser): variables, optimiser state, per-epoch records and a fingerprint of everything
//! that decides the result, so a killed job resumes where it stopped and a changed one is refused.
//!
//! Spec: spec/phase1-sentence-features.md and spec/phase1-categoriser-training.md (checkpoints
//! and resume).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::{io, write_atomic};

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
/// variables), `optim.safetensors` (the optimiser's state), `metrics.jsonl` and `state.json`,
/// each written through a temporary file and a rename, `state.json` last, so it only ever names
/// a complete checkpoint.
#[derive(Debug, Clone)]
pub struct EpochCheckpoint {
    dir: PathBuf,
}

impl EpochCheckpoint {
    /// The checkpoint in `dir` (created).
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Saves the variables, the optimiser's state and `state`.
    pub fn save<R: Serialize>(
        &self,
        vs: &tch::nn::VarStore,
        optimiser: &[(String, tch::Tensor)],
        state: &EpochState<R>,
    ) -> Result<()> {
        // The `.safetensors` extension stays last: tch picks the format by it.
        let tmp = self.dir.join("model.partial.safetensors");
        vs.save(&tmp).map_err(|e| Error::torch_file(&tmp, e))?;
        std::fs::rename(&tmp, self.dir.join("model.safetensors")).map_err(io(&tmp))?;
        let tmp = self.dir.join("optim.partial.safetensors");
        let named: Vec<(&str, &tch::Tensor)> =
            optimiser.iter().map(|(k, t)| (k.as_str(), t)).collect();
        tch::Tensor::write_safetensors(&named, &tmp).map_err(|e| Error::torch_file(&tmp, e))?;
        std::fs::rename(&tmp, self.dir.join("optim.safetensors")).map_err(io(&tmp))?;
        let mut lines = String::new();
        for r in &state.records {
            lines.push_str(&serde_json::to_string(r).expect("records serialise"));
            lines.push('\n');
        }
        write_atomic(&self.dir.join("metrics.jsonl"), lines.as_bytes())?;
        let json = serde_json::to_string_pretty(state).expect("the state serialises");
        write_atomic(&self.dir.join("state.json"), json.as_bytes())
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
        let state_path = self.dir.join("state.json");
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
        let weights = self.dir.join("model.safetensors");
        vs.load(&weights)
            .map_err(|e| Error::torch_file(&weights, e))?;
        let optim = self.dir.join("optim.safetensors");
        let optimiser =
            tch::Tensor::read_safetensors(&optim).map_err(|e| Error::torch_file(&optim, e))?;
        Ok(Some((saved, optimiser)))
    }
}
