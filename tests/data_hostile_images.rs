//! Hostile images: a header that claims a huge picture, and a strip whose resize would be huge,
//! each refused from its sizes before the pixels are allocated; and through `seje classify`, under
//! the time and memory watchdog.
//!
//! Spec: spec/data-images.md (Limits), spec/untrusted-input.md.

#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/watchdog.rs"]
mod watchdog;

use std::time::{Duration, Instant};

use seje::data::images::{decode_bytes, MAX_IMAGE_SIDE};
use seje::data::transforms::{geometry, Mode, TransformConfig, MAX_RESIZED_PIXELS};

/// CRC-32 (IEEE) of PNG chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A valid PNG signature and IHDR declaring `w × h` 8-bit RGB, then an empty IDAT and IEND: 57
/// bytes that claim `3·w·h` bytes of pixels.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[]);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A real `w × h` grey PNG (all zero: it deflates to a few hundred bytes).
fn grey_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::GrayImage::new(w, h)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

#[test]
fn a_header_claiming_a_huge_picture_is_refused_before_decoding() {
    for (w, h) in [
        (100_000, 100_000),
        (MAX_IMAGE_SIDE + 1, 1),
        (12_000, 12_000),
    ] {
        let bytes = png_header(w, h);
        let started = Instant::now();
        let err = decode_bytes(bytes).expect_err("a huge claim is refused");
        assert!(
            err.contains("limit"),
            "{w}x{h}: the error says a limit was hit: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(1), "{w}x{h}");
    }
    // At the side limit, a small image still decodes.
    let strip = decode_bytes(grey_png(MAX_IMAGE_SIDE, 1)).expect("within the limits");
    assert_eq!(strip.dimensions(), (MAX_IMAGE_SIDE, 1));
}

#[test]
fn a_strip_whose_resize_would_be_huge_is_refused_before_resizing() {
    // 1 × 16,384 resized so that its shorter side is 256: 256 × 4,194,304 pixels (3.2 GB).
    let strip = decode_bytes(grey_png(1, MAX_IMAGE_SIDE)).unwrap();
    let mut rng = rand::rngs::mock::StepRng::new(0, 1);
    let started = Instant::now();
    // (Not `expect_err`: on a regression it would print the whole resized image.)
    let err = match geometry(&strip, &TransformConfig::paper(), Mode::Eval, &mut rng) {
        Ok((img, _)) => panic!("a strip resized to {:?} was not refused", img.dimensions()),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("1x16384 resized to 256 would be 256x4194304")
            && err.contains(&MAX_RESIZED_PIXELS.to_string()),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    // An ordinary photograph's shape goes through.
    let photo = image::RgbImage::new(512, 384);
    let (out, _) = geometry(&photo, &TransformConfig::paper(), Mode::Eval, &mut rng).unwrap();
    assert_eq!(out.dimensions(), (224, 224));
}

#[test]
fn transform_sizes_over_the_limit_are_refused() {
    let err = TransformConfig::sized(5000, 224)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("resize 5000 is over the limit of 4096"),
        "{err}"
    );
}

#[test]
fn seje_classify_refuses_a_strip_in_a_second_and_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let strip = dir.path().join("strip.png");
    std::fs::write(&strip, grey_png(1, MAX_IMAGE_SIDE)).unwrap();
    let huge = dir.path().join("huge.png");
    std::fs::write(&huge, png_header(100_000, 100_000)).unwrap();
    let weights = fixtures::repo().join("fixtures/golden/classify/tiny_classifier.pth");
    for (file, words) in [(&strip, "would be 256x4194304"), (&huge, "limit")] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_seje"));
        cmd.env("SEJE_LOG", "warn")
            .args(["classify", "--arch", "tiny", "--weights"])
            .arg(&weights)
            .arg(file);
        let run = watchdog::run(cmd, Duration::from_secs(20), 2048);
        assert_eq!(run.killed, None, "the watchdog had to stop it: {run:?}");
        assert_eq!(run.code, Some(1), "refused with an error: {run:?}");
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(
            run.stderr.contains(&*name) && run.stderr.contains(words),
            "the error names the file and the cause: {}",
            run.stderr
        );
        assert!(run.wall < Duration::from_secs(2), "took {:?}", run.wall);
        assert!(run.peak_mib < 300.0, "peak {:.0} MiB", run.peak_mib);
        eprintln!(
            "{name}: refused in {:?}, peak resident {:.0} MiB",
            run.wall, run.peak_mib
        );
    }
}
