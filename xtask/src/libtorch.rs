//! libtorch bootstrap: pinned PyPI wheels → a CPU libtorch layout in the user cache → `.libtorch`.
//!
//! Spec: spec/README.md (toolchain). tch 0.24 expects libtorch 2.11.0. We take it from the torch
//! 2.11.0 wheel (its `torch/lib` and `torch/include` are a complete libtorch) plus two NVIDIA
//! runtime wheels, because `libtorch_cpu.so` lists `libcudart.so.13` and `libcupti.so.13` as
//! needed libraries even when no GPU is used. `libtorch_cuda*.so` are left out: the layout is a
//! CPU layout, and CUDA is loaded at run time from a machine's own PyTorch (spec/runtime.md).
//!
//! Invariants:
//! - a wheel is extracted only after its SHA-256 equals the pinned digest;
//! - a wheel whose digest is wrong is removed (never kept, never extracted);
//! - the layout is built in a sibling `.partial` directory and renamed into place, so a failure
//!   leaves nothing half-extracted behind;
//! - a stamp holding the three digests makes a second run a no-op.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::disk::check_free_space;
pub use crate::disk::sha256_file;

/// The libtorch version tch 0.24.0 was generated against.
pub const LIBTORCH_VERSION: &str = "2.11.0";

/// Bump when the extracted layout changes, so existing caches are rebuilt.
const LAYOUT_VERSION: u32 = 1;

/// One file taken out of a wheel: entries under `from` land under `to`, minus excluded names.
#[derive(Debug, Clone)]
pub struct ExtractRule {
    pub from: &'static str,
    pub to: &'static str,
    /// Entries whose file name starts with one of these are skipped.
    pub exclude_prefixes: &'static [&'static str],
}

/// A pinned wheel: what to ask pip for, the file it must produce and that file's digest.
#[derive(Debug, Clone)]
pub struct Wheel {
    pub requirement: &'static str,
    pub file_name: &'static str,
    pub sha256: &'static str,
    pub size: u64,
    /// `pip download` platform tags; with `--only-binary=:all:` they make the choice of file
    /// independent of the local Python and OS.
    pub platforms: &'static [&'static str],
    pub extract: &'static [ExtractRule],
}

pub const WHEELS: &[Wheel] = &[
    Wheel {
        requirement: "torch==2.11.0",
        file_name: "torch-2.11.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        sha256: "7aa2f9bbc6d4595ba72138026b2074be1233186150e9292865e04b7a63b8c67a",
        size: 530_604_548,
        platforms: &["manylinux_2_28_x86_64"],
        extract: &[
            ExtractRule {
                from: "torch/lib/",
                to: "lib/",
                exclude_prefixes: &["libtorch_cuda"],
            },
            ExtractRule {
                from: "torch/include/",
                to: "include/",
                exclude_prefixes: &[],
            },
        ],
    },
    Wheel {
        requirement: "nvidia-cuda-runtime==13.0.96",
        file_name:
            "nvidia_cuda_runtime-13.0.96-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        sha256: "7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548",
        size: 2_243_632,
        platforms: &["manylinux_2_17_x86_64"],
        extract: &[ExtractRule {
            from: "nvidia/cu13/lib/libcudart.so.13",
            to: "lib/libcudart.so.13",
            exclude_prefixes: &[],
        }],
    },
    Wheel {
        requirement: "nvidia-cuda-cupti==13.0.85",
        file_name: "nvidia_cuda_cupti-13.0.85-py3-none-manylinux_2_25_x86_64.whl",
        sha256: "4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8",
        size: 10_715_597,
        platforms: &["manylinux_2_25_x86_64"],
        extract: &[ExtractRule {
            from: "nvidia/cu13/lib/libcupti.so.13",
            to: "lib/libcupti.so.13",
            exclude_prefixes: &[],
        }],
    },
];

/// Something that puts a wheel file into a directory (pip in real use, a copy in tests).
pub trait Fetch {
    fn fetch(&self, wheel: &Wheel, into: &Path) -> Result<()>;
}

/// `pip download` of one pinned wheel, with no index URL of our own: pip uses its configured index.
pub struct Pip;

impl Fetch for Pip {
    fn fetch(&self, wheel: &Wheel, into: &Path) -> Result<()> {
        let mut last_err = None;
        for (program, pre) in [
            ("python3", &["-m", "pip"][..]),
            ("pip3", &[][..]),
            ("pip", &[][..]),
        ] {
            let mut cmd = Command::new(program);
            cmd.args(pre).args([
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--disable-pip-version-check",
            ]);
            for p in wheel.platforms {
                cmd.args(["--platform", p]);
            }
            cmd.arg("--dest").arg(into).arg(wheel.requirement);
            match cmd.status() {
                Ok(s) if s.success() => return Ok(()),
                Ok(s) => {
                    // `python3 -m pip` with no pip module exits 1 with "No module named pip".
                    last_err = Some(format!(
                        "`{program} download {}` failed ({s})",
                        wheel.requirement
                    ));
                    if program == "python3" && !python_has_pip() {
                        continue;
                    }
                    bail!("{}", last_err.unwrap());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot run {program}")),
            }
        }
        bail!(
            "pip not found: install Python 3 with pip (tried `python3 -m pip`, `pip3`, `pip`){}",
            last_err
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        )
    }
}

fn python_has_pip() -> bool {
    Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Where cached wheels and layouts live: `$SEJE_CACHE_DIR`, else `$XDG_CACHE_HOME/seje`, else
/// `~/.cache/seje`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("SEJE_CACHE_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(d).join("seje"));
    }
    let home = std::env::var_os("HOME").context("neither SEJE_CACHE_DIR nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache").join("seje"))
}

/// Entry point of `cargo xtask setup`.
pub fn setup(root: &Path, force: bool) -> Result<PathBuf> {
    let link = root.join(".libtorch");
    if let Some(user) = user_libtorch(&link) {
        let lib = user.join("lib").join("libtorch_cpu.so");
        if !lib.exists() {
            bail!(
                "LIBTORCH={} is set but {} does not exist; unset LIBTORCH to let `cargo xtask setup` \
                 provide libtorch {LIBTORCH_VERSION}",
                user.display(),
                lib.display()
            );
        }
        eprintln!(
            "setup: using LIBTORCH={} from the environment",
            user.display()
        );
        return Ok(user);
    }
    let cache = cache_dir()?;
    let layout = install(&cache, WHEELS, &Pip, force)?;
    link_layout(&layout, &link)?;
    Ok(layout)
}

/// A LIBTORCH the user set themselves (cargo passes ours, `<root>/.libtorch`, to xtask too).
fn user_libtorch(link: &Path) -> Option<PathBuf> {
    let v = PathBuf::from(std::env::var_os("LIBTORCH")?);
    (v != link).then_some(v)
}

fn stamp_text(wheels: &[Wheel]) -> String {
    let mut s = format!("libtorch {LIBTORCH_VERSION} cpu layout v{LAYOUT_VERSION}\n");
    for w in wheels {
        s.push_str(&format!("{}  {}\n", w.sha256, w.file_name));
    }
    s
}

/// Makes `cache/libtorch-<version>-cpu` from the pinned wheels unless its stamp is current.
/// Returns the layout directory.
pub fn install(
    cache: &Path,
    wheels: &[Wheel],
    fetcher: &dyn Fetch,
    force: bool,
) -> Result<PathBuf> {
    let layout = cache.join(format!("libtorch-{LIBTORCH_VERSION}-cpu"));
    let stamp = layout.join(".seje-stamp");
    let expected_stamp = stamp_text(wheels);
    if !force && fs::read_to_string(&stamp).ok().as_deref() == Some(expected_stamp.as_str()) {
        let missing: Vec<_> = layout_files(wheels)
            .into_iter()
            .filter(|f| !layout.join(f).exists())
            .collect();
        if missing.is_empty() {
            eprintln!(
                "setup: libtorch {LIBTORCH_VERSION} ready at {} (cached)",
                layout.display()
            );
            return Ok(layout);
        }
        eprintln!(
            "setup: {} lacks {}; laying it out again",
            layout.display(),
            missing
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let wheel_dir = cache.join("wheels");
    fs::create_dir_all(&wheel_dir)
        .with_context(|| format!("cannot create cache directory {}", wheel_dir.display()))?;
    let mut paths = Vec::new();
    for w in wheels {
        paths.push(ensure_wheel(&wheel_dir, w, fetcher)?);
    }

    let partial = cache.join(format!("libtorch-{LIBTORCH_VERSION}-cpu.partial"));
    if partial.exists() {
        fs::remove_dir_all(&partial)
            .with_context(|| format!("cannot remove stale {}", partial.display()))?;
    }
    let need: u64 = wheels.iter().map(|w| w.size * 2).sum();
    check_free_space(cache, need)?;
    let result = (|| -> Result<()> {
        for (w, p) in wheels.iter().zip(&paths) {
            extract(p, w.extract, &partial)?;
        }
        fs::write(
            partial.join("build-version"),
            format!("{LIBTORCH_VERSION}\n"),
        )?;
        fs::write(partial.join(".seje-stamp"), &expected_stamp)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&partial);
        return Err(e.context(format!(
            "laying out libtorch in {} failed",
            partial.display()
        )));
    }
    if layout.exists() {
        fs::remove_dir_all(&layout)
            .with_context(|| format!("cannot replace old layout {}", layout.display()))?;
    }
    fs::rename(&partial, &layout)
        .with_context(|| format!("cannot move {} into place", partial.display()))?;
    eprintln!(
        "setup: libtorch {LIBTORCH_VERSION} laid out at {}",
        layout.display()
    );
    Ok(layout)
}

/// Files every layout must have: the target of each single-file rule, plus the CPU library.
fn layout_files(wheels: &[Wheel]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = wheels
        .iter()
        .flat_map(|w| w.extract)
        .filter(|r| !r.to.ends_with('/'))
        .map(|r| PathBuf::from(r.to))
        .collect();
    files.push(PathBuf::from("lib/libtorch_cpu.so"));
    files.push(PathBuf::from("build-version"));
    files
}

/// Returns the path of a verified copy of `w` in `dir`, fetching it when absent or corrupt.
fn ensure_wheel(dir: &Path, w: &Wheel, fetcher: &dyn Fetch) -> Result<PathBuf> {
    let path = dir.join(w.file_name);
    if path.exists() {
        let actual = sha256_file(&path)?;
        if actual == w.sha256 {
            return Ok(path);
        }
        eprintln!(
            "setup: cached wheel {} is corrupt: sha256 expected {}, got {actual}; removing it and \
             downloading it again",
            path.display(),
            w.sha256
        );
        fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    check_free_space(dir, w.size)?;
    let tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(dir)
        .with_context(|| format!("cannot create a temporary directory in {}", dir.display()))?;
    eprintln!(
        "setup: downloading {} ({} MiB)",
        w.requirement,
        w.size >> 20
    );
    fetcher.fetch(w, tmp.path())?;
    let got = tmp.path().join(w.file_name);
    if !got.exists() {
        let saved: Vec<String> = fs::read_dir(tmp.path())?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        bail!(
            "pip did not produce {} for {} (it saved: {})",
            w.file_name,
            w.requirement,
            if saved.is_empty() {
                "nothing".to_string()
            } else {
                saved.join(", ")
            }
        );
    }
    let actual = sha256_file(&got)?;
    if actual != w.sha256 {
        // `tmp` is dropped on return, which deletes the bad file.
        bail!(
            "digest mismatch for {}: sha256 expected {}, got {actual}; the file was removed and \
             nothing was extracted",
            w.file_name,
            w.sha256
        );
    }
    fs::rename(&got, &path).with_context(|| format!("cannot move wheel to {}", path.display()))?;
    Ok(path)
}

/// Extracts the entries selected by `rules` from the wheel (a zip archive) into `dest`.
fn extract(wheel: &Path, rules: &[ExtractRule], dest: &Path) -> Result<()> {
    let file = fs::File::open(wheel).with_context(|| format!("cannot open {}", wheel.display()))?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file))
        .with_context(|| format!("{} is not a readable wheel (zip)", wheel.display()))?;
    let mut selected = Vec::new();
    let mut total = 0u64;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_string();
        if let Some(rel) = map_entry(&name, rules)? {
            total += entry.size();
            selected.push((i, rel));
        }
    }
    for rule in rules {
        if !selected
            .iter()
            .any(|(_, rel)| rel.starts_with(rule.to.trim_end_matches('/')))
        {
            bail!("{} has no entry under {}", wheel.display(), rule.from);
        }
    }
    let bar = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {bytes}/{total_bytes} {eta}")
            .expect("valid template"),
    );
    bar.set_message(format!(
        "extracting {}",
        wheel.file_name().unwrap_or_default().to_string_lossy()
    ));
    for (i, rel) in selected {
        let mut entry = zip.by_index(i)?;
        let out = dest.join(&rel);
        fs::create_dir_all(out.parent().expect("entry has a parent"))?;
        let mut f =
            fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?;
        let n = io::copy(&mut entry, &mut f).with_context(|| {
            format!(
                "cannot extract {} from {} (disk full?)",
                entry.name(),
                wheel.display()
            )
        })?;
        f.flush()?;
        bar.inc(n);
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&out, fs::Permissions::from_mode(mode & 0o755 | 0o444))?;
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// Maps an archive entry to its place in the layout, or `None` when no rule takes it.
/// Entries that would leave the destination (absolute, `..`) are an error, never written.
fn map_entry(name: &str, rules: &[ExtractRule]) -> Result<Option<PathBuf>> {
    for rule in rules {
        let Some(rest) = name.strip_prefix(rule.from) else {
            continue;
        };
        let base = name.rsplit('/').next().unwrap_or(name);
        if rule.exclude_prefixes.iter().any(|p| base.starts_with(p)) {
            return Ok(None);
        }
        let rel = PathBuf::from(format!("{}{rest}", rule.to));
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            bail!("refusing archive entry {name:?}: it would leave the destination");
        }
        return Ok(Some(rel));
    }
    Ok(None)
}

/// Points `<root>/.libtorch` at the layout (replacing an older link).
fn link_layout(layout: &Path, link: &Path) -> Result<()> {
    if fs::read_link(link).ok().as_deref() == Some(layout) {
        return Ok(());
    }
    if link.symlink_metadata().is_ok() {
        fs::remove_file(link).with_context(|| format!("cannot replace {}", link.display()))?;
    }
    std::os::unix::fs::symlink(layout, link)
        .with_context(|| format!("cannot link {} -> {}", link.display(), layout.display()))?;
    eprintln!("setup: {} -> {}", link.display(), layout.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The bootstrap on small fake wheels: no network, no pip.
    use super::*;
    use std::cell::Cell;

    fn make_wheel(path: &Path, entries: &[(&str, &[u8])]) -> String {
        let f = fs::File::create(path).unwrap();
        let mut z = zip::ZipWriter::new(f);
        for (name, data) in entries {
            z.start_file(
                *name,
                zip::write::SimpleFileOptions::default().unix_permissions(0o755),
            )
            .unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap();
        sha256_file(path).unwrap()
    }

    /// Copies a prepared file into place and counts calls.
    struct CopyFetch {
        source: PathBuf,
        calls: Cell<usize>,
    }

    impl Fetch for CopyFetch {
        fn fetch(&self, w: &Wheel, into: &Path) -> Result<()> {
            self.calls.set(self.calls.get() + 1);
            fs::copy(&self.source, into.join(w.file_name))?;
            Ok(())
        }
    }

    fn fake_wheel(sha: &'static str) -> Wheel {
        Wheel {
            requirement: "torch==0.0.0",
            file_name: "torch-fake.whl",
            sha256: sha,
            size: 1,
            platforms: &[],
            // The real torch rules: lib/ minus libtorch_cuda*, include/.
            extract: WHEELS[0].extract,
        }
    }

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    /// A temp dir with a good fake torch wheel, a cache path, a counting fetcher and the pins.
    fn fixture() -> (tempfile::TempDir, PathBuf, CopyFetch, [Wheel; 1]) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("source.whl");
        let sha = make_wheel(
            &src,
            &[
                ("torch/lib/libtorch_cpu.so", b"cpu"),
                ("torch/lib/libtorch_cuda.so", b"cuda"),
                ("torch/include/torch/torch.h", b"// header"),
                ("torch/__init__.py", b""),
            ],
        );
        let cache = dir.path().join("cache");
        let fetch = CopyFetch {
            source: src,
            calls: Cell::new(0),
        };
        (dir, cache, fetch, [fake_wheel(leak(sha))])
    }

    #[test]
    fn installs_cpu_layout_and_second_run_is_a_no_op() {
        let (_dir, cache, fetch, w) = fixture();
        let layout = install(&cache, &w, &fetch, false).unwrap();
        assert_eq!(
            fs::read(layout.join("lib/libtorch_cpu.so")).unwrap(),
            b"cpu"
        );
        assert!(
            !layout.join("lib/libtorch_cuda.so").exists(),
            "cuda libraries are left out"
        );
        assert!(layout.join("include/torch/torch.h").exists());
        assert!(!layout.join("__init__.py").exists());
        assert_eq!(
            fs::read_to_string(layout.join("build-version")).unwrap(),
            "2.11.0\n"
        );
        assert_eq!(fetch.calls.get(), 1);
        install(&cache, &w, &fetch, false).unwrap();
        assert_eq!(fetch.calls.get(), 1, "a second run must not download again");
    }

    #[test]
    fn a_damaged_layout_is_laid_out_again_from_the_cached_wheel() {
        let (_dir, cache, fetch, w) = fixture();
        let layout = install(&cache, &w, &fetch, false).unwrap();
        fs::remove_file(layout.join("build-version")).unwrap();
        install(&cache, &w, &fetch, false).unwrap();
        assert!(layout.join("build-version").exists());
        assert_eq!(fetch.calls.get(), 1, "the verified cached wheel is reused");
    }

    #[test]
    fn corrupt_cached_wheel_is_fetched_again_before_extraction() {
        let (_dir, cache, fetch, w) = fixture();
        fs::create_dir_all(cache.join("wheels")).unwrap();
        fs::write(cache.join("wheels/torch-fake.whl"), b"garbage").unwrap();
        let layout = install(&cache, &w, &fetch, false).unwrap();
        assert_eq!(fetch.calls.get(), 1);
        assert_eq!(
            sha256_file(&cache.join("wheels/torch-fake.whl")).unwrap(),
            w[0].sha256
        );
        assert!(layout.join("lib/libtorch_cpu.so").exists());
    }

    #[test]
    fn wrong_digest_is_reported_removed_and_never_extracted() {
        let (_dir, cache, fetch, good) = fixture();
        let sha = good[0].sha256;
        let wrong = "0".repeat(64);
        let w = [fake_wheel(leak(wrong.clone()))];
        let err = format!("{:#}", install(&cache, &w, &fetch, false).unwrap_err());
        assert!(err.contains("digest mismatch for torch-fake.whl"), "{err}");
        assert!(
            err.contains(&wrong) && err.contains(sha),
            "both digests are named: {err}"
        );
        assert!(
            !cache.join("wheels/torch-fake.whl").exists(),
            "bad file removed"
        );
        let leftovers: Vec<_> = fs::read_dir(cache.join("wheels")).unwrap().collect();
        assert!(
            leftovers.is_empty(),
            "no temporary download left: {leftovers:?}"
        );
        assert!(!cache.join("libtorch-2.11.0-cpu").exists());
        assert!(!cache.join("libtorch-2.11.0-cpu.partial").exists());
    }

    /// Installs a single fake wheel made of `entries` into a fresh cache; returns the error text.
    fn install_error(entries: &[(&str, &[u8])]) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("bad.whl");
        let sha = make_wheel(&src, entries);
        let fetch = CopyFetch {
            source: src,
            calls: Cell::new(0),
        };
        let cache = dir.path().join("cache");
        let err = install(&cache, &[fake_wheel(leak(sha))], &fetch, false).unwrap_err();
        assert!(!cache.join("libtorch-2.11.0-cpu").exists());
        assert!(!cache.join("libtorch-2.11.0-cpu.partial").exists());
        (dir, format!("{err:#}"))
    }

    #[test]
    fn path_traversal_entries_are_refused_and_nothing_stays() {
        let (dir, err) = install_error(&[
            ("torch/lib/libtorch_cpu.so", b"cpu"),
            ("torch/include/../../../escape.h", b"x"),
        ]);
        assert!(err.contains("would leave the destination"), "{err}");
        assert!(!dir.path().join("escape.h").exists());
    }

    #[test]
    fn missing_rule_target_is_an_error() {
        let (_dir, err) = install_error(&[("torch/lib/libtorch_cpu.so", b"cpu")]);
        assert!(err.contains("has no entry under torch/include/"), "{err}");
    }

    #[test]
    fn pinned_wheels_are_the_ones_the_foundation_issue_names() {
        let pins: Vec<_> = WHEELS.iter().map(|w| (w.requirement, w.sha256)).collect();
        assert_eq!(
            pins,
            [
                (
                    "torch==2.11.0",
                    "7aa2f9bbc6d4595ba72138026b2074be1233186150e9292865e04b7a63b8c67a"
                ),
                (
                    "nvidia-cuda-runtime==13.0.96",
                    "7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548"
                ),
                (
                    "nvidia-cuda-cupti==13.0.85",
                    "4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8"
                ),
            ]
        );
    }
}
