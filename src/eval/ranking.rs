//! Ranks of the true item for both retrieval directions over one subset of pairs, computed in
//! blocks of query rows so that memory stays bounded, on the CPU or a CUDA device.
//!
//! Spec: spec/eval-protocol.md (ranking, how distances are computed). Authors' code:
//! `test.py::improved_rank_emb` (git-disl/SEJE @ 694a835):
//! rank = 1 + |{j : d(q, j) < d(q, q)}|, the optimistic rank, with image→recipe on the rows of the
//! distance matrix and recipe→image on its columns.
//!
//! How: a float32 matrix product gives every score of a block of rows against the whole gallery.
//! It is used only as a filter: a score below the positive's score by more than a proven bound on
//! the float32 rounding error (`delta`) counts as closer, one above it by more than `delta` as not
//! closer, and the few pairs inside the band are recomputed exactly in float64 from the vectors
//! (differences for the Euclidean distance) and compared with the positive's float64 score. The
//! result is therefore the ranking by float64 scores computed pair by pair, whatever the device.

use rayon::prelude::*;
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

/// Σₖ f(xₖ, yₖ) in float64 over four interleaved lanes (element k goes to lane k mod 4), summed
/// in a fixed order, so that the same pair of vectors always gives the same bits, whichever block
/// or batch it is computed in. Written in chunks of four so that the lanes vectorise.
fn lanes(x: &[f32], y: &[f32], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for l in 0..4 {
            acc[l] += f(f64::from(a[l]), f64::from(b[l]));
        }
    }
    for (l, (a, b)) in xr.iter().zip(yr).enumerate() {
        acc[l] += f(f64::from(*a), f64::from(*b));
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// The exact (float64, pair by pair) score of image `x` against recipe `y`.
pub fn exact_score(measure: Measure, x: &[f32], y: &[f32]) -> f64 {
    match measure {
        Measure::Euclidean => lanes(x, y, |a, b| (a - b) * (a - b)),
        Measure::NegativeDot => -lanes(x, y, |a, b| a * b),
        Measure::Cosine => {
            let nx = lanes(x, x, |a, b| a * b).sqrt();
            let ny = lanes(y, y, |a, b| a * b).sqrt();
            if nx == 0.0 || ny == 0.0 {
                0.0
            } else {
                -lanes(x, y, |a, b| a * b) / (nx * ny)
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
        .map(|r| lanes(r, r, |a, b| a * b).sqrt())
        .fold(0.0, f64::max)
}

/// Twice the worst-case float32 error of a block score, so that a score outside
/// `[p − delta, p + delta]` is on the same side of `p` as the exact score.
fn band(measure: Measure, d: usize, mx: f64, my: f64) -> f64 {
    match measure {
        // a product of length d + 2 over [−2x, ‖x‖², 1]·[y, 1, ‖y‖²]: γ_{d+2} times the sum of
        // the absolute terms, at most (‖x‖ + ‖y‖)², plus one rounding of each norm
        Measure::Euclidean => 2.0 * gamma_f32(d + 4) * (mx + my) * (mx + my),
        Measure::NegativeDot => 2.0 * gamma_f32(d + 1) * mx * my,
        // unit vectors rounded once from float64 (relative error u each), then a product of
        // length d
        Measure::Cosine => 2.0 * gamma_f32(d + 3),
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
    // Query side A and gallery side B such that one product A·Bᵀ is the block of scores:
    // Euclidean [−2x, ‖x‖², 1]·[y, 1, ‖y‖²] = ‖x − y‖²; dot −x·y; cosine −x̂·ŷ. Norms and unit
    // vectors are computed in float64 and rounded once; −2x and −x are exact.
    let (a, bm, width) = sides(measure, &x, &y, d);
    let at = Tensor::from_slice(&a)
        .view([n as i64, width as i64])
        .to_device(dev); // [n, w]
    let bt = Tensor::from_slice(&bm)
        .view([n as i64, width as i64])
        .to_device(dev)
        .transpose(0, 1); // [w, n]
    let lo_col = Tensor::from_slice(&lo).to_device(dev).view([1, n as i64]);
    let hi_col = Tensor::from_slice(&hi).to_device(dev).view([1, n as i64]);

    let mut i2r = vec![1u32; n];
    let mut r2i = vec![1u32; n];
    let mut recomputed = 0usize;
    let rows_per_block = (opts.block_elems / n.max(1)).clamp(1, n.max(1));
    let mut host_block = Vec::new();
    let mut r0 = 0;
    while r0 < n {
        let r1 = (r0 + rows_per_block).min(n);
        let b = (r1 - r0) as i64;
        let s = at.narrow(0, r0 as i64, b).matmul(&bt); // [b, n]
        let block = if dev == Device::Cpu {
            host_block.resize((r1 - r0) * n, 0.0f32);
            s.contiguous().f_copy_data(&mut host_block, (r1 - r0) * n)?;
            let rows_per_task = (r1 - r0).div_ceil(rayon::current_num_threads()).max(1);
            let parts: Vec<Block> = host_block
                .par_chunks(rows_per_task * n)
                .enumerate()
                .map(|(t, part)| classify_host(part, r0 + t * rows_per_task, n, &lo, &hi))
                .collect();
            merge(parts, n)
        } else {
            classify_tensor(&s, r0, &lo_col, &hi_col)?
        };
        for (q, c) in block.i2r_sure.iter().enumerate() {
            i2r[r0 + q] += c;
        }
        for (j, c) in block.r2i_sure.iter().enumerate() {
            r2i[j] += c;
        }
        // the band, exactly: image i against recipe j, compared with the positive of the query
        let exact_less = |&(i, j): &(usize, usize), query: usize| {
            exact_score(measure, &x[i * d..(i + 1) * d], &y[j * d..(j + 1) * d]) < positive[query]
        };
        let hits: Vec<bool> = block
            .i2r_band
            .par_iter()
            .map(|p| exact_less(p, p.0))
            .collect();
        for (&(q, _), hit) in block.i2r_band.iter().zip(hits) {
            i2r[q] += u32::from(hit);
        }
        let hits: Vec<bool> = block
            .r2i_band
            .par_iter()
            .map(|p| exact_less(p, p.1))
            .collect();
        for (&(_, j), hit) in block.r2i_band.iter().zip(hits) {
            r2i[j] += u32::from(hit);
        }
        recomputed += block.i2r_band.len() + block.r2i_band.len();
        r0 = r1;
    }
    tracing::trace!(n, recomputed, delta, "ranked one subset");
    Ok(SubsetRanks {
        image_to_recipe: i2r,
        recipe_to_image: r2i,
        recomputed,
    })
}

/// The two sides of the score product, row-major, and their width.
fn sides(measure: Measure, x: &[f32], y: &[f32], d: usize) -> (Vec<f32>, Vec<f32>, usize) {
    let sq = |r: &[f32]| lanes(r, r, |a, b| a * b);
    match measure {
        Measure::Euclidean => {
            let w = d + 2;
            let (mut a, mut b) = (
                Vec::with_capacity(x.len() / d * w),
                Vec::with_capacity(y.len() / d * w),
            );
            for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact(d)) {
                a.extend(xr.iter().map(|v| -2.0 * v));
                a.extend([sq(xr) as f32, 1.0]);
                b.extend_from_slice(yr);
                b.extend([1.0, sq(yr) as f32]);
            }
            (a, b, w)
        }
        Measure::NegativeDot => (x.iter().map(|v| -v).collect(), y.to_vec(), d),
        Measure::Cosine => {
            let unit = |m: &[f32], sign: f64| -> Vec<f32> {
                m.chunks_exact(d)
                    .flat_map(|r| {
                        let norm = sq(r).sqrt();
                        let f = if norm == 0.0 { 0.0 } else { sign / norm };
                        r.iter().map(move |&v| (f64::from(v) * f) as f32)
                    })
                    .collect()
            };
            (unit(x, -1.0), unit(y, 1.0), d)
        }
    }
}

/// Concatenates the blocks of consecutive row ranges, in order.
fn merge(parts: Vec<Block>, n: usize) -> Block {
    let mut out = Block {
        i2r_sure: Vec::new(),
        r2i_sure: vec![0; n],
        i2r_band: Vec::new(),
        r2i_band: Vec::new(),
    };
    for p in parts {
        out.i2r_sure.extend(p.i2r_sure);
        for (acc, c) in out.r2i_sure.iter_mut().zip(p.r2i_sure) {
            *acc += c;
        }
        out.i2r_band.extend(p.i2r_band);
        out.r2i_band.extend(p.r2i_band);
    }
    out
}

/// An (image, recipe) pair of a subset, by position.
type Pair = (usize, usize);

/// What one block of scores says before the band is resolved.
struct Block {
    /// Per row of the block: gallery items certainly closer than the row's positive.
    i2r_sure: Vec<u32>,
    /// Per column: images of this block certainly closer than the column's positive.
    r2i_sure: Vec<u32>,
    /// (image, recipe) pairs within `delta` of the image query's positive.
    i2r_band: Vec<(usize, usize)>,
    /// (image, recipe) pairs within `delta` of the recipe query's positive.
    r2i_band: Vec<(usize, usize)>,
}

/// One pass over a block of scores on the host: rows `r0..`, `n` columns, row-major.
///
/// The counting is branch-free, so that it vectorises and does not depend on the branch
/// predictor: with scores near their positives (random embeddings put half of a row below it), a
/// branch per comparison mispredicts half the time. Each chunk of eight scores also yields a mask
/// of those inside a band; only a chunk whose mask is not empty (few: the band is a rounding
/// bound) is walked, to list its pairs to recompute. (Walking a whole row whenever it held a band
/// score, as at ab386b9, walked nearly every row of 10K random unit vectors: about 30 of their
/// 10,000 scores lie in the band.)
fn classify_host(s: &[f32], r0: usize, n: usize, lo: &[f32], hi: &[f32]) -> Block {
    let rows = s.len() / n;
    let mut out = Block {
        i2r_sure: vec![0; rows],
        r2i_sure: vec![0; n],
        i2r_band: Vec::new(),
        r2i_band: Vec::new(),
    };
    let (lo_cols, hi_cols) = (&lo[..n], &hi[..n]);
    for (q, row) in s.chunks_exact(n).enumerate() {
        out.i2r_sure[q] = classify_row(
            row,
            r0 + q,
            (lo[r0 + q], hi[r0 + q]),
            (lo_cols, hi_cols),
            &mut out.r2i_sure,
            (&mut out.i2r_band, &mut out.r2i_band),
        );
    }
    out
}

/// The pass of [`classify_host`] over the row of query `query`: adds 1 to `r2i_sure[j]` for each
/// column whose score is below that column's `lo`, returns how many scores are below the row's
/// `lo`, and appends the scores inside the row's band to `bands.0` and those inside their
/// column's band to `bands.1`, in column order. Written over chunks of eight lanes with integer
/// masks so that the compiler vectorises it; the branch on a chunk's band mask is rarely taken.
#[inline]
fn classify_row(
    row: &[f32],
    query: usize,
    (lo_q, hi_q): (f32, f32),
    (lo, hi): (&[f32], &[f32]),
    r2i_sure: &mut [u32],
    bands: (&mut Vec<Pair>, &mut Vec<Pair>),
) -> u32 {
    const L: usize = 8;
    let mut sure = [0u32; L];
    let split = row.len() - row.len() % L;
    let chunks = row[..split]
        .chunks_exact(L)
        .zip(lo[..split].chunks_exact(L))
        .zip(hi[..split].chunks_exact(L))
        .zip(r2i_sure[..split].chunks_exact_mut(L));
    for (c, (((v, lo), hi), col)) in chunks.enumerate() {
        let mut mask = [0u32; L];
        for k in 0..L {
            let x = v[k];
            sure[k] += u32::from(x < lo_q);
            col[k] += u32::from(x < lo[k]);
            mask[k] = (u32::from(x >= lo_q) & u32::from(x <= hi_q))
                | ((u32::from(x >= lo[k]) & u32::from(x <= hi[k])) << 1);
        }
        if mask.iter().fold(0, |a, &m| a | m) != 0 {
            for (k, &m) in mask.iter().enumerate() {
                if m & 1 != 0 {
                    bands.0.push((query, c * L + k));
                }
                if m & 2 != 0 {
                    bands.1.push((query, c * L + k));
                }
            }
        }
    }
    let mut total: u32 = sure.iter().sum();
    for j in split..row.len() {
        let x = row[j];
        total += u32::from(x < lo_q);
        r2i_sure[j] += u32::from(x < lo[j]);
        if x >= lo_q && x <= hi_q {
            bands.0.push((query, j));
        }
        if x >= lo[j] && x <= hi[j] {
            bands.1.push((query, j));
        }
    }
    total
}

/// The same classification with tensor operations, for blocks that live on a CUDA device.
fn classify_tensor(s: &Tensor, r0: usize, lo_col: &Tensor, hi_col: &Tensor) -> Result<Block> {
    let b = s.size()[0];
    let lo_row = lo_col.narrow(1, r0 as i64, b).reshape([b, 1]);
    let hi_row = hi_col.narrow(1, r0 as i64, b).reshape([b, 1]);
    let counts = |t: Tensor, dim: i64| -> Result<Vec<u32>> {
        let v: Vec<i64> = Vec::try_from(
            &t.sum_dim_intlist([dim].as_slice(), false, Kind::Int64)
                .to_device(Device::Cpu),
        )?;
        Ok(v.into_iter().map(|c| c as u32).collect())
    };
    let shift = |v: Vec<(usize, usize)>| v.into_iter().map(|(i, j)| (r0 + i, j)).collect();
    Ok(Block {
        i2r_sure: counts(s.lt_tensor(&lo_row), 1)?,
        r2i_sure: counts(s.lt_tensor(lo_col), 0)?,
        i2r_band: shift(pairs(
            &s.ge_tensor(&lo_row).logical_and(&s.le_tensor(&hi_row)),
        )?),
        r2i_band: shift(pairs(
            &s.ge_tensor(lo_col).logical_and(&s.le_tensor(hi_col)),
        )?),
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
        assert_eq!(r.image_to_recipe, [1, 1]); // image 1 (5, 5) is also equidistant (√41)
    }

    #[test]
    fn host_and_tensor_classification_agree() {
        let s: Vec<f32> = (0..12).map(|i| ((i * 7) % 5) as f32).collect(); // 3 rows × 4 columns
        let lo = [1.0f32, 2.0, 0.5, 3.0];
        let hi = [2.0f32, 2.5, 1.0, 4.0];
        let host = classify_host(&s[4..], 1, 4, &lo, &hi);
        let t = Tensor::from_slice(&s[4..]).view([2, 4]);
        let col = |v: &[f32]| Tensor::from_slice(v).view([1, 4]);
        let dev = classify_tensor(&t, 1, &col(&lo), &col(&hi)).unwrap();
        assert_eq!(host.i2r_sure, dev.i2r_sure);
        assert_eq!(host.r2i_sure, dev.r2i_sure);
        assert_eq!(host.i2r_band, dev.i2r_band);
        assert_eq!(host.r2i_band, dev.r2i_band);
    }

    /// The branch-free pass and its band walk (rows wider than the eight lanes, with a remainder)
    /// classify as the tensor operations do, scores on both edges of every band included.
    #[test]
    fn host_classification_of_wide_rows_agrees_with_tensors() {
        let (rows, n) = (5usize, 21usize);
        let s: Vec<f32> = (0..rows * n)
            .map(|i| ((i * 37 % 23) as f32) / 4.0)
            .collect();
        let lo: Vec<f32> = (0..n).map(|j| ((j * 11 % 17) as f32) / 4.0).collect();
        let hi: Vec<f32> = lo.iter().map(|l| l + 0.5).collect();
        // rows 2.. of a block that starts at row 2 of the subset: lo and hi span the columns
        let host = classify_host(&s[2 * n..], 2, n, &lo, &hi);
        let t = Tensor::from_slice(&s[2 * n..]).view([(rows - 2) as i64, n as i64]);
        let col = |v: &[f32]| Tensor::from_slice(v).view([1, n as i64]);
        let dev = classify_tensor(&t, 2, &col(&lo), &col(&hi)).unwrap();
        assert!(!host.i2r_band.is_empty() && !host.r2i_band.is_empty());
        assert_eq!(host.i2r_sure, dev.i2r_sure);
        assert_eq!(host.r2i_sure, dev.r2i_sure);
        assert_eq!(host.i2r_band, dev.i2r_band);
        assert_eq!(host.r2i_band, dev.r2i_band);
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
