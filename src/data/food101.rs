//! The Food-101 dataset's layout, which the categoriser trains on and which the synthetic
//! benchmark's generator writes: `meta/classes.txt` (one class name a line), `meta/train.txt` and
//! `meta/test.txt` (`<class>/<id>` a line) and `images/<class>/<id>.jpg`.
//!
//! Spec: spec/phase1-categoriser-training.md (the Food-101 format and its errors).

use std::path::Path;

use crate::{Error, Result};

/// Reads class names, one per line (Food-101's `meta/classes.txt`, or ImageNet's list).
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// A Food-101-format directory read: class names and the two splits as (image path relative to
/// the root, class index).
#[derive(Debug, Clone, PartialEq)]
pub struct Food101Set {
    /// Class names (`meta/classes.txt`), in index order.
    pub classes: Vec<String>,
    /// `meta/train.txt`.
    pub train: Vec<(String, usize)>,
    /// `meta/test.txt`.
    pub test: Vec<(String, usize)>,
}

/// Reads `root/meta/{classes,train,test}.txt` and checks that every listed image exists as
/// `root/images/<class>/<id>.jpg`.
///
/// Errors: a missing or empty list, an entry whose class is not in `classes.txt` or that is not
/// `<class>/<id>`, a listed image that is missing.
pub fn read_food101(root: &Path) -> Result<Food101Set> {
    let invalid = |file: &str, problem: &str| Error::Invalid {
        what: format!("{}/{file}", root.display()),
        problem: problem.to_string(),
    };
    let classes_path = root.join("meta/classes.txt");
    if !classes_path.is_file() {
        return Err(invalid("meta/classes.txt", "not found"));
    }
    let classes = read_labels(&classes_path)?;
    if classes.is_empty() {
        return Err(invalid("meta/classes.txt", "lists no class"));
    }
    let index: std::collections::HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let split = |name: &str| -> Result<Vec<(String, usize)>> {
        let file = format!("meta/{name}.txt");
        let text = std::fs::read_to_string(root.join(&file))
            .map_err(|e| Error::io(format!("{}/{file}", root.display()), e))?;
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let entry = line.trim();
            if entry.is_empty() {
                continue;
            }
            let bad = |problem: String| Error::Invalid {
                what: format!("{}/{file} line {}", root.display(), n + 1),
                problem,
            };
            let Some((class, id)) = entry.split_once('/') else {
                return Err(bad(format!("{entry:?} is not <class>/<id>")));
            };
            if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
                return Err(bad(format!("{entry:?} is not <class>/<id>")));
            }
            let &label = index
                .get(class)
                .ok_or_else(|| bad(format!("class {class:?} is not in meta/classes.txt")))?;
            let rel = format!("images/{entry}.jpg");
            if !root.join(&rel).is_file() {
                return Err(invalid(&rel, &format!("listed in {file} but missing")));
            }
            out.push((rel, label));
        }
        if out.is_empty() {
            return Err(invalid(&file, "lists no image"));
        }
        Ok(out)
    };
    Ok(Food101Set {
        train: split("train")?,
        test: split("test")?,
        classes,
    })
}
