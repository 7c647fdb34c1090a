//! Where a Recipe1M image lives and how it is decoded: the four-level tree
//! `images/{partition}/{c0}/{c1}/{c2}/{c3}/{id}` (the authors' `data_loader.py`) or a flat
//! `images/{id}` folder; JPEG and PNG through the `image` crate. What happens to an image that is
//! missing or cannot be decoded is a policy, never a silent substitute.
//!
//! Spec: spec/data-images.md (paths, decoding, policy). The authors' loader replaces an unreadable
//! image by a white 224×224 image, printing only "img missing" (`data_loader.py:12-19`); here that
//! is the `white` policy, counted and logged, and the default is to stop (spec/deviations.md D5).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use image::RgbImage;
use serde::Serialize;

use super::splits::Partition;
use crate::{Error, Result};

/// What to do with an image that is missing or cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImagePolicy {
    /// Stop with an error naming the recipe, the image and the file (the default).
    #[default]
    Fail,
    /// Leave the image out, count it and log it; a pair with no usable image left is dropped.
    Skip,
    /// Show a white image ([`white_image`]) in its place, count it and log it: the authors'
    /// `default_loader` (`data_loader.py:12-19`).
    White,
}

/// Side of the authors' stand-in image (`Image.new('RGB', (224, 224), 'white')`).
pub const WHITE_SIDE: u32 = 224;

/// The image the `white` policy shows instead of an unreadable one.
pub fn white_image() -> RgbImage {
    RgbImage::from_pixel(WHITE_SIDE, WHITE_SIDE, image::Rgb([255, 255, 255]))
}

impl FromStr for ImagePolicy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "fail" => Ok(ImagePolicy::Fail),
            "skip" => Ok(ImagePolicy::Skip),
            "white" => Ok(ImagePolicy::White),
            other => Err(format!("image policy {other:?} is not fail, skip or white")),
        }
    }
}

impl fmt::Display for ImagePolicy {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            ImagePolicy::Fail => "fail",
            ImagePolicy::Skip => "skip",
            ImagePolicy::White => "white",
        })
    }
}

/// The tree path of an image, relative to the dataset root:
/// `images/{partition}/{c0}/{c1}/{c2}/{c3}/{id}` with `ci` the i-th character of the id.
/// The id must have passed [`super::ids::check_image_id`] (ASCII, 4 or more characters).
pub fn tree_path(partition: Partition, image_id: &str) -> PathBuf {
    let mut p = PathBuf::from("images");
    p.push(partition.as_str());
    for c in image_id.chars().take(4) {
        p.push(c.to_string());
    }
    p.push(image_id);
    p
}

/// The flat path of an image, relative to the dataset root: `images/{id}`.
pub fn flat_path(image_id: &str) -> PathBuf {
    Path::new("images").join(image_id)
}

/// Finds an image: the tree path first, then the flat one. Returns the path relative to `root`,
/// or [`Error::ImageMissing`] naming both paths tried.
pub fn resolve(root: &Path, partition: Partition, recipe: &str, image_id: &str) -> Result<PathBuf> {
    let tree = tree_path(partition, image_id);
    if root.join(&tree).is_file() {
        return Ok(tree);
    }
    let flat = flat_path(image_id);
    if root.join(&flat).is_file() {
        return Ok(flat);
    }
    Err(missing(partition, recipe, image_id))
}

/// The [`Error::ImageMissing`] of an image found in neither layout.
pub fn missing(partition: Partition, recipe: &str, image_id: &str) -> Error {
    Error::ImageMissing {
        recipe: recipe.to_string(),
        image: image_id.to_string(),
        tried: format!(
            "{} and {}",
            slash(&tree_path(partition, image_id)),
            slash(&flat_path(image_id))
        ),
    }
}

/// A relative path with `/` separators, for messages that must not depend on the platform.
pub fn slash(p: &Path) -> String {
    p.iter()
        .map(|c| c.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Decodes the image at `root/rel` (JPEG or PNG, recognised by content) to 8-bit RGB.
pub fn decode(root: &Path, rel: &Path, recipe: &str, image_id: &str) -> Result<RgbImage> {
    let bytes = std::fs::read(root.join(rel)).map_err(|e| Error::io(slash(rel), e))?;
    decode_bytes(bytes).map_err(|problem| Error::ImageCorrupt {
        file: slash(rel),
        recipe: recipe.to_string(),
        image: image_id.to_string(),
        problem,
    })
}

/// The widest and tallest image decoded, in pixels (spec/data-images.md, Limits): Recipe1M's and
/// Food-101's photos are at most a few hundred pixels a side, a phone photo about 4,000.
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// The most memory one decode may allocate, output included: 256 MiB holds an RGB image of
/// 89 megapixels, a 16-bit one of 44.
pub const MAX_DECODE_BYTES: u64 = 256 << 20;

/// Decodes JPEG or PNG bytes (recognised by content) to 8-bit RGB; the error is the decoder's
/// message, lower-cased, for the caller to attach to the file it came from. A side over
/// [`MAX_IMAGE_SIDE`] or a decode needing more than [`MAX_DECODE_BYTES`] is refused from the
/// header, before the pixels are allocated.
pub fn decode_bytes(bytes: Vec<u8>) -> std::result::Result<RgbImage, String> {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string().to_lowercase())?;
    reader.limits(limits);
    let img = reader.decode().map_err(|e| e.to_string().to_lowercase())?;
    // `into_rgb8` keeps an RGB8 image's buffer instead of copying it.
    Ok(img.into_rgb8())
}

/// Resolves and decodes one image of a pair.
pub fn load(root: &Path, partition: Partition, recipe: &str, image_id: &str) -> Result<RgbImage> {
    let rel = resolve(root, partition, recipe, image_id)?;
    decode(root, &rel, recipe, image_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_and_flat_paths() {
        assert_eq!(
            slash(&tree_path(Partition::Val, "3e233001e2.jpg")),
            "images/val/3/e/2/3/3e233001e2.jpg"
        );
        assert_eq!(slash(&flat_path("3e233001e2.jpg")), "images/3e233001e2.jpg");
    }

    #[test]
    fn resolution_prefers_the_tree_and_names_both_paths_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let e = resolve(root, Partition::Train, "0a", "abcd.jpg").unwrap_err();
        assert_eq!(
            e.to_string(),
            "recipe 0a: image abcd.jpg not found (looked for images/train/a/b/c/d/abcd.jpg and images/abcd.jpg)"
        );
        std::fs::create_dir_all(root.join("images")).unwrap();
        std::fs::write(root.join("images/abcd.jpg"), b"x").unwrap();
        assert_eq!(
            slash(&resolve(root, Partition::Train, "0a", "abcd.jpg").unwrap()),
            "images/abcd.jpg"
        );
        std::fs::create_dir_all(root.join("images/train/a/b/c/d")).unwrap();
        std::fs::write(root.join("images/train/a/b/c/d/abcd.jpg"), b"x").unwrap();
        assert_eq!(
            slash(&resolve(root, Partition::Train, "0a", "abcd.jpg").unwrap()),
            "images/train/a/b/c/d/abcd.jpg"
        );
        let e = decode(root, Path::new("images/abcd.jpg"), "0a", "abcd.jpg").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("images/abcd.jpg: recipe 0a: image abcd.jpg cannot be decoded: "),
            "{e}"
        );
    }

    #[test]
    fn policies_parse() {
        assert_eq!("skip".parse::<ImagePolicy>().unwrap(), ImagePolicy::Skip);
        assert_eq!("white".parse::<ImagePolicy>().unwrap(), ImagePolicy::White);
        assert_eq!(
            "x".parse::<ImagePolicy>().unwrap_err(),
            "image policy \"x\" is not fail, skip or white"
        );
        assert_eq!(ImagePolicy::White.to_string(), "white");
    }
}
