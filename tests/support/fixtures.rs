//! Where the committed fixtures are, and the lock that keeps a test binary's seeded model builds
//! apart.
//!
//! Spec: spec/README.md (section "Other kinds of tests").

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `fixtures/recipe1m-mini`: 160 recipes in Recipe1M's format.
pub fn recipe1m_mini() -> PathBuf {
    repo().join("fixtures/recipe1m-mini")
}

/// `fixtures/food101-mini`: a Food-101-format set of 130 photos.
pub fn food101_mini() -> PathBuf {
    repo().join("fixtures/food101-mini")
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the tests of one binary that seed libtorch's generator and then build or step a
/// model. It is not `seje::runtime::torch_rng_lock`: the library takes that lock itself around
/// each seeded build, so a test holding it across a library call would wait on itself.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}
