//! Files written whole or not at all, and their digests: the two operations every stage that
//! writes results (feature stores, run directories, checkpoints, indexes) shares.
//!
//! Spec: spec/phase2-run-directory.md (atomic writes, input checksums).

use std::path::Path;

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
