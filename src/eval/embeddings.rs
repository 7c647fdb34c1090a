//! The evaluation's input: N image embeddings and N recipe embeddings, row i of both belonging to
//! the same recipe, with the recipe ids when they are known. Read from the project's safetensors
//! embeddings file or from two NumPy `.npy` files; written as safetensors.
//!
//! Spec: spec/eval-protocol.md (inputs). Authors' code: `test.py` saves `img_embeds` and
//! `rec_embeds` (float32, loader order) and `rec_ids` (git-disl/SEJE @ 694a835).
//!
//! The safetensors layout: tensors `image` [N, D] and `recipe` [N, D], dtype F32, and the
//! `__metadata__` key `ids`, a JSON array of N recipe id strings. The writer is deterministic:
//! header keys are sorted, data follows in key order, the header is padded to 8 bytes.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::npy;
use crate::error::{Error, Result};

/// Paired embeddings, row-major float32, on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// Number of pairs N.
    pub n: usize,
    /// Embedding width D.
    pub d: usize,
    /// Image embeddings, `n * d` values.
    pub image: Vec<f32>,
    /// Recipe embeddings, `n * d` values.
    pub recipe: Vec<f32>,
    /// Recipe id of each row, when known (`None` for `.npy` input).
    pub ids: Option<Vec<String>>,
}

impl Embeddings {
    /// Builds and validates a pair set: equal shapes, N ≥ 1, D ≥ 1, every value finite, as many
    /// ids as rows. `source` names the input in error messages.
    pub fn new(
        source: &str,
        (n, d): (usize, usize),
        image: Vec<f32>,
        recipe: Vec<f32>,
        ids: Option<Vec<String>>,
    ) -> Result<Self> {
        if n == 0 || d == 0 {
            return Err(Error::Invalid {
                what: source.to_string(),
                problem: format!("no embeddings to evaluate (shape [{n}, {d}])"),
            });
        }
        for (what, m) in [("image", &image), ("recipe", &recipe)] {
            if m.len() != n * d {
                return Err(Error::Shape {
                    what: format!("{what} embeddings of {source}"),
                    expected: format!("[{n}, {d}]"),
                    got: vec![(m.len() / d) as i64, d as i64],
                });
            }
        }
        if let Some(ids) = &ids {
            if ids.len() != n {
                return Err(Error::Invalid {
                    what: format!("recipe ids of {source}"),
                    problem: format!("{} ids for {n} rows", ids.len()),
                });
            }
        }
        let e = Self {
            n,
            d,
            image,
            recipe,
            ids,
        };
        e.check_finite(source)?;
        Ok(e)
    }

    fn check_finite(&self, source: &str) -> Result<()> {
        for (what, m) in [("image", &self.image), ("recipe", &self.recipe)] {
            if let Some(at) = m.iter().position(|v| !v.is_finite()) {
                let row = at / self.d;
                return Err(Error::NonFiniteEmbedding {
                    what: format!("{what} embeddings of {source}"),
                    row,
                    id: self
                        .ids
                        .as_ref()
                        .map_or(String::new(), |ids| format!(" (recipe id {})", ids[row])),
                    column: at % self.d,
                    value: m[at],
                });
            }
        }
        Ok(())
    }

    /// Row `i` of the image embeddings.
    pub fn image_row(&self, i: usize) -> &[f32] {
        &self.image[i * self.d..(i + 1) * self.d]
    }

    /// Row `i` of the recipe embeddings.
    pub fn recipe_row(&self, i: usize) -> &[f32] {
        &self.recipe[i * self.d..(i + 1) * self.d]
    }

    /// Reads the project's safetensors embeddings file.
    pub fn read_safetensors(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::io(path, source))?;
        let bad = |problem: String| Error::Format {
            path: path.to_path_buf(),
            problem,
        };
        let len = bytes
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
            .ok_or_else(|| bad("shorter than the 8-byte safetensors header length".into()))?;
        let end = 8usize
            .checked_add(len)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| {
                bad(format!(
                    "declares a header of {len} bytes, but the file holds {} after the length",
                    bytes.len() - 8
                ))
            })?;
        let header: Value = serde_json::from_slice(&bytes[8..end])
            .map_err(|e| bad(format!("header of {len} bytes is not valid JSON: {e}")))?;
        let data = &bytes[end..];
        let matrix = |name: &str| -> Result<(usize, usize, Vec<f32>)> {
            let t = header
                .get(name)
                .ok_or_else(|| bad(format!("no tensor `{name}`")))?;
            let dtype = t.get("dtype").and_then(Value::as_str).unwrap_or("?");
            if dtype != "F32" {
                return Err(bad(format!(
                    "tensor `{name}` has dtype {dtype}, expected F32"
                )));
            }
            let shape = usize_list(t, "shape");
            let [r, c] = shape[..] else {
                return Err(bad(format!(
                    "tensor `{name}` has shape {shape:?}, expected [n, d]"
                )));
            };
            let off = usize_list(t, "data_offsets");
            let [s, e] = off[..] else {
                return Err(bad(format!("tensor `{name}` has no data_offsets")));
            };
            let size = r.checked_mul(c).and_then(|n| n.checked_mul(4));
            if e < s || e > data.len() || Some(e - s) != size {
                return Err(bad(format!(
                    "tensor `{name}`: data_offsets [{s}, {e}] do not hold a [{r}, {c}] F32 matrix in {} data bytes",
                    data.len()
                )));
            }
            let v = data[s..e]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok((r, c, v))
        };
        let (ni, di, image) = matrix("image")?;
        let (nr, dr, recipe) = matrix("recipe")?;
        if (ni, di) != (nr, dr) {
            return Err(Error::Shape {
                what: format!("recipe embeddings of {}", path.display()),
                expected: format!("[{ni}, {di}] (the shape of the image embeddings)"),
                got: vec![nr as i64, dr as i64],
            });
        }
        let ids = match header.get("__metadata__").and_then(|m| m.get("ids")) {
            None => None,
            Some(Value::String(s)) => {
                Some(serde_json::from_str::<Vec<String>>(s).map_err(|e| {
                    bad(format!(
                        "metadata `ids` is not a JSON array of strings: {e}"
                    ))
                })?)
            }
            Some(_) => return Err(bad("metadata `ids` must be a string".into())),
        };
        Self::new(&path.display().to_string(), (ni, di), image, recipe, ids)
    }

    /// Reads two `.npy` files (image, recipe); rows are paired by position and have no ids.
    pub fn read_npy_pair(image: &Path, recipe: &Path) -> Result<Self> {
        let a = npy::read_npy(image)?;
        let b = npy::read_npy(recipe)?;
        if (a.rows, a.cols) != (b.rows, b.cols) {
            return Err(Error::Shape {
                what: format!("recipe embeddings {}", recipe.display()),
                expected: format!(
                    "[{}, {}] (the shape of the image embeddings {})",
                    a.rows,
                    a.cols,
                    image.display()
                ),
                got: vec![b.rows as i64, b.cols as i64],
            });
        }
        let source = format!("{} / {}", image.display(), recipe.display());
        Self::new(&source, (a.rows, a.cols), a.data, b.data, None)
    }

    /// The safetensors bytes of this set (deterministic: sorted keys, fixed padding).
    pub fn safetensors_bytes(&self) -> Vec<u8> {
        let nbytes = self.n * self.d * 4;
        let mut header: BTreeMap<String, Value> = BTreeMap::new();
        if let Some(ids) = &self.ids {
            let ids = serde_json::to_string(ids).expect("strings serialise");
            header.insert("__metadata__".into(), json!({ "ids": ids }));
        }
        for (i, name) in ["image", "recipe"].into_iter().enumerate() {
            header.insert(
                name.into(),
                json!({
                    "dtype": "F32",
                    "shape": [self.n, self.d],
                    "data_offsets": [i * nbytes, (i + 1) * nbytes],
                }),
            );
        }
        let mut text = serde_json::to_string(&header).expect("json serialises");
        text.push_str(&" ".repeat((8 - text.len() % 8) % 8));
        let mut out = Vec::with_capacity(8 + text.len() + 2 * nbytes);
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
        for v in self.image.iter().chain(&self.recipe) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Writes [`Embeddings::safetensors_bytes`] to `path`.
    pub fn write_safetensors(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.safetensors_bytes()).map_err(|source| Error::io(path, source))
    }
}

/// The non-negative integers of a header field (`shape`, `data_offsets`); empty when absent.
fn usize_list(tensor: &Value, field: &str) -> Vec<usize> {
    tensor
        .get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|v| v as usize)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(ids: Option<Vec<String>>) -> Embeddings {
        Embeddings::new(
            "tiny",
            (2, 2),
            vec![1.0, 0.0, 0.0, 1.0],
            vec![0.5, 0.5, -1.0, 2.0],
            ids,
        )
        .unwrap()
    }

    #[test]
    fn safetensors_round_trip_is_deterministic() {
        let dir = std::env::temp_dir().join(format!("seje-emb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("e.safetensors");
        let e = tiny(Some(vec!["a1".into(), "b\"2".into()]));
        e.write_safetensors(&p).unwrap();
        assert_eq!(Embeddings::read_safetensors(&p).unwrap(), e);
        assert_eq!(e.safetensors_bytes(), e.safetensors_bytes());
        let header = &e.safetensors_bytes()[8..];
        assert!(String::from_utf8_lossy(header).starts_with("{\"__metadata__\":{\"ids\":"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_sets_are_typed_errors() {
        let nan = Embeddings::new(
            "x",
            (2, 2),
            vec![1.0, 0.0, 0.0, 1.0],
            vec![0.5, 0.5, f32::NAN, 2.0],
            Some(vec!["r0".into(), "r1".into()]),
        )
        .unwrap_err();
        assert_eq!(
            nan.to_string(),
            "recipe embeddings of x: row 1 (recipe id r1) holds a non-finite value (NaN) at column 0"
        );
        let empty = Embeddings::new("x", (0, 4), vec![], vec![], None).unwrap_err();
        assert_eq!(
            empty.to_string(),
            "x: no embeddings to evaluate (shape [0, 4])"
        );
        let short = Embeddings::new("x", (2, 2), vec![0.0; 4], vec![0.0; 2], None).unwrap_err();
        assert_eq!(
            short.to_string(),
            "recipe embeddings of x: expected shape [2, 2], got [1, 2]"
        );
    }
}
