//! NumPy scalars inside a checkpoint. Training scripts often store metrics computed with NumPy
//! (`np.median(ranks)`) next to the weights; pickle spells such a value as
//! `numpy.core.multiarray.scalar(numpy.dtype('f8'), raw_bytes)`, the dtype's byte order set by a
//! `BUILD`. The reader decodes the few fixed-size kinds to plain numbers and nothing else.
//!
//! Spec: spec/checkpoint-format.md (section "The pickle machine", the allow-list).

/// A `numpy.dtype` as the pickle builds it: the type code (`f8`) and, after `BUILD`, its byte
/// order (`<`, `>`, `|` or `=`).
#[derive(Clone, Debug)]
pub(crate) struct NumpyDtype {
    pub code: String,
    pub order: char,
}

impl NumpyDtype {
    /// `numpy.dtype(code, align, copy)`: native byte order until a `BUILD` says otherwise.
    pub(crate) fn new(code: &str) -> Self {
        Self {
            code: code.to_string(),
            order: '=',
        }
    }

    /// `BUILD` of the dtype: the state tuple's second item, its byte order (one character).
    pub(crate) fn set_order(&mut self, order: &str) -> Result<(), String> {
        let mut chars = order.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => {
                self.order = c;
                Ok(())
            }
            _ => Err("a byte order as the dtype state's second item".into()),
        }
    }
}

/// The plain number a NumPy scalar decodes to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum NumpyScalar {
    Float(f64),
    Int(i64),
    Bool(bool),
}

/// `numpy.core.multiarray.scalar(dtype, bytes)`: the number the bytes encode.
pub(crate) fn scalar(dtype: &NumpyDtype, bytes: &[u8]) -> Result<NumpyScalar, String> {
    use NumpyScalar::{Bool, Float, Int};
    if dtype.order == '>' {
        return Err(format!(
            "a little-endian numpy scalar, got dtype >{}",
            dtype.code
        ));
    }
    let wrong_size = || {
        format!(
            "numpy {} as {} bytes, got {}",
            dtype.code,
            dtype.code[1..].parse::<usize>().unwrap_or(0),
            bytes.len()
        )
    };
    macro_rules! le {
        ($t:ty) => {
            <$t>::from_le_bytes(bytes.try_into().map_err(|_| wrong_size())?)
        };
    }
    Ok(match dtype.code.as_str() {
        "f8" => Float(le!(f64)),
        "f4" => Float(le!(f32).into()),
        "i8" => Int(le!(i64)),
        "i4" => Int(le!(i32).into()),
        "i2" => Int(le!(i16).into()),
        "i1" => Int(le!(i8).into()),
        "u4" => Int(le!(u32).into()),
        "u2" => Int(le!(u16).into()),
        "u1" => Int(le!(u8).into()),
        "b1" => Bool(le!(u8) != 0),
        "u8" => Int(i64::try_from(le!(u64)).map_err(|_| "a numpy uint64 below 2^63".to_string())?),
        other => {
            return Err(format!(
                "a numpy scalar of kind f8, f4, i8, i4, i2, i1, u8, u4, u2, u1 or b1, got {other}"
            ))
        }
    })
}
