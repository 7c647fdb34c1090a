//! A small pickle virtual machine for the streams `torch.save` writes (pickle protocol 2, plus the
//! few protocol 3–4 opcodes a newer writer may add). It never imports or calls Python code: a
//! `GLOBAL` is resolved against a fixed allow-list and anything else is refused with its name.
//!
//! Spec: spec/checkpoint-format.md (the opcode table and the allow-list).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use tch::{Kind, Tensor};

use super::numpy::{self, NumpyDtype, NumpyScalar};
use crate::{Error, Result};

/// A Python object as the machine holds it. Lists and dicts are shared and mutable, as in Python:
/// a memoised dict that is filled later is the same dict when it is fetched again.
#[derive(Clone)]
pub(crate) enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Rc<[Obj]>),
    List(Rc<RefCell<Vec<Obj>>>),
    Dict(Rc<RefCell<DictObj>>),
    Global(Global),
    Storage(Rc<Storage>),
    Tensor(Rc<Tensor>),
    /// A `numpy.dtype`, only ever an argument of a NumPy scalar.
    Dtype(Rc<RefCell<NumpyDtype>>),
}

/// A dict (or `collections.OrderedDict`): entries in insertion order, plus the instance attributes
/// a `BUILD` gave it (`state_dict()` stores `_metadata` there).
#[derive(Default)]
pub(crate) struct DictObj {
    pub entries: Vec<(Obj, Obj)>,
    pub attributes: Vec<(String, Obj)>,
    /// Where each key's entry is, so that setting an item takes constant time (a dict of n
    /// entries costs O(n), not O(n²)).
    index: HashMap<Key, usize>,
}

/// A dict key as Python compares it: `True == 1`, `0.0 == -0.0`. Only hashable values are keys,
/// as in Python (a list or dict key is refused), and a tuple key may hold at most
/// [`MAX_KEY_ITEMS`] values in all, so hashing a key never walks a shared-reference tower.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    None,
    Int(i64),
    /// The bits of a float that is not an integer (NaN keys are refused: Python finds a NaN key
    /// only through the very same object, which a pickle cannot express reliably).
    Float(u64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Vec<Key>),
}

/// The most values a tuple key may hold, counting nested tuples' values. Checkpoints use string
/// and integer keys.
const MAX_KEY_ITEMS: usize = 64;

/// One storage of the archive: a flat 1-d tensor of its dtype, shared by every tensor viewing it.
pub(crate) struct Storage {
    pub key: String,
    pub data: Tensor,
}

impl Storage {
    /// Records storage `key` holding `data` in `registry` (so later tensors share it) and returns
    /// the pickle object that names it.
    pub fn register(
        registry: &mut std::collections::HashMap<String, Rc<Storage>>,
        key: &str,
        data: Tensor,
    ) -> Obj {
        let storage = Rc::new(Storage {
            key: key.to_string(),
            data,
        });
        registry.insert(key.to_string(), storage.clone());
        Obj::Storage(storage)
    }

    /// Storage `key` if an earlier persistent id named it (with the same element type; another
    /// type is an error), `None` on its first mention.
    pub fn lookup(
        registry: &std::collections::HashMap<String, Rc<Storage>>,
        key: &str,
        kind: tch::Kind,
    ) -> Option<std::result::Result<Obj, String>> {
        registry.get(key).map(|s| {
            if s.data.kind() == kind {
                Ok(Obj::Storage(s.clone()))
            } else {
                Err(format!(
                    "storage `{key}` as {kind:?}, but it was first named as {:?}",
                    s.data.kind()
                ))
            }
        })
    }
}

/// The Python globals the machine accepts. Each is pure: it builds data and runs nothing else.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Global {
    /// `collections.OrderedDict`: called with no arguments, an empty dict.
    OrderedDict,
    /// `torch._utils._rebuild_tensor_v2`.
    RebuildTensorV2,
    /// `torch._utils._rebuild_parameter`.
    RebuildParameter,
    /// `torch.<Name>Storage`: only a tag naming the dtype inside a persistent id.
    StorageType(Kind),
    /// `_codecs.encode`: how protocol 2 spells a `bytes` object (`encode(text, "latin1")`).
    CodecsEncode,
    /// `numpy.dtype`: a type code for a NumPy scalar.
    NumpyDtype,
    /// `numpy.core.multiarray.scalar` (`numpy._core` since NumPy 2): a NumPy number.
    NumpyScalar,
}

/// Resolves `module.name` against the allow-list.
fn allowed_global(module: &str, name: &str) -> Option<Global> {
    let storage = |kind| Some(Global::StorageType(kind));
    match (module, name) {
        ("collections", "OrderedDict") => Some(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensorV2),
        ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
        ("_codecs", "encode") => Some(Global::CodecsEncode),
        ("numpy", "dtype") => Some(Global::NumpyDtype),
        ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") => Some(Global::NumpyScalar),
        ("torch", "DoubleStorage") => storage(Kind::Double),
        ("torch", "FloatStorage") => storage(Kind::Float),
        ("torch", "HalfStorage") => storage(Kind::Half),
        ("torch", "BFloat16Storage") => storage(Kind::BFloat16),
        ("torch", "LongStorage") => storage(Kind::Int64),
        ("torch", "IntStorage") => storage(Kind::Int),
        ("torch", "ShortStorage") => storage(Kind::Int16),
        ("torch", "CharStorage") => storage(Kind::Int8),
        ("torch", "ByteStorage") => storage(Kind::Uint8),
        ("torch", "BoolStorage") => storage(Kind::Bool),
        _ => None,
    }
}

/// What the machine asks its container for: the object a persistent id stands for (in a torch
/// archive, a storage record), and what an allow-listed call returns.
pub(crate) trait Host {
    /// Resolves a `BINPERSID` id.
    fn persistent_load(&mut self, pid: &Obj) -> std::result::Result<Obj, String>;
    /// Calls an allow-listed global that builds a tensor.
    fn call(&mut self, global: Global, args: &[Obj]) -> std::result::Result<Obj, String>;
}

impl Obj {
    /// Python's name for the object's type, for error messages.
    pub fn type_name(&self) -> String {
        match self {
            Obj::None => "None".into(),
            Obj::Bool(_) => "bool".into(),
            Obj::Int(_) => "int".into(),
            Obj::Float(_) => "float".into(),
            Obj::Str(_) => "str".into(),
            Obj::Bytes(_) => "bytes".into(),
            Obj::Tuple(_) => "tuple".into(),
            Obj::List(_) => "list".into(),
            Obj::Dict(_) => "dict".into(),
            Obj::Global(g) => format!("global {g:?}"),
            Obj::Storage(_) => "storage".into(),
            Obj::Tensor(_) => "tensor".into(),
            Obj::Dtype(_) => "numpy.dtype".into(),
        }
    }
}

impl Key {
    /// The key `obj` stands for, or why it cannot be one. `budget` counts the values a tuple key
    /// may still hold.
    fn of(obj: &Obj, budget: &mut usize) -> std::result::Result<Key, String> {
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| format!("a dict key of at most {MAX_KEY_ITEMS} values"))?;
        Ok(match obj {
            Obj::None => Key::None,
            Obj::Bool(b) => Key::Int(i64::from(*b)),
            Obj::Int(i) => Key::Int(*i),
            Obj::Float(f) if f.is_nan() => return Err("a NaN dict key".into()),
            // Python: 2.0 == 2 and hash(2.0) == hash(2).
            Obj::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Key::Int(*f as i64),
            Obj::Float(f) => Key::Float(f.to_bits()),
            Obj::Str(s) => Key::Str(s.clone()),
            Obj::Bytes(b) => Key::Bytes(b.clone()),
            Obj::Tuple(items) => Key::Tuple(
                items
                    .iter()
                    .map(|item| Key::of(item, budget))
                    .collect::<std::result::Result<_, _>>()?,
            ),
            other => return Err(format!("an unhashable {} as a dict key", other.type_name())),
        })
    }
}

impl DictObj {
    /// `d[key] = value`: replaces an equal key's value in place, else appends.
    fn insert(&mut self, key: Obj, value: Obj) -> std::result::Result<(), String> {
        let mut budget = MAX_KEY_ITEMS;
        let k = Key::of(&key, &mut budget)?;
        match self.index.get(&k) {
            Some(&at) => self.entries[at].1 = value,
            None => {
                self.index.insert(k, self.entries.len());
                self.entries.push((key, value));
            }
        }
        Ok(())
    }
}

/// Dropping a container drops its items one after another, not by recursion: a pickle of a few
/// megabytes can nest a million containers, and dropping them recursively would overflow the
/// stack (Python's own deallocator defers the same way).
impl Drop for Obj {
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.take_items(&mut pending);
        while let Some(mut obj) = pending.pop() {
            obj.take_items(&mut pending);
            // `obj` now holds no items: dropping it recurses no further.
        }
    }
}

impl Obj {
    /// Moves the items of a container that nothing else shares into `out` (a shared one only
    /// loses a reference when it is dropped, which recurses no further).
    fn take_items(&mut self, out: &mut Vec<Obj>) {
        match self {
            Obj::Tuple(items) => {
                if let Some(items) = Rc::get_mut(items) {
                    out.extend(
                        items
                            .iter_mut()
                            .map(|item| std::mem::replace(item, Obj::None)),
                    );
                }
            }
            Obj::List(list) => {
                if let Some(list) = Rc::get_mut(list) {
                    out.append(list.get_mut());
                }
            }
            Obj::Dict(dict) => {
                if let Some(dict) = Rc::get_mut(dict) {
                    let dict = dict.get_mut();
                    dict.index.clear();
                    for (k, v) in dict.entries.drain(..) {
                        out.push(k);
                        out.push(v);
                    }
                    out.extend(dict.attributes.drain(..).map(|(_, v)| v));
                }
            }
            _ => {}
        }
    }
}

/// Runs the pickle program `data` (the record `record` of `file`) to its `STOP`.
pub(crate) fn unpickle(file: &Path, record: &str, data: &[u8], host: &mut dyn Host) -> Result<Obj> {
    Machine::new(file, record, data, 0).run(host)
}

/// Runs the pickle that starts at byte `start` of `data`, one of several pickles in a row (the
/// legacy stream), and returns it with the offset just past its `STOP`. Offsets in errors count
/// from the start of `data`. When `data` ends before the `STOP` and `more` says that `data` is
/// only a prefix of the stream, the answer is `Ok(None)`: read more and run it again.
pub(crate) fn unpickle_at(
    file: &Path,
    record: &str,
    data: &[u8],
    start: usize,
    more: bool,
    host: &mut dyn Host,
) -> Result<Option<(Obj, usize)>> {
    let mut machine = Machine::new(file, record, data, start);
    match machine.run(host) {
        Ok(obj) => Ok(Some((obj, machine.pos))),
        Err(_) if more && machine.ran_out => Ok(None),
        Err(e) => Err(e),
    }
}

struct Machine<'a> {
    file: &'a Path,
    record: &'a str,
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed, for error messages.
    op_at: usize,
    stack: Vec<Obj>,
    /// Stack heights at each `MARK`.
    marks: Vec<usize>,
    memo: HashMap<u32, Obj>,
    /// Set when an opcode needed bytes beyond the end of `data`.
    ran_out: bool,
}

impl<'a> Machine<'a> {
    fn new(file: &'a Path, record: &'a str, data: &'a [u8], start: usize) -> Self {
        Machine {
            file,
            record,
            data,
            pos: start,
            op_at: start,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            ran_out: false,
        }
    }

    fn malformed(&self, expected: impl Into<String>, found: impl Into<String>) -> Error {
        Error::Checkpoint {
            file: self.file.to_path_buf(),
            expected: format!(
                "{} (opcode {} at byte {} of {})",
                expected.into(),
                self.data
                    .get(self.op_at)
                    .map_or("none", |&op| opcode_name(op)),
                self.op_at,
                self.record
            ),
            found: found.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let bytes = &self.data[self.pos..end];
                self.pos = end;
                Ok(bytes)
            }
            None => {
                self.ran_out = true;
                Err(self.malformed(
                    format!("{n} more bytes"),
                    format!("the end of the record after {} bytes", self.data.len()),
                ))
            }
        }
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self.take(N)?;
        Ok(bytes.try_into().expect("take returns exactly N bytes"))
    }

    fn take_line(&mut self) -> Result<String> {
        let rest = &self.data[self.pos..];
        let Some(len) = rest.iter().position(|&b| b == b'\n') else {
            self.ran_out = true;
            return Err(self.malformed("a line ending in a newline", "the end of the record"));
        };
        let line = String::from_utf8(rest[..len].to_vec())
            .map_err(|_| self.malformed("a UTF-8 line", "invalid UTF-8"))?;
        self.pos += len + 1;
        Ok(line)
    }

    /// The bytes up to the next newline (consumed, not returned).
    fn take_raw_line(&mut self) -> Result<Vec<u8>> {
        let rest = &self.data[self.pos..];
        let Some(len) = rest.iter().position(|&b| b == b'\n') else {
            self.ran_out = true;
            return Err(self.malformed("a line ending in a newline", "the end of the record"));
        };
        let line = rest[..len].to_vec();
        self.pos += len + 1;
        Ok(line)
    }

    /// A memo index written in decimal (`PUT`, `GET`).
    fn line_index(&mut self) -> Result<u32> {
        let line = self.take_line()?;
        line.parse()
            .map_err(|_| self.malformed("a memo index in decimal", line.clone()))
    }

    fn text(&self, bytes: &[u8]) -> Result<Obj> {
        std::str::from_utf8(bytes)
            .map(|s| Obj::Str(s.into()))
            .map_err(|_| self.malformed("a UTF-8 string", "invalid UTF-8"))
    }

    fn pop(&mut self) -> Result<Obj> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.malformed("an object on the stack", "an empty stack"));
        }
        Ok(self.stack.pop().expect("checked non-empty"))
    }

    fn top(&self) -> Result<&Obj> {
        self.stack
            .last()
            .ok_or_else(|| self.malformed("an object on the stack", "an empty stack"))
    }

    /// Pops everything above the last `MARK`, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Obj>> {
        let Some(at) = self.marks.pop() else {
            return Err(self.malformed("a MARK on the stack", "no MARK"));
        };
        Ok(self.stack.split_off(at))
    }

    fn memo_put(&mut self, key: u32) -> Result<()> {
        let top = self.top()?.clone();
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<()> {
        let obj =
            self.memo.get(&key).cloned().ok_or_else(|| {
                self.malformed("a memoised object", format!("no memo entry {key}"))
            })?;
        self.stack.push(obj);
        Ok(())
    }

    fn run(&mut self, host: &mut dyn Host) -> Result<Obj> {
        loop {
            self.op_at = self.pos;
            let [op] = self.take_array::<1>().map_err(|_| Error::Checkpoint {
                file: self.file.to_path_buf(),
                expected: format!("a STOP opcode ending {}", self.record),
                found: format!("the end of the record after {} bytes", self.data.len()),
            })?;
            match op {
                0x80 => {
                    let [proto] = self.take_array::<1>()?;
                    if proto > 4 {
                        return Err(self.malformed("pickle protocol 2 to 4", format!("{proto}")));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?.clone();
                    self.stack.push(top);
                }
                b'N' => self.stack.push(Obj::None),
                0x88 => self.stack.push(Obj::Bool(true)),
                0x89 => self.stack.push(Obj::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.take_array()?);
                    self.stack.push(Obj::Int(v.into()));
                }
                b'K' => {
                    let [v] = self.take_array::<1>()?;
                    self.stack.push(Obj::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.take_array()?);
                    self.stack.push(Obj::Int(v.into()));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        usize::from(self.take_array::<1>()?[0])
                    } else {
                        u32::from_le_bytes(self.take_array()?) as usize
                    };
                    let v = self.long(n)?;
                    self.stack.push(Obj::Int(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take_array()?);
                    self.stack.push(Obj::Float(v));
                }
                b'X' | 0x8c | 0x8d | b'T' | b'U' => {
                    let n = self.length(op)?;
                    let bytes = self.take(n)?.to_vec();
                    let s = self.text(&bytes)?;
                    self.stack.push(s);
                }
                b'B' | b'C' | 0x8e => {
                    let n = self.length(op)?;
                    let bytes: Rc<[u8]> = self.take(n)?.into();
                    self.stack.push(Obj::Bytes(bytes));
                }
                b')' => self.stack.push(Obj::Tuple(Rc::new([]))),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Obj::Tuple(items.into()));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.stack.push(Obj::Tuple(items.into()));
                }
                b']' => self.stack.push(Obj::List(Rc::default())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Obj::List(Rc::new(RefCell::new(items))));
                }
                b'a' => {
                    let item = self.pop()?;
                    self.append(vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b'}' => self.stack.push(Obj::Dict(Rc::default())),
                b'd' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Obj::Dict(Rc::default()));
                    self.set_items(items)?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(vec![key, value])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'c' => {
                    let module = self.take_line()?;
                    let name = self.take_line()?;
                    let g = self.global(&module, &name)?;
                    self.stack.push(g);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Obj::Str(module), Obj::Str(name)) = (&module, &name) else {
                        return Err(self.malformed(
                            "a module and a name as strings",
                            format!("{} and {}", module.type_name(), name.type_name()),
                        ));
                    };
                    let g = self.global(module, name)?;
                    self.stack.push(g);
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let result = self.call(host, &callable, &args)?;
                    self.stack.push(result);
                }
                b'b' => {
                    let state = self.pop()?;
                    self.build(&state)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let obj = host
                        .persistent_load(&pid)
                        .map_err(|why| self.malformed("a persistent id naming a storage", why))?;
                    self.stack.push(obj);
                }
                b'q' => {
                    let [k] = self.take_array::<1>()?;
                    self.memo_put(k.into())?;
                }
                b'r' => {
                    let k = u32::from_le_bytes(self.take_array()?);
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let [k] = self.take_array::<1>()?;
                    self.memo_get(k.into())?;
                }
                b'j' => {
                    let k = u32::from_le_bytes(self.take_array()?);
                    self.memo_get(k)?;
                }
                // Protocol 0 (what Python 2's pickle.dump writes by default): text arguments
                // ending in a newline.
                b'p' => {
                    let k = self.line_index()?;
                    self.memo_put(k)?;
                }
                b'g' => {
                    let k = self.line_index()?;
                    self.memo_get(k)?;
                }
                b'V' => {
                    let line = self.take_raw_line()?;
                    let s = raw_unicode_escape(&line)
                        .map_err(|why| self.malformed("a raw-unicode-escape string", why))?;
                    self.stack.push(Obj::Str(s.into()));
                }
                b'S' => {
                    let line = self.take_raw_line()?;
                    let bytes =
                        string_repr(&line).map_err(|why| self.malformed("a quoted string", why))?;
                    let s = self.text(&bytes)?;
                    self.stack.push(s);
                }
                b'I' | b'L' => {
                    let line = self.take_line()?;
                    let digits = line.trim_end_matches('L');
                    let v = match digits {
                        "00" => Obj::Bool(false),
                        "01" => Obj::Bool(true),
                        d => Obj::Int(d.parse().map_err(|_| {
                            self.malformed("a decimal integer of at most 64 bits", line.clone())
                        })?),
                    };
                    self.stack.push(v);
                }
                b'F' => {
                    let line = self.take_line()?;
                    let v: f64 = line
                        .parse()
                        .map_err(|_| self.malformed("a decimal float", line.clone()))?;
                    self.stack.push(Obj::Float(v));
                }
                other => {
                    return Err(Error::PickleOpcode {
                        file: self.file.to_path_buf(),
                        record: self.record.to_string(),
                        opcode: other,
                        name: opcode_name(other),
                        offset: self.op_at,
                    })
                }
            }
        }
    }

    /// The length prefix of a string or bytes opcode.
    fn length(&mut self, op: u8) -> Result<usize> {
        let n = match op {
            0x8c | b'U' | b'C' => u64::from(self.take_array::<1>()?[0]),
            0x8d | 0x8e => u64::from_le_bytes(self.take_array()?),
            _ => u64::from(u32::from_le_bytes(self.take_array()?)),
        };
        usize::try_from(n)
            .map_err(|_| self.malformed("a length that fits in memory", n.to_string()))
    }

    /// A little-endian two's-complement integer of `n` bytes (`LONG1`, `LONG4`).
    fn long(&mut self, n: usize) -> Result<i64> {
        if n > 8 {
            return Err(self.malformed("an integer of at most 8 bytes", format!("{n} bytes")));
        }
        let bytes = self.take(n)?;
        let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
        let mut buf = [if negative { 0xff } else { 0 }; 8];
        buf[..n].copy_from_slice(bytes);
        Ok(i64::from_le_bytes(buf))
    }

    fn global(&self, module: &str, name: &str) -> Result<Obj> {
        allowed_global(module, name)
            .map(Obj::Global)
            .ok_or_else(|| Error::PickleGlobal {
                file: self.file.to_path_buf(),
                record: self.record.to_string(),
                module: module.to_string(),
                name: name.to_string(),
                offset: self.op_at,
            })
    }

    fn call(&self, host: &mut dyn Host, callable: &Obj, args: &Obj) -> Result<Obj> {
        let Obj::Tuple(args) = args else {
            return Err(self.malformed("an argument tuple", args.type_name()));
        };
        let Obj::Global(g) = callable else {
            return Err(self.malformed("an allow-listed callable", callable.type_name()));
        };
        match (g, &args[..]) {
            (Global::OrderedDict, []) => Ok(Obj::Dict(Rc::default())),
            (Global::CodecsEncode, [Obj::Str(text), Obj::Str(codec)]) if &**codec == "latin1" => {
                let bytes: Option<Vec<u8>> = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).ok())
                    .collect();
                bytes
                    .map(|b| Obj::Bytes(b.into()))
                    .ok_or_else(|| self.malformed("latin-1 text", "a character above U+00FF"))
            }
            (Global::NumpyDtype, [Obj::Str(code), Obj::Bool(_), Obj::Bool(_)]) => {
                Ok(Obj::Dtype(Rc::new(RefCell::new(NumpyDtype::new(code)))))
            }
            (Global::NumpyDtype, _) => Err(self.malformed(
                format!("valid arguments to {g:?}"),
                "numpy.dtype(code, align, copy)",
            )),
            (Global::NumpyScalar, [Obj::Dtype(dtype), Obj::Bytes(bytes)]) => {
                match numpy::scalar(&dtype.borrow(), bytes) {
                    Ok(NumpyScalar::Float(x)) => Ok(Obj::Float(x)),
                    Ok(NumpyScalar::Int(x)) => Ok(Obj::Int(x)),
                    Ok(NumpyScalar::Bool(x)) => Ok(Obj::Bool(x)),
                    Err(why) => Err(self.malformed(format!("valid arguments to {g:?}"), why)),
                }
            }
            (Global::NumpyScalar, _) => Err(self.malformed(
                format!("valid arguments to {g:?}"),
                "numpy scalar(dtype, bytes)",
            )),
            (Global::RebuildTensorV2 | Global::RebuildParameter, args) => host
                .call(*g, args)
                .map_err(|why| self.malformed(format!("valid arguments to {g:?}"), why)),
            (g, args) => Err(self.malformed(
                format!("a supported call of {g:?}"),
                format!("{} arguments", args.len()),
            )),
        }
    }

    fn append(&mut self, items: Vec<Obj>) -> Result<()> {
        match self.top()? {
            Obj::List(list) => {
                list.borrow_mut().extend(items);
                Ok(())
            }
            other => Err(self.malformed("a list to append to", other.type_name())),
        }
    }

    fn set_items(&mut self, items: Vec<Obj>) -> Result<()> {
        if !items.len().is_multiple_of(2) {
            return Err(self.malformed("key-value pairs", format!("{} items", items.len())));
        }
        let Obj::Dict(dict) = self.top()? else {
            return Err(self.malformed("a dict to set items in", self.top()?.type_name()));
        };
        let dict = dict.clone();
        let mut dict = dict.borrow_mut();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            dict.insert(k, v)
                .map_err(|why| self.malformed("a hashable dict key", why))?;
        }
        Ok(())
    }

    /// `BUILD` on a dict: `state` is a dict of instance attributes (`_metadata`); on a NumPy
    /// dtype: its state tuple, which carries the byte order.
    fn build(&mut self, state: &Obj) -> Result<()> {
        if let Obj::Dtype(dtype) = self.top()? {
            let dtype = dtype.clone();
            let mut dtype = dtype.borrow_mut();
            let order = match state {
                Obj::Tuple(items) => match items.get(1) {
                    Some(Obj::Str(order)) => dtype.set_order(order),
                    _ => Err("a byte order as the dtype state's second item".into()),
                },
                other => Err(format!("a dtype state tuple, got a {}", other.type_name())),
            };
            return order.map_err(|why| self.malformed("a numpy dtype state", why));
        }
        let (Obj::Dict(target), Obj::Dict(state)) = (self.top()?, state) else {
            return Err(self.malformed(
                "a dict's attribute state",
                format!(
                    "BUILD of {} with {}",
                    self.top()?.type_name(),
                    state.type_name()
                ),
            ));
        };
        let target = target.clone();
        // The state is read whole before the target is changed: they may be the same dict
        // (found by the fuzz target `torch_legacy`: a dict built with itself as its state).
        let attributes = state
            .borrow()
            .entries
            .iter()
            .map(|(k, v)| match k {
                Obj::Str(name) => Ok((name.to_string(), v.clone())),
                other => Err(self.malformed("attribute names as strings", other.type_name())),
            })
            .collect::<Result<Vec<_>>>()?;
        target.borrow_mut().attributes.extend(attributes);
        Ok(())
    }
}

/// The argument of `UNICODE` (raw-unicode-escape): bytes are Latin-1 characters, except
/// `\uXXXX` and `\UXXXXXXXX`.
fn raw_unicode_escape(line: &[u8]) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        let width = match (b, line.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => 0,
        };
        if width == 0 {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let hex = line
            .get(i + 2..i + 2 + width)
            .and_then(|h| std::str::from_utf8(h).ok())
            .ok_or("a truncated \\u escape")?;
        let code = u32::from_str_radix(hex, 16).map_err(|_| format!("bad escape \\u{hex}"))?;
        out.push(char::from_u32(code).ok_or(format!("no character U+{code:X}"))?);
        i += 2 + width;
    }
    Ok(out)
}

/// The argument of protocol 0's `STRING`: a Python 2 `repr` of a byte string, in single or
/// double quotes, with `\\`, `\'`, `\"`, `\n`, `\r`, `\t`, `\xhh` and octal escapes.
fn string_repr(line: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let quoted = match line {
        [q @ (b'\'' | b'"'), inner @ .., last] if last == q => inner,
        _ => return Err("no matching quotes".into()),
    };
    let mut out = Vec::with_capacity(quoted.len());
    let mut i = 0;
    while i < quoted.len() {
        if quoted[i] != b'\\' {
            out.push(quoted[i]);
            i += 1;
            continue;
        }
        let Some(&e) = quoted.get(i + 1) else {
            return Err("a trailing backslash".into());
        };
        i += 2;
        match e {
            b'\\' | b'\'' | b'"' => out.push(e),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'x' => {
                let hex = quoted
                    .get(i..i + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("a bad \\x escape")?;
                out.push(hex);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match quoted.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(u8::try_from(v).map_err(|_| "an octal escape above 255")?);
            }
            other => return Err(format!("an unknown escape \\{}", char::from(other))),
        }
    }
    Ok(out)
}

/// Names of every pickle opcode (protocols 0–5), as Python's `pickletools` spells them.
pub(crate) fn opcode_name(op: u8) -> &'static str {
    match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    }
}
