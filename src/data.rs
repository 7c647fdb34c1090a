//! The data layer: Recipe1M's files and images, the paper's image transforms, the batch loader,
//! the dataset check, the feature store for Phase I outputs, and the synthetic benchmark written
//! in the same formats.
//!
//! Spec: spec/data-recipe1m.md (files, splits, inclusion rules), spec/data-images.md (paths,
//! transforms, loader), spec/data-feature-store.md (stored features) and
//! spec/data-synthetic-benchmark.md (the synthetic benchmark) and spec/data-t7.md (Torch7 files,
//! the skip-instructions vectors).

pub mod check;
pub mod feature_store;
pub mod food101;
pub mod ids;
pub mod images;
pub mod json_stream;
pub mod loader;
pub mod pairs;
pub mod recipe1m;
pub mod resample;
pub mod skip_instruction_vectors;
pub mod splits;
pub mod synth;
pub mod t7;
pub mod transforms;
