//! The image transforms against Pillow goldens, and their invariants as properties: output
//! shapes, the normalisation's range, determinism for a seed, and what the random steps may do.
//!
//! Spec: spec/data-images.md. Goldens: `fixtures/golden/images/` (`generate.py`, Pillow 13.0.0,
//! NumPy 2.4.6).

use image::RgbImage;
use proptest::prelude::*;
use seje::data::resample::resize_bilinear;
use seje::data::transforms::{
    center_crop_origin, geometry, resized_size, sample_rng, transform, Mode, TransformConfig,
};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/golden/images");

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    resize: u32,
    crop: u32,
    resized: [u32; 2],
    crop_origin: [u32; 2],
    tensor: bool,
}

#[derive(serde::Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(format!("{GOLDEN}/cases.json")).expect("cases.json");
    serde_json::from_str::<Cases>(&text)
        .expect("valid cases.json")
        .cases
}

fn png(name: &str) -> RgbImage {
    image::open(format!("{GOLDEN}/{name}"))
        .expect("golden png")
        .to_rgb8()
}

// Python: Image.open(in).resize(resized_size(w, h, s), Image.BILINEAR) == <case>.resized.png
#[test]
fn golden_resize_is_byte_identical_to_pillow() {
    for c in cases() {
        let input = png(&format!("{}.in.png", c.name));
        let (w, h) = input.dimensions();
        let size = resized_size(w, h, c.resize);
        assert_eq!([size.0, size.1], c.resized, "{}: resized size", c.name);
        let got = if size == (w, h) {
            input.clone()
        } else {
            resize_bilinear(&input, size.0, size.1)
        };
        let want = png(&format!("{}.resized.png", c.name));
        let diffs = got
            .as_raw()
            .iter()
            .zip(want.as_raw())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(diffs, 0, "{}: {diffs} bytes differ from Pillow", c.name);
        let o = center_crop_origin(size.0, size.1, c.crop, c.crop);
        assert_eq!([o.0, o.1], c.crop_origin, "{}: centre crop origin", c.name);
    }
}

// Python: ((crop.astype(np.float32) / np.float32(255)) - MEAN) / STD, transposed to [3, c, c]
#[test]
fn golden_eval_transform_matches_numpy() {
    for c in cases().into_iter().filter(|c| c.tensor) {
        let input = png(&format!("{}.in.png", c.name));
        let cfg = TransformConfig::sized(c.resize, c.crop);
        let (got, _) = transform(&input, &cfg, Mode::Eval, &mut sample_rng(0, 0, 0)).unwrap();
        let want = tch::Tensor::read_npy(format!("{GOLDEN}/{}.eval.npy", c.name)).expect("npy");
        assert_eq!(want.size(), [3, i64::from(c.crop), i64::from(c.crop)]);
        let want = Vec::<f32>::try_from(want.flatten(0, -1)).unwrap();
        let max = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!("{}: max abs difference to NumPy {max:e}", c.name);
        // Same uint8 pixels and the same float32 operations: the tolerance only guards against a
        // different order of operations.
        assert!(max <= 1e-6, "{}: max |difference| {max}", c.name);
    }
}

fn image_strategy() -> impl Strategy<Value = RgbImage> {
    (8u32..80, 8u32..80, any::<u64>()).prop_map(|(w, h, seed)| {
        RgbImage::from_fn(w, h, |x, y| {
            let v = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(u64::from(x * 131 + y * 7919));
            image::Rgb([(v >> 24) as u8, (v >> 32) as u8, (v >> 40) as u8])
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn output_has_the_crop_shape_and_normalised_range(img in image_strategy(), train in any::<bool>(), seed in any::<u64>()) {
        let cfg = TransformConfig::sized(24, 16);
        let mode = if train { Mode::Train } else { Mode::Eval };
        let (out, _) = transform(&img, &cfg, mode, &mut sample_rng(seed, 0, 0)).unwrap();
        prop_assert_eq!(out.len(), 3 * 16 * 16);
        for (i, v) in out.iter().enumerate() {
            let c = i / 256;
            let lo = (0.0 - cfg.mean[c]) / cfg.std[c];
            let hi = (1.0 - cfg.mean[c]) / cfg.std[c];
            prop_assert!(*v >= lo - 1e-6 && *v <= hi + 1e-6, "{} outside [{}, {}]", v, lo, hi);
        }
    }

    #[test]
    fn same_seed_same_output_other_seed_other_choices(img in image_strategy(), seed in any::<u64>(), index in 0u64..1000) {
        let cfg = TransformConfig::sized(24, 16);
        let a = transform(&img, &cfg, Mode::Train, &mut sample_rng(seed, 3, index)).unwrap();
        let b = transform(&img, &cfg, Mode::Train, &mut sample_rng(seed, 3, index)).unwrap();
        prop_assert_eq!(&a, &b);
        // Over 64 sample indices the choices cannot all coincide (probability 2^-6 * (1/9)^63 per
        // index pair, for a slack of 8 pixels).
        let distinct: std::collections::HashSet<_> = (0..64)
            .map(|k| geometry(&img, &cfg, Mode::Train, &mut sample_rng(seed, 3, k)).unwrap().1)
            .map(|c| (c.crop, c.flipped))
            .collect();
        prop_assert!(distinct.len() > 1);
    }

    #[test]
    fn the_train_crop_lies_inside_the_centre_square_and_flips_mirror(img in image_strategy(), seed in any::<u64>()) {
        let cfg = TransformConfig::sized(24, 16);
        let (g, ch) = geometry(&img, &cfg, Mode::Train, &mut sample_rng(seed, 0, 1)).unwrap();
        prop_assert!(ch.crop.0 <= 8 && ch.crop.1 <= 8);
        // Rebuild the crop from the centre square without the random generator.
        let (rw, rh) = resized_size(img.width(), img.height(), 24);
        let resized = if (rw, rh) == img.dimensions() { img.clone() } else { resize_bilinear(&img, rw, rh) };
        let (l, t) = center_crop_origin(rw, rh, 24, 24);
        let mut want = image::imageops::crop_imm(&resized, l + ch.crop.0, t + ch.crop.1, 16, 16).to_image();
        if ch.flipped {
            image::imageops::flip_horizontal_in_place(&mut want);
        }
        prop_assert_eq!(g, want);
    }

    #[test]
    fn eval_ignores_the_generator(img in image_strategy(), s1 in any::<u64>(), s2 in any::<u64>()) {
        let cfg = TransformConfig::sized(24, 16);
        let a = transform(&img, &cfg, Mode::Eval, &mut sample_rng(s1, 0, 0)).unwrap();
        let b = transform(&img, &cfg, Mode::Eval, &mut sample_rng(s2, 9, 9)).unwrap();
        prop_assert_eq!(a, b);
    }
}

#[test]
fn flips_happen_about_half_the_time() {
    let img = RgbImage::from_fn(30, 20, |x, _| image::Rgb([x as u8 * 8, 0, 0]));
    let cfg = TransformConfig::sized(24, 16);
    let flips = (0..2000)
        .filter(|&k| {
            geometry(&img, &cfg, Mode::Train, &mut sample_rng(7, 0, k))
                .unwrap()
                .1
                .flipped
        })
        .count();
    // Binomial(2000, 0.5): standard deviation 22.4; 1000 ± 112 is five of them.
    assert!((888..=1112).contains(&flips), "{flips} flips in 2000");
}
