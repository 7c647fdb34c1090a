//! NumPy scalars inside a checkpoint. Training scripts often store metrics computed with NumPy
//! (`np.median(ranks)`) next to the weights; pickle spells such a value as
//! `numpy.core.multiarray.scalar(numpy.dtype('f8'), raw_bytes)`, the dtype's byte order set by a
//! `BUILD`. The reader decodes the few fixed-size kinds to plain numbers and nothing else.
//!
//! Spec: spec/checkpoint-format.md (section "The pickle machine", the allow-list).

use super::pickle::Obj;

/// A `numpy.dtype` as the pickle builds it: the type code (`f8`) and, after `BUILD`, its byte
/// order (`<`, `>`, `|` or `=`).
#[derive(Clone, Debug)]
pub(crate) struct NumpyDtype {
    pub code: String,
    pub order: char,
}

/// `numpy.dtype(code, align, copy)`.
pub(crate) fn dtype(args: &[Obj]) -> Result<Obj, String> {
    match args {
        [Obj::Str(code), Obj::Bool(_), Obj::Bool(_)] => Ok(Obj::Dtype(std::rc::Rc::new(
            std::cell::RefCell::new(NumpyDtype {
                code: code.to_string(),
                order: '=',
            }),
        ))),
        _ => Err("numpy.dtype(code, align, copy)".into()),
    }
}

/// `BUILD` of a dtype with its state `(version, byteorder, ...)`.
pub(crate) fn set_dtype_state(dtype: &mut NumpyDtype, state: &Obj) -> Result<(), String> {
    let Obj::Tuple(items) = state else {
        return Err(format!("a dtype state tuple, got a {}", state.type_name()));
    };
    match items.get(1) {
        Some(Obj::Str(order)) if order.chars().count() == 1 => {
            dtype.order = order.chars().next().expect("one char");
            Ok(())
        }
        _ => Err("a byte order as the dtype state's second item".into()),
    }
}

/// `numpy.core.multiarray.scalar(dtype, bytes)`: the number the bytes encode.
pub(crate) fn scalar(args: &[Obj]) -> Result<Obj, String> {
    let [Obj::Dtype(dtype), Obj::Bytes(bytes)] = args else {
        return Err("numpy scalar(dtype, bytes)".into());
    };
    let dtype = dtype.borrow();
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
            <$t>::from_le_bytes(bytes[..].try_into().map_err(|_| wrong_size())?)
        };
    }
    Ok(match dtype.code.as_str() {
        "f8" => Obj::Float(le!(f64)),
        "f4" => Obj::Float(le!(f32).into()),
        "i8" => Obj::Int(le!(i64)),
        "i4" => Obj::Int(le!(i32).into()),
        "i2" => Obj::Int(le!(i16).into()),
        "i1" => Obj::Int(le!(i8).into()),
        "u4" => Obj::Int(le!(u32).into()),
        "u2" => Obj::Int(le!(u16).into()),
        "u1" => Obj::Int(le!(u8).into()),
        "b1" => Obj::Bool(le!(u8) != 0),
        "u8" => {
            Obj::Int(i64::try_from(le!(u64)).map_err(|_| "a numpy uint64 below 2^63".to_string())?)
        }
        other => {
            return Err(format!(
                "a numpy scalar of kind f8, f4, i8, i4, i2, i1, u8, u4, u2, u1 or b1, got {other}"
            ))
        }
    })
}
