//! A query's result as one self-contained HTML page: the query and the retrieved recipes or
//! photos, every image inlined as a base64 `data:` URI, no external resource.
//!
//! Spec: spec/retrieval.md (HTML page).

use std::path::Path;

use super::{Direction, Index, QueryResult};
use crate::{Error, Result};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648, with `=` padding).
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((v >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub use crate::html::escape;

/// The image file at `path` as a `data:` URI (PNG recognised by its signature, else JPEG).
pub fn data_uri(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mime = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    };
    Ok(format!("data:{mime};base64,{}", base64(&bytes)))
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
.hits{display:flex;flex-wrap:wrap;gap:12px}\
.hit{width:180px;border:1px solid #ccc;border-radius:6px;padding:6px}\
.hit img,.query img{width:168px;height:168px;object-fit:cover;display:block}\
.meta{font-size:12px;color:#555}h3{font-size:14px;margin:4px 0}";

/// The page of `result` (rows of `index`; photos read from its data root).
pub fn render(result: &QueryResult, index: &Index) -> Result<String> {
    let mut h =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<title>seje query</title>\n<style>");
    h.push_str(STYLE);
    h.push_str("</style>\n</head>\n<body>\n<section class=\"query\">\n");
    match (&result.image, &result.recipe) {
        (Some(photo), _) => {
            h.push_str("<h1>Query photo</h1>\n");
            h.push_str(&format!(
                "<img src=\"{}\" alt=\"query photo\">\n<p class=\"meta\">{} (category {})</p>\n",
                data_uri(photo)?,
                escape(&photo.display().to_string()),
                escape(result.predicted_class.as_deref().unwrap_or("?"))
            ));
        }
        (_, Some(r)) => {
            h.push_str(&format!("<h1>Query recipe: {}</h1>\n", escape(&r.title)));
            if !r.ingredients.is_empty() {
                h.push_str("<ul>\n");
                for i in &r.ingredients {
                    h.push_str(&format!("<li>{}</li>\n", escape(i)));
                }
                h.push_str("</ul>\n");
            }
            h.push_str("<ol>\n");
            for i in &r.instructions {
                h.push_str(&format!("<li>{}</li>\n", escape(i)));
            }
            h.push_str("</ol>\n");
        }
        _ => {}
    }
    let what = match result.direction {
        Direction::ImageToRecipe => "recipes",
        Direction::RecipeToImage => "photos",
    };
    h.push_str(&format!(
        "</section>\n<h2>Nearest {what} of {} (top {})</h2>\n<section class=\"hits\">\n",
        result.gallery,
        result.hits.len()
    ));
    for hit in &result.hits {
        let photo = index.meta.data_root.join(&hit.image);
        h.push_str(&format!(
            "<div class=\"hit\">\n<img src=\"{}\" alt=\"photo of {}\">\n<h3>{}. {}</h3>\n<p class=\"meta\">distance {:.4}<br>id {}</p>\n</div>\n",
            data_uri(&photo)?,
            escape(&hit.title),
            hit.rank,
            escape(&hit.title),
            hit.distance,
            escape(&hit.id)
        ));
    }
    h.push_str(&format!(
        "</section>\n<p class=\"meta\">latency {:.2} ms (feature {:.2}, embedding {:.2}, search {:.2})</p>\n</body>\n</html>\n",
        result.latency.total_ms,
        result.latency.feature_ms,
        result.latency.embedding_ms,
        result.latency.search_ms
    ));
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Python: base64.b64encode(b"") b"", b"f" b"Zg==", b"fo" b"Zm8=", b"foo" b"Zm9v",
    // b"foobar" b"Zm9vYmFy", bytes([255, 0, 128]) b"/wCA"
    #[test]
    fn base64_matches_rfc_4648() {
        for (input, want) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
            (&[255, 0, 128], "/wCA"),
        ] {
            assert_eq!(base64(input), want);
        }
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
