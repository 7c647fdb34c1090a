//! Ranks of the true item for both retrieval directions over one subset of pairs, computed in
//! tiles of scores so that memory stays bounded, on the CPU or a CUDA device.
//!
//! Spec: spec/eval-protocol.md (ranking, how distances are computed). Authors' code:
//! `test.py::improved_rank_emb` (git-disl/SEJE @ 694a835):
//! rank = 1 + |{j : d(q, j) < d(q, q)}|, the optimistic rank, with image→recipe on the rows of the
//! distance matrix and recipe→image on its columns.
//!
//! How: a float32 matrix product gives the scores of a tile (for the Euclidean distance −2x·y,
//! to which each direction adds its gallery item's squared norm). They are used only as a
//! filter: a value below the query's target by more than a proven bound on the float32 rounding
//! error (`delta`) counts as closer, one above it by more than `delta` as not closer, and the few
//! pairs inside the band are recomputed exactly in float64 from the vectors (differences for the
//! Euclidean distance) and compared with the positive's float64 score. The result is therefore
//! the ranking by float64 scores computed pair by pair, whatever the device or the tiling. On the
//! CPU each of rayon's threads takes whole tiles: it computes the tile's product on itself alone
//! and counts the tile, band included, while the tile is in its cache.

use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use super::embeddings::Embeddings;
use crate::error::Result;
use crate::runtime::blas_threads::OneBlasThread;

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
    /// Upper bound on the elements of one tile of scores: on the CPU tiles of at most 2048
    /// columns, one per thread at a time (4 bytes each); on a CUDA device blocks of whole rows.
    pub block_elems: usize,
}

impl Default for RankOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            block_elems: 1 << 22,
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
/// in a fixed order, so that the same pair of vectors always gives the same bits, whichever tile
/// or batch it is computed in. Written in chunks of four so that the lanes vectorise.
#[inline(always)]
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

/// [`lanes`] of `x` against four vectors at once, each sum with exactly the operations and order
/// of `lanes(x, ys[p], f)` (so the same bits): four independent chains of additions, which the
/// processor overlaps, where one sum waits on its own additions.
#[inline(always)]
fn lanes4(x: &[f32], ys: [&[f32]; 4], f: impl Fn(f64, f64) -> f64) -> [f64; 4] {
    let [y0, y1, y2, y3] = ys.map(|y| &y[..x.len()]);
    let (mut a0, mut a1, mut a2, mut a3) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
    let chunks = x
        .chunks_exact(4)
        .zip(y0.chunks_exact(4))
        .zip(y1.chunks_exact(4).zip(y2.chunks_exact(4)))
        .zip(y3.chunks_exact(4));
    for (((xs, b0), (b1, b2)), b3) in chunks {
        let v = [xs[0], xs[1], xs[2], xs[3]].map(f64::from);
        for l in 0..4 {
            a0[l] += f(v[l], f64::from(b0[l]));
            a1[l] += f(v[l], f64::from(b1[l]));
            a2[l] += f(v[l], f64::from(b2[l]));
            a3[l] += f(v[l], f64::from(b3[l]));
        }
    }
    let split = x.len() - x.len() % 4;
    for (l, k) in (split..x.len()).enumerate() {
        let v = f64::from(x[k]);
        a0[l] += f(v, f64::from(y0[k]));
        a1[l] += f(v, f64::from(y1[k]));
        a2[l] += f(v, f64::from(y2[k]));
        a3[l] += f(v, f64::from(y3[k]));
    }
    [a0, a1, a2, a3].map(|a| (a[0] + a[1]) + (a[2] + a[3]))
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

/// [`exact_score`] of `x` against four gallery vectors, the same bits as four calls.
#[inline(always)]
fn exact_scores4(measure: Measure, x: &[f32], ys: [&[f32]; 4]) -> [f64; 4] {
    match measure {
        Measure::Euclidean => quad::<true>(x, ys),
        Measure::NegativeDot => quad::<false>(x, ys).map(|s| -s),
        Measure::Cosine => ys.map(|y| exact_score(measure, x, y)),
    }
}

/// [`lanes4`] of (x − y)² (`SQUARED_DIFFERENCE`) or of x·y, with AVX2 where the processor has
/// it.
#[inline(always)]
fn quad<const SQUARED_DIFFERENCE: bool>(x: &[f32], ys: [&[f32]; 4]) -> [f64; 4] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor supports AVX2, checked just above.
        return unsafe { lanes4_avx2::<SQUARED_DIFFERENCE>(x, ys) };
    }
    if SQUARED_DIFFERENCE {
        lanes4(x, ys, |a, b| (a - b) * (a - b))
    } else {
        lanes4(x, ys, |a, b| a * b)
    }
}

/// [`lanes4`] written with AVX2 instructions: each sum's four lanes in one register of four
/// float64, which take element k of their chunk (k mod 4) exactly as [`lanes`] does, with the
/// same float64 operations in the same order (a conversion, then a subtraction and a
/// multiplication or one multiplication, then an addition; no fused multiply-add), so the same
/// bits (unit test `the_avx2_quad_equals_the_portable_lanes`). The compiler does not find this
/// form itself: it keeps the lanes in halves and shuffles.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lanes4_avx2<const SQUARED_DIFFERENCE: bool>(x: &[f32], ys: [&[f32]; 4]) -> [f64; 4] {
    use std::arch::x86_64::{
        __m256d, _mm256_add_pd, _mm256_cvtps_pd, _mm256_mul_pd, _mm256_setzero_pd, _mm256_sub_pd,
        _mm_set_ps,
    };
    let ys = ys.map(|y| &y[..x.len()]);
    let mut acc: [__m256d; 4] = [_mm256_setzero_pd(); 4];
    let split = x.len() - x.len() % 4;
    for k in (0..split).step_by(4) {
        let xv = _mm256_cvtps_pd(_mm_set_ps(x[k + 3], x[k + 2], x[k + 1], x[k]));
        for (a, y) in acc.iter_mut().zip(&ys) {
            let yv = _mm256_cvtps_pd(_mm_set_ps(y[k + 3], y[k + 2], y[k + 1], y[k]));
            let term = if SQUARED_DIFFERENCE {
                let t = _mm256_sub_pd(xv, yv);
                _mm256_mul_pd(t, t)
            } else {
                _mm256_mul_pd(xv, yv)
            };
            *a = _mm256_add_pd(*a, term);
        }
    }
    let mut out = [0.0f64; 4];
    for ((o, a), y) in out.iter_mut().zip(acc).zip(&ys) {
        // SAFETY: a register of four float64 and an array of four float64 have the same size,
        // and every bit pattern is a valid float64.
        let mut lane: [f64; 4] = unsafe { std::mem::transmute::<__m256d, [f64; 4]>(a) };
        for (l, k) in (split..x.len()).enumerate() {
            let (p, q) = (f64::from(x[k]), f64::from(y[k]));
            lane[l] += if SQUARED_DIFFERENCE {
                (p - q) * (p - q)
            } else {
                p * q
            };
        }
        *o = (lane[0] + lane[1]) + (lane[2] + lane[3]);
    }
    out
}

/// γ_n = n·u / (1 − n·u) with u = 2⁻²⁴: the classical bound on the relative error of a float32
/// sum of n products, valid for any summation order, with or without fused multiply-add.
fn gamma_f32(n: usize) -> f64 {
    let nu = n as f64 * f64::from(f32::EPSILON) / 2.0;
    nu / (1.0 - nu)
}

/// The half-width of the rounding band: a bound on how far a float32 filter value (see
/// [`Filter`]) can be from the real number it stands for, plus a margin that covers the float64
/// rounding of the exact scores and of the thresholds' targets. `mx` and `my` are the largest
/// norms of the images and recipes.
fn band(measure: Measure, d: usize, mx: f64, my: f64) -> f64 {
    let u = f64::from(f32::EPSILON) / 2.0;
    let s = (mx + my) * (mx + my);
    // float64 sums of at most d + 2 terms, each bounded by s (or 4 for unit vectors): the
    // positive, a gallery item's exact score, a norm and one subtraction, (3d + 2)·2⁻⁵³·s in all
    // (cosine scores are at most 1 whatever the norms: their own size, not the vectors', counts)
    let size = if measure == Measure::Cosine {
        4.0
    } else {
        s.max(4.0)
    };
    let margin = (d as f64 + 8.0) * 2f64.powi(-50) * size;
    margin
        + match measure {
            // −2x·y in float32: γ_d·2‖x‖‖y‖; the offset ‖y‖² rounded once to float32 (u‖y‖²) and
            // the sum rounded once (u·(‖y‖² + 2‖x‖‖y‖), up to a factor 1 + γ_d): within 4u·s
            // (the same with x and y swapped for the recipe → image values)
            Measure::Euclidean => 2.0 * gamma_f32(d) * mx * my + 4.0 * u * s,
            // −x·y in float32, no offset
            Measure::NegativeDot => gamma_f32(d) * mx * my,
            // unit vectors rounded once from float64 (relative error u each, so 2u + u² on the
            // product), then a float32 product of length d (γ_d·(1 + u)²): within γ_{d+3}
            Measure::Cosine => gamma_f32(d + 3),
        }
}

/// The largest float32 at most `v`.
fn f32_down(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) > v {
        f.next_down()
    } else {
        f
    }
}

/// The smallest float32 at least `v`.
fn f32_up(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) < v {
        f.next_up()
    } else {
        f
    }
}

/// The float32 filter of one subset. A score `g` of the product (image `i`, recipe `j`) gives the
/// value `g + col_off[j]` for the image query `i` and `g + row_off[i]` for the recipe query `j`
/// (the Euclidean offsets are ‖y_j‖² and ‖x_i‖²; zero for the other measures). A value below its
/// query's `lo` is certainly closer than the query's true item, one above its `hi` certainly not;
/// the rest (the band, NaN included) is decided exactly.
struct Filter {
    /// Per image query i: `lo`, `hi` of the image → recipe values.
    row_lo: Vec<f32>,
    row_hi: Vec<f32>,
    /// Per recipe query j: `lo`, `hi` of the recipe → image values.
    col_lo: Vec<f32>,
    col_hi: Vec<f32>,
    /// ‖x_i‖² rounded to float32 (Euclidean; zero otherwise).
    row_off: Vec<f32>,
    /// ‖y_j‖² rounded to float32 (Euclidean; zero otherwise).
    col_off: Vec<f32>,
    /// The band's half-width.
    delta: f64,
}

impl Filter {
    fn new(ex: &Exact) -> Self {
        let (measure, n, d) = (ex.measure, ex.positive.len(), ex.d);
        let squares = |image: bool| -> Vec<f64> {
            (0..n)
                .into_par_iter()
                .map(|q| {
                    let r = ex.row(image, q);
                    lanes(r, r, |a, b| a * b)
                })
                .collect()
        };
        let (nx, ny) = (squares(true), squares(false));
        let max_norm = |sq: &[f64]| sq.iter().copied().fold(0.0, f64::max).sqrt();
        let (mx, my) = (max_norm(&nx), max_norm(&ny));
        // The bound assumes that no float32 sum overflows. Every partial sum of a product and
        // every offset is at most (mx + my)²; past 2¹⁰⁰ (float32 ends near 2¹²⁸) the band is
        // everything and all pairs are decided exactly: slow, and right. Cosine multiplies unit
        // vectors, which cannot overflow.
        let overflows = measure != Measure::Cosine && (mx + my) * (mx + my) >= 2f64.powi(100);
        let delta = if overflows {
            tracing::warn!(
                largest_norms = ?(mx, my),
                "embeddings too large for the float32 filter; every pair is decided in float64"
            );
            f64::INFINITY
        } else {
            band(measure, d, mx, my)
        };
        // only the Euclidean score leaves part of itself out of the product: the squared norms
        let (nx, ny) = match measure {
            Measure::Euclidean => (nx, ny),
            Measure::NegativeDot | Measure::Cosine => (vec![0.0; n], vec![0.0; n]),
        };
        // the value a gallery item must stay under: the positive's score less the query's own
        // squared norm (the part of the distance the product leaves out)
        let bounds = |norms: &[f64]| -> (Vec<f32>, Vec<f32>) {
            ex.positive
                .iter()
                .zip(norms)
                .map(|(p, n)| (f32_down(p - n - delta), f32_up(p - n + delta)))
                .unzip()
        };
        let (row_lo, row_hi) = bounds(&nx);
        let (col_lo, col_hi) = bounds(&ny);
        let off = |norms: &[f64]| norms.iter().map(|&v| v as f32).collect();
        Self {
            row_lo,
            row_hi,
            col_lo,
            col_hi,
            row_off: off(&nx),
            col_off: off(&ny),
            delta,
        }
    }
}

/// What the exact decision of a band entry needs.
struct Exact<'a> {
    measure: Measure,
    /// Embedding width.
    d: usize,
    /// The subset's images and recipes, row-major `[n, d]`: query `q` is pair `subset[q]`.
    images: &'a [f32],
    recipes: &'a [f32],
    /// Each pair's own exact score.
    positive: &'a [f64],
}

impl Exact<'_> {
    /// The image of query `q`.
    fn image(&self, q: usize) -> &[f32] {
        &self.images[q * self.d..(q + 1) * self.d]
    }

    /// The recipe of query `j`.
    fn recipe(&self, j: usize) -> &[f32] {
        &self.recipes[j * self.d..(j + 1) * self.d]
    }

    /// The image (`image`) or the recipe of query `q`.
    fn row(&self, image: bool, q: usize) -> &[f32] {
        if image {
            self.image(q)
        } else {
            self.recipe(q)
        }
    }
}

/// Widest tile on the CPU: with the default `block_elems` a tile is 2048 × 2048 scores (16 MB,
/// half of the project machine's shared cache per thread), large enough for the product to run
/// near its full speed, small enough to be counted from the cache.
const TILE_COLS: usize = 2048;

/// Computes the ranks of both directions over the pairs `subset` (indices into `emb`); query `i`
/// of the subset is the image (or recipe) of pair `subset[i]`, and its true item is the recipe (or
/// image) of the same pair.
pub fn subset_ranks(
    emb: &Embeddings,
    subset: &[usize],
    measure: Measure,
    opts: RankOptions,
) -> Result<SubsetRanks> {
    ranks_by(emb, subset, measure, opts, opts.device != Device::Cpu)
}

/// [`subset_ranks`] by the CPU's tiles or, `on_device`, by the blocks and tensor classification
/// of a CUDA device (also runnable on the CPU, which the tests do).
fn ranks_by(
    emb: &Embeddings,
    subset: &[usize],
    measure: Measure,
    opts: RankOptions,
    on_device: bool,
) -> Result<SubsetRanks> {
    let (n, d) = (subset.len(), emb.d);
    // the subset's vectors, contiguous: the exact scores read them row by row, and the recipes
    // are the product's gallery side as they are (aligned for it)
    let gather = |all: &[f32]| {
        let mut m = Aligned::zeros(n * d);
        m.as_mut_slice()
            .par_chunks_mut(d.max(1))
            .zip(subset.par_iter())
            .for_each(|(out, &i)| out.copy_from_slice(&all[i * d..(i + 1) * d]));
        m
    };
    let (images, recipes) = (gather(&emb.image), gather(&emb.recipe));
    let (images, recipes) = (images.as_slice(), recipes.as_slice());
    let positive: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|q| {
            let (x, y) = (&images[q * d..(q + 1) * d], &recipes[q * d..(q + 1) * d]);
            exact_score(measure, x, y)
        })
        .collect();
    let ex = Exact {
        measure,
        d,
        images,
        recipes,
        positive: &positive,
    };
    let filter = Filter::new(&ex);
    let mut ranks = SubsetRanks {
        image_to_recipe: vec![1u32; n],
        recipe_to_image: vec![1u32; n],
        recomputed: 0,
    };
    if n == 0 {
        return Ok(ranks);
    }
    // Query side A and gallery side B, row-major [n, d], such that A·Bᵀ are the scores before
    // the offsets: Euclidean −2x·y, dot −x·y, cosine −x̂·ŷ (unit vectors computed in float64
    // and rounded once; −2x and −x are exact).
    let (a, b) = sides(&ex);
    let (a, b) = (a.as_slice(), b.as_ref().map_or(recipes, Aligned::as_slice));
    ranks.recomputed = if on_device {
        rank_on_device(a, b, &filter, &ex, opts, &mut ranks)?
    } else {
        rank_on_host(a, b, &filter, &ex, opts.block_elems, &mut ranks)?
    };
    tracing::trace!(
        n,
        recomputed = ranks.recomputed,
        delta = filter.delta,
        "ranked one subset"
    );
    Ok(ranks)
}

/// What one tile adds to the ranks.
struct TileCounts {
    /// The tile's first row and column.
    r0: usize,
    c0: usize,
    /// Per row: gallery items of the tile closer than the row's true recipe.
    rows: Vec<u32>,
    /// Per column: images of the tile closer than the column's true image.
    cols: Vec<u32>,
    /// Pairs decided exactly.
    recomputed: usize,
}

/// The CPU path: the scores in tiles of at most `block_elems` (rows × [`TILE_COLS`] columns),
/// the tiles shared out among rayon's threads. Each thread computes its tile's product on itself
/// alone ([`OneBlasThread`]) and counts the tile, band included, while it is in the cache: no
/// hand-over between the product's threads and the counting's, and no score matrix larger than
/// a tile. Returns how many pairs were decided exactly.
fn rank_on_host(
    a: &[f32],
    b: &[f32],
    filter: &Filter,
    ex: &Exact,
    block_elems: usize,
    ranks: &mut SubsetRanks,
) -> Result<usize> {
    let (n, d) = (ex.positive.len(), ex.d);
    let cols = n.min(TILE_COLS).min(block_elems.max(1));
    let rows = (block_elems / cols).clamp(1, n);
    let tiles: Vec<(usize, usize)> = (0..n)
        .step_by(rows)
        .flat_map(|r0| (0..n).step_by(cols).map(move |c0| (r0, c0)))
        .collect();
    // one tile buffer per thread of the pool, reused from tile to tile (a thread outside the
    // pool shares the first: still right, only serialised)
    let threads = rayon::current_num_threads().max(1);
    let buffers: Vec<Mutex<Aligned>> = (0..threads).map(|_| Mutex::default()).collect();
    let done: Vec<Result<TileCounts>> = tiles
        .par_iter()
        .map(|&(r0, c0)| {
            let _one = OneBlasThread::new();
            let slot = rayon::current_thread_index().unwrap_or(0) % threads;
            let mut buf = buffers[slot].lock().unwrap_or_else(PoisonError::into_inner);
            let (r, c) = (rows.min(n - r0), cols.min(n - c0));
            buf.resize(r * c);
            let tile = buf.as_mut_slice();
            product(&a[r0 * d..(r0 + r) * d], &b[c0 * d..(c0 + c) * d], d, tile)?;
            let mut counts = TileCounts {
                r0,
                c0,
                rows: vec![0; r],
                cols: vec![0; c],
                recomputed: 0,
            };
            rank_rows(tile, filter, ex, &mut counts);
            Ok(counts)
        })
        .collect();
    let mut recomputed = 0;
    for t in done {
        let t = t?;
        for (acc, c) in ranks.image_to_recipe[t.r0..].iter_mut().zip(&t.rows) {
            *acc += c;
        }
        for (acc, c) in ranks.recipe_to_image[t.c0..].iter_mut().zip(&t.cols) {
            *acc += c;
        }
        recomputed += t.recomputed;
    }
    Ok(recomputed)
}

/// A float32 buffer whose first element is 64-byte aligned (the alignment of libtorch's own
/// tensors): MKL's product runs about a tenth slower on operands or outputs aligned to 16 bytes
/// only, what the C allocator gives a large `Vec`.
#[derive(Default)]
struct Aligned {
    v: Vec<f32>,
    start: usize,
    len: usize,
}

impl Aligned {
    /// `len` zeros.
    fn zeros(len: usize) -> Self {
        let mut a = Self::default();
        a.resize(len);
        a
    }

    /// Makes room for `len` elements (kept values are unspecified).
    fn resize(&mut self, len: usize) {
        if self.v.len() < len + 16 {
            self.v = vec![0.0; len + 16];
            self.start = self.v.as_ptr().align_offset(64).min(16);
        }
        self.len = len;
    }

    fn as_slice(&self) -> &[f32] {
        &self.v[self.start..self.start + self.len]
    }

    fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.v[self.start..self.start + self.len]
    }
}

/// `out = a·bᵀ` for row-major `a` `[r, d]`, `b` `[c, d]` and `out` `[r, c]`: libtorch's float32
/// matrix product, written straight into `out`.
fn product(a: &[f32], b: &[f32], d: usize, out: &mut [f32]) -> Result<()> {
    let (r, c) = ((a.len() / d.max(1)) as i64, (b.len() / d.max(1)) as i64);
    let (f, cpu) = (Kind::Float, Device::Cpu);
    // SAFETY: the three tensors view memory borrowed for this whole call (`a` and `b` shared,
    // `out` exclusive), with exactly the shapes of those slices (`r·d`, `c·d` and `r·c`
    // elements, row-major), and they are dropped before it returns: nothing of them outlives the
    // borrows. libtorch reads `a` and `b` and writes only the output's memory; the output has the
    // product's exact shape, so it is not resized (a tensor over outside memory cannot be
    // resized; libtorch would fail instead of writing elsewhere). No autograd is involved.
    let (ta, tb, to) = unsafe {
        (
            Tensor::f_from_blob(a.as_ptr().cast(), &[r, d as i64], &[], f, cpu)?,
            Tensor::f_from_blob(b.as_ptr().cast(), &[c, d as i64], &[], f, cpu)?,
            Tensor::f_from_blob(out.as_mut_ptr().cast(), &[r, c], &[], f, cpu)?,
        )
    };
    let _ = ta.f_matmul_out(&to, &tb.tr())?;
    Ok(())
}

/// [`rank_rows_body`], built for AVX2 where the processor has it (eight float32 lanes in the
/// counting, four float64 lanes in the exact sums; the same operations, so the same results).
fn rank_rows(tile: &[f32], filter: &Filter, ex: &Exact, out: &mut TileCounts) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor supports AVX2, checked just above.
        return unsafe { rank_rows_avx2(tile, filter, ex, out) };
    }
    rank_rows_body(tile, filter, ex, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn rank_rows_avx2(tile: &[f32], filter: &Filter, ex: &Exact, out: &mut TileCounts) {
    rank_rows_body(tile, filter, ex, out)
}

/// The rows of a tile (`out.r0..`, columns `out.c0..`), one after the other: the float32 pass
/// over the row, then the exact decision of its band entries, while the row's image vector is
/// hot. Adds to `out.rows` the gallery items closer than each row's true recipe, to `out.cols`
/// the images closer than each column's true image, and sets how many pairs were decided
/// exactly.
#[inline(always)]
fn rank_rows_body(tile: &[f32], filter: &Filter, ex: &Exact, out: &mut TileCounts) {
    let (q0, c0) = (out.r0, out.c0);
    let (counts, col) = (&mut out.rows, &mut out.cols);
    let cols = col.len();
    let range = c0..c0 + cols;
    let (off, lo, hi) = (
        &filter.col_off[range.clone()],
        &filter.col_lo[range.clone()],
        &filter.col_hi[range],
    );
    let mut band = Vec::new();
    let mut recomputed = 0;
    for (k, (row, count)) in tile.chunks_exact(cols).zip(counts.iter_mut()).enumerate() {
        let q = q0 + k;
        band.clear();
        let sure = classify_row(
            row,
            (filter.row_off[q], filter.row_lo[q], filter.row_hi[q]),
            (off, lo, hi),
            col,
            &mut band,
        );
        recomputed += band.len();
        *count += sure + resolve(ex, q, c0, &band, col);
    }
    out.recomputed = recomputed;
}

/// A score of a row that lies inside a band: its column in the tile, and whose band (bit 1: the
/// row's image query, bit 2: the column's recipe query; both can be set).
type Entry = (u32, u8);

/// The float32 pass over the scores `row` of image query `q`: returns how many values are below
/// the row's `lo`, adds 1 to `col[j]` for each column whose value is below that column's `lo`,
/// and lists in `band` the scores inside either band, in column order. Written over chunks of
/// eight lanes with integer masks so that the compiler vectorises it and does not branch per
/// score (with random embeddings half of a row lies below its positive, so a branch per
/// comparison would mispredict half the time); only a chunk whose band mask is not empty (few)
/// is walked. A NaN value is in the band (neither below `lo` nor above `hi`).
#[inline(always)]
fn classify_row(
    row: &[f32],
    (row_off, lo_q, hi_q): (f32, f32, f32),
    (off, lo, hi): (&[f32], &[f32], &[f32]),
    col: &mut [u32],
    band: &mut Vec<Entry>,
) -> u32 {
    const L: usize = 8;
    let n = row.len();
    let (off, lo, hi, col) = (&off[..n], &lo[..n], &hi[..n], &mut col[..n]);
    let mut sure = [0u32; L];
    let split = n - n % L;
    let chunks = row[..split]
        .chunks_exact(L)
        .zip(off[..split].chunks_exact(L))
        .zip(lo[..split].chunks_exact(L).zip(hi[..split].chunks_exact(L)))
        .zip(col[..split].chunks_exact_mut(L));
    for (c, (((g, off), (lo, hi)), col)) in chunks.enumerate() {
        let mut mask = [0u32; L];
        for k in 0..L {
            let (v, w) = (g[k] + off[k], g[k] + row_off);
            let (v_less, w_less) = (v < lo_q, w < lo[k]);
            let (v_more, w_more) = (v > hi_q, w > hi[k]);
            sure[k] += u32::from(v_less);
            col[k] += u32::from(w_less);
            // in a band: neither below nor above it (NaN too)
            mask[k] = u32::from(!(v_less | v_more)) | (u32::from(!(w_less | w_more)) << 1);
        }
        if mask.iter().fold(0, |a, &m| a | m) != 0 {
            for (k, &m) in mask.iter().enumerate() {
                if m != 0 {
                    band.push(((c * L + k) as u32, m as u8));
                }
            }
        }
    }
    let mut total: u32 = sure.iter().sum();
    for j in split..n {
        let (v, w) = (row[j] + off[j], row[j] + row_off);
        let (v_less, w_less) = (v < lo_q, w < lo[j]);
        total += u32::from(v_less);
        col[j] += u32::from(w_less);
        let (v_more, w_more) = (v > hi_q, w > hi[j]);
        let m = u8::from(!(v_less | v_more)) | (u8::from(!(w_less | w_more)) << 1);
        if m != 0 {
            band.push((j as u32, m));
        }
    }
    total
}

/// Decides the band entries of image query `q` (columns relative to `c0`) exactly, four gallery
/// vectors at a time: returns how many recipes are closer to image `q` than its own, and adds 1
/// to `col[j]` where image `q` is closer to recipe `c0 + j` than that recipe's own image.
#[inline(always)]
fn resolve(ex: &Exact, q: usize, c0: usize, band: &[Entry], col: &mut [u32]) -> u32 {
    let x = ex.image(q);
    let recipe = |e: &Entry| ex.recipe(c0 + e.0 as usize);
    let mut closer = 0;
    let mut decide = |&(j, which): &Entry, score: f64| {
        if which & 1 != 0 && score < ex.positive[q] {
            closer += 1;
        }
        if which & 2 != 0 && score < ex.positive[c0 + j as usize] {
            col[j as usize] += 1;
        }
    };
    // four at a time; the last group padded with its own first entry, whose extra scores are
    // dropped (computing four costs about what one does)
    for group in band.chunks(4) {
        let pick = |k: usize| recipe(group.get(k).unwrap_or(&group[0]));
        let scores = exact_scores4(ex.measure, x, [pick(0), pick(1), pick(2), pick(3)]);
        for (e, s) in group.iter().zip(scores) {
            decide(e, s);
        }
    }
    closer
}

/// The CUDA path: blocks of whole rows (at most `block_elems` scores), classified with tensor
/// operations on the device; the band entries come back to the host and are decided exactly
/// there. Returns how many pairs were decided exactly.
fn rank_on_device(
    a: &[f32],
    b: &[f32],
    filter: &Filter,
    ex: &Exact,
    opts: RankOptions,
    ranks: &mut SubsetRanks,
) -> Result<usize> {
    let (n, d, dev) = (ex.positive.len(), ex.d as i64, opts.device);
    let at = Tensor::from_slice(a).view([n as i64, d]).to_device(dev);
    let bt = Tensor::from_slice(b)
        .view([n as i64, d])
        .to_device(dev)
        .tr(); // [d, n]
    let on_dev = |v: &[f32]| Tensor::from_slice(v).to_device(dev);
    let dev_filter = DeviceFilter {
        row_lo: on_dev(&filter.row_lo),
        row_hi: on_dev(&filter.row_hi),
        row_off: on_dev(&filter.row_off),
        col_lo: on_dev(&filter.col_lo).view([1, n as i64]),
        col_hi: on_dev(&filter.col_hi).view([1, n as i64]),
        col_off: on_dev(&filter.col_off).view([1, n as i64]),
    };
    let rows = (opts.block_elems / n).clamp(1, n);
    let mut recomputed = 0;
    for r0 in (0..n).step_by(rows) {
        let r = rows.min(n - r0);
        let s = at.narrow(0, r0 as i64, r as i64).matmul(&bt);
        let block = classify_tensor(&s, r0, &dev_filter)?;
        for (q, c) in block.i2r_sure.iter().enumerate() {
            ranks.image_to_recipe[r0 + q] += c;
        }
        for (j, c) in block.r2i_sure.iter().enumerate() {
            ranks.recipe_to_image[j] += c;
        }
        recomputed += block.band.len();
        // entries come in row-major order: one run per image query
        let mut rest = block.band.as_slice();
        while let Some(&(q, _)) = rest.first() {
            let run = rest.iter().take_while(|e| e.0 == q).count();
            let entries: Vec<Entry> = rest[..run].iter().map(|e| e.1).collect();
            ranks.image_to_recipe[q] += resolve(ex, q, 0, &entries, &mut ranks.recipe_to_image);
            rest = &rest[run..];
        }
    }
    Ok(recomputed)
}

/// The filter's vectors on the device: rows as columns of one block, columns as `[1, n]`.
struct DeviceFilter {
    row_lo: Tensor,
    row_hi: Tensor,
    row_off: Tensor,
    col_lo: Tensor,
    col_hi: Tensor,
    col_off: Tensor,
}

/// What one block of whole rows says before the band is decided.
#[derive(Debug, PartialEq)]
struct Block {
    /// Per row of the block: gallery items certainly closer than the row's positive.
    i2r_sure: Vec<u32>,
    /// Per column: images of this block certainly closer than the column's positive.
    r2i_sure: Vec<u32>,
    /// The band entries: (image query, (column, whose band)), row-major.
    band: Vec<(usize, Entry)>,
}

/// The classification of [`classify_row`] with tensor operations, for blocks of rows `r0..` that
/// live on a CUDA device.
fn classify_tensor(s: &Tensor, r0: usize, f: &DeviceFilter) -> Result<Block> {
    let b = s.size()[0];
    let row = |t: &Tensor| t.narrow(0, r0 as i64, b).reshape([b, 1]);
    let (lo_q, hi_q) = (row(&f.row_lo), row(&f.row_hi));
    let v = s + &f.col_off;
    let w = s + row(&f.row_off);
    let (v_less, w_less) = (v.lt_tensor(&lo_q), w.lt_tensor(&f.col_lo));
    let counts = |t: &Tensor, dim: i64| -> Result<Vec<u32>> {
        let v: Vec<i64> = Vec::try_from(
            &t.sum_dim_intlist([dim].as_slice(), false, Kind::Int64)
                .to_device(Device::Cpu),
        )?;
        Ok(v.into_iter().map(|c| c as u32).collect())
    };
    // in the band: neither below lo nor above hi (so NaN is in it)
    let in_band = |less: &Tensor, t: &Tensor, hi: &Tensor| {
        less.logical_or(&t.gt_tensor(hi))
            .logical_not()
            .to_kind(Kind::Uint8)
    };
    let which = in_band(&v_less, &v, &hi_q) + in_band(&w_less, &w, &f.col_hi) * 2;
    let nz: Vec<i64> = Vec::try_from(&which.nonzero().to_device(Device::Cpu).reshape([-1]))?;
    let flags: Vec<u8> = Vec::try_from(&which.masked_select(&which.ne(0)).to_device(Device::Cpu))?;
    let band = nz
        .chunks_exact(2)
        .zip(flags)
        .map(|(p, m)| (r0 + p[0] as usize, (p[1] as u32, m)))
        .collect();
    Ok(Block {
        i2r_sure: counts(&v_less, 1)?,
        r2i_sure: counts(&w_less, 0)?,
        band,
    })
}

/// The two sides of the score product, row-major `[n, d]` each, built on rayon's threads: the
/// query side, and the gallery side unless it is the subset's recipes as they are (`None`: all
/// measures but cosine).
fn sides(ex: &Exact) -> (Aligned, Option<Aligned>) {
    let build = |rows: &[f32], f: &(dyn Fn(&[f32], &mut [f32]) + Sync)| {
        let mut m = Aligned::zeros(rows.len());
        m.as_mut_slice()
            .par_chunks_mut(ex.d.max(1))
            .zip(rows.par_chunks(ex.d.max(1)))
            .for_each(|(out, r)| f(r, out));
        m
    };
    let scaled = |s: f32| {
        move |r: &[f32], out: &mut [f32]| {
            for (o, v) in out.iter_mut().zip(r) {
                *o = s * v;
            }
        }
    };
    // unit vectors in float64, rounded once; a zero vector stays zero
    let unit = |sign: f64| {
        move |r: &[f32], out: &mut [f32]| {
            let norm = lanes(r, r, |a, b| a * b).sqrt();
            let f = if norm == 0.0 { 0.0 } else { sign / norm };
            for (o, &v) in out.iter_mut().zip(r) {
                *o = (f64::from(v) * f) as f32;
            }
        }
    };
    match ex.measure {
        Measure::Euclidean => (build(ex.images, &scaled(-2.0)), None),
        Measure::NegativeDot => (build(ex.images, &scaled(-1.0)), None),
        Measure::Cosine => (
            build(ex.images, &unit(-1.0)),
            Some(build(ex.recipes, &unit(1.0))),
        ),
    }
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

    /// A filter for `n` columns whose thresholds and offsets are small multiples of 1/4 (exact
    /// in float32, so host and tensor sums agree by construction, not by luck).
    fn quarter_filter(n: usize) -> Filter {
        let v = |k: usize, m: usize| -> Vec<f32> {
            (0..n).map(|j| ((j * k % m) as f32) / 4.0).collect()
        };
        let (row_lo, col_lo) = (v(11, 17), v(5, 13));
        Filter {
            row_hi: row_lo.iter().map(|l| l + 0.5).collect(),
            col_hi: col_lo.iter().map(|l| l + 0.75).collect(),
            row_lo,
            col_lo,
            row_off: v(3, 5),
            col_off: v(7, 3),
            delta: 0.0,
        }
    }

    /// The host pass of rows `r0..` of a block of `n` columns, as a [`Block`].
    fn classify_host(s: &[f32], r0: usize, n: usize, f: &Filter) -> Block {
        let mut out = Block {
            i2r_sure: Vec::new(),
            r2i_sure: vec![0; n],
            band: Vec::new(),
        };
        for (k, row) in s.chunks_exact(n).enumerate() {
            let q = r0 + k;
            let mut band = Vec::new();
            let sure = classify_row(
                row,
                (f.row_off[q], f.row_lo[q], f.row_hi[q]),
                (&f.col_off, &f.col_lo, &f.col_hi),
                &mut out.r2i_sure,
                &mut band,
            );
            out.i2r_sure.push(sure);
            out.band.extend(band.into_iter().map(|e| (q, e)));
        }
        out
    }

    fn on_cpu(f: &Filter) -> DeviceFilter {
        let t = |v: &[f32]| Tensor::from_slice(v);
        let n = f.col_lo.len() as i64;
        DeviceFilter {
            row_lo: t(&f.row_lo),
            row_hi: t(&f.row_hi),
            row_off: t(&f.row_off),
            col_lo: t(&f.col_lo).view([1, n]),
            col_hi: t(&f.col_hi).view([1, n]),
            col_off: t(&f.col_off).view([1, n]),
        }
    }

    /// The branch-free host pass and its band walk (rows wider than the eight lanes, with a
    /// remainder; offsets on both sides; values on both edges of every band; NaN, which is in
    /// both bands) classify as the tensor operations of the CUDA path do.
    #[test]
    fn host_and_tensor_classification_agree() {
        let (rows, n) = (5usize, 21usize);
        let mut s: Vec<f32> = (0..rows * n)
            .map(|i| ((i * 37 % 23) as f32) / 4.0 - 1.0)
            .collect();
        s[2 * n + 9] = f32::NAN;
        s[4 * n + 20] = f32::NAN;
        let f = quarter_filter(n);
        // rows 2.. of a block that starts at row 2 of the subset
        let host = classify_host(&s[2 * n..], 2, n, &f);
        let t = Tensor::from_slice(&s[2 * n..]).view([(rows - 2) as i64, n as i64]);
        let dev = classify_tensor(&t, 2, &on_cpu(&f)).unwrap();
        let both = host.band.iter().filter(|(_, (_, m))| *m == 3).count();
        assert!(both >= 2, "NaN must be in both bands: {:?}", host.band);
        assert!(host.band.iter().any(|(_, (_, m))| *m == 1));
        assert!(host.band.iter().any(|(_, (_, m))| *m == 2));
        assert!(host.i2r_sure.iter().any(|&c| c > 0) && host.r2i_sure.iter().any(|&c| c > 0));
        assert_eq!(host, dev);
    }

    /// Vectors of every length up to 37 (every remainder of the four lanes): the four-at-once
    /// sums, portable and AVX2, give the bits of four single sums, and so do the exact scores.
    #[test]
    fn the_avx2_quad_equals_the_portable_lanes() {
        let value = |i: usize| ((i * 7919 % 1013) as f32 / 97.0).sin() * 3.0;
        for len in 0..=37 {
            let x: Vec<f32> = (0..len).map(value).collect();
            let ys: Vec<Vec<f32>> = (1..=4)
                .map(|p| (0..len).map(|i| value(i * 31 + p * 101)).collect())
                .collect();
            let ys = [&ys[0][..], &ys[1][..], &ys[2][..], &ys[3][..]];
            let sq = |a: f64, b: f64| (a - b) * (a - b);
            let single = ys.map(|y| lanes(&x, y, sq).to_bits());
            assert_eq!(lanes4(&x, ys, sq).map(f64::to_bits), single, "len {len}");
            assert_eq!(quad::<true>(&x, ys).map(f64::to_bits), single, "len {len}");
            let dot = ys.map(|y| lanes(&x, y, |a, b| a * b).to_bits());
            assert_eq!(quad::<false>(&x, ys).map(f64::to_bits), dot, "len {len}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the processor supports AVX2, checked just above.
                let avx = unsafe { lanes4_avx2::<true>(&x, ys) };
                assert_eq!(avx.map(f64::to_bits), single, "len {len}");
            }
            for m in [Measure::Euclidean, Measure::Cosine, Measure::NegativeDot] {
                let each = ys.map(|y| exact_score(m, &x, y).to_bits());
                assert_eq!(
                    exact_scores4(m, &x, ys).map(f64::to_bits),
                    each,
                    "{m:?} len {len}"
                );
            }
        }
    }

    #[test]
    fn directed_rounding_brackets_the_float64_value() {
        let third = 1.0f64 / 3.0;
        for v in [
            third,
            -third,
            2.0,
            -2.0,
            1e-50,
            -1e-50,
            1e300,
            -1e300,
            0.1 + 0.2,
        ] {
            let (lo, hi) = (f32_down(v), f32_up(v));
            assert!(f64::from(lo) <= v && v <= f64::from(hi), "{v}: {lo} {hi}");
            assert!(
                lo == hi || lo.next_up() == hi,
                "{v}: {lo} {hi} not adjacent"
            );
        }
        assert_eq!((f32_down(2.0), f32_up(2.0)), (2.0, 2.0));
        assert_eq!((f32_down(1e300), f32_up(1e300)), (f32::MAX, f32::INFINITY));
    }

    /// Near ties, where float32 products cannot decide: every recipe is one recipe moved by a
    /// few units of its last float32 digits, so each image sees its whole gallery within the
    /// rounding error of a float32 score; then the same with the images tied, for the recipe
    /// queries. The ranks, on the CPU's tiles and on the device path run on the CPU, are still
    /// the count of float64 scores below the positive's, and many pairs went through the exact
    /// decision.
    #[test]
    fn near_ties_are_decided_by_the_float64_scores() {
        let (n, d) = (48usize, 300usize);
        let value = |i: usize| ((i * 7919 % 2003) as f32 / 211.0).sin() * 0.06;
        let x: Vec<f32> = (0..n * d).map(value).collect();
        let base: Vec<f32> = (0..d).map(|k| value(k * 13 + 5)).collect();
        let y: Vec<f32> = (0..n * d)
            .map(|i| {
                let v = base[i % d];
                let ulps = (i * 31 % 7) as i32 - 3;
                f32::from_bits((v.to_bits() as i32 + ulps) as u32)
            })
            .collect();
        let all: Vec<usize> = (0..n).collect();
        // the near ties among the recipes (image queries: row bands), then among the images
        // (recipe queries: column bands, decided in tiles that start past column 0)
        let cases = [
            ("recipes tied", emb(&x, &y, d)),
            ("images tied", emb(&y, &x, d)),
        ];
        for ((case, e), m) in cases.iter().flat_map(|c| {
            [Measure::Euclidean, Measure::NegativeDot, Measure::Cosine].map(|m| (c, m))
        }) {
            let score = |i: usize, j: usize| exact_score(m, e.image_row(i), e.recipe_row(j));
            let naive_i2r: Vec<u32> = (0..n)
                .map(|q| 1 + (0..n).filter(|&j| score(q, j) < score(q, q)).count() as u32)
                .collect();
            let naive_r2i: Vec<u32> = (0..n)
                .map(|j| 1 + (0..n).filter(|&i| score(i, j) < score(j, j)).count() as u32)
                .collect();
            for (on_device, block) in [(false, 1 << 22), (false, 7), (false, 100), (true, 100)] {
                let opts = RankOptions {
                    block_elems: block,
                    ..RankOptions::default()
                };
                let r = ranks_by(e, &all, m, opts, on_device).unwrap();
                let what = format!("{case}, {m:?}, on_device {on_device}, block {block}");
                assert!(
                    r.recomputed > n * n / 4,
                    "{what}: only {} exact",
                    r.recomputed
                );
                assert_eq!(r.image_to_recipe, naive_i2r, "{what}");
                assert_eq!(r.recipe_to_image, naive_r2i, "{what}");
            }
        }
    }

    #[test]
    fn small_blocks_give_the_same_ranks() {
        let x: Vec<f32> = (0..60).map(|i| ((i * 37 % 11) as f32).sin()).collect();
        let y: Vec<f32> = (0..60).map(|i| ((i * 13 % 7) as f32).cos()).collect();
        let e = emb(&x, &y, 3);
        let all: Vec<usize> = (0..20).rev().collect();
        for m in [Measure::Euclidean, Measure::Cosine, Measure::NegativeDot] {
            let big = subset_ranks(&e, &all, m, RankOptions::default()).unwrap();
            let device_path = ranks_by(&e, &all, m, RankOptions::default(), true).unwrap();
            assert_eq!(big, device_path, "{m:?}");
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

    /// Vectors scaled by 2⁶⁴ (exact in float32 and float64, so every float64 score is the
    /// unscaled one times 2¹²⁸ and the ranks are the same) make the float32 products overflow:
    /// the filter must send such pairs to the exact decision, not count an infinity as "farther".
    /// Scaled by 2⁻⁶⁰ the products underflow instead.
    #[test]
    fn vectors_that_overflow_or_underflow_float32_keep_their_ranks() {
        let x: Vec<f32> = (0..60).map(|i| ((i * 37 % 11) as f32).sin()).collect();
        let y: Vec<f32> = (0..60).map(|i| ((i * 13 % 7) as f32).cos()).collect();
        let all: Vec<usize> = (0..20).collect();
        for m in [Measure::Euclidean, Measure::Cosine, Measure::NegativeDot] {
            let plain = subset_ranks(&emb(&x, &y, 3), &all, m, RankOptions::default()).unwrap();
            for scale in [2f32.powi(64), 2f32.powi(-60)] {
                let (xs, ys): (Vec<f32>, Vec<f32>) = (
                    x.iter().map(|v| v * scale).collect(),
                    y.iter().map(|v| v * scale).collect(),
                );
                let e = emb(&xs, &ys, 3);
                for on_device in [false, true] {
                    let r = ranks_by(&e, &all, m, RankOptions::default(), on_device).unwrap();
                    assert_eq!(r.image_to_recipe, plain.image_to_recipe, "{m:?} {scale}");
                    assert_eq!(r.recipe_to_image, plain.recipe_to_image, "{m:?} {scale}");
                }
            }
        }
    }
}
