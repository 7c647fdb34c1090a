//! `cargo xtask verify`: hash every present asset again, offline, against the manifest (or the
//! lock, for the trust-on-first-use entries) and print one table row per asset.
//!
//! Spec: spec/data-assets.md (section "Verifying").

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::assets::{Lock, Manifest};
use crate::disk::hash_file;

/// What `cargo xtask verify` was asked for.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct VerifyArgs {
    /// Verify only these assets or groups; repeatable or comma-separated.
    #[arg(long, value_name = "NAME|GROUP", value_delimiter = ',')]
    pub only: Vec<String>,
    /// The data directory (default: `<workspace>/data`).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Matches the manifest's pins.
    Ok,
    /// Unpinned in the manifest; matches the digest the lock recorded on first use.
    UnpinnedRecorded,
    /// Unpinned and never recorded (placed by hand): its digest, for the record.
    UnpinnedUnrecorded {
        sha256: String,
    },
    Missing,
    /// Disagrees: what was expected and what the file has.
    Mismatch(String),
}

impl Status {
    fn text(&self) -> String {
        match self {
            Status::Ok => "ok".into(),
            Status::UnpinnedRecorded => "unpinned-recorded (matches the lock)".into(),
            Status::UnpinnedUnrecorded { sha256 } => {
                format!("unpinned, not in the lock (sha256 {sha256}; run fetch to record it)")
            }
            Status::Missing => "missing".into(),
            Status::Mismatch(why) => format!("MISMATCH {why}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub status: Status,
}

/// Checks the selected entries' files under `data`.
pub fn verify(manifest: &Manifest, only: &[String], data: &Path) -> Result<Vec<Row>> {
    let lock = Lock::load(data)?;
    let mut rows = Vec::new();
    for e in manifest.select(only)? {
        let path = e.dest_path(data);
        let status = if !path.is_file() {
            Status::Missing
        } else {
            let d = hash_file(&path, e.md5.is_some())?;
            let record = lock.asset.get(&e.name);
            match crate::fetch::check(e, record, &d) {
                Err(why) => Status::Mismatch(why),
                Ok(()) if e.is_pinned() => Status::Ok,
                Ok(()) if record.is_some() => Status::UnpinnedRecorded,
                Ok(()) => Status::UnpinnedUnrecorded { sha256: d.sha256 },
            }
        };
        rows.push(Row {
            name: e.name.clone(),
            status,
        });
    }
    Ok(rows)
}

/// The table `verify` prints.
pub fn render(rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut s = format!("{:width$}  status\n", "name");
    for r in rows {
        s.push_str(&format!("{:width$}  {}\n", r.name, r.status.text()));
    }
    s
}

/// Entry point of `cargo xtask verify`: prints the table, fails when a file does not match.
pub fn run(args: &VerifyArgs) -> Result<()> {
    let manifest = Manifest::committed()?;
    let data = args
        .data
        .clone()
        .unwrap_or_else(crate::fetch::default_data_dir);
    let rows = verify(&manifest, &args.only, &data)?;
    print!("{}", render(&rows));
    fail_on_mismatch(&rows, &data)
}

/// An error naming the files that do not match, if any.
pub fn fail_on_mismatch(rows: &[Row], data: &Path) -> Result<()> {
    let bad: Vec<_> = rows
        .iter()
        .filter(|r| matches!(r.status, Status::Mismatch(_)))
        .map(|r| r.name.as_str())
        .collect();
    if !bad.is_empty() {
        bail!(
            "{} file(s) under {} do not match: {}",
            bad.len(),
            data.display(),
            bad.join(", ")
        );
    }
    Ok(())
}
