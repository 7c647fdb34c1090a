//! Arguments several commands share: which recipes are pairs (`--split-rule`), a trained run's
//! checkpoint applied to a split, where the Phase I artefacts of a query live, word2vec's
//! settings; and the parser of enum-like flags, which turns a fixed list of names into the
//! library's type.
//!
//! Spec: spec/README.md (commands), spec/data-recipe1m.md (split rules).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Result;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use seje::data::splits::{Partition, RuleName, SplitRule};
use seje::phase1::word2vec::Word2VecConfig;

/// A flag that takes one of `names` (listed in `--help`) and parses it as the library's `T`.
pub fn one_of<T>(names: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|name| name.parse::<T>())
}

/// The names of the split rules, as `--split-rule` and `data check --rule` list them.
pub const RULES: &[&str] = &["im2recipe", "valid-count"];

/// A trained run's checkpoint applied to one split (`seje embed`, `seje index`).
#[derive(clap::Args)]
pub struct RunSplitArgs {
    /// Run directory of `seje train`.
    #[arg(long)]
    pub run_dir: PathBuf,
    /// Split: train, val or test.
    #[arg(long, default_value = "test")]
    pub split: Partition,
    /// Checkpoint: best or last.
    #[arg(long, default_value = "best")]
    pub checkpoint: String,
    /// Device: cpu, cuda or cuda:N (default: the run's).
    #[arg(long)]
    pub device: Option<String>,
}

/// Where the Phase I artefacts of a query live; `seje index` records them, `seje query` options
/// override the recorded ones.
#[derive(clap::Args)]
pub struct PhaseOneArgs {
    /// Output directory of `seje features text` (term.safetensors, vocab.bin): recipe queries.
    #[arg(long)]
    text_features: Option<PathBuf>,
    /// Output directory of `seje features sentences` (sentences.safetensors,
    /// skip_instructions/): recipe queries.
    #[arg(long)]
    sentences: Option<PathBuf>,
    /// Output directory of `seje features categoriser`: photo queries.
    #[arg(long)]
    categoriser: Option<PathBuf>,
    /// Word vectors (default: TEXT_FEATURES/vocab.bin).
    #[arg(long)]
    w2v: Option<PathBuf>,
}

impl PhaseOneArgs {
    /// The library's description of the same artefacts.
    pub fn artefacts(self) -> seje::retrieval::PhaseOneArtefacts {
        seje::retrieval::PhaseOneArtefacts {
            text_features: self.text_features,
            sentences: self.sentences,
            categoriser: self.categoriser,
            w2v: self.w2v,
        }
    }
}

/// Which recipes are pairs (spec/data-recipe1m.md): im2recipe's `{train,val,test}_keys.pkl` when
/// the root holds them, else a rule. Every stage of one pipeline must be given the same.
#[derive(clap::Args)]
pub struct SplitArgs {
    /// How the splits are made when the root holds no im2recipe key files: `valid-count` (this
    /// package's rule) or `im2recipe` (the rule its LMDBs were built with, which reads a word2vec
    /// vocabulary). Default: im2recipe with --split-vocab, valid-count without.
    #[arg(long, value_parser = one_of::<RuleName>(RULES))]
    pub split_rule: Option<RuleName>,
    /// The im2recipe rule's vocabulary: a word2vec `-binary 1` file (`vocab.bin`, Phase I's) or
    /// a word list (`vocab.txt`, one word a line).
    #[arg(long)]
    pub split_vocab: Option<PathBuf>,
}

impl SplitArgs {
    /// The rule for the dataset in `root`, reading `default_vocab` when the im2recipe rule is
    /// named without a vocabulary (and no vocabulary when `root` holds the key files).
    pub fn rule(&self, root: &Path, default_vocab: Option<&Path>) -> Result<SplitRule> {
        split_rule_of(
            root,
            self.split_rule,
            self.split_vocab.as_deref(),
            default_vocab,
            "--split-rule",
        )
    }
}

/// A split rule from its name and vocabulary as a command line gives them: a vocabulary alone
/// means the im2recipe rule; the im2recipe rule without one reads `default_vocab`.
pub fn split_rule_of(
    root: &Path,
    rule: Option<RuleName>,
    vocab: Option<&Path>,
    default_vocab: Option<&Path>,
    what: &str,
) -> Result<SplitRule> {
    let name = match (rule, vocab) {
        (Some(r), _) => r,
        (None, Some(_)) => RuleName::Im2recipe,
        (None, None) => RuleName::ValidCount,
    };
    let vocab = match name {
        RuleName::Im2recipe => vocab.or(default_vocab),
        RuleName::ValidCount => vocab,
    };
    Ok(seje::phase1::split_vocabulary::split_rule_for(
        root, name, vocab, what,
    )?)
}

/// The settings `seje word2vec` and `seje features text` share.
const W2V: Word2VecConfig = Word2VecConfig::paper();

/// word2vec's settings; the defaults are the authors' command except `--threads` (one thread is
/// the only deterministic choice; they ran 20).
#[derive(clap::Args)]
pub struct Word2vecArgs {
    /// `-size`: vector width.
    #[arg(long, default_value_t = W2V.size)]
    size: usize,
    /// `-window`: maximal skip length.
    #[arg(long, default_value_t = W2V.window)]
    window: usize,
    /// `-iter`: training epochs.
    #[arg(long, default_value_t = W2V.iter)]
    iter: usize,
    /// `-min-count`: words seen fewer times are dropped.
    #[arg(long, default_value_t = W2V.min_count)]
    min_count: u64,
    /// `-sample`: sub-sampling threshold (0 turns it off).
    #[arg(long, default_value_t = W2V.sample)]
    sample: f32,
    /// `-alpha`: starting learning rate.
    #[arg(long, default_value_t = W2V.alpha)]
    alpha: f32,
    /// `-threads`: Hogwild threads; more than one is faster but not reproducible bit for bit.
    #[arg(long, default_value_t = Word2VecConfig::DETERMINISTIC_THREADS)]
    threads: usize,
}

impl Word2vecArgs {
    /// The library's configuration with these settings.
    pub fn config(&self) -> Word2VecConfig {
        Word2VecConfig {
            size: self.size,
            window: self.window,
            iter: self.iter,
            min_count: self.min_count,
            sample: self.sample,
            alpha: self.alpha,
            threads: self.threads,
            ..Word2VecConfig::paper()
        }
    }
}
