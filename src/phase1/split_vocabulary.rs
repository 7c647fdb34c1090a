//! The vocabulary of im2recipe's split rule, read from Phase I's word2vec vectors (`vocab.bin`)
//! or a word list (`vocab.txt`), and the split rule a configuration or command line names.
//!
//! Spec: spec/data-recipe1m.md ("Which recipes are pairs", "Which rule a configuration uses").
//! The rule itself lives in the data layer (`data::splits`); only reading a word2vec file needs
//! Phase I, so the two meet here.

use std::path::Path;

use crate::data::splits::{IngredientVocab, RuleName, SplitRule};
use crate::phase1::word2vec::WordVectors;
use crate::{Error, Result};

/// The words of `path`: a word2vec `-binary 1` file when its name ends in `.bin`, else a
/// `vocab.txt` word list as im2recipe's `mk_dataset.py` reads it ([`IngredientVocab::read_txt`]).
///
/// Errors: the file cannot be read, or a `.bin` file is not a word2vec binary file.
pub fn ingredient_vocab(path: &Path) -> Result<IngredientVocab> {
    if path.extension().is_some_and(|e| e == "bin") {
        let vectors = WordVectors::read_binary(path)?;
        Ok(IngredientVocab::from_words(
            vectors.words().to_vec(),
            &path.display().to_string(),
        ))
    } else {
        IngredientVocab::read_txt(path)
    }
}

/// [`split_rule`] for the dataset in `root`: when `root` holds all three of im2recipe's key
/// files, which define the splits whatever the rule, the im2recipe rule's vocabulary is not read
/// (it need not exist); otherwise as [`split_rule`].
///
/// Errors: those of [`split_rule`].
pub fn split_rule_for(
    root: &Path,
    rule: RuleName,
    vocab: Option<&Path>,
    what: &str,
) -> Result<SplitRule> {
    if rule == RuleName::Im2recipe && crate::data::splits::all_key_files(root)? {
        return Ok(SplitRule::Im2recipe(IngredientVocab::from_words(
            [],
            "not read: the key files define the splits",
        )));
    }
    split_rule(rule, vocab, what)
}

/// The split rule `rule` with its vocabulary read from `vocab`. `what` names the setting in
/// errors (`--split-rule`, `data.split_rule`).
///
/// Errors: the im2recipe rule without a vocabulary file, or a vocabulary the rule cannot read; a
/// vocabulary given to the valid-count rule, which has no use for one (refused rather than
/// silently ignored).
pub fn split_rule(rule: RuleName, vocab: Option<&Path>, what: &str) -> Result<SplitRule> {
    match (rule, vocab) {
        (RuleName::ValidCount, None) => Ok(SplitRule::ValidCount),
        (RuleName::ValidCount, Some(v)) => Err(Error::Invalid {
            what: what.to_string(),
            problem: format!(
                "the valid-count rule reads no vocabulary, but {} was given (the im2recipe rule \
                 needs one)",
                v.display()
            ),
        }),
        (RuleName::Im2recipe, Some(v)) => Ok(SplitRule::Im2recipe(ingredient_vocab(v)?)),
        (RuleName::Im2recipe, None) => Err(Error::Invalid {
            what: what.to_string(),
            problem: "the im2recipe rule needs the word2vec vocabulary: Phase I's vocab.bin or a \
                      vocab.txt word list"
                .into(),
        }),
    }
}
