//! Torch7 binary serialisation (`torch.save(file, obj)`, the default `'binary'` mode) read into a
//! small typed value tree. im2recipe's skip-instructions files on top of it are
//! [`crate::data::skip_instruction_vectors`].
//!
//! Spec: spec/data-t7.md (format, checks, memory). Reference reader: the PyPI `torchfile` 0.1.0
//! module (`T7Reader.read_obj`).

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use crate::{Error, Result};

/// Type tag of `nil`.
pub const TYPE_NIL: i32 = 0;
/// Type tag of a number (an f64).
pub const TYPE_NUMBER: i32 = 1;
/// Type tag of a string (i32 length, bytes).
pub const TYPE_STRING: i32 = 2;
/// Type tag of a table (object index, i32 count, key/value pairs).
pub const TYPE_TABLE: i32 = 3;
/// Type tag of a torch object (object index, version string, class name, class payload).
pub const TYPE_TORCH: i32 = 4;
/// Type tag of a boolean (an i32, 1 is true).
pub const TYPE_BOOLEAN: i32 = 5;
/// Type tag of a Lua function (refused).
pub const TYPE_FUNCTION: i32 = 6;
/// Type tag of a recursive Lua function, legacy numbering (refused).
pub const TYPE_LEGACY_RECUR_FUNCTION: i32 = 7;
/// Type tag of a recursive Lua function (refused).
pub const TYPE_RECUR_FUNCTION: i32 = 8;

/// Deepest nesting of tables and torch objects the reader follows (hostile input guard).
pub const MAX_DEPTH: usize = 256;

/// Element type of a Torch7 storage or tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `torch.ByteTensor`, u8.
    Byte,
    /// `torch.CharTensor`, i8.
    Char,
    /// `torch.ShortTensor`, i16.
    Short,
    /// `torch.IntTensor`, i32.
    Int,
    /// `torch.LongTensor`, i64 (8 bytes, as 64-bit Torch7 writes it).
    Long,
    /// `torch.FloatTensor`, f32.
    Float,
    /// `torch.DoubleTensor`, f64.
    Double,
}

impl Dtype {
    const ALL: [Dtype; 7] = [
        Dtype::Byte,
        Dtype::Char,
        Dtype::Short,
        Dtype::Int,
        Dtype::Long,
        Dtype::Float,
        Dtype::Double,
    ];

    /// The Torch7 name stem (`Float` for `torch.FloatTensor` and `torch.FloatStorage`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Byte => "Byte",
            Dtype::Char => "Char",
            Dtype::Short => "Short",
            Dtype::Int => "Int",
            Dtype::Long => "Long",
            Dtype::Float => "Float",
            Dtype::Double => "Double",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::Byte | Dtype::Char => 1,
            Dtype::Short => 2,
            Dtype::Int | Dtype::Float => 4,
            Dtype::Long | Dtype::Double => 8,
        }
    }

    /// `torch.<Name>Tensor`.
    pub fn tensor_class(self) -> String {
        format!("torch.{}Tensor", self.name())
    }

    /// `torch.<Name>Storage`.
    pub fn storage_class(self) -> String {
        format!("torch.{}Storage", self.name())
    }
}

/// The elements of one storage, as the file holds them (little-endian decoded).
#[derive(Debug, Clone, PartialEq)]
pub enum Storage {
    /// `torch.ByteStorage`.
    Byte(Vec<u8>),
    /// `torch.CharStorage`.
    Char(Vec<i8>),
    /// `torch.ShortStorage`.
    Short(Vec<i16>),
    /// `torch.IntStorage`.
    Int(Vec<i32>),
    /// `torch.LongStorage`.
    Long(Vec<i64>),
    /// `torch.FloatStorage`.
    Float(Vec<f32>),
    /// `torch.DoubleStorage`.
    Double(Vec<f64>),
}

impl Storage {
    /// Element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            Storage::Byte(_) => Dtype::Byte,
            Storage::Char(_) => Dtype::Char,
            Storage::Short(_) => Dtype::Short,
            Storage::Int(_) => Dtype::Int,
            Storage::Long(_) => Dtype::Long,
            Storage::Float(_) => Dtype::Float,
            Storage::Double(_) => Dtype::Double,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Storage::Byte(v) => v.len(),
            Storage::Char(v) => v.len(),
            Storage::Short(v) => v.len(),
            Storage::Int(v) => v.len(),
            Storage::Long(v) => v.len(),
            Storage::Float(v) => v.len(),
            Storage::Double(v) => v.len(),
        }
    }

    /// Whether the storage has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as an f64 (exact for every type but i64 beyond 2^53).
    pub fn get_f64(&self, i: usize) -> f64 {
        match self {
            Storage::Byte(v) => f64::from(v[i]),
            Storage::Char(v) => f64::from(v[i]),
            Storage::Short(v) => f64::from(v[i]),
            Storage::Int(v) => f64::from(v[i]),
            Storage::Long(v) => v[i] as f64,
            Storage::Float(v) => f64::from(v[i]),
            Storage::Double(v) => v[i],
        }
    }
}

/// A tensor: a strided view into a storage (shared with other tensors of the file when the file
/// shares it). Sizes, strides and the offset are checked against the storage when read, so every
/// index the view describes exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Element type (the tensor's class).
    pub dtype: Dtype,
    /// Sizes; `[0]` for a tensor without dimensions or storage (as `torchfile` reads it).
    pub shape: Vec<usize>,
    /// Strides in elements.
    pub strides: Vec<usize>,
    /// 0-based offset of the first element in the storage (the file holds it 1-based).
    pub offset: usize,
    /// The storage; `None` for an empty tensor.
    pub storage: Option<Rc<Storage>>,
}

impl Tensor {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the view is row-major contiguous (strides of a C array of `shape`).
    pub fn is_contiguous(&self) -> bool {
        let mut want = 1;
        for (&n, &s) in self.shape.iter().zip(&self.strides).rev() {
            if n != 1 && s != want {
                return false;
            }
            want *= n;
        }
        true
    }

    /// Storage positions of the elements in row-major order.
    pub(crate) fn positions(&self) -> impl Iterator<Item = usize> + '_ {
        let n = self.numel();
        let mut index = vec![0usize; self.shape.len()];
        let mut first = true;
        (0..n).map(move |_| {
            if first {
                first = false;
            } else {
                for d in (0..index.len()).rev() {
                    index[d] += 1;
                    if index[d] < self.shape[d] {
                        break;
                    }
                    index[d] = 0;
                }
            }
            self.offset
                + index
                    .iter()
                    .zip(&self.strides)
                    .map(|(i, s)| i * s)
                    .sum::<usize>()
        })
    }

    /// The elements in row-major order as f64 (one copy; exact but for i64 beyond 2^53).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.storage {
            None => Vec::new(),
            Some(s) => self.positions().map(|p| s.get_f64(p)).collect(),
        }
    }

    /// The elements in row-major order as f32 (one copy; f64 storages are rounded).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match self.storage.as_deref() {
            None => Vec::new(),
            Some(Storage::Float(v)) => self.positions().map(|p| v[p]).collect(),
            Some(s) => self.positions().map(|p| s.get_f64(p) as f32).collect(),
        }
    }

    /// The elements of a contiguous float tensor, borrowed from the storage (no copy).
    pub fn contiguous_f32(&self) -> Option<&[f32]> {
        match self.storage.as_deref() {
            Some(Storage::Float(v)) if self.is_contiguous() => {
                Some(&v[self.offset..self.offset + self.numel()])
            }
            _ => None,
        }
    }
}

/// One value of a Torch7 file. Tables keep their pairs in file order; tables, tensors and
/// storages that the file writes once and references again are shared (`Rc`), not copied.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `nil`.
    Nil,
    /// A Lua number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A Lua string: bytes, not necessarily UTF-8.
    String(Vec<u8>),
    /// A table: key/value pairs in file order.
    Table(Rc<Vec<(Value, Value)>>),
    /// A `torch.*Tensor`.
    Tensor(Rc<Tensor>),
    /// A `torch.*Storage` on its own.
    Storage(Rc<Storage>),
}

impl Value {
    /// The value under string key `key` of a table.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Table(pairs) => pairs.iter().find_map(|(k, v)| match k {
                Value::String(s) if s == key.as_bytes() => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// A short name of the value's kind, for messages.
    pub fn kind(&self) -> String {
        match self {
            Value::Nil => "nil".into(),
            Value::Number(_) => "a number".into(),
            Value::Bool(_) => "a boolean".into(),
            Value::String(_) => "a string".into(),
            Value::Table(p) => format!("a table of {} entries", p.len()),
            Value::Tensor(t) => format!("a {} {:?}", t.dtype.tensor_class(), t.shape),
            Value::Storage(s) => format!("a {} of {}", s.dtype().storage_class(), s.len()),
        }
    }

    /// The values of a list-like table (keys exactly 1..n, in any order), in key order.
    pub fn as_list(&self) -> Option<Vec<&Value>> {
        let Value::Table(pairs) = self else {
            return None;
        };
        let mut out: Vec<Option<&Value>> = vec![None; pairs.len()];
        for (k, v) in pairs.iter() {
            let Value::Number(x) = k else { return None };
            if x.fract() != 0.0 || *x < 1.0 || *x > pairs.len() as f64 {
                return None;
            }
            let slot = &mut out[*x as usize - 1];
            if slot.is_some() {
                return None;
            }
            *slot = Some(v);
        }
        out.into_iter().collect()
    }
}

/// Reads a Torch7 binary file (memory-mapped; see [`read_bytes`] for the memory it takes).
pub fn read_file(path: &Path) -> Result<Value> {
    let map = map_file(path)?;
    read_bytes(&map, path)
}

pub(crate) fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let io = |e: std::io::Error| Error::io(path, e);
    let file = std::fs::File::open(path).map_err(io)?;
    // SAFETY: the map is read-only and lives only while the file is parsed; a concurrent writer
    // could change the bytes under us, which at worst yields a format error, as with a read.
    unsafe { memmap2::Mmap::map(&file) }.map_err(io)
}

/// Parses the bytes of a Torch7 binary file; `path` names it in errors. Memory: each storage is
/// decoded once into a `Vec` of its element type (a `FloatStorage` of n floats takes 4n bytes);
/// tensors are views into it, so nothing else of its size is allocated. Trailing bytes after the
/// root object are refused.
pub fn read_bytes(bytes: &[u8], path: &Path) -> Result<Value> {
    let mut p = Parser {
        bytes,
        pos: 0,
        path,
        memo: HashMap::new(),
        depth: 0,
    };
    let v = p.value()?;
    if p.pos != bytes.len() {
        return Err(p.fail(
            p.pos,
            "the end of the file after the root object",
            format!("{} more bytes", bytes.len() - p.pos),
        ));
    }
    Ok(v)
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
    /// Objects read so far by index; `None` while the object is still being read.
    memo: HashMap<i32, Option<Value>>,
    depth: usize,
}

impl Parser<'_> {
    fn fail(&self, at: usize, expected: &str, found: String) -> Error {
        Error::Format {
            path: self.path.to_path_buf(),
            problem: format!("torch7 file, byte {at}: expected {expected}, found {found}"),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8]> {
        let left = self.bytes.len() - self.pos;
        if n > left {
            return Err(self.fail(
                self.pos,
                what,
                format!("the end of the file ({left} bytes left, {n} needed)"),
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        let b = self.take(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i64(&mut self, what: &str) -> Result<i64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_bits(self.i64(what)? as u64))
    }

    fn count(&mut self, what: &str) -> Result<usize> {
        let at = self.pos;
        let n = self.i32(what)?;
        usize::try_from(n).map_err(|_| self.fail(at, what, format!("negative size {n}")))
    }

    fn string(&mut self, what: &str) -> Result<Vec<u8>> {
        let n = self.count(&format!("the length of {what}"))?;
        Ok(self.take(n, what)?.to_vec())
    }

    fn value(&mut self) -> Result<Value> {
        let at = self.pos;
        let tag = self.i32("a type tag")?;
        match tag {
            TYPE_NIL => Ok(Value::Nil),
            TYPE_NUMBER => Ok(Value::Number(self.f64("a number")?)),
            TYPE_BOOLEAN => Ok(Value::Bool(self.i32("a boolean")? == 1)),
            TYPE_STRING => Ok(Value::String(self.string("a string")?)),
            TYPE_FUNCTION | TYPE_LEGACY_RECUR_FUNCTION | TYPE_RECUR_FUNCTION => Err(self.fail(
                at,
                "data (nil, number, string, boolean, table, tensor or storage)",
                format!("a Lua function (type tag {tag}), which this reader does not load"),
            )),
            TYPE_TABLE | TYPE_TORCH => {
                let index_at = self.pos;
                let index = self.i32("an object index")?;
                match self.memo.get(&index) {
                    Some(Some(v)) => return Ok(v.clone()),
                    Some(None) => {
                        return Err(self.fail(
                            index_at,
                            "a reference to a finished object",
                            format!(
                                "a reference to object {index} while it is being read \
                                 (cyclic structures are not supported)"
                            ),
                        ))
                    }
                    None => {}
                }
                if self.depth >= MAX_DEPTH {
                    return Err(self.fail(
                        at,
                        &format!("nesting of at most {MAX_DEPTH} levels"),
                        "deeper nesting".into(),
                    ));
                }
                self.memo.insert(index, None);
                self.depth += 1;
                let v = if tag == TYPE_TABLE {
                    self.table()
                } else {
                    self.torch()
                };
                self.depth -= 1;
                let v = v?;
                self.memo.insert(index, Some(v.clone()));
                Ok(v)
            }
            other => Err(self.fail(at, "a type tag (0 to 8)", format!("{other}"))),
        }
    }

    fn table(&mut self) -> Result<Value> {
        let n = self.count("the entry count of a table")?;
        // Each entry takes at least 8 bytes: never trust the count for the allocation.
        let mut pairs = Vec::with_capacity(n.min((self.bytes.len() - self.pos) / 8));
        for _ in 0..n {
            let k = self.value()?;
            let v = self.value()?;
            pairs.push((k, v));
        }
        Ok(Value::Table(Rc::new(pairs)))
    }

    fn torch(&mut self) -> Result<Value> {
        let at = self.pos;
        let version = self.string("a version string")?;
        let (class_at, class) = if version.starts_with(b"V ") {
            let v = &version[2..];
            if v != b"1" {
                return Err(self.fail(
                    at,
                    "version \"V 1\"",
                    format!("{:?}", String::from_utf8_lossy(&version)),
                ));
            }
            (self.pos, self.string("a class name")?)
        } else {
            // Files written before Torch7 versioned its classes hold the class name directly.
            (at, version)
        };
        let name = String::from_utf8_lossy(&class).into_owned();
        for d in Dtype::ALL {
            if name == d.tensor_class() {
                return self.tensor(d);
            }
            if name == d.storage_class() {
                return Ok(Value::Storage(Rc::new(self.storage(d)?)));
            }
        }
        Err(self.fail(
            class_at,
            "a tensor or storage class (torch.{Byte,Char,Short,Int,Long,Float,Double}{Tensor,Storage})",
            format!("class {name:?}"),
        ))
    }

    fn storage(&mut self, d: Dtype) -> Result<Storage> {
        let at = self.pos;
        let n = self.i64("a storage size")?;
        let n = usize::try_from(n)
            .map_err(|_| self.fail(at, "a storage size", format!("negative size {n}")))?;
        let what = format!("{n} elements of a {}", d.storage_class());
        let bytes = n
            .checked_mul(d.size())
            .ok_or_else(|| self.fail(at, &what, "a size that overflows".into()))?;
        let raw = self.take(bytes, &what)?;
        Ok(match d {
            Dtype::Byte => Storage::Byte(raw.to_vec()),
            Dtype::Char => Storage::Char(raw.iter().map(|&b| b as i8).collect()),
            Dtype::Short => Storage::Short(
                raw.chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect(),
            ),
            Dtype::Int => Storage::Int(
                raw.chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            Dtype::Float => Storage::Float(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            Dtype::Long => Storage::Long(
                raw.chunks_exact(8)
                    .map(le8)
                    .map(i64::from_le_bytes)
                    .collect(),
            ),
            Dtype::Double => Storage::Double(
                raw.chunks_exact(8)
                    .map(le8)
                    .map(f64::from_le_bytes)
                    .collect(),
            ),
        })
    }

    fn tensor(&mut self, d: Dtype) -> Result<Value> {
        let at = self.pos;
        let ndim = self.count("the dimension count of a tensor")?;
        if ndim > 64 {
            return Err(self.fail(at, "at most 64 dimensions", format!("{ndim}")));
        }
        let read = |p: &mut Self, what: &str| -> Result<Vec<usize>> {
            (0..ndim)
                .map(|_| {
                    let at = p.pos;
                    let x = p.i64(what)?;
                    usize::try_from(x).map_err(|_| p.fail(at, what, format!("negative value {x}")))
                })
                .collect()
        };
        let shape = read(self, "a tensor size")?;
        let strides = read(self, "a tensor stride")?;
        let offset_at = self.pos;
        let offset = self.i64("a storage offset")?;
        // 1-based; `i64::MIN` must not wrap (found by the fuzz target `t7`).
        let offset = offset
            .checked_sub(1)
            .and_then(|o| usize::try_from(o).ok())
            .ok_or_else(|| self.fail(offset_at, "a 1-based storage offset", format!("{offset}")))?;
        let storage_at = self.pos;
        let storage = match self.value()? {
            Value::Nil => None,
            Value::Storage(s) => Some(s),
            other => {
                return Err(self.fail(
                    storage_at,
                    &format!("the {} of a tensor (or nil)", d.storage_class()),
                    other.kind(),
                ))
            }
        };
        let Some(storage) = storage.filter(|_| ndim > 0) else {
            return Ok(Value::Tensor(Rc::new(Tensor {
                dtype: d,
                shape: vec![0],
                strides: vec![1],
                offset: 0,
                storage: None,
            })));
        };
        if storage.dtype() != d {
            return Err(self.fail(
                storage_at,
                &format!("a {} for a {}", d.storage_class(), d.tensor_class()),
                format!("a {}", storage.dtype().storage_class()),
            ));
        }
        let numel = shape
            .iter()
            .try_fold(1usize, |a, &n| a.checked_mul(n))
            .ok_or_else(|| {
                self.fail(at, "a tensor size", "sizes whose product overflows".into())
            })?;
        if numel > 0 {
            let last = shape
                .iter()
                .zip(&strides)
                .try_fold(offset, |a, (&n, &s)| a.checked_add((n - 1).checked_mul(s)?));
            if last.is_none_or(|l| l >= storage.len()) {
                return Err(self.fail(
                    at,
                    &format!("a view inside its storage of {} elements", storage.len()),
                    format!(
                        "sizes {shape:?}, strides {strides:?}, offset {}",
                        offset + 1
                    ),
                ));
            }
        }
        Ok(Value::Tensor(Rc::new(Tensor {
            dtype: d,
            shape,
            strides,
            offset,
            storage: Some(storage),
        })))
    }
}

fn le8(c: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(c);
    a
}
