//! `cargo xtask import`: the parity path. Converts the SEJE authors' released Phase I pickles
//! (`id2tfidf_vec.pkl`, `id2img_101_cls_vec.pkl`, `id2class_1005.pkl`) into the feature stores
//! Phase II reads (`term.safetensors`, `categories.safetensors`), so a run can start from exactly
//! the authors' features. The conversion is `xtask/import/authors_pickles.py`, run with the system
//! Python 3 (3.8 or newer, standard library only: a whitelist unpickler, no NumPy); this module
//! finds the files, checks the interpreter and reports the converter's refusals.
//!
//! Spec: spec/data-authors-release.md.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The converter, relative to the workspace root.
pub const CONVERTER: &str = "xtask/import/authors_pickles.py";
/// Oldest Python the converter supports.
pub const MIN_PYTHON: (u32, u32) = (3, 8);
/// Names of the f_term pickle: the README's, then the name in the authors' code.
pub const TERM_NAMES: [&str; 2] = ["id2tfidf_vec.pkl", "id_tfidf_tri_vec_all_v4.pkl"];
/// Name of the per-image category-vector pickle.
pub const CATEGORIES_NAME: &str = "id2img_101_cls_vec.pkl";
/// Name of the class-id pickle.
pub const CLASSES_NAME: &str = "id2class_1005.pkl";

/// What `cargo xtask import` was asked for.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ImportArgs {
    /// Directory holding the authors' pickles (as downloaded).
    #[arg(long)]
    pub from: PathBuf,
    /// Output directory: Phase II's features directory (created if absent).
    #[arg(long)]
    pub out: PathBuf,
    /// Python 3 interpreter (3.8 or newer) that runs the converter.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Width of f_term and of each f_cat vector (the authors': 300).
    #[arg(long, default_value_t = 300)]
    pub dim: usize,
    /// Number of recipe classes (the authors': 1005, ids 0..=1004).
    #[arg(long, default_value_t = 1005)]
    pub num_classes: usize,
}

/// The three pickles found in `--from`, and the checkpoint if one lies there.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// f_term pickle.
    pub term: PathBuf,
    /// f_cat pickle.
    pub categories: PathBuf,
    /// Class-id pickle.
    pub classes: PathBuf,
    /// `*.pth.tar` files in the directory (read directly by `seje`, not converted).
    pub checkpoints: Vec<PathBuf>,
}

/// Finds the pickles in `dir`; names every missing one.
pub fn locate(dir: &Path) -> Result<Release> {
    if !dir.is_dir() {
        bail!("{}: not a directory (the authors' release)", dir.display());
    }
    let term = TERM_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file());
    let categories = Some(dir.join(CATEGORIES_NAME)).filter(|p| p.is_file());
    let classes = Some(dir.join(CLASSES_NAME)).filter(|p| p.is_file());
    let mut missing = Vec::new();
    if term.is_none() {
        missing.push(TERM_NAMES.join(" or "));
    }
    if categories.is_none() {
        missing.push(CATEGORIES_NAME.to_string());
    }
    if classes.is_none() {
        missing.push(CLASSES_NAME.to_string());
    }
    if !missing.is_empty() {
        bail!(
            "{}: missing {} (the authors' released Phase I pickles)",
            dir.display(),
            missing.join(", ")
        );
    }
    let mut checkpoints: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".pth.tar"))
        .collect();
    checkpoints.sort();
    Ok(Release {
        term: term.expect("checked"),
        categories: categories.expect("checked"),
        classes: classes.expect("checked"),
        checkpoints,
    })
}

/// `major.minor` from the interpreter's answer (`3.11`).
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The interpreter's version; an error if it cannot be run or is older than [`MIN_PYTHON`].
pub fn check_python(python: &str) -> Result<(u32, u32)> {
    let out = Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run `{python}` ({e}): the import needs Python {}.{} or newer (standard \
                 library only); install it or pass --python",
                MIN_PYTHON.0,
                MIN_PYTHON.1
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(v) = parse_version(&text).filter(|_| out.status.success()) else {
        bail!(
            "`{python}` did not report a Python version ({}{})",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    };
    if v < MIN_PYTHON {
        bail!(
            "`{python}` is Python {}.{}; the import needs {}.{} or newer (pass --python)",
            v.0,
            v.1,
            MIN_PYTHON.0,
            MIN_PYTHON.1
        );
    }
    Ok(v)
}

/// The converter's command line (after the interpreter).
pub fn converter_args(root: &Path, release: &Release, args: &ImportArgs) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![root.join(CONVERTER).into()];
    let mut push = |k: &str, val: OsString| {
        v.push(k.into());
        v.push(val);
    };
    push("--term", release.term.clone().into());
    push("--categories", release.categories.clone().into());
    push("--classes", release.classes.clone().into());
    push("--out", args.out.clone().into());
    push("--dim", args.dim.to_string().into());
    push("--num-classes", args.num_classes.to_string().into());
    v
}

/// Runs the import from the workspace root `root`; returns the converter's summary.
pub fn run(root: &Path, args: &ImportArgs) -> Result<String> {
    let release = locate(&args.from)?;
    check_python(&args.python)?;
    let out = Command::new(&args.python)
        .args(converter_args(root, &release, args))
        .output()
        .with_context(|| format!("running {CONVERTER} with `{}`", args.python))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let msg = stderr.trim();
        bail!(
            "{}",
            msg.strip_prefix("error: ").unwrap_or(if msg.is_empty() {
                "the converter failed"
            } else {
                msg
            })
        );
    }
    let mut summary = String::from_utf8_lossy(&out.stdout).into_owned();
    for c in &release.checkpoints {
        summary.push_str(&format!(
            "  checkpoint {}: not converted; `seje` reads the authors' .pth.tar directly \
             (spec/checkpoint-format.md)\n",
            c.display()
        ));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(set: &str) -> PathBuf {
        crate::workspace_root()
            .join("fixtures/authors-release")
            .join(set)
    }

    fn args(from: PathBuf, out: PathBuf) -> ImportArgs {
        ImportArgs {
            from,
            out,
            python: "python3".into(),
            dim: 8,
            num_classes: 1005,
        }
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("3.11\n"), Some((3, 11)));
        assert_eq!(parse_version("2.7"), Some((2, 7)));
        assert_eq!(parse_version("Python"), None);
        assert!((3, 7) < MIN_PYTHON && (3, 8) >= MIN_PYTHON && (3, 10) > MIN_PYTHON);
    }

    #[test]
    fn locate_names_every_missing_pickle_and_takes_the_code_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = locate(dir.path()).expect_err("empty").to_string();
        assert!(
            e.contains("id2tfidf_vec.pkl or id_tfidf_tri_vec_all_v4.pkl")
                && e.contains(CATEGORIES_NAME)
                && e.contains(CLASSES_NAME),
            "{e}"
        );
        for n in [TERM_NAMES[1], CATEGORIES_NAME, CLASSES_NAME, "SEJE.pth.tar"] {
            std::fs::write(dir.path().join(n), b"x").expect("write");
        }
        let r = locate(dir.path()).expect("found");
        assert_eq!(r.term, dir.path().join(TERM_NAMES[1]));
        assert_eq!(r.checkpoints, vec![dir.path().join("SEJE.pth.tar")]);
        let e = locate(&dir.path().join("nope")).expect_err("absent");
        assert!(e.to_string().contains("not a directory"), "{e}");
    }

    #[test]
    fn a_missing_interpreter_is_a_clear_error() {
        let e = check_python("/nonexistent/python3").expect_err("no interpreter");
        assert!(
            e.to_string().contains("cannot run `/nonexistent/python3`")
                && e.to_string().contains("3.8 or newer"),
            "{e}"
        );
    }

    #[test]
    fn imports_a_fixture_release_and_passes_refusals_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("features");
        let summary =
            run(&crate::workspace_root(), &args(fixture("p4"), out.clone())).expect("import");
        assert!(summary.contains("imported 5 recipes"), "{summary}");
        assert!(summary.contains("float64"), "{summary}");
        for f in [
            "term.safetensors",
            "categories.safetensors",
            "authors-import.json",
        ] {
            assert!(out.join(f).is_file(), "{f}");
        }

        // A release whose term pickle has a wrong shape: the converter's message comes back.
        let bad = dir.path().join("bad");
        std::fs::create_dir(&bad).expect("mkdir");
        for n in [CATEGORIES_NAME, CLASSES_NAME] {
            std::fs::copy(fixture("p2").join(n), bad.join(n)).expect("copy");
        }
        std::fs::copy(
            fixture("bad").join("term_wrong_shape.pkl"),
            bad.join(TERM_NAMES[0]),
        )
        .expect("copy");
        let e = run(
            &crate::workspace_root(),
            &args(bad.clone(), dir.path().join("o2")),
        )
        .expect_err("refused");
        assert!(
            e.to_string().contains("id2tfidf_vec.pkl: recipe ")
                && e.to_string().contains("has shape (7,), expected (8,)"),
            "{e}"
        );
    }
}
