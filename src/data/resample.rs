//! Bilinear resampling with Pillow's arithmetic: a separable convolution whose triangle filter is
//! widened by the scale factor when shrinking (antialiasing), 22-bit fixed-point weights, the
//! horizontal pass first and each pass rounded to 8 bits.
//!
//! Spec: spec/data-images.md (resize). torchvision's `Resize` on a PIL image calls
//! `Image.resize(size, Image.BILINEAR)`, so the authors' images went through this arithmetic
//! (../shared/SEJE-SPEC.md §9 A18). Written from the description of the algorithm in the spec page,
//! checked against Pillow by `tests/data_transforms.rs`.

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

/// Rounds an accumulator (which started at one half) back to a byte.
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

fn horizontal(src: &RgbImage, out_w: u32) -> RgbImage {
    let (w, h) = src.dimensions();
    let t = taps(w as usize, out_w as usize);
    let raw = src.as_raw();
    let mut out = vec![0u8; out_w as usize * h as usize * 3];
    for y in 0..h as usize {
        let row = &raw[y * w as usize * 3..(y + 1) * w as usize * 3];
        for (x, (start, k)) in t.taps.iter().enumerate() {
            for c in 0..3 {
                let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                for (i, &kw) in k.iter().enumerate() {
                    acc += i64::from(row[(start + i) * 3 + c]) * i64::from(kw);
                }
                out[(y * out_w as usize + x) * 3 + c] = clip8(acc);
            }
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
    for (y, (start, k)) in t.taps.iter().enumerate() {
        for xc in 0..stride {
            let mut acc: i64 = 1 << (PRECISION_BITS - 1);
            for (i, &kw) in k.iter().enumerate() {
                acc += i64::from(raw[(start + i) * stride + xc]) * i64::from(kw);
            }
            out[y * stride + xc] = clip8(acc);
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
