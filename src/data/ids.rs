//! Recipe and image ids: what Recipe1M's ids look like, and the refusal of anything that could
//! name a file outside the image root.
//!
//! Spec: spec/data-recipe1m.md (ids). Recipe ids are lowercase hex (10 characters in Recipe1M);
//! image ids are a lowercase hex stem of at least four characters (the four-level image tree is
//! built from them) and an extension `jpg`, `jpeg` or `png`.

/// Image file extensions a dataset may use.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// Why `id` could escape a directory, if it could.
fn escapes(id: &str) -> bool {
    id.contains("..") || id.contains('/') || id.contains('\\')
}

fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `Ok` for a valid recipe id, else the reason (lower-case words, no trailing period).
pub fn check_recipe_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        Err("is empty".into())
    } else if escapes(id) {
        Err("contains '..', '/' or '\\' and could escape the image root".into())
    } else if !is_lower_hex(id) {
        Err("is not lowercase hex".into())
    } else {
        Ok(())
    }
}

/// `Ok` for a valid image id (`<hex stem>.<jpg|jpeg|png>`, stem of 4 or more characters), else
/// the reason.
pub fn check_image_id(id: &str) -> Result<(), String> {
    if escapes(id) {
        return Err("contains '..', '/' or '\\' and could escape the image root".into());
    }
    let Some((stem, ext)) = id.rsplit_once('.') else {
        return Err("has no extension (jpg, jpeg or png)".into());
    };
    if !IMAGE_EXTENSIONS.contains(&ext) {
        return Err(format!("has extension {ext:?}, not jpg, jpeg or png"));
    }
    if !is_lower_hex(stem) {
        return Err("does not have a lowercase hex stem".into());
    }
    if stem.len() < 4 {
        return Err("has a stem shorter than the 4 characters of the image tree".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_ids() {
        assert!(check_recipe_id("000018c8a5").is_ok());
        assert_eq!(check_recipe_id("").unwrap_err(), "is empty");
        assert!(check_recipe_id("../etc").unwrap_err().contains("escape"));
        assert!(check_recipe_id("a/b").unwrap_err().contains("escape"));
        assert!(check_recipe_id("a\\b").unwrap_err().contains("escape"));
        assert_eq!(
            check_recipe_id("00ABCD").unwrap_err(),
            "is not lowercase hex"
        );
        assert_eq!(check_recipe_id("0x12").unwrap_err(), "is not lowercase hex");
    }

    #[test]
    fn image_ids() {
        assert!(check_image_id("3e233001e2.jpg").is_ok());
        assert!(check_image_id("3e23.png").is_ok());
        assert!(check_image_id("3e233001e2.jpeg").is_ok());
        assert!(check_image_id("../3e23.jpg")
            .unwrap_err()
            .contains("escape"));
        assert!(check_image_id("3e23.gif").unwrap_err().contains("\"gif\""));
        assert!(check_image_id("3e23").unwrap_err().contains("no extension"));
        assert!(check_image_id("zz99.jpg").unwrap_err().contains("hex stem"));
        assert!(check_image_id("3e2.jpg").unwrap_err().contains("shorter"));
    }
}
