//! The command line's modules, one per command group; each holds its commands' arguments and a
//! `run` that calls the library and prints what it returns. `main.rs` only parses and
//! dispatches; only these modules print or draw.
//!
//! Spec: spec/README.md (commands; architecture rules).

pub mod args;
pub mod bench;
pub mod data;
pub mod eval;
pub mod features;
pub mod progress;
pub mod retrieval;
pub mod train;
