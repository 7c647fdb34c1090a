//! Ranks of the true item for both retrieval directions over one subset of pairs, computed in
//! blocks of query rows so that memory stays bounded, on the CPU or a CUDA device.
//!
//! Spec: spec/eval-protocol.md (ranking, how distances are computed). Authors' code:
//! `test.py::improved_rank_emb` (git-disl/SEJE @ 694a835; ../shared/SEJE-SPEC.md §6.2 and A14):
//! rank = 1 + |{j : d(q, j) < d(q, q)}|, the optimistic rank, with image→recipe on the rows of the
//! distance matrix and recipe→image on its columns.
//!
//! How: a float32 matrix product gives every score of a block of rows against the whole gallery.
//! It is used only as a filter: a score below the positive's score by more than a proven bound on
//! the float32 rounding error (`delta`) counts as closer, one above it by more than `delta` as not
//! closer, and the few pairs inside the band are recomputed exactly in float64 from the vectors
//! (differences for the Euclidean distance) and compared with the positive's float64 score. The
//! result is therefore the ranking by float64 scores computed pair by pair, whatever the device.

use tch::{Device, Kind, Tensor};

use super::embeddings::Embeddings;
use crate::error::Result;

/// How a query and a gallery item are compared; smaller scores are closer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// ‖x − y‖² (the same order as ‖x − y‖): SEJE `test.py`, `np.linalg.norm`.
    Euclidean,
    /// −x·y / (‖x‖‖y‖) (the same order as cosine distance): image-to-recipe-transformers.
    Cosine,
    /// −x·y (AdaMine's `fast_distance`, which assumes unit vectors).
    NegativeDot,
}

/// Where and in what pieces the scores are computed.
#[derive(Debug, Clone, Copy)]
pub struct RankOptions {
    /// The device of the matrix products (`Device::Cpu` or `Device::Cuda(i)`).
    pub device: Device,
    /// Upper bound on the elements of one block of scores (rows × gallery size).
    pub block_elems: usize,
}

impl Default for RankOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            block_elems: 1 << 24,
        }
    }
}

/// Ranks (1-based, optimistic) of the true item for every query of a subset, both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubsetRanks {
    /// Image queries over the subset's recipes.
    pub image_to_recipe: Vec<u32>,
    /// Recipe queries over the subset's images.
    pub recipe_to_image: Vec<u32>,
    /// How many pairs fell inside the rounding band and were recomputed in float64.
    pub recomputed: usize,
}

/// Sum of four interleaved lanes in a fixed order, so that the same pair of vectors always gives
/// the same bits, whichever block or batch it is computed in.
fn lanes(d: usize, term: impl Fn(usize) -> f64) -> f64 {
    let mut acc = [0.0f64; 4];
    for k in 0..d {
        acc[k % 4] += term(k);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// The exact (float64, pair by pair) score of image `x` against recipe `y`.
pub fn exact_score(measure: Measure, x: &[f32], y: &[f32]) -> f64 {
    let d = x.len();
    let dot = || lanes(d, |k| f64::from(x[k]) * f64::from(y[k]));
    match measure {
        Measure::Euclidean => lanes(d, |k| {
            let t = f64::from(x[k]) - f64::from(y[k]);
            t * t
        }),
        Measure::NegativeDot => -dot(),
        Measure::Cosine => {
            let nx = lanes(d, |k| f64::from(x[k]) * f64::from(x[k])).sqrt();
            let ny = lanes(d, |k| f64::from(y[k]) * f64::from(y[k])).sqrt();
            if nx == 0.0 || ny == 0.0 {
                0.0
            } else {
                -dot() / (nx * ny)
            }
        }
    }
}

/// γ_n = n·u / (1 − n·u) with u = 2⁻²⁴: the classical bound on the relative error of a float32
/// sum of n products, valid for any summation order, with or without fused multiply-add.
fn gamma_f32(n: usize) -> f64 {
    let nu = n as f64 * f64::from(f32::EPSILON) / 2.0;
    nu / (1.0 - nu)
}

fn max_norm(m: &[f32], d: usize) -> f64 {
    m.chunks(d)
        .map(|r| lanes(d, |k| f64::from(r[k]) * f64::from(r[k])).sqrt())
        .fold(0.0, f64::max)
}

/// Twice the worst-case float32 error of a block score, so that a score outside
/// `[p − delta, p + delta]` is on the same side of `p` as the exact score.
fn band(measure: Measure, d: usize, mx: f64, my: f64) -> f64 {
    match measure {
        Measure::Euclidean => 2.0 * gamma_f32(d + 3) * (mx + my) * (mx + my),
        Measure::NegativeDot => 2.0 * gamma_f32(d + 1) * mx * my,
        // rows are normalised in float32 first: each unit vector carries a relative error of at
        // most γ_{d+3}, the product γ_d more
        Measure::Cosine => 2.0 * (3.0 * gamma_f32(d + 3) + 1e-30),
    }
}

/// Computes the ranks of both directions over the pairs `subset` (indices into `emb`); query `i`
/// of the subset is the image (or recipe) of pair `subset[i]`, and its true item is the recipe (or
/// image) of the same pair.
pub fn subset_ranks(
    emb: &Embeddings,
    subset: &[usize],
    measure: Measure,
    opts: RankOptions,
) -> Result<SubsetRanks> {
    let (n, d) = (subset.len(), emb.d);
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n * d);
    for &i in subset {
        x.extend_from_slice(emb.image_row(i));
        y.extend_from_slice(emb.recipe_row(i));
    }
    let positive: Vec<f64> = (0..n)
        .map(|i| exact_score(measure, &x[i * d..(i + 1) * d], &y[i * d..(i + 1) * d]))
        .collect();
    let delta = band(measure, d, max_norm(&x, d), max_norm(&y, d));
    let lo: Vec<f32> = positive.iter().map(|p| (p - delta) as f32).collect();
    let hi: Vec<f32> = positive.iter().map(|p| (p + delta) as f32).collect();

    let dev = opts.device;
    let to_dev = |m: &[f32]| {
        Tensor::from_slice(m)
            .view([n as i64, d as i64])
            .to_device(dev)
    };
    let (xt, yt) = (to_dev(&x), to_dev(&y)); // [n, d] each
    let (xt, yt) = match measure {
        Measure::Cosine => {
            let unit = |t: &Tensor| {
                let norm = t
                    .norm_scalaropt_dim(2, [1i64].as_slice(), true)
                    .clamp_min(1e-30); // [n, 1]
                t / norm
            };
            (unit(&xt), unit(&yt))
        }
        _ => (xt, yt),
    };
    let yy = (&yt * &yt).sum_dim_intlist([1i64].as_slice(), false, Kind::Float); // [n]
    let yt_t = yt.transpose(0, 1); // [d, n]
    let lo_col = Tensor::from_slice(&lo).to_device(dev).view([1, n as i64]);
    let hi_col = Tensor::from_slice(&hi).to_device(dev).view([1, n as i64]);

    let mut i2r = vec![1u32; n];
    let mut r2i_sure = Tensor::zeros([n as i64], (Kind::Int64, dev));
    let mut r2i = vec![1u32; n];
    let mut recomputed = 0usize;
    let rows_per_block = (opts.block_elems / n.max(1)).clamp(1, n.max(1));
    let mut r0 = 0;
    while r0 < n {
        let r1 = (r0 + rows_per_block).min(n);
        let b = (r1 - r0) as i64;
        let xb = xt.narrow(0, r0 as i64, b); // [b, d]
        let g = xb.matmul(&yt_t); // [b, n]
        let s = match measure {
            Measure::Euclidean => {
                let xx = (&xb * &xb).sum_dim_intlist([1i64].as_slice(), true, Kind::Float); // [b, 1]
                (g * -2.0 + xx) + yy.view([1, n as i64]) // [b, n]
            }
            Measure::Cosine | Measure::NegativeDot => -g,
        };
        let lo_row = lo_col.narrow(1, r0 as i64, b).reshape([b, 1]);
        let hi_row = hi_col.narrow(1, r0 as i64, b).reshape([b, 1]);
        // image → recipe: along the rows
        let sure: Vec<i64> = Vec::try_from(&s.lt_tensor(&lo_row).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Int64,
        ))?;
        for (q, c) in sure.into_iter().enumerate() {
            i2r[r0 + q] += c as u32;
        }
        let in_band = s.ge_tensor(&lo_row).logical_and(&s.le_tensor(&hi_row));
        for (q, j) in pairs(&in_band)? {
            let q = r0 + q;
            recomputed += 1;
            if exact_score(measure, &x[q * d..(q + 1) * d], &y[j * d..(j + 1) * d]) < positive[q] {
                i2r[q] += 1;
            }
        }
        // recipe → image: along the columns, against each column's positive
        r2i_sure += s
            .lt_tensor(&lo_col)
            .sum_dim_intlist([0i64].as_slice(), false, Kind::Int64);
        let in_band = s.ge_tensor(&lo_col).logical_and(&s.le_tensor(&hi_col));
        for (i, j) in pairs(&in_band)? {
            let i = r0 + i;
            recomputed += 1;
            if exact_score(measure, &x[i * d..(i + 1) * d], &y[j * d..(j + 1) * d]) < positive[j] {
                r2i[j] += 1;
            }
        }
        r0 = r1;
    }
    let sure: Vec<i64> = Vec::try_from(&r2i_sure.to_device(Device::Cpu))?;
    for (j, c) in sure.into_iter().enumerate() {
        r2i[j] += c as u32;
    }
    tracing::trace!(n, recomputed, delta, "ranked one subset");
    Ok(SubsetRanks {
        image_to_recipe: i2r,
        recipe_to_image: r2i,
        recomputed,
    })
}

/// The (row, column) positions of the true entries of a 2-d boolean tensor.
fn pairs(mask: &Tensor) -> Result<Vec<(usize, usize)>> {
    let nz: Vec<i64> = Vec::try_from(&mask.nonzero().to_device(Device::Cpu).reshape([-1]))?;
    Ok(nz
        .chunks_exact(2)
        .map(|p| (p[0] as usize, p[1] as usize))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(image: &[f32], recipe: &[f32], d: usize) -> Embeddings {
        Embeddings::new(
            "t",
            (image.len() / d, d),
            image.to_vec(),
            recipe.to_vec(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn ties_count_in_favour_of_the_true_item() {
        // image 0 at the origin; recipes 0 and 1 both at distance 1 from it
        let e = emb(&[0.0, 0.0, 5.0, 5.0], &[1.0, 0.0, 0.0, 1.0], 2);
        let r = subset_ranks(&e, &[0, 1], Measure::Euclidean, RankOptions::default()).unwrap();
        assert_eq!(r.image_to_recipe, [1, 2]);
    }

    #[test]
    fn small_blocks_give_the_same_ranks() {
        let x: Vec<f32> = (0..60).map(|i| ((i * 37 % 11) as f32).sin()).collect();
        let y: Vec<f32> = (0..60).map(|i| ((i * 13 % 7) as f32).cos()).collect();
        let e = emb(&x, &y, 3);
        let all: Vec<usize> = (0..20).rev().collect();
        for m in [Measure::Euclidean, Measure::Cosine, Measure::NegativeDot] {
            let big = subset_ranks(&e, &all, m, RankOptions::default()).unwrap();
            let small = subset_ranks(
                &e,
                &all,
                m,
                RankOptions {
                    block_elems: 7,
                    ..RankOptions::default()
                },
            )
            .unwrap();
            assert_eq!(big, small, "{m:?}");
        }
    }
}
