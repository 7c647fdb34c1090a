//! Spec operations of phase2-triplet-loss.md: the loss from distances and from embeddings.
//!
//! Spec: spec/phase2-triplet-loss.md.

use seje::phase2::triplet::{
    triplet_loss as loss, triplet_loss_from_distances as loss_from_distances, NegativeMode,
    TripletConfig,
};
use toml::{Table, Value};

use crate::inputs::{err, float, optional_int_tensor, scalar, string, tensor};

pub fn triplet_loss_from_distances(ex: &Table) -> Result<Value, String> {
    let d = tensor(ex, "d")?;
    let classes = optional_int_tensor(ex, "classes")?;
    let out = loss_from_distances(&d, classes.as_ref(), &triplet_config(ex)?).map_err(err)?;
    scalar(&out.loss)
}

pub fn triplet_loss(ex: &Table) -> Result<Value, String> {
    let classes = optional_int_tensor(ex, "classes")?;
    let (x, y) = (tensor(ex, "images")?, tensor(ex, "recipes")?);
    let out = loss(&x, &y, classes.as_ref(), &triplet_config(ex)?).map_err(err)?;
    scalar(&out.loss)
}

/// `negatives` (instance | class | double), `gamma` (default 16) and `margin` (default 0).
fn triplet_config(ex: &Table) -> Result<TripletConfig, String> {
    let mut cfg = TripletConfig::paper();
    cfg.negatives = NegativeMode::parse(string(ex, "negatives")?).map_err(err)?;
    if let Some(g) = ex.get("gamma") {
        cfg.gamma = float(g, "gamma")?;
    }
    if let Some(m) = ex.get("margin") {
        cfg.margin = float(m, "margin")?;
    }
    Ok(cfg)
}
