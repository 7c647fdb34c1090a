//! The stream `torch.save` wrote before PyTorch 1.6 (and still writes with
//! `_use_new_zipfile_serialization=False`): five pickles in a row (the magic number, the protocol
//! version 1001, a `sys_info` dict, the object, the list of storage keys), then each storage's
//! element count and raw little-endian bytes, in the order of that list. torchvision's 2019
//! weights (`resnext101_32x8d-8ba56ff5.pth`, `wide_resnet50_2-95faca4d.pth`) are in this format.
//!
//! Storages are allocated when the object pickle names them and filled in place once their bytes
//! are read, as `torch.serialization._legacy_load` does; the tensors built in between view them.
//!
//! Spec: spec/checkpoint-format.md (section "The legacy stream").

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::result::Result as StdResult;

use tch::{Device, Kind, Tensor};

use super::pickle::{self, Global, Host, Obj, Storage};
use super::rebuild;
use super::torch_zip::{io, unexpected};
use crate::Result;

/// `torch.serialization.MAGIC_NUMBER`, the value of the stream's first pickle.
const MAGIC_NUMBER: u128 = 0x1950_a86a_20f9_469c_fc6c;
/// `torch.serialization.PROTOCOL_VERSION`, the value of the second pickle.
const PROTOCOL_VERSION: i64 = 1001;
/// The pickles of a real file take tens of kilobytes; the reader starts with this much and
/// doubles it while a pickle runs past the end of what it has read.
const FIRST_READ: usize = 1 << 20;
/// The name the pickle machine gives the stream in its errors; its offsets are file offsets.
const RECORD: &str = "the legacy stream";

/// The pickles at the start of the file, run.
struct Head {
    object: Obj,
    /// The length of the pickle that built `object`.
    object_len: usize,
    keys: Vec<String>,
    /// File offset of the first storage's element count.
    data_start: usize,
    host: Storages,
}

/// Reads the legacy file `path` into its object, with tensors rebuilt on the CPU. Returns the
/// object and the length of the pickle that built it.
pub(crate) fn load(path: &Path) -> Result<(Obj, usize)> {
    let mut f = File::open(path).map_err(io(path))?;
    let len = f.metadata().map_err(io(path))?.len();
    let mut bytes = Vec::new();
    let mut want = FIRST_READ as u64;
    let head = loop {
        let target = want.min(len);
        let missing = target.saturating_sub(bytes.len() as u64);
        (&mut f)
            .take(missing)
            .read_to_end(&mut bytes)
            .map_err(io(path))?;
        let more = (bytes.len() as u64) < len;
        if let Some(head) = read_head(path, &bytes, more, len)? {
            break head;
        }
        tracing::debug!(file = %path.display(), read = bytes.len(), "pickles go on, reading more");
        want = want.saturating_mul(2);
    };
    drop(bytes);
    read_storages(path, &mut f, len, &head)?;
    tracing::debug!(
        file = %path.display(),
        storages = head.keys.len(),
        "legacy checkpoint read"
    );
    Ok((head.object, head.object_len))
}

/// Runs the five pickles of `bytes`, a prefix of the file (`more`) or all of it. `Ok(None)` when
/// a pickle runs past the end of a prefix.
fn read_head(path: &Path, bytes: &[u8], more: bool, file_len: u64) -> Result<Option<Head>> {
    let mut at = check_magic(path, bytes)?;
    let mut plain = Storages::new(path, file_len);

    let Some((version, next)) = pickle::unpickle_at(path, RECORD, bytes, at, more, &mut plain)?
    else {
        return Ok(None);
    };
    if !matches!(version, Obj::Int(PROTOCOL_VERSION)) {
        return Err(unexpected(
            path,
            format!("protocol version {PROTOCOL_VERSION} as the legacy stream's second pickle"),
            match version {
                Obj::Int(v) => v.to_string(),
                other => format!("a {}", other.type_name()),
            },
        ));
    }
    at = next;

    let Some((sys_info, next)) = pickle::unpickle_at(path, RECORD, bytes, at, more, &mut plain)?
    else {
        return Ok(None);
    };
    check_sys_info(path, &sys_info)?;
    at = next;

    let mut host = Storages::new(path, file_len);
    let Some((object, next)) = pickle::unpickle_at(path, RECORD, bytes, at, more, &mut host)?
    else {
        return Ok(None);
    };
    let object_len = next - at;
    at = next;

    let Some((keys, next)) = pickle::unpickle_at(path, RECORD, bytes, at, more, &mut plain)? else {
        return Ok(None);
    };
    let keys = storage_keys(path, &keys)?;
    Ok(Some(Head {
        object,
        object_len,
        keys,
        data_start: next,
        host,
    }))
}

/// The first pickle is the magic number: `PROTO`, a `FRAME` from protocol 4 on, `LONG1` of its
/// 10 little-endian bytes, `STOP`. It is checked byte by byte, since the pickle machine keeps no
/// integers wider than 64 bits. Returns the offset after the `STOP`.
fn check_magic(path: &Path, bytes: &[u8]) -> Result<usize> {
    let magic = &MAGIC_NUMBER.to_le_bytes()[..10];
    let mut at = 0;
    let ok = (|| {
        let proto = bytes.get(..2)?;
        if proto[0] != 0x80 || !(2..=4).contains(&proto[1]) {
            return None;
        }
        at = 2;
        if bytes.get(at) == Some(&0x95) {
            at += 9;
        }
        if bytes.get(at..at + 2)? != [0x8a, 0x0a] || bytes.get(at + 2..at + 12)? != magic {
            return None;
        }
        at += 12;
        (bytes.get(at) == Some(&b'.')).then_some(at + 1)
    })();
    ok.ok_or_else(|| {
        unexpected(
            path,
            "a legacy torch.save stream opening with the magic number 0x1950a86a20f9469cfc6c \
             (pickle bytes 80 02 8a 0a 6c fc 9c 46 f9 20 6a a8 50 19 2e)",
            format!(
                "a pickle starting with {:02x?}",
                &bytes[..bytes.len().min(16)]
            ),
        )
    })
}

/// `sys_info` = `{'protocol_version': 1001, 'little_endian': True, 'type_sizes': {...}}`. The
/// type sizes (of C `short`, `int`, `long`) do not matter: every storage's element size follows
/// from its dtype. A big-endian writer is refused.
fn check_sys_info(path: &Path, sys_info: &Obj) -> Result<()> {
    let Obj::Dict(dict) = sys_info else {
        return Err(unexpected(
            path,
            "a sys_info dict as the legacy stream's third pickle",
            format!("a {}", sys_info.type_name()),
        ));
    };
    let dict = dict.borrow();
    let little = dict
        .entries
        .iter()
        .find(|(k, _)| matches!(k, Obj::Str(s) if &**s == "little_endian"))
        .map(|(_, v)| v);
    match little {
        Some(Obj::Bool(true)) => Ok(()),
        Some(Obj::Bool(false)) => Err(unexpected(
            path,
            "sys_info little_endian = True (only little-endian files are supported)",
            "little_endian = False",
        )),
        Some(other) => Err(unexpected(
            path,
            "sys_info little_endian as a bool",
            format!("a {}", other.type_name()),
        )),
        None => Err(unexpected(
            path,
            "a key `little_endian` in sys_info",
            "none",
        )),
    }
}

/// The fifth pickle: the storage keys, in the order their bytes follow.
fn storage_keys(path: &Path, keys: &Obj) -> Result<Vec<String>> {
    let Obj::List(list) = keys else {
        return Err(unexpected(
            path,
            "a list of storage keys as the legacy stream's fifth pickle",
            format!("a {}", keys.type_name()),
        ));
    };
    list.borrow()
        .iter()
        .map(|k| match k {
            Obj::Str(s) => Ok(s.to_string()),
            other => Err(unexpected(
                path,
                "storage keys as strings",
                format!("a {}", other.type_name()),
            )),
        })
        .collect()
}

/// Reads each listed storage's `<u64 element count><bytes>` into the storage the object pickle
/// allocated. Every storage must be listed exactly once and the file must end after the last.
fn read_storages(path: &Path, f: &mut File, len: u64, head: &Head) -> Result<()> {
    f.seek(SeekFrom::Start(head.data_start as u64))
        .map_err(io(path))?;
    let mut reader = BufReader::new(f);
    let mut at = head.data_start as u64;
    let mut seen = HashSet::new();
    let truncated = |what: String, at: u64| {
        unexpected(
            path,
            format!("{what} at byte {at}"),
            format!("the end of the file after {len} bytes (truncated?)"),
        )
    };
    for key in &head.keys {
        let Some(storage) = head.host.storages.get(key) else {
            return Err(unexpected(
                path,
                format!("storage `{key}` of the key list to be used by the object"),
                "no tensor naming it",
            ));
        };
        if !seen.insert(key.as_str()) {
            return Err(unexpected(
                path,
                "each storage key listed once",
                format!("`{key}` twice"),
            ));
        }
        let mut count = [0u8; 8];
        reader
            .read_exact(&mut count)
            .map_err(|_| truncated(format!("the element count of storage `{key}`"), at))?;
        at += 8;
        let count = u64::from_le_bytes(count);
        let kind = storage.data.kind();
        let numel = storage.data.size1()?;
        if count != numel as u64 {
            return Err(unexpected(
                path,
                format!("storage `{key}` of {numel} {kind:?} elements, as its persistent id says"),
                format!("an element count of {count} at byte {}", at - 8),
            ));
        }
        let mut data = vec![0u8; numel as usize * kind.elt_size_in_bytes()];
        reader
            .read_exact(&mut data)
            .map_err(|_| truncated(format!("{} bytes of storage `{key}`", data.len()), at))?;
        at += data.len() as u64;
        let src = Tensor::f_from_data_size(&data, &[numel], kind)?;
        let mut dst = storage.data.shallow_clone();
        tch::no_grad(|| dst.f_copy_(&src))?;
        tracing::trace!(key = %key, ?kind, numel, "storage read");
    }
    if let Some(key) = head
        .host
        .storages
        .keys()
        .find(|k| !seen.contains(k.as_str()))
    {
        return Err(unexpected(
            path,
            "data for every storage the object uses",
            format!("storage `{key}` missing from the key list"),
        ));
    }
    if at != len {
        return Err(unexpected(
            path,
            format!("the end of the file after the last storage, at byte {at}"),
            format!("{} more bytes", len - at),
        ));
    }
    Ok(())
}

/// The storages the object pickle names, allocated (not yet filled) on first mention.
struct Storages {
    file: PathBuf,
    file_len: u64,
    storages: HashMap<String, Rc<Storage>>,
    /// Bytes of all storages named so far: together they must fit in the file.
    named_bytes: u64,
}

impl Storages {
    fn new(file: &Path, file_len: u64) -> Self {
        Storages {
            file: file.to_path_buf(),
            file_len,
            storages: HashMap::new(),
            named_bytes: 0,
        }
    }

    fn storage(
        &mut self,
        kind: Kind,
        key: &str,
        location: &str,
        numel: i64,
    ) -> StdResult<Obj, String> {
        if let Some(known) = Storage::lookup(&self.storages, key, kind) {
            return known;
        }
        // The storages' data follows the pickles in the file, so together they cannot hold more
        // bytes than the file: refuse before allocating.
        let total = u64::try_from(numel)
            .ok()
            .and_then(|n| n.checked_mul(kind.elt_size_in_bytes() as u64))
            .and_then(|bytes| bytes.checked_add(self.named_bytes))
            .filter(|&total| total <= self.file_len);
        let Some(total) = total else {
            return Err(format!(
                "storage `{key}` of {numel} {kind:?} elements, with {} bytes of storages named \
                 before it, in a file of {} bytes",
                self.named_bytes, self.file_len
            ));
        };
        self.named_bytes = total;
        tracing::trace!(file = %self.file.display(), key, ?kind, numel, location, "storage named");
        let data = Tensor::f_empty([numel], (kind, Device::Cpu)).map_err(|e| e.to_string())?;
        Ok(Storage::register(&mut self.storages, key, data))
    }
}

impl Host for Storages {
    /// `('storage', torch.<T>Storage, root_key, location, numel, view_metadata)`; the view
    /// metadata is `None` in every file PyTorch ≥ 0.4 wrote (storage views were dropped then).
    fn persistent_load(&mut self, pid: &Obj) -> StdResult<Obj, String> {
        let Obj::Tuple(items) = pid else {
            return Err(format!("a {}", pid.type_name()));
        };
        match &items[..] {
            [Obj::Str(tag), Obj::Global(Global::StorageType(kind)), Obj::Str(key), Obj::Str(location), Obj::Int(numel), Obj::None]
                if &**tag == "storage" =>
            {
                self.storage(*kind, key, location, *numel)
            }
            [Obj::Str(tag), _, _, _, _, view] if &**tag == "storage" => Err(format!(
                "a storage without view metadata (None), found a {} (a storage view of \
                 PyTorch < 0.4)",
                view.type_name()
            )),
            _ => Err(format!(
                "a tuple ({})",
                items
                    .iter()
                    .map(Obj::type_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    fn call(&mut self, global: Global, args: &[Obj]) -> StdResult<Obj, String> {
        rebuild::call(global, args)
    }
}
