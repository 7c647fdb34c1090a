//! Files and folders written whole or not at all, and their digests: the operations every stage
//! that writes results (feature stores, run directories, checkpoints, indexes) shares.
//!
//! Spec: spec/phase2-run-directory.md (atomic writes, input checksums), spec/untrusted-input.md
//! (writers on a full disk or killed), spec/cli.md (outputs checked before work).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// An IO error on `path`, as the library reports it.
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::io(path, source)
}

/// Writes `bytes` to `path` through a temporary file (`<path>.partial`) and a rename: a kill at
/// any point leaves the previous file or the new one, whole. A write that fails (a full disk)
/// removes the temporary file and names `path`; the previous file stays as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.partial",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|source| {
        // Best effort: the temporary file may not exist, and the error to report is the write's.
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, source)
    })
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(io(path))?;
    Ok(hex::encode(h.finalize()))
}

/// `.NAME.old` beside `target`: where [`replace_dir`] keeps the previous folder while it swaps.
fn old_of(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.old"))
}

/// One step of [`replace_dir`]: a crash-injection test stops the sequence at any of them.
#[derive(Debug, Clone, Copy)]
pub enum DirStep<'a> {
    /// Rename a folder.
    Rename(&'a Path, &'a Path),
    /// Remove a folder and everything in it.
    Remove(&'a Path),
}

impl DirStep<'_> {
    /// Does the step.
    pub fn run(self) -> std::io::Result<()> {
        match self {
            Self::Rename(from, to) => std::fs::rename(from, to),
            Self::Remove(dir) => std::fs::remove_dir_all(dir),
        }
    }
}

/// Puts the complete folder `tmp` in place of `target` (absent or not) such that a kill at any
/// point leaves a complete folder that [`current_dir`] finds, the previous one or the new one:
/// `target` is moved aside to `.NAME.old` before `tmp` is renamed onto it, and the old one is
/// removed only once the new one is in place. A previous replacement killed between its two
/// renames (only `.NAME.old` left) is first moved back, so the old folder is never deleted while
/// it is the only complete one.
pub fn replace_dir(tmp: &Path, target: &Path) -> Result<()> {
    replace_dir_by(tmp, target, &mut |step| step.run())
}

/// [`replace_dir`] with each step done by `run` (the real one runs [`DirStep::run`]; a test stops
/// at any step, as a kill would).
pub fn replace_dir_by(
    tmp: &Path,
    target: &Path,
    run: &mut dyn FnMut(DirStep<'_>) -> std::io::Result<()>,
) -> Result<()> {
    let old = old_of(target);
    if !target.exists() && old.exists() {
        run(DirStep::Rename(&old, target)).map_err(io(&old))?;
    }
    if old.exists() {
        run(DirStep::Remove(&old)).map_err(io(&old))?;
    }
    if target.exists() {
        run(DirStep::Rename(target, &old)).map_err(io(target))?;
    }
    run(DirStep::Rename(tmp, target)).map_err(io(target))?;
    if old.exists() {
        run(DirStep::Remove(&old)).map_err(io(&old))?;
    }
    Ok(())
}

/// The complete folder [`replace_dir`] left for `target`: `target` itself, or `.NAME.old` when a
/// kill came between the two renames; `None` when neither exists.
pub fn current_dir(target: &Path) -> Option<PathBuf> {
    if target.is_dir() {
        return Some(target.to_path_buf());
    }
    let old = old_of(target);
    old.is_dir().then_some(old)
}

/// What an output path names, for [`prepare_output`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A file: its parent folders are created.
    File,
    /// A folder: it and its parents are created.
    Dir,
}

/// Makes sure a command's output can be written before the command does any work: creates the
/// missing folders (the output folder, or a file's parent folders) and writes and removes a probe
/// file where the output will go. A path that cannot be written (a parent that is a file, a
/// read-only folder, a full disk) is refused at once, naming it, instead of after minutes of work.
pub fn prepare_output(path: &Path, kind: Output) -> Result<()> {
    let dir = match kind {
        Output::Dir => path.to_path_buf(),
        Output::File => match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
    };
    let refuse = |source: std::io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(refuse)?;
    let probe = dir.join(format!(".seje-write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(refuse)?;
    std::fs::remove_file(&probe).map_err(refuse)
}
