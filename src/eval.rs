//! Evaluation: MedR and R@1/5/10 for image→recipe and recipe→image retrieval on 1K and 10K test
//! subsets and the 10K–50K scaling sweep, exactly as the authors' `test.py` computes them, plus
//! two other protocols of the literature for comparison.
//!
//! Spec: spec/eval-protocol.md (protocols, ranking, inputs, output) and
//! spec/eval-cpython-sampling.md (the subsets). Paper: evaluation section and the MedR-vs-size
//! figure (§6 in our reconstruction; the paper's numbering is not verified).
//!
//! Parts: [`crate::cpython_random`] draws the subsets, [`ranking`] computes ranks in blocks with exact
//! tie handling, [`protocol`] runs a protocol over sizes and subsets, [`embeddings`] and [`npy`]
//! read and write the inputs, [`report`] renders the table, [`significance`] tests whether a
//! model learned anything (a permutation test on the ranks), [`synthetic_reference`] builds the
//! synthetic benchmark's oracle and category-ceiling rankings from the generator's truth, and
//! [`phase1_truth`] measures the Phase I outputs of that benchmark against the same truth.

pub mod embeddings;
pub mod npy;
pub mod phase1_truth;
pub mod protocol;
pub mod ranking;
pub mod report;
pub mod significance;
pub mod synthetic_reference;

pub use embeddings::Embeddings;

pub use protocol::{evaluate, EvalConfig, EvalReport, Protocol};
