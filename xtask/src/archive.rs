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
//!   destination when the whole archive went through, so a refused archive leaves nothing behind.
//!
//! A refusal names the entry, the archive and the rule.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::assets::ArchiveKind;

/// Unpacks `archive` into `dest` (created when absent), going through a temporary directory made
/// in `scratch`, which must be on the same file system as `dest`. Existing files of `dest` that
/// the archive also holds are replaced; others are left alone.
pub fn extract(archive: &Path, kind: ArchiveKind, dest: &Path, scratch: &Path) -> Result<()> {
    fs::create_dir_all(scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(scratch)
        .with_context(|| format!("cannot create a directory in {}", scratch.display()))?;
    let file =
        fs::File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let reader = io::BufReader::new(file);
    let unpacked = match kind {
        ArchiveKind::Tar => unpack_tar(reader, tmp.path()),
        ArchiveKind::TarGz => unpack_tar(flate2::read::MultiGzDecoder::new(reader), tmp.path()),
        ArchiveKind::Zip => unpack_zip(reader, tmp.path()),
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
/// resolved lexically from the link's folder, must stay inside the destination.
fn check_symlink(name: &str, rel: &Path, target: &Path) -> Result<()> {
    if target.has_root() {
        bail!(
            "refusing archive entry {name:?}: symbolic link to the absolute path {}",
            target.display()
        );
    }
    let mut depth: usize = rel.components().count() - 1;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
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

fn write_file(name: &str, root: &Path, rel: &Path, r: &mut dyn Read) -> Result<()> {
    let out = prepare(name, root, rel)?;
    let mut f =
        fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?;
    io::copy(r, &mut f)
        .with_context(|| format!("cannot write entry {name:?} (corrupt archive or disk full?)"))?;
    Ok(())
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

fn unpack_tar<R: Read>(reader: R, root: &Path) -> Result<()> {
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
        let rel = entry_path(&name)?;
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => write_file(&name, root, &rel, &mut entry)?,
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

fn unpack_zip<R: Read + io::Seek>(reader: R, root: &Path) -> Result<()> {
    let mut zip = zip::ZipArchive::new(reader).context("not a readable zip archive")?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).context("corrupt zip archive")?;
        let name = entry.name().to_string();
        let rel = entry_path(&name)?;
        let mode = entry.unix_mode().unwrap_or(0);
        let file_type = mode & 0o170000;
        if entry.is_dir() {
            make_dir(&name, root, &rel)?;
        } else if file_type == 0o120000 {
            let mut target = String::new();
            entry
                .read_to_string(&mut target)
                .with_context(|| format!("cannot read the link target of {name:?}"))?;
            make_symlink(&name, root, &rel, Path::new(&target))?;
        } else if file_type == 0 || file_type == 0o100000 {
            write_file(&name, root, &rel, &mut entry)?;
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
