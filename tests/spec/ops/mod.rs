//! One file of operations per spec page, named after the page (`phase2-adam.md` → `phase2_adam.rs`).
//!
//! Spec: spec/README.md (adding an operation).

pub mod checkpoint_format;
pub mod data_feature_store;
pub mod data_images;
pub mod data_recipe1m;
pub mod data_synthetic_benchmark;
pub mod data_t7;
pub mod eval_cpython_sampling;
pub mod eval_phase1_truth;
pub mod eval_protocol;
pub mod phase1_bert_rating;
pub mod phase1_categoriser_training;
pub mod phase1_category_feature;
pub mod phase1_category_labels;
pub mod phase1_key_terms;
pub mod phase1_pos_tagger;
pub mod phase1_skip_instructions;
pub mod phase1_stand_in;
pub mod phase1_term_feature;
pub mod phase1_term_rating;
pub mod phase1_text;
pub mod phase1_word2vec;
pub mod phase2_adam;
pub mod phase2_backbones;
pub mod phase2_category_alignment;
pub mod phase2_discriminator_alignment;
pub mod phase2_embedding_space;
pub mod phase2_layers;
pub mod phase2_objective;
pub mod phase2_training_config;
pub mod phase2_training_loop;
pub mod phase2_training_step;
pub mod phase2_triplet_loss;
pub mod runtime;
