//! Phase II: the joint embedding (image encoder, recipe encoder, losses, training).
//!
//! Spec: spec/phase2-embedding-space.md (the shared space; the encoders and losses get their own
//! pages as they are implemented, see spec/README.md).

pub mod authors_import;
pub mod category_alignment;
pub mod config;
pub mod discriminator;
pub mod embed;
pub mod embedding_space;
pub mod image_encoder;
pub mod inputs;
pub mod model;
pub mod objective;
pub mod recipe_encoder;
pub mod report;
pub mod run_dir;
pub mod run_model;
pub mod step;
pub mod throughput;
pub mod trace;
pub mod train;
pub mod triplet;
