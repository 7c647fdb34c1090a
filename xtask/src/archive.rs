//! Safe extraction of tar, tar.gz and zip archives into a destination directory.
//!
//! Spec: spec/data-assets.md (safe extraction). An archive downloaded from a mirror is data, not
//! a program: nothing in it may write outside the destination. Rules:
//! - entry names must be relative paths of plain components (no root, no `..`);
//! - a symbolic link is kept only when its target, resolved from the link's folder, stays inside;
//!   a hard link only when it names a file already extracted;
//! - devices, FIFOs and other special files are refused;
//! - no entry is written through a symbolic link made by an earlier entry;
//! - everything is unpacked into a fresh folder under `<data>/.partial/` and only moved into the
//!   destination when the whole archive went through, so a refused archive leaves nothing behind;
//! - an archive is bounded ([`Limits`]): at most [`MAX_ENTRIES`] entries, and at most
//!   [`EXTRACT_PER_BYTE`] bytes written per byte of a compressed archive plus [`EXTRACT_FLOOR`]
//!   (per byte of a plain tar: one), counted as they are written, so a decompression bomb or a
//!   sparse entry with a huge hole stops at the bound instead of filling the disk.
//!
//! A refusal names the entry, the archive and the rule.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::assets::ArchiveKind;

/// The most entries one archive may hold (Recipe1M's training images: about 720,000 files in
/// 65,536 folders).
pub const MAX_ENTRIES: u64 = 4_000_000;
/// The most bytes a compressed archive (tar.gz, zip) may extract to, per byte of the archive:
/// Recipe1M's layers compress about 5 to 1, its JPEG images and Food-101 hardly at all; deflate
/// can reach about 1,000 to 1.
pub const EXTRACT_PER_BYTE: u64 = 16;
/// What every compressed archive may extract to beyond [`EXTRACT_PER_BYTE`], however small.
pub const EXTRACT_FLOOR: u64 = 1 << 20;
/// The longest symbolic-link target read from a zip entry.
const MAX_LINK_TARGET: u64 = 4096;

/// The bounds of one extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries of every kind, folders and links included.
    pub entries: u64,
    /// Bytes of the archive's stream after decompression (tar), and bytes written to files.
    pub bytes: u64,
}

impl Limits {
    /// The bounds of an archive of `len` bytes: see [`MAX_ENTRIES`], [`EXTRACT_PER_BYTE`].
    pub fn of(kind: ArchiveKind, len: u64) -> Self {
        let bytes = match kind {
            ArchiveKind::Tar => len,
            ArchiveKind::TarGz | ArchiveKind::Zip => len
                .saturating_mul(EXTRACT_PER_BYTE)
                .saturating_add(EXTRACT_FLOOR),
        };
        Self {
            entries: MAX_ENTRIES,
            bytes,
        }
    }
}

/// What is left of the [`Limits`] while an archive is extracted.
struct Budget {
    limits: Limits,
    entries: u64,
    written: u64,
}

impl Budget {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            entries: 0,
            written: 0,
        }
    }

    fn entry(&mut self, name: &str) -> Result<()> {
        self.entries += 1;
        if self.entries > self.limits.entries {
            bail!(
                "refusing archive entry {name:?}: the archive holds more than {} entries",
                self.limits.entries
            );
        }
        Ok(())
    }

    /// Copies `r` into `w`, counting every byte against the bound.
    fn copy(&mut self, name: &str, r: &mut dyn Read, w: &mut dyn Write) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("cannot read entry {name:?} (corrupt archive?)")))
                }
            };
            self.written += n as u64;
            if self.written > self.limits.bytes {
                bail!(
                    "refusing archive entry {name:?}: the archive extracts to more than {} bytes \
                     (a decompression bomb, or a sparse entry with a huge hole?)",
                    self.limits.bytes
                );
            }
            w.write_all(&buf[..n])
                .with_context(|| format!("cannot write entry {name:?} (disk full?)"))?;
        }
    }
}

/// A stream that fails once more than `left` bytes have come through it: the decompressed tar
/// stream, so that headers and long names count too.
struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            io::Error::other(format!(
                "the archive's stream expands to more than {} bytes",
                self.limit
            ))
        })?;
        Ok(n)
    }
}

/// Unpacks `archive` into `dest` (created when absent), going through a temporary directory made
/// in `scratch`, which must be on the same file system as `dest`. Existing files of `dest` that
/// the archive also holds are replaced; others are left alone. The archive is bounded by
/// [`Limits::of`] its size.
pub fn extract(archive: &Path, kind: ArchiveKind, dest: &Path, scratch: &Path) -> Result<()> {
    let len = fs::metadata(archive)
        .with_context(|| format!("cannot open {}", archive.display()))?
        .len();
    extract_within(archive, kind, dest, scratch, Limits::of(kind, len))
}

/// [`extract`] within explicit `limits`.
pub fn extract_within(
    archive: &Path,
    kind: ArchiveKind,
    dest: &Path,
    scratch: &Path,
    limits: Limits,
) -> Result<()> {
    fs::create_dir_all(scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(scratch)
        .with_context(|| format!("cannot create a directory in {}", scratch.display()))?;
    let file =
        fs::File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let reader = io::BufReader::new(file);
    let mut budget = Budget::new(limits);
    let capped = |r| Capped {
        inner: r,
        left: limits.bytes,
        limit: limits.bytes,
    };
    let unpacked = match kind {
        ArchiveKind::Tar => unpack_tar(reader, tmp.path(), &mut budget),
        ArchiveKind::TarGz => unpack_tar(
            capped(flate2::read::MultiGzDecoder::new(reader)),
            tmp.path(),
            &mut budget,
        ),
        ArchiveKind::Zip => unpack_zip(reader, tmp.path(), &mut budget),
    };
    unpacked.with_context(|| format!("extracting {}", archive.display()))?;
    fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    move_into(tmp.path(), dest)?;
    Ok(())
}

/// Why an entry is refused, or its path relative to the destination.
pub fn entry_path(name: &str) -> Result<PathBuf> {
    let p = Path::new(name);
    if p.has_root() {
        bail!("refusing archive entry {name:?}: absolute path");
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir => bail!("refusing archive entry {name:?}: `..` component"),
            Component::RootDir | Component::Prefix(_) => {
                bail!("refusing archive entry {name:?}: absolute path")
            }
        }
    }
    if out.as_os_str().is_empty() {
        bail!("refusing archive entry {name:?}: empty path");
    }
    Ok(out)
}

/// Checks a symbolic link at `rel` (relative to the destination) pointing at `target`: the target,
/// resolved lexically from the link's folder, must stay inside the destination, and `..` may only
/// lead it (`../a/b`, not `a/../b`): through a link made earlier, `a/..` need not be where the
/// letters say, so only a target whose climb comes first is judged by its letters.
fn check_symlink(name: &str, rel: &Path, target: &Path) -> Result<()> {
    if target.has_root() {
        bail!(
            "refusing archive entry {name:?}: symbolic link to the absolute path {}",
            target.display()
        );
    }
    let mut depth: usize = rel.components().count() - 1;
    let mut descended = false;
    for c in target.components() {
        match c {
            Component::Normal(_) => {
                depth += 1;
                descended = true;
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if descended {
                    bail!(
                        "refusing archive entry {name:?}: symbolic link to {}, with `..` after a \
                         folder name",
                        target.display()
                    );
                }
                if depth == 0 {
                    bail!(
                        "refusing archive entry {name:?}: symbolic link to {}, outside the \
                         destination",
                        target.display()
                    );
                }
                depth -= 1;
            }
            Component::RootDir | Component::Prefix(_) => bail!(
                "refusing archive entry {name:?}: symbolic link to the absolute path {}",
                target.display()
            ),
        }
    }
    Ok(())
}

/// Walks the parent folders of `root/rel`, refusing to go through a symbolic link or a file;
/// creates missing ones when `create`. Returns `root/rel`.
fn parents(name: &str, root: &Path, rel: &Path, create: bool) -> Result<PathBuf> {
    let mut at = root.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for c in &parts[..parts.len() - 1] {
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => bail!(
                "refusing archive entry {name:?}: it goes through the symbolic link {}",
                at.strip_prefix(root).unwrap_or(&at).display()
            ),
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!(
                "refusing archive entry {name:?}: {} is a file, not a folder",
                at.strip_prefix(root).unwrap_or(&at).display()
            ),
            Err(_) if create => {
                fs::create_dir(&at).with_context(|| format!("cannot create {}", at.display()))?
            }
            Err(_) => bail!(
                "refusing archive entry {name:?}: {} does not exist",
                at.strip_prefix(root).unwrap_or(&at).display()
            ),
        }
    }
    Ok(root.join(rel))
}

/// Creates the parent folders of `root/rel` (never through a link) and removes a file or link
/// already at `root/rel`, so that a later entry replaces an earlier one rather than writing
/// through it.
fn prepare(name: &str, root: &Path, rel: &Path) -> Result<PathBuf> {
    let out = parents(name, root, rel, true)?;
    if let Ok(m) = fs::symlink_metadata(&out) {
        if !m.is_dir() {
            fs::remove_file(&out).with_context(|| format!("cannot replace {}", out.display()))?;
        }
    }
    Ok(out)
}

fn write_file(
    name: &str,
    root: &Path,
    rel: &Path,
    r: &mut dyn Read,
    budget: &mut Budget,
) -> Result<()> {
    let out = prepare(name, root, rel)?;
    let mut f =
        fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?;
    budget.copy(name, r, &mut f)
}

fn make_dir(name: &str, root: &Path, rel: &Path) -> Result<()> {
    let out = prepare(name, root, rel)?;
    match fs::symlink_metadata(&out) {
        Ok(m) if m.is_dir() => Ok(()),
        _ => fs::create_dir(&out).with_context(|| format!("cannot create {}", out.display())),
    }
}

fn make_symlink(name: &str, root: &Path, rel: &Path, target: &Path) -> Result<()> {
    check_symlink(name, rel, target)?;
    let out = prepare(name, root, rel)?;
    std::os::unix::fs::symlink(target, &out)
        .with_context(|| format!("cannot create the link {}", out.display()))
}

fn make_hardlink(name: &str, root: &Path, rel: &Path, target: &str) -> Result<()> {
    let target_rel = entry_path(target).map_err(|_| {
        anyhow!("refusing archive entry {name:?}: hard link to {target:?}, outside the destination")
    })?;
    // The source must not be reached through a link either.
    let src = parents(name, root, &target_rel, false)?;
    match fs::symlink_metadata(&src) {
        Ok(m) if m.is_file() => {}
        _ => bail!(
            "refusing archive entry {name:?}: hard link to {target:?}, which is not a file \
             extracted before it"
        ),
    }
    let out = prepare(name, root, rel)?;
    fs::hard_link(&src, &out).with_context(|| format!("cannot create the link {}", out.display()))
}

fn unpack_tar<R: Read>(reader: R, root: &Path, budget: &mut Budget) -> Result<()> {
    let mut ar = tar::Archive::new(reader);
    for entry in ar.entries().context("not a readable tar archive")? {
        let mut entry = entry.context("corrupt tar archive")?;
        let raw = entry.path_bytes();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        use tar::EntryType as T;
        match kind {
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => continue,
            _ => {}
        }
        budget.entry(&name)?;
        let rel = entry_path(&name)?;
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                write_file(&name, root, &rel, &mut entry, budget)?
            }
            T::Directory => make_dir(&name, root, &rel)?,
            T::Symlink => {
                let target = entry
                    .link_name()
                    .context("corrupt link name")?
                    .ok_or_else(|| {
                        anyhow!("refusing archive entry {name:?}: link without a target")
                    })?
                    .into_owned();
                make_symlink(&name, root, &rel, &target)?;
            }
            T::Link => {
                let target = entry.link_name_bytes().ok_or_else(|| {
                    anyhow!("refusing archive entry {name:?}: link without a target")
                })?;
                let target = String::from_utf8_lossy(&target).into_owned();
                make_hardlink(&name, root, &rel, &target)?;
            }
            other => bail!(
                "refusing archive entry {name:?}: special file ({}), only files, folders and links \
                 are extracted",
                match other {
                    T::Char => "character device".to_string(),
                    T::Block => "block device".to_string(),
                    T::Fifo => "FIFO".to_string(),
                    o => format!("tar type {:?}", o.as_byte() as char),
                }
            ),
        }
    }
    Ok(())
}

fn unpack_zip<R: Read + io::Seek>(reader: R, root: &Path, budget: &mut Budget) -> Result<()> {
    let mut zip = zip::ZipArchive::new(reader).context("not a readable zip archive")?;
    if zip.len() as u64 > budget.limits.entries {
        bail!(
            "the archive holds more than {} entries ({})",
            budget.limits.entries,
            zip.len()
        );
    }
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).context("corrupt zip archive")?;
        let name = entry.name().to_string();
        budget.entry(&name)?;
        let rel = entry_path(&name)?;
        let mode = entry.unix_mode().unwrap_or(0);
        let file_type = mode & 0o170000;
        if entry.is_dir() {
            make_dir(&name, root, &rel)?;
        } else if file_type == 0o120000 {
            let mut target = String::new();
            (&mut entry)
                .take(MAX_LINK_TARGET)
                .read_to_string(&mut target)
                .with_context(|| format!("cannot read the link target of {name:?}"))?;
            make_symlink(&name, root, &rel, Path::new(&target))?;
        } else if file_type == 0 || file_type == 0o100000 {
            write_file(&name, root, &rel, &mut entry, budget)?;
        } else {
            bail!(
                "refusing archive entry {name:?}: special file (mode {mode:o}), only files, folders \
                 and links are extracted"
            );
        }
    }
    Ok(())
}

/// Moves every entry of `from` into `to`: a folder present on both sides is merged, anything else
/// replaces what `to` holds under that name.
fn move_into(from: &Path, to: &Path) -> Result<()> {
    for e in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let e = e?;
        let src = e.path();
        let dst = to.join(e.file_name());
        let src_is_dir = e.file_type()?.is_dir();
        match fs::symlink_metadata(&dst) {
            Ok(m) if m.is_dir() && src_is_dir => move_into(&src, &dst)?,
            Ok(m) => {
                if m.is_dir() {
                    fs::remove_dir_all(&dst)
                } else {
                    fs::remove_file(&dst)
                }
                .with_context(|| format!("cannot replace {}", dst.display()))?;
                fs::rename(&src, &dst)
                    .with_context(|| format!("cannot move {} into place", dst.display()))?;
            }
            Err(_) => fs::rename(&src, &dst)
                .with_context(|| format!("cannot move {} into place", dst.display()))?,
        }
    }
    Ok(())
}
