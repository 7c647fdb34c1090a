//! Spec operations of phase2-discriminator-alignment.md: the critic loss and the alignment loss from scores.
//!
//! Spec: spec/phase2-discriminator-alignment.md.

use seje::phase2::discriminator::{self as disc, AlignmentForm};
use toml::{Table, Value};

use crate::inputs::{err, scalar, string, tensor};

pub fn critic_loss(ex: &Table) -> Result<Value, String> {
    let (real, fake) = (tensor(ex, "real_scores")?, tensor(ex, "fake_scores")?);
    scalar(&disc::critic_loss(&real, &fake, alignment_form(ex)?).map_err(err)?)
}

pub fn alignment_from_scores(ex: &Table) -> Result<Value, String> {
    let fake = tensor(ex, "fake_scores")?;
    scalar(&disc::alignment_from_scores(&fake, alignment_form(ex)?).map_err(err)?)
}

fn alignment_form(ex: &Table) -> Result<AlignmentForm, String> {
    match string(ex, "form")? {
        "wgan_gp" => Ok(AlignmentForm::WganGp),
        "seje_log" => Ok(AlignmentForm::SejeLog),
        other => Err(format!("unknown form `{other}` (wgan_gp, seje_log)")),
    }
}
