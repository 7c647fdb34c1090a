//! `seje`: the reproducibility package for SEJE (Xie et al., "Learning Text-Image Joint Embedding
//! for Efficient Cross-Modal Retrieval with Deep Feature Engineering", ACM TOIS 40(4), 2021).
//!
//! Spec: spec/README.md (the index: paper section → spec page → module → tests),
//! spec/deviations.md (every difference from the paper and the authors' code, by id) and
//! spec/authors-code.md (what the authors' released code does, file by file).
//!
//! The crate mirrors the paper's pipeline: Phase I (offline feature engineering), Phase II (joint
//! embedding learning), evaluation, and the data layer. Modules land as their issues are done; the
//! README's status table says which exist.

pub mod checkpoint;
pub mod cpython_random;
pub mod data;
pub mod error;
pub mod eval;
pub mod files;
pub mod html;
pub mod nn;
pub mod phase1;
pub mod phase2;
pub mod retrieval;
pub mod runtime;

pub use error::{Error, Result};
