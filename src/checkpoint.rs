//! Reading `torch.save` files without Python: torchvision's pretrained ImageNet weights and the
//! SEJE authors' checkpoint (`SEJE-resnext101.pth.tar`, a dict with `epoch`, `state_dict`,
//! `optimizer`, best scores). libtorch's own loader cannot rebuild `collections.OrderedDict`, so
//! this module reads both containers `torch.save` has written (the zip archive of PyTorch ≥ 1.6,
//! the legacy pickle stream before it) and runs a small, allow-listed pickle machine itself.
//!
//! Spec: spec/checkpoint-format.md; its limits on hostile files: spec/untrusted-input.md.

pub mod epoch;
mod legacy;
pub mod load;
mod numpy;
mod pickle;
mod rebuild;
pub mod safetensors;
mod torch_zip;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use tch::Tensor;

use crate::{Error, Result};
use pickle::Obj;

pub use load::{load_into, torchvision_name, LoadReport};

/// A Python value read from a checkpoint: enough to navigate the dicts `torch.save` writes.
#[derive(Debug)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int (checkpoints hold none beyond 64 bits; larger ones are refused).
    Int(i64),
    /// A float.
    Float(f64),
    /// A str.
    Str(String),
    /// A bytes object.
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict or `collections.OrderedDict`, in insertion order.
    Dict(Dict),
    /// A tensor on the CPU, with the offset, size and stride it was saved with: a view of a
    /// storage that other tensors of the same file may share.
    Tensor(Tensor),
}

/// A dict in insertion order, with the instance attributes an `OrderedDict` was pickled with
/// (`model.state_dict()` carries `_metadata`, the per-module versions, there).
#[derive(Debug, Default)]
pub struct Dict {
    /// `(key, value)` pairs in insertion order.
    pub entries: Vec<(Value, Value)>,
    /// Attributes set on the object (`_metadata`), in order.
    pub attributes: Vec<(String, Value)>,
}

impl Dict {
    /// The value under string key `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
            .map(|(_, v)| v)
    }

    /// The value under integer key `key` (`best_val_i2t[5]`).
    pub fn get_int(&self, key: i64) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Int(i) if *i == key))
            .map(|(_, v)| v)
    }

    /// The attribute `name` (`_metadata`).
    pub fn attribute(&self, name: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

impl Value {
    /// Python's name for the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Tensor(_) => "tensor",
        }
    }

    /// The dict this value is, if it is one.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// `self[key]` for a dict with string keys.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict().and_then(|d| d.get(key))
    }

    /// The int this value is, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The float this value is (ints widen), if it is a number.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The str this value is, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The tensor this value is, if it is one.
    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// The items of a list or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }
}

/// PyTorch's name for a dtype (`torch.float32`), as `str(tensor.dtype)` prints it.
pub fn torch_dtype_name(kind: tch::Kind) -> &'static str {
    use tch::Kind as K;
    match kind {
        K::Float => "torch.float32",
        K::Double => "torch.float64",
        K::Half => "torch.float16",
        K::BFloat16 => "torch.bfloat16",
        K::Int64 => "torch.int64",
        K::Int => "torch.int32",
        K::Int16 => "torch.int16",
        K::Int8 => "torch.int8",
        K::Uint8 => "torch.uint8",
        K::Bool => "torch.bool",
        _ => "unsupported",
    }
}

/// Nesting deeper than this is refused: a real checkpoint is a few levels deep, and a pickle can
/// build a list that contains itself.
const MAX_DEPTH: usize = 256;

/// How large a [`Value`] tree one byte of pickle may unfold into, in nodes plus copied string and
/// bytes lengths. A pickle shares objects by reference (`DUP`, memo `GET`) and a [`Value`] is a
/// tree, so every shared use is a copy: sixty `DUP`, `TUPLE2` pairs (120 bytes) describe 2^60
/// nodes. The committed checkpoints (torchvision-style, the authors' layout, both containers)
/// unfold to at most 0.41 units per pickle byte, so a tree may cost
/// [`UNFOLD_PER_BYTE`] units per byte of the pickle plus [`UNFOLD_FLOOR`]; beyond that the file is
/// refused. Spec: spec/checkpoint-format.md ("Limits").
pub const UNFOLD_PER_BYTE: usize = 8;
/// See [`UNFOLD_PER_BYTE`]: the allowance every pickle has, however short (about 30 MB of nodes).
pub const UNFOLD_FLOOR: usize = 1 << 18;

/// The conversion of a pickled object into a [`Value`] tree, within a budget.
struct Unfold<'a> {
    file: &'a Path,
    /// Units (nodes plus copied bytes) still allowed.
    left: usize,
    /// The allowance this conversion started with, for the error.
    allowed: usize,
    /// The pickle's length, for the error.
    pickle_len: usize,
}

impl Unfold<'_> {
    fn spend(&mut self, units: usize) -> Result<()> {
        self.left = self
            .left
            .checked_sub(units)
            .ok_or_else(|| Error::Checkpoint {
                file: self.file.to_path_buf(),
                expected: format!(
                    "an object of at most {} nodes and copied bytes for its {}-byte pickle \
                 ({UNFOLD_PER_BYTE} per byte plus {UNFOLD_FLOOR})",
                    self.allowed, self.pickle_len
                ),
                found: "more, through shared references (`DUP` or memo `GET` of a container used \
                    many times)"
                    .into(),
            })?;
        Ok(())
    }

    fn value(&mut self, obj: &Obj, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(Error::Checkpoint {
                file: self.file.to_path_buf(),
                expected: format!("objects nested at most {MAX_DEPTH} deep"),
                found: "deeper nesting (a self-referencing container?)".into(),
            });
        }
        self.spend(1)?;
        Ok(match obj {
            Obj::None => Value::None,
            Obj::Bool(b) => Value::Bool(*b),
            Obj::Int(i) => Value::Int(*i),
            Obj::Float(f) => Value::Float(*f),
            Obj::Str(s) => {
                self.spend(s.len())?;
                Value::Str(s.to_string())
            }
            Obj::Bytes(b) => {
                self.spend(b.len())?;
                Value::Bytes(b.to_vec())
            }
            Obj::Tuple(items) => Value::Tuple(self.seq(items, depth)?),
            Obj::List(items) => Value::List(self.seq(&items.borrow(), depth)?),
            Obj::Dict(d) => {
                let d = d.borrow();
                let mut out = Dict::default();
                for (k, v) in &d.entries {
                    let k = self.value(k, depth + 1)?;
                    out.entries.push((k, self.value(v, depth + 1)?));
                }
                for (k, v) in &d.attributes {
                    self.spend(k.len())?;
                    out.attributes.push((k.clone(), self.value(v, depth + 1)?));
                }
                Value::Dict(out)
            }
            Obj::Tensor(t) => Value::Tensor(t.shallow_clone()),
            Obj::Global(_) | Obj::Storage(_) | Obj::Dtype(_) => {
                return Err(Error::Checkpoint {
                    file: self.file.to_path_buf(),
                    expected: "plain data (dicts, lists, numbers, strings, tensors)".into(),
                    found: format!("a bare {} in the object tree", obj.type_name()),
                })
            }
        })
    }

    fn seq(&mut self, items: &[Obj], depth: usize) -> Result<Vec<Value>> {
        items.iter().map(|o| self.value(o, depth + 1)).collect()
    }
}

/// `obj`, built by a pickle of `pickle_len` bytes, as a [`Value`] tree within the unfolding
/// budget.
fn to_value(obj: &Obj, file: &Path, pickle_len: usize) -> Result<Value> {
    let allowed = pickle_len
        .saturating_mul(UNFOLD_PER_BYTE)
        .saturating_add(UNFOLD_FLOOR);
    Unfold {
        file,
        left: allowed,
        allowed,
        pickle_len,
    }
    .value(obj, 0)
}

/// The first bytes of a zip archive.
const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";
/// `PROTO`: the legacy stream is a run of pickles, the first holding the magic number.
const PICKLE_PROTO: u8 = 0x80;

/// Reads a `torch.save` file into a [`Value`] tree: the zip format of PyTorch ≥ 1.6 or the legacy
/// stream before it, told apart by their first bytes. Tensors are rebuilt on the CPU whatever
/// device they were saved from.
///
/// # Errors
/// [`Error::PickleGlobal`] for a class outside the allow-list, [`Error::PickleOpcode`] for an
/// opcode the reader lacks, [`Error::Checkpoint`] for anything malformed, truncated or big-endian,
/// [`Error::Io`] when the file cannot be read.
pub fn read_torch_file(path: impl AsRef<Path>) -> Result<Value> {
    let path = path.as_ref();
    let mut head = [0u8; 4];
    let mut f = File::open(path).map_err(torch_zip::io(path))?;
    let n = f.read(&mut head).map_err(torch_zip::io(path))?;
    drop(f);
    let (obj, pickle_len) = if n == 4 && head == ZIP_MAGIC {
        torch_zip::load(path)?
    } else if n >= 1 && head[0] == PICKLE_PROTO {
        tracing::debug!(file = %path.display(), "legacy torch.save stream");
        legacy::load(path)?
    } else {
        return Err(Error::Checkpoint {
            file: path.to_path_buf(),
            expected: "a torch.save zip archive (starting with `PK\\x03\\x04`) or a legacy \
                       torch.save stream (a pickle, starting with `\\x80`)"
                .into(),
            found: format!("a file starting with {:02x?}", &head[..n]),
        });
    };
    to_value(&obj, path, pickle_len)
}

/// The named tensors of a state dict, in file order: the top-level dict of `path` when `key` is
/// `None` (torchvision's `.pth` files), else the dict under `key` (`Some("state_dict")` in the
/// SEJE checkpoint). Each tensor is contiguous and has the values `torch.load` gives.
///
/// # Errors
/// Those of [`read_torch_file`], and [`Error::Checkpoint`] when the dict is missing or holds
/// something other than string keys and tensor values.
pub fn read_state_dict(path: impl AsRef<Path>, key: Option<&str>) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    state_dict_of(&read_torch_file(path)?, path, key)
}

/// [`read_state_dict`] of a file already read with [`read_torch_file`] (`path` names it in
/// errors), for a caller that also needs the file's other entries.
pub fn state_dict_of(
    root: &Value,
    path: &Path,
    key: Option<&str>,
) -> Result<Vec<(String, Tensor)>> {
    let unexpected = |expected: String, found: String| Error::Checkpoint {
        file: path.to_path_buf(),
        expected,
        found,
    };
    let dict = match key {
        None => root.as_dict().ok_or_else(|| {
            unexpected(
                "a state dict at the top level".into(),
                format!("a {}", root.type_name()),
            )
        })?,
        Some(k) => {
            let top = root.as_dict().ok_or_else(|| {
                unexpected(
                    format!("a dict with key `{k}`"),
                    format!("a {}", root.type_name()),
                )
            })?;
            let v = top.get(k).ok_or_else(|| {
                let keys: Vec<String> = top
                    .entries
                    .iter()
                    .map(|(k, _)| match k {
                        Value::Str(s) => s.clone(),
                        other => format!("<{}>", other.type_name()),
                    })
                    .collect();
                unexpected(format!("a key `{k}`"), format!("keys {keys:?}"))
            })?;
            v.as_dict().ok_or_else(|| {
                unexpected(
                    format!("a state dict under `{k}`"),
                    format!("a {}", v.type_name()),
                )
            })?
        }
    };
    // Tensors come back contiguous. A view that is not (a transposed matrix, a broadcast) is
    // copied out, which costs memory the file need not hold: a stride-0 view of one float can
    // claim 10^6 × 10^6 elements. The copies together may take at most as many bytes as the file.
    let file_len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let mut copied: u64 = 0;
    let mut out = Vec::with_capacity(dict.entries.len());
    for (k, v) in &dict.entries {
        let Value::Str(name) = k else {
            return Err(unexpected(
                "tensor names as strings".into(),
                format!("a {} key", k.type_name()),
            ));
        };
        let Value::Tensor(t) = v else {
            return Err(unexpected(
                format!("a tensor under `{name}`"),
                format!("a {}", v.type_name()),
            ));
        };
        if !t.is_contiguous() {
            let bytes = t
                .size()
                .iter()
                .try_fold(t.kind().elt_size_in_bytes() as u64, |acc, &n| {
                    u64::try_from(n).ok().and_then(|n| acc.checked_mul(n))
                });
            copied = bytes
                .and_then(|b| copied.checked_add(b))
                .unwrap_or(u64::MAX);
            if copied > file_len {
                return Err(unexpected(
                    format!("views that fit in the file's {file_len} bytes once made contiguous"),
                    format!(
                        "`{name}`, a view of shape {:?} and stride {:?} (a broadcast?), past that",
                        t.size(),
                        t.stride()
                    ),
                ));
            }
        }
        out.push((name.clone(), t.f_contiguous()?));
    }
    tracing::debug!(file = %path.display(), tensors = out.len(), "state dict read");
    Ok(out)
}

/// A host for plain pickles: no persistent ids, no calls.
struct PlainPickle;

impl pickle::Host for PlainPickle {
    fn persistent_load(&mut self, _pid: &pickle::Obj) -> std::result::Result<pickle::Obj, String> {
        Err("a plain pickle has no persistent ids".into())
    }
    fn call(
        &mut self,
        global: pickle::Global,
        _args: &[pickle::Obj],
    ) -> std::result::Result<pickle::Obj, String> {
        Err(format!("a plain pickle calls nothing ({global:?})"))
    }
}

/// A pickle file holding one list of strings, as Python 2 and 3 write it (protocol 0, as Python
/// 2's `pickle.dump` writes by default, up to 4; Python 2 `str` and `unicode` alike): im2recipe's
/// `{train,val,test}_keys.pkl`, ACME's `test_ids.pkl`. Nothing is imported or called.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::PickleOpcode`] or [`Error::Checkpoint`]
/// for anything malformed or truncated, and [`Error::Checkpoint`] when the pickle is not a list
/// of strings (naming the first item that is not one).
pub fn read_string_list_pickle(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = path.as_ref();
    let data = std::fs::read(path).map_err(torch_zip::io(path))?;
    let obj = pickle::unpickle(path, "the pickle", &data, &mut PlainPickle)?;
    let unexpected = |expected: &str, found: String| Error::Checkpoint {
        file: path.to_path_buf(),
        expected: expected.into(),
        found,
    };
    let pickle::Obj::List(items) = &obj else {
        return Err(unexpected(
            "a list of strings",
            format!("a {}", obj.type_name()),
        ));
    };
    let items = items.borrow();
    let mut out = Vec::with_capacity(items.len());
    // A memoised string fetched again is copied each time: the same unfolding budget as
    // `read_torch_file`'s.
    let allowed = data
        .len()
        .saturating_mul(UNFOLD_PER_BYTE)
        .saturating_add(UNFOLD_FLOOR);
    let mut copied = 0usize;
    for (i, item) in items.iter().enumerate() {
        copied = copied.saturating_add(match item {
            pickle::Obj::Str(s) => s.len() + 1,
            pickle::Obj::Bytes(b) => b.len() + 1,
            _ => 0,
        });
        if copied > allowed {
            return Err(unexpected(
                &format!(
                    "a list of at most {allowed} characters in all for its {}-byte pickle \
                     ({UNFOLD_PER_BYTE} per byte plus {UNFOLD_FLOOR})",
                    data.len()
                ),
                format!("more by item {i}, through a string used many times (memo `GET`)"),
            ));
        }
        match item {
            pickle::Obj::Str(s) => out.push(s.to_string()),
            pickle::Obj::Bytes(b) => out.push(b.iter().map(|&c| char::from(c)).collect()),
            other => {
                return Err(unexpected(
                    "a list of strings",
                    format!("item {i} is a {}", other.type_name()),
                ))
            }
        }
    }
    Ok(out)
}
