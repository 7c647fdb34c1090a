//! Bilinear resampling with Pillow's arithmetic: a separable convolution whose triangle filter is
//! widened by the scale factor when shrinking (antialiasing), 22-bit fixed-point weights, the
//! horizontal pass first and each pass rounded to 8 bits.
//!
//! Spec: spec/data-images.md (resize). torchvision's `Resize` on a PIL image calls
//! `Image.resize(size, Image.BILINEAR)`, so the authors' images went through this arithmetic.
//! Written from the description of the algorithm in the spec page, checked against Pillow by
//! `tests/data_transforms.rs`.

use image::RgbImage;

/// Fixed-point precision of the weights: Pillow's `PRECISION_BITS = 32 - 8 - 2`.
const PRECISION_BITS: u32 = 22;

/// The bilinear (triangle) filter, support 1.
fn triangle(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

/// For each output position, the first input index and the fixed-point weights of the input
/// samples it reads.
pub struct Taps {
    /// `(first input index, weights)` per output position.
    pub taps: Vec<(usize, Vec<i32>)>,
}

/// Weights for resampling `in_size` samples to `out_size` (Pillow `precompute_coeffs` followed by
/// `normalize_coeffs_8bpc`).
pub fn taps(in_size: usize, out_size: usize) -> Taps {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // the triangle's support (1) times the filter scale
    let taps = (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // C casts truncate toward zero; negative starts are then clamped to 0.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let mut w: Vec<f64> = (xmin..xmax)
                .map(|x| triangle((x as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                w.iter_mut().for_each(|v| *v /= total);
            }
            let one = f64::from(1u32 << PRECISION_BITS);
            let fixed = w
                .iter()
                .map(|&v| (v * one + if v < 0.0 { -0.5 } else { 0.5 }) as i32)
                .collect();
            (xmin, fixed)
        })
        .collect();
    Taps { taps }
}

/// Rounds an accumulator (which started at one half) back to a byte. Accumulators are `i32`, as
/// Pillow's: 8-bit samples times weights summing to about 2^22 stay below 2^31.
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// One half in the fixed point, the accumulators' start (rounding to nearest).
const HALF: i32 = 1 << (PRECISION_BITS - 1);

fn horizontal(src: &RgbImage, out_w: u32) -> RgbImage {
    let (w, h) = src.dimensions();
    let t = taps(w as usize, out_w as usize);
    let raw = src.as_raw();
    let mut out = vec![0u8; out_w as usize * h as usize * 3];
    let in_row = w as usize * 3;
    let out_row = out_w as usize * 3;
    for (row, out_px) in raw.chunks_exact(in_row).zip(out.chunks_exact_mut(out_row)) {
        for ((start, k), px) in t.taps.iter().zip(out_px.chunks_exact_mut(3)) {
            let (mut r, mut g, mut b) = (HALF, HALF, HALF);
            let window = &row[start * 3..(start + k.len()) * 3];
            for (&kw, s) in k.iter().zip(window.chunks_exact(3)) {
                r += i32::from(s[0]) * kw;
                g += i32::from(s[1]) * kw;
                b += i32::from(s[2]) * kw;
            }
            px[0] = clip8(r);
            px[1] = clip8(g);
            px[2] = clip8(b);
        }
    }
    RgbImage::from_raw(out_w, h, out).expect("buffer matches dimensions")
}

fn vertical(src: &RgbImage, out_h: u32) -> RgbImage {
    let (w, h) = src.dimensions();
    let t = taps(h as usize, out_h as usize);
    let raw = src.as_raw();
    let stride = w as usize * 3;
    let mut out = vec![0u8; stride * out_h as usize];
    // Row by row: each input row of the window is added, weighted, to one accumulator row, so
    // the inner loop runs over contiguous memory (the same sums, in the same order, as a loop over
    // the window per sample).
    let mut acc = vec![0i32; stride];
    for ((start, k), out_row) in t.taps.iter().zip(out.chunks_exact_mut(stride)) {
        acc.fill(HALF);
        for (i, &kw) in k.iter().enumerate() {
            let row = &raw[(start + i) * stride..(start + i + 1) * stride];
            for (a, &s) in acc.iter_mut().zip(row) {
                *a += i32::from(s) * kw;
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    RgbImage::from_raw(w, out_h, out).expect("buffer matches dimensions")
}

/// Resizes `src` to `out_w × out_h` as Pillow's `Image.resize((out_w, out_h), Image.BILINEAR)`
/// does: a pass is skipped when its dimension does not change.
pub fn resize_bilinear(src: &RgbImage, out_w: u32, out_h: u32) -> RgbImage {
    let (w, h) = src.dimensions();
    let tmp = if out_w != w {
        horizontal(src, out_w)
    } else {
        src.clone()
    };
    if out_h != h {
        vertical(&tmp, out_h)
    } else {
        tmp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Python: Image.fromarray(np.array([[[0]*3, [100]*3, [200]*3, [255]*3]], np.uint8))
    //             .resize((2, 1), Image.BILINEAR)  ->  [[71, 71, 71], [209, 209, 209]]
    #[test]
    fn halving_a_row_averages_with_a_widened_triangle() {
        let src = RgbImage::from_fn(4, 1, |x, _| {
            let v = [0u8, 100, 200, 255][x as usize];
            image::Rgb([v, v, v])
        });
        let out = resize_bilinear(&src, 2, 1);
        assert_eq!(out.as_raw(), &[71, 71, 71, 209, 209, 209]);
    }

    #[test]
    fn same_size_is_identity() {
        let src = RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8 * 40, y as u8 * 90, 7]));
        assert_eq!(resize_bilinear(&src, 3, 2), src);
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(100, 72), (72, 100), (256, 224), (5, 1)] {
            for (_, k) in taps(i, o).taps {
                let s: i64 = k.iter().map(|&v| i64::from(v)).sum();
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= k.len() as i64,
                    "{i}->{o}: {s}"
                );
            }
        }
    }
}
