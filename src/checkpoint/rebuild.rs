//! Tensors from storages, as `torch._utils._rebuild_tensor_v2` and `_rebuild_parameter` build
//! them: a view `(storage_offset, size, stride)` into a flat storage that other tensors may share.
//!
//! Spec: spec/checkpoint-format.md (section "Tensors").

use std::rc::Rc;

use super::pickle::{Global, Obj};

/// Calls an allow-listed tensor global with its pickled arguments. `Err` says what was wrong with
/// them; the caller adds the file and position.
pub(crate) fn call(global: Global, args: &[Obj]) -> Result<Obj, String> {
    match global {
        Global::RebuildTensorV2 => rebuild_tensor_v2(args),
        // `_rebuild_parameter(data, requires_grad, backward_hooks)`: an nn.Parameter is its data.
        Global::RebuildParameter => match args {
            [Obj::Tensor(t), Obj::Bool(_), _] => Ok(Obj::Tensor(t.clone())),
            _ => Err(format!("(tensor, bool, hooks), got ({})", type_names(args))),
        },
        other => Err(format!("{other:?} does not build a tensor")),
    }
}

fn type_names(args: &[Obj]) -> String {
    args.iter()
        .map(Obj::type_name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn ints(obj: &Obj, what: &str) -> Result<Vec<i64>, String> {
    let Obj::Tuple(items) = obj else {
        return Err(format!(
            "{what} as a tuple of ints, got {}",
            obj.type_name()
        ));
    };
    items
        .iter()
        .map(|i| match i {
            Obj::Int(v) if *v >= 0 => Ok(*v),
            other => Err(format!(
                "{what} as non-negative ints, got {}",
                match other {
                    Obj::Int(v) => v.to_string(),
                    o => o.type_name(),
                }
            )),
        })
        .collect()
}

/// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
/// [, metadata])`.
fn rebuild_tensor_v2(args: &[Obj]) -> Result<Obj, String> {
    let (storage, offset, size, stride, metadata) = match args {
        [Obj::Storage(s), Obj::Int(o), size, stride, Obj::Bool(_), _hooks] => {
            (s, *o, size, stride, None)
        }
        [Obj::Storage(s), Obj::Int(o), size, stride, Obj::Bool(_), _hooks, m] => {
            (s, *o, size, stride, Some(m))
        }
        _ => {
            return Err(format!(
                "(storage, int, size, stride, bool, hooks[, metadata]), got ({})",
                type_names(args)
            ))
        }
    };
    if let Some(m) = metadata {
        let empty = match m {
            Obj::None => true,
            Obj::Dict(d) => d.borrow().entries.is_empty(),
            _ => false,
        };
        if !empty {
            return Err(format!(
                "no tensor metadata (it records Python-side tensor state), got a {}",
                m.type_name()
            ));
        }
    }
    let size = ints(size, "size")?;
    let stride = ints(stride, "stride")?;
    if size.len() != stride.len() {
        return Err(format!(
            "as many strides as sizes, got size {size:?} and stride {stride:?}"
        ));
    }
    let numel = storage.data.size1().map_err(|e| e.to_string())?;
    if offset < 0 || offset > numel {
        return Err(format!(
            "a storage offset within storage `{}` of {numel} elements, got {offset}",
            storage.key
        ));
    }
    // The last element the view touches must lie inside the storage.
    if size.iter().all(|&s| s > 0) {
        let last = size.iter().zip(&stride).try_fold(offset, |acc, (&n, &s)| {
            (n - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
        });
        if last.is_none_or(|l| l >= numel) {
            return Err(format!(
                "a view inside storage `{}` of {numel} elements, got offset {offset}, size \
                 {size:?}, stride {stride:?}",
                storage.key
            ));
        }
    }
    let view = storage
        .data
        .f_as_strided(size.as_slice(), stride.as_slice(), offset)
        .map_err(|e| e.to_string())?;
    Ok(Obj::Tensor(Rc::new(view)))
}
