//! The asset manifest (`xtask/assets.toml`): every file the pipeline can use, where it comes from,
//! what is pinned about it; and the lock file (`<data>/assets.lock.toml`) that records the digest
//! of every file `fetch` has landed, which is the only pin of the trust-on-first-use entries.
//!
//! Spec: spec/data-assets.md.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The committed manifest, relative to the workspace root.
pub const MANIFEST: &str = "xtask/assets.toml";
/// The lock file, relative to the data directory.
pub const LOCK_FILE: &str = "assets.lock.toml";
/// The prefix of a source that only a user-supplied mirror can provide.
pub const MIRROR_PREFIX: &str = "mirror:";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "entry")]
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Recipe1m,
    Food101,
    Weights,
    Authors,
    Bert,
}

impl Group {
    pub fn name(&self) -> &'static str {
        match self {
            Group::Recipe1m => "recipe1m",
            Group::Food101 => "food101",
            Group::Weights => "weights",
            Group::Authors => "authors",
            Group::Bert => "bert",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ArchiveKind {
    #[serde(rename = "tar")]
    Tar,
    #[serde(rename = "tar.gz")]
    TarGz,
    #[serde(rename = "zip")]
    Zip,
}

/// One asset of the manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub group: Group,
    /// An `http(s)://` URL, or `mirror:<relative path>` for files behind a registration.
    pub source: String,
    /// A page where a person obtains the file by hand (registration, browser confirmation).
    #[serde(default)]
    pub page: Option<String>,
    /// Where the file lands, relative to the data directory.
    pub dest: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// The leading hex digits of the SHA-256 (torchvision writes 8 of them into its file names).
    #[serde(default)]
    pub sha256_prefix: Option<String>,
    #[serde(default)]
    pub md5: Option<String>,
    #[serde(default)]
    pub licence: Option<String>,
    #[serde(default)]
    pub terms: Option<String>,
    #[serde(default)]
    pub extract: Option<ArchiveKind>,
    /// Where an archive is unpacked, relative to the data directory (`.` is the data directory).
    #[serde(default)]
    pub extract_to: Option<String>,
    pub used_by: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// Where an entry's bytes come from once the command line is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source<'a> {
    Url(&'a str),
    /// A path relative to the mirror (a directory or a base URL).
    Mirror(&'a str),
}

impl Entry {
    pub fn source(&self) -> Source<'_> {
        match self.source.strip_prefix(MIRROR_PREFIX) {
            Some(rel) => Source::Mirror(rel),
            None => Source::Url(&self.source),
        }
    }

    /// The path a mirror holds this file under: the `mirror:` path, else the URL's last segment.
    pub fn mirror_path(&self) -> &str {
        match self.source() {
            Source::Mirror(rel) => rel,
            Source::Url(u) => u.rsplit('/').next().unwrap_or(u),
        }
    }

    /// Whether the manifest pins the bytes (a size alone does not).
    pub fn is_pinned(&self) -> bool {
        self.sha256.is_some() || self.sha256_prefix.is_some() || self.md5.is_some()
    }

    pub fn dest_path(&self, data: &Path) -> PathBuf {
        data.join(&self.dest)
    }

    pub fn extract_dir(&self, data: &Path) -> Option<PathBuf> {
        self.extract.map(|_| {
            let to = self.extract_to.as_deref().unwrap_or(".");
            if to == "." {
                data.to_path_buf()
            } else {
                data.join(to)
            }
        })
    }

    /// Checks digests computed from the bytes against what the manifest pins. `Err` holds the
    /// description of the first disagreement: what was pinned, expected and actual.
    pub fn check_pins(&self, d: &crate::disk::Digests) -> std::result::Result<(), String> {
        if let Some(size) = self.size {
            if d.len != size {
                return Err(format!(
                    "size expected {size} bytes, actual {} bytes",
                    d.len
                ));
            }
        }
        if let Some(want) = &self.sha256 {
            if !want.eq_ignore_ascii_case(&d.sha256) {
                return Err(format!("sha256 expected {want}, actual {}", d.sha256));
            }
        }
        if let Some(prefix) = &self.sha256_prefix {
            if !d.sha256.starts_with(&prefix.to_ascii_lowercase()) {
                return Err(format!(
                    "sha256 expected to start with {prefix}, actual {}",
                    d.sha256
                ));
            }
        }
        if let Some(want) = &self.md5 {
            let got = d.md5.as_deref().unwrap_or("(not computed)");
            if !want.eq_ignore_ascii_case(got) {
                return Err(format!("md5 expected {want}, actual {got}"));
            }
        }
        Ok(())
    }

    /// Structural checks: fields present, digests well-formed, paths relative and inside.
    pub fn validate(&self) -> Result<()> {
        let n = &self.name;
        if n.is_empty() || n.contains('/') || n.starts_with('.') {
            bail!("entry name {n:?} must be a plain file name");
        }
        if self.source.trim().is_empty() {
            bail!("{n}: empty source");
        }
        match self.source() {
            Source::Url(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                bail!("{n}: source {u:?} is neither an http(s) URL nor `mirror:<path>`")
            }
            Source::Mirror(rel) => inside_relative(rel).with_context(|| format!("{n}: source"))?,
            Source::Url(_) => {}
        }
        if self.licence.is_none() && self.terms.is_none() {
            bail!("{n}: neither `licence` nor `terms`");
        }
        inside_relative(&self.dest).with_context(|| format!("{n}: dest"))?;
        if let Some(to) = &self.extract_to {
            if to != "." {
                inside_relative(to).with_context(|| format!("{n}: extract_to"))?;
            }
            if self.extract.is_none() {
                bail!("{n}: `extract_to` without `extract`");
            }
        }
        if self.used_by.trim().is_empty() {
            bail!("{n}: empty used_by");
        }
        check_hex(n, "sha256", self.sha256.as_deref(), 64..=64)?;
        check_hex(n, "sha256_prefix", self.sha256_prefix.as_deref(), 8..=63)?;
        check_hex(n, "md5", self.md5.as_deref(), 32..=32)?;
        if self.size == Some(0) {
            bail!("{n}: size 0 is not a real size; omit `size` when it is unknown");
        }
        Ok(())
    }
}

fn check_hex(
    name: &str,
    field: &str,
    value: Option<&str>,
    len: std::ops::RangeInclusive<usize>,
) -> Result<()> {
    let Some(v) = value else { return Ok(()) };
    if !len.contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "{name}: {field} {v:?} is not {} hex digits",
            if len.start() == len.end() {
                len.start().to_string()
            } else {
                format!("{}–{}", len.start(), len.end())
            }
        );
    }
    if v.len() >= 8 && v.bytes().all(|b| b == v.as_bytes()[0]) {
        bail!("{name}: {field} {v:?} repeats one digit: a placeholder, not a digest");
    }
    Ok(())
}

/// A path made of plain components only (no root, no `..`, no `.`).
fn inside_relative(p: &str) -> Result<()> {
    let path = Path::new(p);
    if p.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!("{p:?} must be a relative path of plain components");
    }
    Ok(())
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Self> {
        let m: Manifest = toml::from_str(text).context("invalid asset manifest")?;
        let mut seen = std::collections::BTreeSet::new();
        let mut dests = std::collections::BTreeSet::new();
        for e in &m.entries {
            e.validate()?;
            if !seen.insert(e.name.as_str()) {
                bail!("asset name {} appears twice", e.name);
            }
            if !dests.insert(e.dest.as_str()) {
                bail!("{}: dest {} is used by another entry", e.name, e.dest);
            }
        }
        Ok(m)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// The committed manifest of this workspace.
    pub fn committed() -> Result<Self> {
        Self::load(&crate::workspace_root().join(MANIFEST))
    }

    /// The entries selected by `only` (asset names or group names); all of them when empty.
    /// The entry that provides `rel` (a path relative to the data directory): the file itself,
    /// or an archive that unpacks into a folder holding it: the most specific folder, and among
    /// archives unpacking there the one whose description names the file, else the first.
    pub fn provider_of(&self, rel: &Path) -> Option<&Entry> {
        if let Some(e) = self.entries.iter().find(|e| Path::new(&e.dest) == rel) {
            return Some(e);
        }
        let depth = |e: &Entry| {
            let to = Path::new(e.extract_to.as_deref()?);
            (to != Path::new(".") && rel.starts_with(to)).then(|| to.components().count())
        };
        let Some(deepest) = self.entries.iter().filter_map(depth).max() else {
            // Archives that unpack into the data directory itself (Food-101 into `food-101/`)
            // are found by the folder their description names.
            let top = rel.components().next()?.as_os_str().to_string_lossy();
            return self.entries.iter().find(|e| {
                e.extract_to.as_deref() == Some(".")
                    && (e.used_by.contains(&*top)
                        || e.note.as_deref().is_some_and(|n| n.contains(&*top)))
            });
        };
        let candidates: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| depth(e) == Some(deepest))
            .collect();
        let name = rel.file_name()?.to_string_lossy();
        candidates
            .iter()
            .find(|e| {
                e.used_by.contains(&*name) || e.note.as_deref().is_some_and(|n| n.contains(&*name))
            })
            .or(candidates.first())
            .copied()
    }

    pub fn select(&self, only: &[String]) -> Result<Vec<&Entry>> {
        if only.is_empty() {
            return Ok(self.entries.iter().collect());
        }
        for o in only {
            if !self
                .entries
                .iter()
                .any(|e| &e.name == o || e.group.name() == o)
            {
                let groups = ["recipe1m", "food101", "weights", "authors", "bert"];
                bail!(
                    "--only {o}: no asset or group of that name (groups: {}; assets: {})",
                    groups.join(", "),
                    self.entries
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        Ok(self
            .entries
            .iter()
            .filter(|e| only.iter().any(|o| &e.name == o || e.group.name() == o))
            .collect())
    }
}

/// What `fetch` recorded about one landed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockRecord {
    pub sha256: String,
    pub size: u64,
    /// Where the bytes came from (URL or mirror path).
    pub from: String,
    /// True when the manifest pins nothing, so this record is the pin (trust on first use).
    pub trust_on_first_use: bool,
    /// The directory the archive was unpacked into, once it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extracted_to: Option<String>,
}

/// `<data>/assets.lock.toml`: asset name → record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    #[serde(default)]
    pub asset: BTreeMap<String, LockRecord>,
}

impl Lock {
    pub fn path(data: &Path) -> PathBuf {
        data.join(LOCK_FILE)
    }

    /// The lock of a data directory; empty when there is none yet.
    pub fn load(data: &Path) -> Result<Self> {
        let p = Self::path(data);
        match fs::read_to_string(&p) {
            Ok(t) => {
                toml::from_str(&t).with_context(|| format!("invalid lock file {}", p.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
        }
    }

    /// Writes the lock atomically (a temporary file renamed over the old one).
    pub fn save(&self, data: &Path) -> Result<()> {
        let p = Self::path(data);
        fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
        let text = format!(
            "# Written by `cargo xtask fetch`: the SHA-256 of every file it landed. Entries with\n\
             # trust_on_first_use = true have no digest in xtask/assets.toml; this record is their\n\
             # pin, and `cargo xtask verify` checks them against it. Do not edit by hand.\n\n{}",
            toml::to_string(self).context("cannot serialise the lock")?
        );
        crate::disk::write_atomic(&p, text.as_bytes())
    }
}
