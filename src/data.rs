//! The data layer: Recipe1M and Food-101 formats and the synthetic benchmark written in them.
//!
//! Spec: spec/data-synthetic-benchmark.md (the synthetic benchmark; the readers, images and
//! feature store have their own pages).

pub mod synth;
