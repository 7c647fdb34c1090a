//! The `.safetensors` files read through tch (model weights, checkpoints, optimiser states),
//! checked first against the file's size: tch's reader (the `safetensors` crate 0.3) adds a
//! tensor's end offset to the header's size unchecked, which a crafted header overflows (a panic
//! in a build with overflow checks, such as the tests' and the fuzzer's).
//!
//! Spec: spec/untrusted-input.md (the readers), spec/checkpoint-format.md.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// The largest header read (the `safetensors` crate's own limit).
pub const MAX_HEADER: u64 = 100_000_000;

/// Bytes per element of a safetensors dtype.
fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" => 8,
        _ => return None,
    })
}

/// Checks the header of the `.safetensors` file at `path` against its size: the header within the
/// file and at most [`MAX_HEADER`] bytes, every tensor's offsets inside the data and its shape
/// times its dtype's size equal to its bytes, all computed without overflow.
pub fn check_safetensors(path: &Path) -> Result<()> {
    let bad = |problem: String| Error::Format {
        path: path.to_path_buf(),
        problem,
    };
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|_| bad("shorter than the 8-byte safetensors header length".into()))?;
    let n = u64::from_le_bytes(len);
    let data_len = file_len
        .checked_sub(8)
        .and_then(|rest| rest.checked_sub(n))
        .filter(|_| n <= MAX_HEADER)
        .ok_or_else(|| {
            bad(format!(
                "declares a header of {n} bytes; the file holds {} after the length (and a header \
                 may have at most {MAX_HEADER})",
                file_len.saturating_sub(8)
            ))
        })?;
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|e| Error::io(path, e))?;
    let header: Value =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let tensors = header
        .as_object()
        .ok_or_else(|| bad("header is not a JSON object".into()))?;
    for (name, t) in tensors {
        if name == "__metadata__" {
            continue;
        }
        let ints = |key: &str| -> Option<Vec<u64>> {
            t.get(key)?.as_array()?.iter().map(Value::as_u64).collect()
        };
        let dtype = t.get("dtype").and_then(Value::as_str).unwrap_or("?");
        let size =
            dtype_size(dtype).ok_or_else(|| bad(format!("tensor `{name}` has dtype {dtype}")))?;
        let (shape, offsets) = match (ints("shape"), ints("data_offsets")) {
            (Some(s), Some(o)) if o.len() == 2 => (s, o),
            _ => {
                return Err(bad(format!(
                    "tensor `{name}` lacks a shape or two data_offsets"
                )))
            }
        };
        let bytes = shape.iter().try_fold(size, |acc, &d| acc.checked_mul(d));
        let (start, end) = (offsets[0], offsets[1]);
        if start > end || end > data_len || bytes != Some(end - start) {
            return Err(bad(format!(
                "tensor `{name}`: data_offsets [{start}, {end}] do not hold a {dtype} tensor of \
                 shape {shape:?} in {data_len} data bytes"
            )));
        }
    }
    Ok(())
}

/// Reads the named tensors of a `.safetensors` file through tch after [`check_safetensors`];
/// errors name the file.
pub fn read_safetensors(path: &Path) -> Result<Vec<(String, tch::Tensor)>> {
    check_safetensors(path)?;
    tch::Tensor::read_safetensors(path).map_err(|e| Error::torch_file(path, e))
}
