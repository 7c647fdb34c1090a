//! The joint embedding space: row-wise L2 normalisation and the two Euclidean distances used on it.
//!
//! Spec: spec/phase2-embedding-space.md. Paper: both encoders end in a normalisation layer and
//! retrieval ranks by distance in the shared space (Phase II, §5 — the paper's numbering is not
//! verified). Authors' code: `trijoint.py::norm` (`trijoint.py:25-26`),
//! `triplet_loss.py::euclidean_dist` (`triplet_loss.py:32-42`), `test.py::improved_rank_emb`
//! (git-disl/SEJE @ 694a835).
//!
//! Two distance forms exist in the authors' code and both are kept, because they differ for
//! (near-)identical vectors:
//! - the **loss form** expands ‖x − y‖² = ‖x‖² + ‖y‖² − 2x·y and clamps it at 1e-12 before the
//!   square root (so d(x, x) = 1e-6 and the gradient is finite);
//! - the **exact form** is `np.linalg.norm(x - y)` as the evaluation computes it.

use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// The floor of the L2 norm in [`l2_normalize`] (`torch.nn.functional.normalize`'s `eps`).
pub const NORM_EPS: f64 = 1e-12;

/// The floor of the squared distance in [`pairwise_distance_loss_form`] (`triplet_loss.py`).
pub const SQUARED_DISTANCE_FLOOR: f64 = 1e-12;

fn check_matrix(what: &str, t: &Tensor) -> Result<(i64, i64)> {
    match t.size()[..] {
        [n, d] => Ok((n, d)),
        _ => Err(Error::Shape {
            what: what.to_string(),
            expected: "[n, d]".into(),
            got: t.size(),
        }),
    }
}

fn check_pair(x: &Tensor, y: &Tensor) -> Result<()> {
    let (_, dx) = check_matrix("first embedding set", x)?;
    let (_, dy) = check_matrix("second embedding set", y)?;
    if dx != dy {
        return Err(Error::Shape {
            what: "second embedding set".into(),
            expected: format!("[m, {dx}] (same width as the first set)"),
            got: y.size(),
        });
    }
    Ok(())
}

/// norm(x) = x / max(‖x‖₂, 1e-12), row by row. A zero row stays zero.
///
/// # Shapes
/// `x: [n, d]` → `[n, d]`
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    check_matrix("embeddings to normalise", x)?;
    let norm = x
        .norm_scalaropt_dim(2, [1i64].as_slice(), true)
        .clamp_min(NORM_EPS); // [n, 1]
    Ok(x / norm)
}

/// D_ij = sqrt(max(‖x_i‖² + ‖y_j‖² − 2 x_i·y_j, 1e-12)): the distance of the triplet loss.
///
/// # Shapes
/// `x: [n, d]`, `y: [m, d]` → `[n, m]`
pub fn pairwise_distance_loss_form(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    check_pair(x, y)?;
    let xx = x
        .pow_tensor_scalar(2)
        .sum_dim_intlist([1i64].as_slice(), true, x.kind()); // [n, 1]
    let yy = y
        .pow_tensor_scalar(2)
        .sum_dim_intlist([1i64].as_slice(), true, y.kind()); // [m, 1]
    let cross = x.matmul(&y.transpose(0, 1)); // [n, m]
    Ok((xx + yy.transpose(0, 1) - cross * 2.0)
        .clamp_min(SQUARED_DISTANCE_FLOOR)
        .sqrt())
}

/// D_ij = ‖x_i − y_j‖₂ computed from the differences, as NumPy's `linalg.norm` in the evaluation.
/// Memory is n·m·d elements: this is the reference form; the evaluation module computes the same
/// quantity in blocks.
///
/// # Shapes
/// `x: [n, d]`, `y: [m, d]` → `[n, m]`
pub fn pairwise_distance_exact(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    check_pair(x, y)?;
    let diff = x.unsqueeze(1) - y.unsqueeze(0); // [n, m, d]
    Ok(diff.norm_scalaropt_dim(2, [2i64].as_slice(), false)) // [n, m]
}

/// Converts a row-major matrix to a tensor of `kind` (`Float` or `Double`).
pub fn matrix_to_tensor(rows: &[Vec<f64>], kind: Kind) -> Result<Tensor> {
    let n = rows.len();
    let d = rows.first().map_or(0, Vec::len);
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != d) {
        return Err(Error::Invalid {
            what: format!("matrix row {i}"),
            problem: format!("has {} entries, row 0 has {d}", r.len()),
        });
    }
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Ok(Tensor::from_slice(&flat)
        .view([n as i64, d as i64])
        .to_kind(kind))
}

/// Converts a 2-d tensor back to row-major `f64` rows.
pub fn tensor_to_matrix(t: &Tensor) -> Result<Vec<Vec<f64>>> {
    let (n, d) = check_matrix("matrix", t)?;
    let flat = Vec::<f64>::try_from(&t.to_kind(Kind::Double).contiguous().view([-1]))?;
    Ok(if d == 0 {
        vec![Vec::new(); n as usize]
    } else {
        flat.chunks(d as usize).map(<[f64]>::to_vec).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_matrices_and_width_mismatch() {
        let v = Tensor::from_slice(&[1.0f32, 2.0]);
        let err = l2_normalize(&v).unwrap_err().to_string();
        assert_eq!(
            err,
            "embeddings to normalise: expected shape [n, d], got [2]"
        );
        let x = Tensor::zeros([2, 3], (Kind::Float, tch::Device::Cpu));
        let y = Tensor::zeros([2, 4], (Kind::Float, tch::Device::Cpu));
        let err = pairwise_distance_exact(&x, &y).unwrap_err().to_string();
        assert_eq!(
            err,
            "second embedding set: expected shape [m, 3] (same width as the first set), got [2, 4]"
        );
    }

    #[test]
    fn ragged_rows_are_named() {
        let err = matrix_to_tensor(&[vec![1.0, 2.0], vec![3.0]], Kind::Float).unwrap_err();
        assert_eq!(err.to_string(), "matrix row 1: has 1 entries, row 0 has 2");
    }
}
