//! Shared helpers of the PyTorch golden tests: reading a committed `.npz` golden and comparing
//! tensors.
//!
//! Spec: spec/README.md (golden values).
#![allow(dead_code)] // each test crate uses the helpers it needs

use std::collections::HashMap;

use tch::{Kind, Tensor};

/// The arrays of `fixtures/golden/<rel>` by name.
pub fn npz(rel: &str) -> HashMap<String, Tensor> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden")
        .join(rel);
    Tensor::read_npz(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .collect()
}

/// max |a − b| in float64; the shapes must be equal.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    f64::try_from(
        (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
            .abs()
            .max(),
    )
    .expect("a scalar")
}
