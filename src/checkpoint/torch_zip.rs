//! The container `torch.save` has written since PyTorch 1.6: a zip archive with one folder holding
//! `data.pkl` (the pickled object), `data/<key>` (one raw little-endian record per storage),
//! `byteorder` and `version`. This file opens the archive, checks the byte order, serves storage
//! records to the pickle machine and runs it.
//!
//! Spec: spec/checkpoint-format.md (section "The container").

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::result::Result as StdResult;

use tch::{Kind, Tensor};
use zip::ZipArchive;

use super::pickle::{self, Global, Host, Obj, Storage};
use super::rebuild;
use crate::{Error, Result};

/// The most bytes the records of an archive may expand to, per byte of the archive (plus
/// [`EXTRACT_FLOOR`]). `torch.save` stores its records uncompressed, so a real file extracts to
/// less than its own size; a record recompressed by some other tool shrinks float weights by
/// well under half. A zip bomb (deflate reaches about 1,000:1) is refused before it is inflated
/// past this. Spec: spec/checkpoint-format.md ("Limits").
pub const EXTRACT_PER_BYTE: u64 = 4;
/// See [`EXTRACT_PER_BYTE`].
pub const EXTRACT_FLOOR: u64 = 1 << 20;

pub(super) fn io(file: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::io(file, source)
}

pub(super) fn unexpected(
    file: &Path,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Error {
    Error::Checkpoint {
        file: file.to_path_buf(),
        expected: expected.into(),
        found: found.into(),
    }
}

/// Reads the zip archive `path` and unpickles its `data.pkl`, with tensors rebuilt on the CPU.
/// Returns the object and the length of the pickle that built it.
pub(crate) fn load(path: &Path) -> Result<(Obj, usize)> {
    let f = File::open(path).map_err(io(path))?;
    let file_len = f.metadata().map_err(io(path))?.len();
    let archive = ZipArchive::new(BufReader::new(f))
        .map_err(|e| unexpected(path, "a complete zip archive", format!("{e} (truncated?)")))?;
    let mut reader = Archive {
        file: path.to_path_buf(),
        prefix: String::new(),
        archive,
        storages: HashMap::new(),
        extract_left: file_len
            .saturating_mul(EXTRACT_PER_BYTE)
            .saturating_add(EXTRACT_FLOOR),
        file_len,
    };
    reader.prefix = reader.find_prefix()?;
    reader.check_byte_order()?;
    let pkl_name = format!("{}data.pkl", reader.prefix);
    let pkl = reader.record(&pkl_name)?;
    tracing::debug!(file = %path.display(), record = %pkl_name, bytes = pkl.len(), "unpickling");
    let obj = pickle::unpickle(path, &pkl_name, &pkl, &mut reader)?;
    tracing::debug!(
        file = %path.display(),
        storages = reader.storages.len(),
        "checkpoint read"
    );
    Ok((obj, pkl.len()))
}

struct Archive {
    file: PathBuf,
    /// The archive's one top-level folder with a trailing `/` (`archive/`, or the file's stem).
    prefix: String,
    archive: ZipArchive<BufReader<File>>,
    /// Storages already read, by key: tensors that share a storage share it here too.
    storages: HashMap<String, Rc<Storage>>,
    /// Bytes the records read from now on may still expand to ([`EXTRACT_PER_BYTE`]).
    extract_left: u64,
    /// The archive's length on disk.
    file_len: u64,
}

impl Archive {
    fn find_prefix(&self) -> Result<String> {
        let mut found = self
            .archive
            .file_names()
            .filter_map(|n| n.strip_suffix("data.pkl"))
            .filter(|p| p.is_empty() || (p.ends_with('/') && p.matches('/').count() == 1))
            .map(str::to_string)
            .collect::<Vec<_>>();
        found.sort();
        match found.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(unexpected(
                &self.file,
                "exactly one `<folder>/data.pkl` record",
                format!("{} of them: {found:?}", found.len()),
            )),
        }
    }

    /// The bytes of record `name`, which must be exactly its declared size and fit what is left
    /// of the archive's extraction allowance: checked before anything is allocated or inflated.
    fn record(&mut self, name: &str) -> Result<Vec<u8>> {
        let file = self.file.clone();
        let (file_len, left) = (self.file_len, self.extract_left);
        let entry = self
            .archive
            .by_name(name)
            .map_err(|e| unexpected(&file, format!("a record `{name}`"), e.to_string()))?;
        let declared = entry.size();
        if declared > left {
            return Err(unexpected(
                &file,
                format!(
                    "records that extract to at most {EXTRACT_PER_BYTE} times the archive's \
                     {file_len} bytes plus {EXTRACT_FLOOR} ({left} bytes left for `{name}`)"
                ),
                format!("`{name}` declaring {declared} bytes (a zip bomb?)"),
            ));
        }
        // `declared` fits the allowance, so this allocation is bounded.
        let mut bytes = Vec::with_capacity(declared as usize);
        entry
            .take(declared + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| unexpected(&file, format!("a readable record `{name}`"), e.to_string()))?;
        if bytes.len() as u64 != declared {
            return Err(unexpected(
                &file,
                format!("record `{name}` of its declared {declared} bytes"),
                format!(
                    "{}{} bytes",
                    if bytes.len() as u64 > declared {
                        "over "
                    } else {
                        ""
                    },
                    bytes.len()
                ),
            ));
        }
        self.extract_left -= declared;
        Ok(bytes)
    }

    /// Files written before `byteorder` existed are little-endian; big-endian ones are refused.
    fn check_byte_order(&mut self) -> Result<()> {
        let name = format!("{}byteorder", self.prefix);
        if self.archive.index_for_name(&name).is_none() {
            tracing::debug!(file = %self.file.display(), "no byteorder record: little-endian");
            return Ok(());
        }
        let order = self.record(&name)?;
        match order.as_slice() {
            b"little" => Ok(()),
            other => Err(unexpected(
                &self.file,
                format!("`{name}` = little (only little-endian archives are supported)"),
                format!("{:?}", String::from_utf8_lossy(other)),
            )),
        }
    }

    /// The storage a persistent id `('storage', torch.<T>Storage, key, location, numel)` names.
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
        let name = format!("{}data/{key}", self.prefix);
        let bytes = self.record(&name).map_err(|e| e.to_string())?;
        let want = usize::try_from(numel)
            .ok()
            .and_then(|n| n.checked_mul(kind.elt_size_in_bytes()));
        if want != Some(bytes.len()) {
            return Err(format!(
                "record `{name}` of {numel} {kind:?} elements, found {} bytes",
                bytes.len()
            ));
        }
        tracing::trace!(record = %name, ?kind, numel, location, "storage");
        let data = Tensor::f_from_data_size(&bytes, &[numel], kind).map_err(|e| e.to_string())?;
        Ok(Storage::register(&mut self.storages, key, data))
    }
}

impl Host for Archive {
    fn persistent_load(&mut self, pid: &Obj) -> StdResult<Obj, String> {
        let Obj::Tuple(items) = pid else {
            return Err(format!("a {}", pid.type_name()));
        };
        match &items[..] {
            [Obj::Str(tag), Obj::Global(Global::StorageType(kind)), Obj::Str(key), Obj::Str(location), Obj::Int(numel)]
                if &**tag == "storage" =>
            {
                self.storage(*kind, key, location, *numel)
            }
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
