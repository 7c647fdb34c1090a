//! Copying named tensors (a state dict) into a model's variables, with a name mapping and strict
//! checks: every variable filled, no entry left over, shapes equal.
//!
//! Spec: spec/checkpoint-format.md (loading into a model). The mappings themselves belong to the
//! models: torchvision files need none; the authors' checkpoint needs
//! `phase2::model::authors_checkpoint_name`.

use std::collections::BTreeMap;
use std::path::Path;

use tch::{nn, Tensor};

use crate::error::{Error, Result};

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Variables filled.
    pub loaded: usize,
    /// File entries the mapping dropped on purpose (`num_batches_tracked`).
    pub skipped: Vec<String>,
}

/// Copies `tensors` into `vs`. `rename` maps a file name to a variable name, or to `None` for an
/// entry that has no counterpart by design. Every variable must receive exactly one tensor of its
/// shape and every mapped entry must name a variable; values are converted to the variable's
/// dtype and device.
///
/// # Errors
/// [`Error::Checkpoint`] naming the missing variables, the unexpected entries or the first shape
/// mismatch (at most 5 names are listed).
pub fn load_into(
    vs: &nn::VarStore,
    file: &Path,
    tensors: Vec<(String, Tensor)>,
    rename: impl Fn(&str) -> Option<String>,
) -> Result<LoadReport> {
    let mut vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mut skipped = Vec::new();
    let mut unexpected = Vec::new();
    let mut pending = Vec::new();
    for (name, t) in tensors {
        match rename(&name) {
            None => skipped.push(name),
            Some(target) => match vars.remove(&target) {
                Some(var) => {
                    if var.size() != t.size() {
                        return Err(Error::Checkpoint {
                            file: file.to_path_buf(),
                            expected: format!(
                                "`{name}` of shape {:?} (variable `{target}`)",
                                var.size()
                            ),
                            found: format!("shape {:?}", t.size()),
                        });
                    }
                    pending.push((var, t));
                }
                None => unexpected.push(name),
            },
        }
    }
    let list = |names: Vec<String>| {
        let n = names.len();
        let mut shown: Vec<String> = names
            .into_iter()
            .take(5)
            .map(|s| format!("`{s}`"))
            .collect();
        if n > 5 {
            shown.push(format!("and {} more", n - 5));
        }
        shown.join(", ")
    };
    if !vars.is_empty() {
        return Err(Error::Checkpoint {
            file: file.to_path_buf(),
            expected: "a value for every variable of the model".into(),
            found: format!("none for {}", list(vars.into_keys().collect())),
        });
    }
    if !unexpected.is_empty() {
        return Err(Error::Checkpoint {
            file: file.to_path_buf(),
            expected: "only entries the model has".into(),
            found: format!("unexpected {}", list(unexpected)),
        });
    }
    let loaded = pending.len();
    tch::no_grad(|| {
        for (mut var, t) in pending {
            var.copy_(&t.to_kind(var.kind()).to_device(var.device()));
        }
    });
    tracing::debug!(file = %file.display(), loaded, skipped = skipped.len(), "state dict loaded");
    Ok(LoadReport { loaded, skipped })
}

/// torchvision's names need no mapping; only the `num_batches_tracked` counters are dropped (tch's
/// batch norm keeps none).
pub fn torchvision_name(name: &str) -> Option<String> {
    (!name.ends_with("num_batches_tracked")).then(|| name.to_string())
}
