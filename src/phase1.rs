//! Phase I: offline feature engineering (key terms, term rating, word2vec, sentence features,
//! image categorisation, category labels).
//!
//! Spec: spec/phase1-categoriser.md (image categorisation; the other components get their pages
//! as they are implemented, see spec/README.md).

pub mod categoriser;
