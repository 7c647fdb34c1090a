//! A small reader and writer for NumPy `.npy` files holding one 2-d float matrix, so that
//! embeddings saved by the authors' code (`np.save`) can be evaluated directly.
//!
//! Spec: spec/eval-protocol.md (inputs). Format: NumPy's `.npy` format, versions 1.0–3.0 (magic
//! `\x93NUMPY`, a little-endian header length, a Python-literal header dict with `descr`,
//! `fortran_order` and `shape`). Accepted: `<f4` and `<f8` in C order, two dimensions; everything
//! else is a [`Error::Format`] naming the file and the field. float64 is rounded to float32 on load.

use std::path::Path;

use crate::error::{Error, Result};

/// A row-major float32 matrix read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyMatrix {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows * cols` values, row-major.
    pub data: Vec<f32>,
    /// The dtype in the file (`<f4` or `<f8`).
    pub descr: String,
}

fn format_err(path: &Path, problem: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// The value of `'key':` in a `.npy` header dict, up to the next top-level `,` or `}`.
fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?;
    let rest = rest.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

/// Reads a 2-d `<f4`/`<f8` C-order `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyMatrix> {
    let bytes = std::fs::read(path).map_err(|source| Error::io(path, source))?;
    parse_npy(&bytes, path)
}

/// Parses the bytes of a `.npy` file; `path` is only used in error messages.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<NpyMatrix> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format_err(
            path,
            "not a .npy file (magic \\x93NUMPY missing)",
        ));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => {
            return Err(format_err(
                path,
                format!("unsupported .npy version {major}"),
            ))
        }
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| format_err(path, "truncated or non-text .npy header"))?;
    let descr = header_field(header, "descr")
        .ok_or_else(|| format_err(path, "header has no 'descr'"))?
        .trim_matches(['\'', '"']);
    let width = match descr {
        "<f4" => 4,
        "<f8" => 8,
        other => {
            return Err(format_err(
                path,
                format!("dtype '{other}' is not supported (float32 '<f4' or float64 '<f8')"),
            ))
        }
    };
    match header_field(header, "fortran_order") {
        Some("False") => {}
        Some("True") => {
            return Err(format_err(
                path,
                "fortran_order is True; save the array in C order (np.ascontiguousarray)",
            ))
        }
        _ => return Err(format_err(path, "header has no 'fortran_order'")),
    }
    let shape_text =
        header_field(header, "shape").ok_or_else(|| format_err(path, "header has no 'shape'"))?;
    let dims: Vec<usize> = shape_text
        .trim_matches(['(', ')'])
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format_err(path, format!("bad shape {shape_text}")))
        })
        .collect::<Result<_>>()?;
    let [rows, cols] = dims[..] else {
        return Err(format_err(
            path,
            format!("expected a 2-d array [n, d], got shape {shape_text}"),
        ));
    };
    let body = &bytes[start + header_len..];
    let want = rows.checked_mul(cols).and_then(|n| n.checked_mul(width));
    let Some(want) = want.filter(|&w| w == body.len()) else {
        return Err(format_err(
            path,
            format!(
                "shape {shape_text} of {descr} needs {} data bytes, the file has {}",
                want.map_or("more than 2^64".to_string(), |w| w.to_string()),
                body.len()
            ),
        ));
    };
    debug_assert_eq!(body.len(), want);
    let data: Vec<f32> = if width == 4 {
        body.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect()
    };
    Ok(NpyMatrix {
        rows,
        cols,
        data,
        descr: descr.to_string(),
    })
}

/// Serialises a row-major float32 matrix as a version 1.0 `.npy` file (header padded to 64 bytes).
pub fn npy_bytes(rows: usize, cols: usize, data: &[f32]) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes [`npy_bytes`] to `path`.
pub fn write_npy(path: &Path, rows: usize, cols: usize, data: &[f32]) -> Result<()> {
    std::fs::write(path, npy_bytes(rows, cols, data)).map_err(|source| Error::io(path, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data = [1.0f32, -2.5, 3.0, 0.125, 7.0, 8.0];
        let bytes = npy_bytes(2, 3, &data);
        assert_eq!(
            (10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize) % 64,
            0
        );
        let m = parse_npy(&bytes, Path::new("x.npy")).unwrap();
        assert_eq!((m.rows, m.cols, m.data.as_slice()), (2, 3, &data[..]));
    }

    #[test]
    fn float64_is_read_and_rounded_to_float32() {
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for v in [0.1f64, -3.0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let m = parse_npy(&bytes, Path::new("d.npy")).unwrap();
        assert_eq!((m.rows, m.cols, m.descr.as_str()), (1, 2, "<f8"));
        assert_eq!(m.data, [0.1f32, -3.0]);
    }

    #[test]
    fn rejections_name_the_file_and_field() {
        let p = Path::new("a.npy");
        let good = npy_bytes(1, 1, &[1.0]);
        let with = |from: &str, to: &str| -> String {
            assert_eq!(from.len(), to.len(), "the header length stays the same");
            let at = good
                .windows(from.len())
                .position(|w| w == from.as_bytes())
                .expect("pattern in header");
            let mut bytes = good.clone();
            bytes[at..at + to.len()].copy_from_slice(to.as_bytes());
            parse_npy(&bytes, p).unwrap_err().to_string()
        };
        assert_eq!(
            with("<f4", "<i8"),
            "a.npy: dtype '<i8' is not supported (float32 '<f4' or float64 '<f8')"
        );
        assert!(with("False", "True ").contains("fortran_order is True"));
        assert!(with("(1, 1)", "(1,  )").contains("expected a 2-d array [n, d], got shape (1,  )"));
        assert_eq!(
            parse_npy(b"PK\x03\x04zipzipzip", p)
                .unwrap_err()
                .to_string(),
            "a.npy: not a .npy file (magic \\x93NUMPY missing)"
        );
        let mut short = npy_bytes(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        short.truncate(short.len() - 4);
        assert_eq!(
            parse_npy(&short, p).unwrap_err().to_string(),
            "a.npy: shape (2, 2) of <f4 needs 16 data bytes, the file has 12"
        );
    }
}
