//! File helpers shared by `setup` and `fetch`: digests computed while bytes stream past, and the
//! free-space check made before a large write.
//!
//! Spec: spec/data-assets.md (verification before landing, free space) and spec/README.md
//! (toolchain: the libtorch wheels use the same digest and free-space code).

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};
use md5::Md5;
use sha2::{Digest, Sha256};

/// SHA-256 (always) and MD5 (when some upstream publishes only an MD5) of a byte stream, fed
/// chunk by chunk so that a multi-gigabyte download is hashed while it is written.
pub struct Hashes {
    sha256: Sha256,
    md5: Option<Md5>,
    len: u64,
}

/// The finished digests of a [`Hashes`], lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub sha256: String,
    pub md5: Option<String>,
    pub len: u64,
}

impl Hashes {
    pub fn new(with_md5: bool) -> Self {
        Self {
            sha256: Sha256::new(),
            md5: with_md5.then(Md5::new),
            len: 0,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        if let Some(m) = &mut self.md5 {
            m.update(bytes);
        }
        self.len += bytes.len() as u64;
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Feeds everything `r` yields; returns the number of bytes read.
    pub fn update_from(&mut self, r: &mut dyn Read) -> io::Result<u64> {
        let mut buf = vec![0u8; 1 << 20];
        let mut n_total = 0;
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(n_total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.update(&buf[..n]);
            n_total += n as u64;
        }
    }

    pub fn finish(self) -> Digests {
        Digests {
            sha256: hex::encode(self.sha256.finalize()),
            md5: self.md5.map(|m| hex::encode(m.finalize())),
            len: self.len,
        }
    }
}

/// The digests of a whole file.
pub fn hash_file(path: &Path, with_md5: bool) -> Result<Digests> {
    let mut f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Hashes::new(with_md5);
    h.update_from(&mut f)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(h.finish())
}

/// The SHA-256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    Ok(hash_file(path, false)?.sha256)
}

/// Writes `bytes` to `<path>.partial` beside `path` and renames it into place, so a reader
/// never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = std::path::PathBuf::from(tmp);
    fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot rename into {}", path.display()))?;
    Ok(())
}

/// Fails with the directory, the need and what is available when fewer than `need` bytes are free.
pub fn check_free_space(dir: &Path, need: u64) -> Result<()> {
    let avail = free_space(dir)?;
    if avail < need {
        bail!(
            "not enough free disk space in {}: need {} MiB, have {} MiB",
            dir.display(),
            need.div_ceil(1 << 20),
            avail >> 20
        );
    }
    Ok(())
}

/// Bytes available to an unprivileged user on the file system holding `dir` (or its nearest
/// existing ancestor).
pub fn free_space(dir: &Path) -> Result<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let mut probe = dir.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    if probe.as_os_str().is_empty() {
        probe = ".".into();
    }
    let c = CString::new(probe.as_os_str().as_bytes())?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` is a plain C struct written by statvfs.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("cannot read free space of {}", probe.display()));
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_known_bytes() {
        // printf abc | sha256sum; printf abc | md5sum
        let mut h = Hashes::new(true);
        h.update(b"a");
        h.update(b"bc");
        let d = h.finish();
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.md5.as_deref(), Some("900150983cd24fb0d6963f7d28e17f72"));
        assert_eq!(d.len, 3);
    }

    #[test]
    fn free_space_refuses_an_impossible_need() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_free_space(dir.path(), u64::MAX).unwrap_err();
        assert!(
            format!("{err}").contains("not enough free disk space"),
            "{err}"
        );
        check_free_space(&dir.path().join("not/yet/there"), 1).unwrap();
    }
}
