//! The paper's image transforms, exactly as the authors' `data_loader.py` composes torchvision's:
//! train = Resize(256) → CenterCrop(256) → RandomCrop(224) → RandomHorizontalFlip(0.5) → ToTensor
//! → Normalize; val/test = Resize(256) → CenterCrop(224) → ToTensor → Normalize, with ImageNet's
//! mean and standard deviation. Sizes are configurable so CPU fixtures can use small images.
//!
//! Spec: spec/data-images.md (transforms, per-sample randomness). Authors' code: `data_loader.py`
//! (git-disl/SEJE @ 694a835); resize arithmetic in [`super::resample`].

use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::resample::resize_bilinear;
use crate::{Error, Result};

/// ImageNet channel means (torchvision `Normalize`, SEJE `data_loader.py`).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Train (random crop and flip) or evaluation (centre crop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Resize, centre crop `resize`, random crop `crop`, random flip.
    Train,
    /// Resize, centre crop `crop`.
    Eval,
}

/// Transform sizes and normalisation constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TransformConfig {
    /// The shorter side is resized to this (paper: 256); training also centre-crops this square.
    pub resize: u32,
    /// Side of the square fed to the network (paper: 224).
    pub crop: u32,
    /// Channel means subtracted after scaling to [0, 1].
    pub mean: [f32; 3],
    /// Channel standard deviations divided by.
    pub std: [f32; 3],
}

impl TransformConfig {
    /// The paper's sizes: resize 256, crop 224.
    pub fn paper() -> Self {
        Self::sized(256, 224)
    }

    /// Small sizes for CPU fixtures: resize 72, crop 64.
    pub fn tiny() -> Self {
        Self::sized(72, 64)
    }

    /// ImageNet normalisation with the given sizes.
    pub fn sized(resize: u32, crop: u32) -> Self {
        Self {
            resize,
            crop,
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
        }
    }

    /// Refuses sizes the transforms cannot honour (a crop larger than the resized side, zeros)
    /// and sizes over [`MAX_TRANSFORM_SIDE`].
    pub fn validate(&self) -> Result<()> {
        if self.crop == 0 || self.resize == 0 || self.crop > self.resize {
            return Err(Error::Invalid {
                what: "transform sizes".into(),
                problem: format!(
                    "need 0 < crop <= resize, got resize {} and crop {}",
                    self.resize, self.crop
                ),
            });
        }
        if self.resize > MAX_TRANSFORM_SIDE {
            return Err(Error::Invalid {
                what: "transform sizes".into(),
                problem: format!(
                    "resize {} is over the limit of {MAX_TRANSFORM_SIDE} pixels",
                    self.resize
                ),
            });
        }
        Ok(())
    }
}

/// Names the image in an error of the transforms, whose own errors say only "image": callers
/// map with `naming(file)` so that a refusal says which file it was.
pub fn naming(file: impl std::fmt::Display) -> impl FnOnce(Error) -> Error {
    move |e| match e {
        Error::Invalid { what, problem } if what == "image" => Error::Invalid {
            what: format!("image {file}"),
            problem,
        },
        other => other,
    }
}

/// The largest resize side a configuration may ask for (the paper's is 256).
pub const MAX_TRANSFORM_SIDE: u32 = 4096;

/// The most pixels a resized image may have: torchvision's `Resize` keeps the aspect ratio, so a
/// 1 × 100,000 strip resized to 256 would be 256 × 25,600,000 (19.7 GB); such an image is refused
/// before anything is allocated (spec/data-images.md, Limits). 64 Mi pixels is a 16:1 strip at
/// the largest resize side allowed.
pub const MAX_RESIZED_PIXELS: u64 = 64 << 20;

/// torchvision's `Resize(size)` output for a `w × h` image: the shorter side becomes `size`, the
/// longer `int(size * long / short)` (truncated, computed in double precision as Python does).
pub fn resized_size(w: u32, h: u32, size: u32) -> (u32, u32) {
    let long_of =
        |short: u32, long: u32| (f64::from(size) * f64::from(long) / f64::from(short)) as u32;
    if w <= h {
        (size, long_of(w, h))
    } else {
        (long_of(h, w), size)
    }
}

/// Python 3's `round` on a half-integer grid: halves go to the even neighbour.
fn round_half_even(x: f64) -> i64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 {
        (r - x.signum()) as i64
    } else {
        r as i64
    }
}

/// torchvision's `CenterCrop` origin `(left, top)`: `int(round((w - cw) / 2.0))`, with Python's
/// round-half-to-even.
pub fn center_crop_origin(w: u32, h: u32, cw: u32, ch: u32) -> (u32, u32) {
    let left = round_half_even((f64::from(w) - f64::from(cw)) / 2.0);
    let top = round_half_even((f64::from(h) - f64::from(ch)) / 2.0);
    (left as u32, top as u32)
}

fn crop(img: &RgbImage, left: u32, top: u32, w: u32, h: u32) -> RgbImage {
    image::imageops::crop_imm(img, left, top, w, h).to_image()
}

/// The per-sample random generator: ChaCha8 keyed by `(seed, epoch, sample index)`, so a sample's
/// image choice, crop and flip do not depend on which thread handles it or in what order.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&epoch.to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..].copy_from_slice(b"sample\0\0");
    ChaCha8Rng::from_seed(key)
}

/// What the random steps chose (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Choices {
    /// Random crop origin `(left, top)` inside the centre square (train only).
    pub crop: (u32, u32),
    /// Whether the image was mirrored.
    pub flipped: bool,
}

/// The geometric part of the transform: the cropped (and maybe mirrored) 8-bit image, `crop × crop`.
/// `rng` is used only in [`Mode::Train`]: first the crop row (`randint(0, h - th)`), then the
/// column, then the flip (`rand < 0.5`), torchvision's order.
pub fn geometry(
    img: &RgbImage,
    cfg: &TransformConfig,
    mode: Mode,
    rng: &mut impl Rng,
) -> Result<(RgbImage, Choices)> {
    cfg.validate()?;
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Err(Error::Invalid {
            what: "image".into(),
            problem: format!("has size {w}x{h}"),
        });
    }
    let (rw, rh) = resized_size(w, h, cfg.resize);
    if u64::from(rw) * u64::from(rh) > MAX_RESIZED_PIXELS {
        return Err(Error::Invalid {
            what: "image".into(),
            problem: format!(
                "{w}x{h} resized to {} would be {rw}x{rh}, over the limit of {MAX_RESIZED_PIXELS} pixels",
                cfg.resize
            ),
        });
    }
    let resized = if (rw, rh) == (w, h) {
        img.clone()
    } else {
        resize_bilinear(img, rw, rh)
    };
    match mode {
        Mode::Eval => {
            let (l, t) = center_crop_origin(rw, rh, cfg.crop, cfg.crop);
            let out = crop(&resized, l, t, cfg.crop, cfg.crop);
            Ok((
                out,
                Choices {
                    crop: (0, 0),
                    flipped: false,
                },
            ))
        }
        Mode::Train => {
            let (l, t) = center_crop_origin(rw, rh, cfg.resize, cfg.resize);
            let square = crop(&resized, l, t, cfg.resize, cfg.resize);
            let slack = cfg.resize - cfg.crop;
            let top = rng.gen_range(0..=slack);
            let left = rng.gen_range(0..=slack);
            let mut out = crop(&square, left, top, cfg.crop, cfg.crop);
            let flipped = rng.gen::<f64>() < 0.5;
            if flipped {
                image::imageops::flip_horizontal_in_place(&mut out);
            }
            Ok((
                out,
                Choices {
                    crop: (left, top),
                    flipped,
                },
            ))
        }
    }
}

/// `ToTensor` then `Normalize`: channel-first float32, `(v / 255 - mean) / std`, written into
/// `out` (length `3 * w * h`).
pub fn normalize_into(img: &RgbImage, cfg: &TransformConfig, out: &mut [f32]) {
    let (w, h) = img.dimensions();
    let plane = (w * h) as usize;
    assert_eq!(out.len(), 3 * plane, "output buffer has room for one image");
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            let v = f32::from(px.0[c]) / 255.0;
            out[c * plane + i] = (v - cfg.mean[c]) / cfg.std[c];
        }
    }
}

/// The whole transform: a `[3, crop, crop]` channel-first float32 buffer and the random choices.
pub fn transform(
    img: &RgbImage,
    cfg: &TransformConfig,
    mode: Mode,
    rng: &mut impl Rng,
) -> Result<(Vec<f32>, Choices)> {
    let (g, choices) = geometry(img, cfg, mode, rng)?;
    let mut out = vec![0f32; 3 * (cfg.crop * cfg.crop) as usize];
    normalize_into(&g, cfg, &mut out);
    Ok((out, choices))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Python (torchvision): Resize(256) of a 500x375 image -> (341, 256); of 375x500 -> (256, 341)
    #[test]
    fn shorter_side_sizes() {
        assert_eq!(resized_size(500, 375, 256), (341, 256));
        assert_eq!(resized_size(375, 500, 256), (256, 341));
        assert_eq!(resized_size(300, 300, 256), (256, 256));
    }

    // Python: int(round((341 - 224) / 2.0)) == 58 (58.5 rounds to even); int(round(1.5)) == 2
    #[test]
    fn centre_crop_rounds_half_to_even() {
        assert_eq!(center_crop_origin(341, 256, 224, 224), (58, 16));
        assert_eq!(center_crop_origin(5, 4, 2, 1), (2, 2));
        assert_eq!(center_crop_origin(3, 4, 2, 1), (0, 2));
    }

    #[test]
    fn bad_sizes_are_refused() {
        let e = TransformConfig::sized(64, 72).validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "transform sizes: need 0 < crop <= resize, got resize 64 and crop 72"
        );
    }

    #[test]
    fn per_sample_rngs_differ_by_every_key_part() {
        let draw = |s, e, i| sample_rng(s, e, i).gen::<u64>();
        let base = draw(1, 2, 3);
        assert_eq!(base, draw(1, 2, 3));
        assert_ne!(base, draw(0, 2, 3));
        assert_ne!(base, draw(1, 0, 3));
        assert_ne!(base, draw(1, 2, 0));
    }
}
