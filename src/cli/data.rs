//! `seje data check` (what a Recipe1M-format root holds) and `seje synth` (the synthetic
//! benchmark in the same formats).
//!
//! Spec: spec/data-recipe1m.md (the check), spec/data-synthetic-benchmark.md (the generator).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use seje::data::images::ImagePolicy;
use seje::data::splits::RuleName;
use seje::data::synth::{self, SynthConfig, SynthOverrides};

use crate::cli::args::{one_of, split_rule_of, RULES};
use crate::cli::progress::Bar;

#[derive(Subcommand)]
pub enum Command {
    /// Read layer1/layer2/det_ingrs, join the image-recipe pairs, find and decode every kept
    /// image, and print pairs per split, images found/missing/corrupt and why recipes were
    /// excluded. Exits non-zero on a fatal problem.
    Check {
        /// Dataset root (holds layer1.json, layer2.json, det_ingrs.json and images/).
        #[arg(long)]
        root: PathBuf,
        /// What to do with a missing or undecodable image: stop (`fail`), count it and go on
        /// (`skip`), or count it and show a white image instead (`white`, the authors' loader).
        #[arg(long, default_value = "fail", value_parser = one_of::<ImagePolicy>(&["fail", "skip", "white"]))]
        images: ImagePolicy,
        /// How the splits are made when the root holds no im2recipe key files
        /// ({train,val,test}_keys.pkl, which win when present): `im2recipe` (its rule exactly;
        /// needs --vocab) or `valid-count` (this package's). Default: im2recipe with --vocab,
        /// valid-count without.
        #[arg(long, value_parser = one_of::<RuleName>(RULES))]
        rule: Option<RuleName>,
        /// The ingredient vocabulary of the im2recipe rule: a word2vec `-binary 1` file
        /// (`vocab.bin`, Phase I's) or a word list (`vocab.txt`, one word a line).
        #[arg(long)]
        vocab: Option<PathBuf>,
        /// Write train_keys.txt, val_keys.txt and test_keys.txt (one recipe id a line, in split
        /// order) into this directory.
        #[arg(long)]
        keys: Option<PathBuf>,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `seje data …`.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Check {
            root,
            images,
            rule,
            vocab,
            keys,
            json,
        } => {
            let rule = split_rule_of(&root, rule, vocab.as_deref(), None, "--rule")?;
            let bar = Bar::<()>::new("{spinner} checking images: {pos} ({per_sec})")?;
            let result = seje::data::check::check(&root, images, &rule, &|_| bar.inc());
            bar.finish();
            let (report, dataset) = result?;
            let written = match keys {
                Some(dir) => seje::data::pairs::write_keys(&dir, &dataset)?,
                None => Vec::new(),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
                for f in written {
                    println!("wrote       {}", f.display());
                }
            }
            Ok(())
        }
    }
}

/// Named generator configurations.
#[derive(Clone, Copy, ValueEnum)]
pub enum Preset {
    /// `SynthConfig::benchmark`: the on-demand benchmark.
    Benchmark,
    /// `SynthConfig::fixture_mini`: the committed fixtures recipe1m-mini and food101-mini.
    FixtureMini,
}

#[derive(clap::Args)]
pub struct SynthArgs {
    /// Output directory for the Recipe1M-format files (created; must be empty or absent).
    #[arg(long)]
    out: PathBuf,
    /// Also write a Food-101-format set into this directory.
    #[arg(long)]
    food101: Option<PathBuf>,
    /// Starting point for every setting below.
    #[arg(long, value_enum, default_value_t = Preset::Benchmark)]
    preset: Preset,
    /// Number of recipes (= image-recipe pairs) [preset: benchmark 10000, fixture-mini 160].
    #[arg(long)]
    recipes: Option<usize>,
    /// Seed of every RNG stream [preset: 1234].
    #[arg(long)]
    seed: Option<u64>,
    /// Shorter image side in pixels [preset: benchmark 128, fixture-mini 32].
    #[arg(long)]
    image_size: Option<u32>,
    /// Most images per recipe, 1 to 5 [preset: benchmark 5, fixture-mini 1].
    #[arg(long)]
    max_images: Option<usize>,
    /// Food-101-format training images per class [preset: benchmark 30, fixture-mini 2].
    #[arg(long)]
    food101_train: Option<usize>,
    /// Food-101-format test images per class [preset: benchmark 10, fixture-mini 1].
    #[arg(long)]
    food101_test: Option<usize>,
    /// Validation recipes, exactly [preset: 15 % (benchmark), 20 % (fixture-mini)].
    #[arg(long)]
    val_recipes: Option<usize>,
    /// Test recipes, exactly [preset: 15 % (benchmark), 20 % (fixture-mini)]; the training
    /// split takes the rest.
    #[arg(long)]
    test_recipes: Option<usize>,
    /// Also write the pretraining set (the stand-in for ImageNet: one class per visible
    /// ingredient) into this directory (spec/data-synthetic-benchmark.md).
    #[arg(long, value_name = "DIR")]
    pretrain: Option<PathBuf>,
    /// Pretraining set: training images per class.
    #[arg(long, default_value_t = 60)]
    pretrain_train: usize,
    /// Pretraining set: test images per class.
    #[arg(long, default_value_t = 10)]
    pretrain_test: usize,
}

/// Runs `seje synth`.
pub fn synth(a: SynthArgs) -> Result<()> {
    // Both outputs are checked before either is generated (the Food-101 set comes second).
    seje::files::prepare_output(&a.out, seje::files::Output::Dir)?;
    if let Some(dir) = &a.food101 {
        seje::files::prepare_output(dir, seje::files::Output::Dir)?;
    }
    let preset = match a.preset {
        Preset::Benchmark => SynthConfig::default(),
        Preset::FixtureMini => SynthConfig::fixture_mini(),
    };
    let cfg = preset.overridden(&SynthOverrides {
        recipes: a.recipes,
        seed: a.seed,
        image_size: a.image_size,
        max_images: a.max_images,
        food101_train: a.food101_train,
        food101_test: a.food101_test,
        val_recipes: a.val_recipes,
        test_recipes: a.test_recipes,
    });
    let start = Instant::now();
    let s =
        synth::generate(&cfg, &a.out).with_context(|| format!("generating {}", a.out.display()))?;
    println!(
        "recipe1m-format  {}: {} recipes (train {}, val {}, test {}), {} images ({:.1} MB), {} mislabelled lines, {:.1} s",
        a.out.display(),
        s.recipes,
        s.per_split[0],
        s.per_split[1],
        s.per_split[2],
        s.images,
        s.image_bytes as f64 / 1e6,
        s.mislabelled_lines,
        start.elapsed().as_secs_f64()
    );
    if let Some(dir) = &a.food101 {
        let start = Instant::now();
        let f = synth::generate_food101(&cfg, dir)
            .with_context(|| format!("generating {}", dir.display()))?;
        print_image_set("food101-format  ", dir, &f, start);
    }
    if let Some(dir) = &a.pretrain {
        let start = Instant::now();
        let f = synth::generate_pretrain(&cfg, dir, a.pretrain_train, a.pretrain_test)
            .with_context(|| format!("generating {}", dir.display()))?;
        print_image_set("pretraining set ", dir, &f, start);
    }
    Ok(())
}

/// One line of `seje synth` for a Food-101-format set it wrote.
fn print_image_set(kind: &str, dir: &Path, f: &synth::Food101Summary, start: Instant) {
    println!(
        "{kind} {}: {} classes, {} train + {} test images ({:.1} MB), {:.1} s",
        dir.display(),
        f.classes,
        f.train,
        f.test,
        f.image_bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
}
