//! Embedding a split with a trained model: eval-mode forward passes over every pair, image 0 of
//! each, in split order, into the evaluation's [`Embeddings`].
//!
//! Spec: spec/phase2-training-loop.md (embeddings). Authors' code: `test.py` runs the best
//! checkpoint in eval mode over the test partition, image index 0 (`data_loader.py:78`),
//! evaluation transforms (`test.py`, as `train.py:147-156`).

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::data::loader::Loader;
use crate::data::pairs;
use crate::data::splits::Partition;
use crate::error::{Error, Result};
use crate::eval::Embeddings;
use crate::phase2::inputs::PhaseTwoInputs;
use crate::phase2::model::JointEmbedding;
use crate::phase2::run_model::{load_run_model, loader, RunModel};

/// Embeds split `split` of a run's dataset with checkpoint `checkpoint` (`best` or `last`) of
/// the run in `run_dir`, on `device` (`cpu`, `cuda`, `cuda:N`; default: the run's device).
pub fn embed_run(
    run_dir: &Path,
    split: Partition,
    checkpoint: &str,
    device: Option<&str>,
) -> Result<Embeddings> {
    let RunModel {
        config: cfg,
        trainer,
        state,
        device,
    } = load_run_model(run_dir, checkpoint, device)?;
    let (mut dataset, report) =
        pairs::open_with(Path::new(&cfg.data.root), &cfg.data.split_rule()?)?;
    let split_pairs = dataset.take_split(split);
    let inputs = PhaseTwoInputs::open(Path::new(&cfg.data.features), &cfg.model)?;
    inputs.check_splits(&report.source)?;
    inputs.check_pairs(&split_pairs)?;
    tracing::info!(
        split = split.as_str(),
        pairs = split_pairs.len(),
        checkpoint,
        epoch = state.epoch,
        "embedding"
    );
    let l = loader(&cfg, split_pairs, false)?;
    embed_split(
        &trainer.model,
        &l,
        &inputs,
        device,
        &format!("{} split", split.as_str()),
        |_| {},
    )
}

/// Embeds every pair `loader` yields (evaluation mode, no shuffling expected) and returns the
/// paired embeddings with their recipe ids. `progress` is told the pairs done after each batch.
pub fn embed_split(
    model: &JointEmbedding,
    loader: &Loader,
    inputs: &PhaseTwoInputs,
    device: Device,
    source: &str,
    mut progress: impl FnMut(usize),
) -> Result<Embeddings> {
    let _guard = tch::no_grad_guard();
    let (mut image, mut recipe, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    let mut d = 0;
    for batch in loader.epoch(0) {
        let batch = batch?;
        let x = inputs.batch(&batch.recipe_ids, &batch.image_indices, device)?;
        let images = batch.images.to_device(device);
        let out = model.forward(&x.joint(&images), false)?;
        d = out.image.size()[1] as usize;
        image.extend(to_vec(&out.image)?);
        recipe.extend(to_vec(&out.recipe)?);
        ids.extend(batch.recipe_ids);
        progress(ids.len());
    }
    if ids.is_empty() {
        return Err(Error::Invalid {
            what: source.into(),
            problem: "no pairs to embed".into(),
        });
    }
    Embeddings::new(source, (ids.len(), d), image, recipe, Some(ids))
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    Ok(Vec::<f32>::try_from(
        &t.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1),
    )?)
}
