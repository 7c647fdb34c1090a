//! Which recipes make the splits: im2recipe's rule exactly as its LMDBs were built
//! (`scripts/mk_dataset.py`, `scripts/proc.py::detect_ingrs`), this package's valid-count rule,
//! or im2recipe's own key files, which win when they are present.
//!
//! Spec: spec/data-recipe1m.md ("Which recipes are pairs"). Reference: im2recipe-Pytorch
//! (github.com/torralba-lab/im2recipe-Pytorch), `scripts/mk_dataset.py:51-52` (the exclusion list
//! as `{id: line index}`), `mk_dataset.py:77-80` (the vocabulary), `mk_dataset.py:97-105` (the
//! filter), `proc.py:3-26` (`detect_ingrs`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// One of Recipe1M's three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partition {
    /// Training split.
    Train,
    /// Validation split (model selection).
    Val,
    /// Test split (reported numbers).
    Test,
}

impl Partition {
    /// The three splits in file order.
    pub const ALL: [Partition; 3] = [Partition::Train, Partition::Val, Partition::Test];

    /// The name used in `layer1.json` and in the image tree.
    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Train => "train",
            Partition::Val => "val",
            Partition::Test => "test",
        }
    }

    /// Position in [`Partition::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "train" => Ok(Partition::Train),
            "val" => Ok(Partition::Val),
            "test" => Ok(Partition::Test),
            other => Err(format!("is {other:?}, not train, val or test")),
        }
    }
}

/// im2recipe's end-of-ingredients token, which `detect_ingrs` appends to every recipe's list.
pub const END_OF_INGREDIENTS: &str = "</i>";

/// The key files of im2recipe's LMDBs, one per split, found next to `layer1.json`.
pub const KEY_FILES: [(&str, Partition); 3] = [
    ("train_keys.pkl", Partition::Train),
    ("val_keys.pkl", Partition::Val),
    ("test_keys.pkl", Partition::Test),
];

/// The ingredient vocabulary of im2recipe's rule: the words of a word2vec vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct IngredientVocab {
    words: HashSet<String>,
    source: String,
    sha256: String,
}

impl IngredientVocab {
    /// The vocabulary of `words` (for example those of a word2vec `.bin` file); `source` names
    /// where they came from in reports.
    pub fn from_words(words: impl IntoIterator<Item = String>, source: &str) -> Self {
        let words: HashSet<String> = words.into_iter().collect();
        let mut sorted: Vec<&str> = words.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        let mut digest = Sha256::new();
        for w in sorted {
            digest.update(w.as_bytes());
            digest.update(b"\n");
        }
        Self {
            sha256: hex::encode(digest.finalize()),
            words,
            source: source.to_string(),
        }
    }

    /// A `vocab.txt` word list, read as `mk_dataset.py:77-79` reads it: one word a line, trailing
    /// white space removed (`w.rstrip()`), every line a word (a blank line is the empty word,
    /// which no name can equal after the rule's filter); no word after the final newline.
    pub fn read_txt(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8_lossy(&text);
        Ok(Self::from_words(
            text.lines().map(|w| w.trim_end().to_string()),
            &path.display().to_string(),
        ))
    }

    /// Whether `word` is in the vocabulary.
    pub fn contains(&self, word: &str) -> bool {
        self.words.contains(word)
    }

    /// Number of distinct words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Where the words came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// SHA-256 of the distinct words, sorted bytewise, each followed by a newline: equal for two
    /// files that hold the same words (a `vocab.bin` and the `vocab.txt` listing its words).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

/// `len(detect_ingrs(recipe, vocab))` of `proc.py:3-26`: the detected names that are not empty
/// (`if ingr['text']`; the `valid` flags are not read), spaces replaced by underscores, counted
/// once each when the vocabulary holds them, plus one for the appended `</i>` token. So it is
/// never 0, and 19 distinct names make 20, which the filter excludes.
pub fn im2recipe_detections(names: &[String], vocab: &IngredientVocab) -> usize {
    let distinct: HashSet<String> = names
        .iter()
        .filter(|n| !n.is_empty())
        .map(|n| n.replace(' ', "_"))
        .filter(|n| vocab.contains(n))
        .collect();
    distinct.len() + 1
}

/// How the splits are made.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum SplitRule {
    /// This package's rule: the `valid`, non-blank `det_ingrs.json` entries counted with
    /// duplicates, a recipe with none excluded, every id of `remove1M.txt` removed.
    #[default]
    ValidCount,
    /// im2recipe's rule (see [`im2recipe_detections`] and spec/data-recipe1m.md).
    Im2recipe(IngredientVocab),
}

impl SplitRule {
    /// `valid-count` or `im2recipe`.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The rule without its vocabulary.
    pub fn kind(&self) -> RuleName {
        match self {
            SplitRule::ValidCount => RuleName::ValidCount,
            SplitRule::Im2recipe(_) => RuleName::Im2recipe,
        }
    }
}

/// A split rule as configurations and command lines name it, before its vocabulary is read
/// (`data.split_rule`, `--split-rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleName {
    /// [`SplitRule::ValidCount`].
    #[default]
    ValidCount,
    /// [`SplitRule::Im2recipe`]; needs a word2vec vocabulary.
    Im2recipe,
}

impl RuleName {
    /// `valid-count` or `im2recipe`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleName::ValidCount => "valid-count",
            RuleName::Im2recipe => "im2recipe",
        }
    }
}

impl std::fmt::Display for RuleName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RuleName {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "valid-count" => Ok(RuleName::ValidCount),
            "im2recipe" => Ok(RuleName::Im2recipe),
            other => Err(format!(
                "unknown split rule `{other}` (im2recipe or valid-count)"
            )),
        }
    }
}

/// What defined the splits of a dataset, as reports and run manifests record it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SplitSource {
    /// `rule` (computed), `key files` (im2recipe's `{train,val,test}_keys.pkl`, all three) or
    /// `key files and rule` (the splits with a key file from it, the others by the rule).
    pub kind: String,
    /// The rule's name (`im2recipe`, `valid-count`); for key files, the rule that would have
    /// been used without them.
    pub rule: String,
    /// The vocabulary's file and size, for the im2recipe rule.
    pub vocab: Option<(String, usize)>,
    /// The vocabulary's [`IngredientVocab::sha256`], for the im2recipe rule.
    #[serde(default)]
    pub vocab_sha256: Option<String>,
    /// The key files, when they defined the splits (relative to the root).
    pub key_files: Vec<String>,
    /// SHA-256 over the key files' bytes, in train, val, test order, when they defined the
    /// splits.
    #[serde(default)]
    pub key_files_sha256: Option<String>,
}

impl SplitSource {
    /// How the splits `other` records were made differently from these, in words; `None` when
    /// both came from the same key files, or from the same rule with the same vocabulary (the
    /// vocabulary's file name is not compared, its words are).
    pub fn difference(&self, other: &SplitSource) -> Option<String> {
        let keys_same =
            self.key_files == other.key_files && self.key_files_sha256 == other.key_files_sha256;
        let rule_same = self.rule == other.rule && self.vocab_sha256 == other.vocab_sha256;
        let same = self.kind == other.kind
            && match self.kind.as_str() {
                "key files" => keys_same,
                "rule" => rule_same,
                _ => keys_same && rule_same,
            };
        (!same).then(|| format!("{} against {}", self.describe(), other.describe()))
    }

    /// `key files train_keys.pkl, …`, `rule valid-count`, or `rule im2recipe with the
    /// vocabulary of FILE (N words, sha256 …)`.
    pub fn describe(&self) -> String {
        let keys = format!(
            "key files {} (sha256 {})",
            self.key_files.join(", "),
            short(self.key_files_sha256.as_deref())
        );
        match self.kind.as_str() {
            "key files" => keys,
            "rule" => self.describe_rule(),
            _ => format!("{keys}, the other splits by {}", self.describe_rule()),
        }
    }

    fn describe_rule(&self) -> String {
        match (&self.vocab, &self.vocab_sha256) {
            (Some((file, words)), sha) => format!(
                "rule {} with the vocabulary of {file} ({words} words, sha256 {})",
                self.rule,
                short(sha.as_deref())
            ),
            (None, _) => format!("rule {}", self.rule),
        }
    }
}

/// The first 12 characters of a recorded digest, or `unrecorded`.
fn short(sha: Option<&str>) -> String {
    sha.map_or("unrecorded".into(), |s| s.chars().take(12).collect())
}

/// `remove1M.txt` as `mk_dataset.py:51-52` reads it: `{id: line index}` (a repeated id keeps its
/// last index), lines counted from 0, blank lines included.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoveList {
    index: HashMap<String, usize>,
}

impl RemoveList {
    /// From `(line index, id)` pairs in file order.
    pub fn from_lines(lines: impl IntoIterator<Item = (usize, String)>) -> Self {
        Self {
            index: lines.into_iter().map(|(i, id)| (id, i)).collect(),
        }
    }

    /// Whether the id is listed (this package's rule removes every listed id).
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// Whether im2recipe's `remove_ids.get(entry['id'])` is true: listed at a line index other
    /// than 0, so the id on the first line is never removed.
    pub fn removes_as_im2recipe(&self, id: &str) -> bool {
        self.index.get(id).is_some_and(|&i| i > 0)
    }

    /// Number of distinct ids.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether it lists nothing.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

/// The key files present in `root`, or `None` when there is none. Each defines its split
/// (membership and order); a split without one is made by the rule. A partial set is what a
/// reviewer has who downloaded only im2recipe's `test.tar` to evaluate a released model.
pub fn key_files(root: &Path) -> Result<Option<Vec<(PathBuf, Partition)>>> {
    let present: Vec<(PathBuf, Partition)> = KEY_FILES
        .iter()
        .map(|(f, p)| (root.join(f), *p))
        .filter(|(f, _)| f.is_file())
        .collect();
    Ok((!present.is_empty()).then_some(present))
}

/// Whether `root` holds all three key files, so that no rule (and no vocabulary) makes a split.
pub fn all_key_files(root: &Path) -> Result<bool> {
    Ok(key_files(root)?.is_some_and(|k| k.len() == KEY_FILES.len()))
}

/// SHA-256 over the bytes of `keys`, in their order (train, val, test).
pub fn key_files_sha256(keys: &[(PathBuf, Partition)]) -> Result<String> {
    let mut digest = Sha256::new();
    for (file, _) in keys {
        let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
        digest.update(&bytes);
    }
    Ok(hex::encode(digest.finalize()))
}

/// The recipe ids of a key file: a pickle (protocol 0, as Python 2 writes by default, or
/// later) of one list of strings, as `mk_dataset.py:128-130` writes them. Nothing is imported or
/// called while reading; anything but a list of strings is refused, naming the file.
pub fn read_key_file(path: &Path) -> Result<Vec<String>> {
    crate::checkpoint::read_string_list_pickle(path)
}

/// ACME's published id lists of the im2recipe splits every later paper evaluates on
/// (hwang1996/ACME @ 318091b, `data/food_data/`), looked for next to `layer1.json`.
pub const PUBLISHED_LISTS: [(&str, Partition); 2] = [
    ("val_ids.pkl", Partition::Val),
    ("test_ids.pkl", Partition::Test),
];

/// Ids listed when two id sets differ (the rest are counted).
const LISTED_IDS: usize = 5;

/// A split compared with a published id list (membership only: the lists are sorted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListComparison {
    /// The list's file name.
    pub file: String,
    /// The split compared.
    pub split: Partition,
    /// Ids in our split.
    pub ours: usize,
    /// Ids in the list.
    pub theirs: usize,
    /// Ids in both.
    pub common: usize,
    /// Ids only in our split.
    pub only_ours: usize,
    /// Ids only in the list.
    pub only_theirs: usize,
    /// The first ids (sorted) only in our split.
    pub first_only_ours: Vec<String>,
    /// The first ids (sorted) only in the list.
    pub first_only_theirs: Vec<String>,
}

impl ListComparison {
    /// Whether the two sets are equal.
    pub fn equal(&self) -> bool {
        self.only_ours == 0 && self.only_theirs == 0
    }

    /// One line: `test_ids.pkl (test): equal, 51304 ids` or the differences.
    pub fn render(&self) -> String {
        if self.equal() {
            format!("{} ({}): equal, {} ids", self.file, self.split, self.ours)
        } else {
            format!(
                "{} ({}): ours {}, theirs {}, common {}; only ours {} (first {}), only theirs {} \
                 (first {})",
                self.file,
                self.split,
                self.ours,
                self.theirs,
                self.common,
                self.only_ours,
                self.first_only_ours.join(" "),
                self.only_theirs,
                self.first_only_theirs.join(" ")
            )
        }
    }
}

/// Compares our split's ids with a published list.
pub fn compare_ids(
    file: &str,
    split: Partition,
    ours: &[String],
    theirs: &[String],
) -> ListComparison {
    let a: HashSet<&str> = ours.iter().map(String::as_str).collect();
    let b: HashSet<&str> = theirs.iter().map(String::as_str).collect();
    let mut only_a: Vec<&str> = a.difference(&b).copied().collect();
    let mut only_b: Vec<&str> = b.difference(&a).copied().collect();
    only_a.sort_unstable();
    only_b.sort_unstable();
    let first = |v: &[&str]| v.iter().take(LISTED_IDS).map(|s| s.to_string()).collect();
    ListComparison {
        file: file.to_string(),
        split,
        ours: a.len(),
        theirs: b.len(),
        common: a.intersection(&b).count(),
        only_ours: only_a.len(),
        only_theirs: only_b.len(),
        first_only_ours: first(&only_a),
        first_only_theirs: first(&only_b),
    }
}
