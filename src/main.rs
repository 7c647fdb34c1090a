//! The `seje` command line: parses arguments and calls the library. No science lives here.
//!
//! Spec: spec/README.md (commands). Subcommands are added with the components they expose; the
//! README's status table lists what exists.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use seje::data::splits::SplitRule;
use seje::data::synth::{self, SynthConfig};
use seje::phase1::categoriser_training::CategoriserTrainingConfig;
use seje::phase1::sentence_features::SentenceFeaturesConfig;
use seje::phase1::stand_in::StandInConfig;

/// SEJE reproducibility package: text-image joint embedding for cross-modal recipe retrieval
/// (Xie et al., ACM TOIS 2021).
#[derive(Parser)]
#[command(name = "seje", version, about, long_about = None)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax, for example `debug` or `seje=trace`); `SEJE_LOG`
    /// sets the default.
    #[arg(long, global = true, env = "SEJE_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the libtorch this binary runs on: version, CPU threads, CUDA devices.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Classify photos with a ResNet-family classifier (torchvision `.pth` or `.safetensors`
    /// weights with torchvision's names): top-k classes with probabilities, on the evaluation
    /// transform (resize, centre crop, ImageNet normalisation).
    Classify {
        /// Architecture: resnet50, resnext101_32x8d, wide_resnet50_2 or tiny.
        #[arg(long)]
        arch: String,
        /// Weights file (`torch.save` state dict, or `.safetensors`).
        #[arg(long)]
        weights: PathBuf,
        /// Class names, one per line (Food-101's meta/classes.txt); default: class indices.
        #[arg(long)]
        classes: Option<PathBuf>,
        /// How many classes to print per image.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Shorter side after resizing.
        #[arg(long, default_value_t = 256)]
        resize: u32,
        /// Side of the centre crop.
        #[arg(long, default_value_t = 224)]
        crop: u32,
        /// Print JSON (with every logit) instead of a table.
        #[arg(long)]
        json: bool,
        /// Image files (JPEG or PNG).
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Phase I features as feature-store files: the weighted term feature f_term (`text`), and
    /// a stand-in for all three inputs (hashed bag-of-words vectors, NOT the paper's Phase I;
    /// spec/phase1-stand-in.md).
    Features {
        #[command(subcommand)]
        command: FeaturesCommand,
    },
    /// Train word2vec (skip-gram, hierarchical softmax, as the C tool `word2vec.c`) on a
    /// tokenised corpus, one text per line, and write the `-binary 1` vectors file.
    Word2vec {
        /// The corpus: one text per line, words separated by white space.
        #[arg(long)]
        corpus: PathBuf,
        /// The vectors file to write (`vocab.bin`).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        word2vec: Word2vecArgs,
    },
    /// Datasets in Recipe1M format: check what a root holds.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Generate the synthetic Recipe1M-format benchmark (layer1/layer2/det_ingrs JSON and the
    /// image tree) and, with --food101, a Food-101-format set from the same world.
    Synth {
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
    },
    /// Train the Phase II joint embedding (spec/phase2-training-loop.md): per iteration a
    /// discriminator step then the main step; validation every epoch; the authors' two-stage
    /// schedule; best and last checkpoints; at the end the best checkpoint is tested.
    Train {
        /// Training configuration (TOML; `paper/configs/*.toml`). With --resume it may be left
        /// out: the run's own resolved config.toml is used.
        #[arg(long, required_unless_present = "resume")]
        config: Option<PathBuf>,
        /// The behaviour preset under a layer config such as fixture-mini.toml: `paper` (our
        /// reading of the paper), `authors-code` (the released code), or a preset file
        /// (spec/phase2-training-config.md).
        #[arg(long)]
        preset: Option<String>,
        /// Run directory (created; with --resume, an existing run).
        #[arg(long)]
        run_dir: PathBuf,
        /// Continue the run from its last checkpoint.
        #[arg(long)]
        resume: bool,
        /// Resume even if the configuration or the input files differ from the run's.
        #[arg(long, requires = "resume")]
        force: bool,
        /// Device: cpu, cuda or cuda:N (sets run.device).
        #[arg(long)]
        device: Option<String>,
        /// Override a config value, e.g. --set schedule.max_epochs=2 (repeatable; recorded in
        /// the run's config.toml).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// No progress bars (they are drawn only on a terminal anyway).
        #[arg(long)]
        no_progress: bool,
    },
    /// Run N training iterations through the code `seje train` runs and write what they read and
    /// produced (spec/phase2-training-step.md): init.safetensors and final.safetensors (weights
    /// under the authors' names), batches.safetensors (every input and α), steps.jsonl (every
    /// loss term).
    Step {
        /// Training configuration (TOML; `paper/configs/*.toml`).
        #[arg(long)]
        config: PathBuf,
        /// The behaviour preset under a layer config: `paper`, `authors-code` or a preset file.
        #[arg(long)]
        preset: Option<String>,
        /// Override a config value, e.g. --set data.features="DIR" (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Iterations: the first N batches of the split's first training epoch.
        #[arg(long, default_value_t = 5)]
        iterations: usize,
        /// Split whose batches are used (training transforms and order whatever the split).
        #[arg(long, default_value = "train")]
        split: String,
        /// Start from these tensors (named as init.safetensors) instead of the seeded initial
        /// state: safetensors or a torch.save file.
        #[arg(long)]
        init: Option<PathBuf>,
        /// Device: cpu, cuda or cuda:N (default: the config's run.device).
        #[arg(long)]
        device: Option<String>,
        /// Output directory (created; the four files in it are replaced).
        #[arg(long)]
        out: PathBuf,
    },
    /// The authors' released checkpoint as a run directory for `seje embed`, `index` and `query`
    /// (spec/phase2-encoders.md).
    ///
    /// Reads `train.py`'s `{'epoch', 'state_dict'}` of the DataParallel model, finds the
    /// architecture (backbone, widths, classes) from the tensors' names and shapes, and writes a
    /// run directory whose `best` checkpoint holds the weights. A checkpoint no model fits is
    /// refused naming its tensors.
    ImportCheckpoint {
        /// The authors' checkpoint (`torch.save` file, zip or legacy).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Their discriminator's checkpoint (the `_cm` file); without it the run's
        /// discriminator is freshly initialised, which `import.json` records.
        #[arg(long)]
        discriminator: Option<PathBuf>,
        /// Training configuration for the data, features and behaviour keys (`paper/configs/*.toml`);
        /// its `[model]` keys are replaced by the checkpoint's architecture.
        #[arg(long)]
        config: PathBuf,
        /// The behaviour preset under a layer config: `paper`, `authors-code` or a preset file.
        #[arg(long)]
        preset: Option<String>,
        /// Override a config value, e.g. --set data.features="DIR" (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// The run directory to create (must not hold a run).
        #[arg(long)]
        run_dir: PathBuf,
    },
    /// Embed a split with a trained run's checkpoint into an embeddings file for `seje eval`.
    Embed {
        #[command(flatten)]
        from: RunSplitArgs,
        /// Output file (safetensors: `image` and `recipe` [N, D] float32, ids in the metadata).
        #[arg(long)]
        out: PathBuf,
    },
    /// Build a retrieval index (spec/retrieval.md): embed every pair of a split with a trained
    /// run (image 0 of each pair) into one file with the recipe ids, titles, photo paths, the
    /// run's identity and the Phase I artefacts queries need.
    Index {
        #[command(flatten)]
        from: RunSplitArgs,
        /// The index file to write (safetensors).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        phase1: PhaseOneArgs,
    },
    /// Query a retrieval index (spec/retrieval.md): a photo finds recipes, a recipe (layer1 JSON
    /// or free text) finds photos, by exact Euclidean search in the joint space; or, with
    /// --each-gallery-photo, query every gallery photo and report how often its own recipe is in
    /// the top 1/5/10.
    #[command(group(clap::ArgGroup::new("query").required(true).args(["image", "recipe", "text", "each_gallery_photo"])))]
    Query {
        /// Run directory of `seje train` (must be the run the index was built with).
        #[arg(long)]
        run_dir: PathBuf,
        /// The index of `seje index`.
        #[arg(long)]
        index: PathBuf,
        /// A photo (JPEG or PNG): find its recipes.
        #[arg(long)]
        image: Option<PathBuf>,
        /// A recipe in layer1.json's format (title, ingredients, instructions): find its photos.
        #[arg(long)]
        recipe: Option<PathBuf>,
        /// A recipe as free text: first line the title, lines starting with `-` ingredients,
        /// other lines instructions split into sentences.
        #[arg(long)]
        text: Option<String>,
        /// Query every photo of the gallery and report top-1/5/10 hit rates of its own recipe
        /// against chance, and the median latency.
        #[arg(long)]
        each_gallery_photo: bool,
        /// How many hits to show.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
        /// Also write the result as a self-contained HTML page.
        #[arg(long, value_name = "OUT.html")]
        html: Option<PathBuf>,
        /// Checkpoint (default: the index's).
        #[arg(long)]
        checkpoint: Option<String>,
        /// Device: cpu, cuda or cuda:N (default: the run's).
        #[arg(long)]
        device: Option<String>,
        #[command(flatten)]
        phase1: PhaseOneArgs,
    },
    /// Benchmarks: the training step's throughput on synthetic tensors
    /// (spec/phase2-training-loop.md, "Throughput benchmark").
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Evaluate paired embeddings: MedR and R@1/5/10, image->recipe and recipe->image, over 10
    /// random subsets per size (spec/eval-protocol.md).
    #[command(group(clap::ArgGroup::new("input").required(true).args(["embeddings", "image_emb"])))]
    Eval {
        /// The project's embeddings file (safetensors: `image` and `recipe` [N, D] float32, ids
        /// in the metadata).
        #[arg(long, value_name = "FILE")]
        embeddings: Option<PathBuf>,
        /// Image embeddings as a NumPy .npy file (float32 or float64, C order, [N, D]).
        #[arg(long, value_name = "FILE", requires = "recipe_emb")]
        image_emb: Option<PathBuf>,
        /// Recipe embeddings as a NumPy .npy file; row i pairs with row i of --image-emb.
        #[arg(long, value_name = "FILE", requires = "image_emb")]
        recipe_emb: Option<PathBuf>,
        /// Evaluation protocol; numbers of different protocols are not comparable.
        #[arg(long, value_enum, default_value = "seje")]
        protocol: ProtocolArg,
        /// Subset sizes (the paper: 1000,10000; the scaling sweep: 10000,20000,30000,40000,50000).
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        sizes: Vec<usize>,
        /// Subsets per size.
        #[arg(long, default_value_t = 10)]
        subsets: usize,
        /// Seed of the Python-compatible sampler.
        #[arg(long, default_value_t = seje::runtime::PAPER_SEED)]
        seed: u64,
        /// Where the scores are computed.
        #[arg(long, value_enum, default_value = "cpu")]
        device: DeviceArg,
        /// Largest block of scores computed at once, in elements (memory is about 12 bytes each).
        #[arg(long, default_value_t = 1 << 24)]
        block_elems: usize,
        /// CPU threads for libtorch (default: libtorch's choice).
        #[arg(long)]
        threads: Option<usize>,
        /// Also run the permutation test on every pair with this many random pairings (0: none):
        /// the probability that a model that learned nothing ranks as well
        /// (spec/eval-protocol.md; at most 5000 pairs).
        #[arg(long, default_value_t = 0)]
        permutations: usize,
        /// Evaluate a reference ranking built from the synthetic benchmark's truth instead of the
        /// embeddings (their pair ids only): `oracle` or `category-ceiling`
        /// (spec/eval-protocol.md).
        #[arg(long, value_name = "KIND", requires = "truth")]
        reference: Option<seje::eval::synthetic_reference::Reference>,
        /// The synthetic benchmark's root, holding `synth_truth.json` (with --reference).
        #[arg(long, value_name = "DIR")]
        truth: Option<PathBuf>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Measure Phase I's outputs on a synthetic benchmark against the generator's truth: key terms
    /// against each recipe's ingredients, actions and utensils, the categoriser's top-1 (f_cat's
    /// class) against each photograph's dish, the categories against the dishes
    /// (spec/eval-phase1-truth.md). Give any of the outputs.
    Truth {
        /// The synthetic benchmark's root (`synth.json`, `synth_truth.json`).
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// A `seje features text --dump-terms` file.
        #[arg(long, value_name = "FILE")]
        terms: Option<PathBuf>,
        /// The output directory of `seje features categories` (`predictions.jsonl`, `labels.json`).
        #[arg(long, value_name = "DIR")]
        categories: Option<PathBuf>,
        /// The categoriser's directory (`classes.txt`: which dishes it can name).
        #[arg(long, value_name = "DIR")]
        categoriser: Option<PathBuf>,
        /// Also write the measures as JSON to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ProtocolArg {
    /// SEJE/ACME test.py: random.sample subsets (seed 1234), Euclidean distance.
    Seje,
    /// image-to-recipe-transformers: rows sorted by recipe id, same sampling, cosine.
    Ht,
    /// AdaMine: disjoint bags of a seeded order, dot product, 0-based MedR.
    Adamine,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
}

/// Named generator configurations.
#[derive(Clone, Copy, ValueEnum)]
enum Preset {
    /// `SynthConfig::benchmark`: the on-demand benchmark.
    Benchmark,
    /// `SynthConfig::fixture_mini`: the committed fixtures recipe1m-mini and food101-mini.
    FixtureMini,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time training steps (discriminator step, then the main step with every loss of the
    /// configuration) on one synthetic batch kept on the device, after warm-up steps; report
    /// images/s. The model starts from random weights (model.pretrained is ignored).
    Step {
        /// Training configuration (TOML; `paper/configs/*.toml`).
        #[arg(long)]
        config: PathBuf,
        /// Override a config value, e.g. --set run.precision="bf16" (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Device: cpu, cuda or cuda:N (default: the config's run.device).
        #[arg(long)]
        device: Option<String>,
        /// Untimed steps before the clock starts.
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// Timed steps.
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Read layer1/layer2/det_ingrs, join the image-recipe pairs, find and decode every kept
    /// image, and print pairs per split, images found/missing/corrupt and why recipes were
    /// excluded. Exits non-zero on a fatal problem.
    Check {
        /// Dataset root (holds layer1.json, layer2.json, det_ingrs.json and images/).
        #[arg(long)]
        root: PathBuf,
        /// What to do with a missing or undecodable image: stop (`fail`), count it and go on
        /// (`skip`), or count it and show a white image instead (`white`, the authors' loader).
        #[arg(long, default_value = "fail", value_parser = ["fail", "skip", "white"])]
        images: String,
        /// How the splits are made when the root holds no im2recipe key files
        /// ({train,val,test}_keys.pkl, which win when present): `im2recipe` (its rule exactly;
        /// needs --vocab) or `valid-count` (this package's). Default: im2recipe with --vocab,
        /// valid-count without.
        #[arg(long, value_parser = ["im2recipe", "valid-count"])]
        rule: Option<String>,
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

/// A trained run's checkpoint applied to one split (`seje embed`, `seje index`).
#[derive(clap::Args)]
struct RunSplitArgs {
    /// Run directory of `seje train`.
    #[arg(long)]
    run_dir: PathBuf,
    /// Split: train, val or test.
    #[arg(long, default_value = "test")]
    split: String,
    /// Checkpoint: best or last.
    #[arg(long, default_value = "best")]
    checkpoint: String,
    /// Device: cpu, cuda or cuda:N (default: the run's).
    #[arg(long)]
    device: Option<String>,
}

impl RunSplitArgs {
    fn split(&self) -> Result<seje::data::splits::Partition> {
        self.split.parse().map_err(|e: String| anyhow::anyhow!(e))
    }
}

/// Where the Phase I artefacts of a query live; `seje index` records them, `seje query` options
/// override the recorded ones.
#[derive(clap::Args)]
struct PhaseOneArgs {
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
    fn artefacts(self) -> seje::retrieval::PhaseOneArtefacts {
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
struct SplitArgs {
    /// How the splits are made when the root holds no im2recipe key files: `valid-count` (this
    /// package's rule) or `im2recipe` (the rule its LMDBs were built with, which reads a word2vec
    /// vocabulary). Default: im2recipe with --split-vocab, valid-count without.
    #[arg(long, value_parser = ["im2recipe", "valid-count"])]
    split_rule: Option<String>,
    /// The im2recipe rule's vocabulary: a word2vec `-binary 1` file (`vocab.bin`, Phase I's) or
    /// a word list (`vocab.txt`, one word a line).
    #[arg(long)]
    split_vocab: Option<PathBuf>,
}

impl SplitArgs {
    /// The rule for the dataset in `root`, reading `default_vocab` when the im2recipe rule is
    /// named without a vocabulary (and no vocabulary when `root` holds the key files).
    fn rule(
        &self,
        root: &std::path::Path,
        default_vocab: Option<&std::path::Path>,
    ) -> Result<SplitRule> {
        split_rule_of(
            root,
            self.split_rule.as_deref(),
            self.split_vocab.as_deref(),
            default_vocab,
            "--split-rule",
        )
    }
}

/// A split rule from its name and vocabulary as a command line gives them: a vocabulary alone
/// means the im2recipe rule; the im2recipe rule without one reads `default_vocab`.
fn split_rule_of(
    root: &std::path::Path,
    rule: Option<&str>,
    vocab: Option<&std::path::Path>,
    default_vocab: Option<&std::path::Path>,
    what: &str,
) -> Result<SplitRule> {
    use seje::data::splits::RuleName;
    let name = match (rule, vocab) {
        (Some(r), _) => r.parse::<RuleName>().map_err(anyhow::Error::msg)?,
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

/// word2vec's settings; the defaults are the authors' command except `--threads` (one thread is
/// the only deterministic choice; they ran 20).
#[derive(clap::Args)]
struct Word2vecArgs {
    /// `-size`: vector width.
    #[arg(long, default_value_t = 300)]
    size: usize,
    /// `-window`: maximal skip length.
    #[arg(long, default_value_t = 10)]
    window: usize,
    /// `-iter`: training epochs.
    #[arg(long, default_value_t = 10)]
    iter: usize,
    /// `-min-count`: words seen fewer times are dropped.
    #[arg(long, default_value_t = 10)]
    min_count: u64,
    /// `-sample`: sub-sampling threshold (0 turns it off).
    #[arg(long, default_value_t = 1e-3)]
    sample: f32,
    /// `-alpha`: starting learning rate.
    #[arg(long, default_value_t = 0.025)]
    alpha: f32,
    /// `-threads`: Hogwild threads; more than one is faster but not reproducible bit for bit.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

impl Word2vecArgs {
    fn config(&self) -> seje::phase1::word2vec::Word2VecConfig {
        seje::phase1::word2vec::Word2VecConfig {
            size: self.size,
            window: self.window,
            iter: self.iter,
            min_count: self.min_count,
            sample: self.sample,
            alpha: self.alpha,
            threads: self.threads,
            ..seje::phase1::word2vec::Word2VecConfig::paper()
        }
    }
}

#[derive(Subcommand)]
enum FeaturesCommand {
    /// The image category feature f_cat and the category label of every pair
    /// (spec/phase1-category-feature.md, spec/phase1-category-labels.md): the trained categoriser's
    /// top-1 Food-101 class of each recipe's first five images as word2vec vectors, and the
    /// im2recipe title-bigram categories with the f_term-centroid fallback voted by the image
    /// prediction. Writes categories.safetensors and labels.json.
    Categories {
        /// Dataset root (holds layer1.json, layer2.json, det_ingrs.json and the images).
        #[arg(long)]
        root: PathBuf,
        /// The trained categoriser (`seje features categoriser --out DIR`).
        #[arg(long)]
        categoriser: PathBuf,
        /// The word vectors (`vocab.bin` of `seje features text`).
        #[arg(long)]
        w2v: PathBuf,
        /// The Food-101-format directory whose meta/classes.txt names the Food-101 categories.
        #[arg(long)]
        food101: PathBuf,
        /// Directory holding term.safetensors (f_term, for the centroid fallback); default --out.
        #[arg(long)]
        features: Option<PathBuf>,
        /// The splits (the im2recipe rule's vocabulary defaults to --w2v).
        #[command(flatten)]
        splits: SplitArgs,
        /// Output directory (categories.safetensors and labels.json are replaced).
        #[arg(long)]
        out: PathBuf,
        /// Title bigrams ranked (im2recipe's N).
        #[arg(long, default_value_t = seje::phase1::categories::CategoryConfig::default().top_bigrams)]
        top_bigrams: usize,
        /// A bigram class needs more than this many training pairs (im2recipe's tsamples).
        #[arg(long, default_value_t = seje::phase1::categories::CategoryConfig::default().min_train)]
        min_train: usize,
        /// Bigram classes kept at most.
        #[arg(long, default_value_t = seje::phase1::categories::CategoryConfig::default().max_classes)]
        max_classes: usize,
        /// The image vote wins when its centroid similarity is within this margin of the best.
        #[arg(long, default_value_t = seje::phase1::categories::CategoryConfig::default().vote_margin)]
        vote_margin: f64,
    },
    /// Sentence features f_sent (spec/phase1-sentence-features.md): train the skip-instructions
    /// encoder on the training split's instruction pairs (per-epoch checkpoints; a rerun resumes
    /// or reuses them) and encode every recipe with a pair; or, with --from-t7, convert
    /// im2recipe's released `encs_{train,val,test}_1024.t7` instead (spec/data-t7.md). Writes
    /// sentences.safetensors.
    Sentences {
        /// Dataset root (holds layer1.json, layer2.json and det_ingrs.json).
        #[arg(long)]
        root: PathBuf,
        /// Output directory (created; sentences.safetensors in it is replaced, other files are
        /// left alone).
        #[arg(long)]
        out: PathBuf,
        /// The word vectors (`vocab.bin` of `seje features text`); needed unless --from-t7.
        #[arg(long, required_unless_present = "from_t7")]
        w2v: Option<PathBuf>,
        /// Convert im2recipe's skip-instructions files found in this directory
        /// (encs_train_1024.t7, encs_val_1024.t7, encs_test_1024.t7) instead of training.
        #[arg(long, conflicts_with = "w2v")]
        from_t7: Option<PathBuf>,
        /// With --from-t7: rows for the pairs of this split only (repeatable; default all three),
        /// e.g. `test` to evaluate a released model when the other splits are not im2recipe's.
        #[arg(long = "only-split", requires = "from_t7", value_parser = ["train", "val", "test"])]
        only_split: Vec<String>,
        /// Checkpoint directory (default OUT/skip_instructions).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The splits (the im2recipe rule's vocabulary defaults to --w2v).
        #[command(flatten)]
        splits: SplitArgs,
        /// Start over even if the checkpoint holds a run with other settings.
        #[arg(long)]
        force: bool,
        /// Sentence vector width.
        #[arg(long, default_value_t = SentenceFeaturesConfig::default().hidden)]
        hidden: i64,
        /// Output vocabulary: the most frequent training words kept.
        #[arg(long, default_value_t = SentenceFeaturesConfig::default().vocab)]
        vocab: usize,
        /// Words kept per sentence.
        #[arg(long, default_value_t = SentenceFeaturesConfig::default().max_words)]
        max_words: usize,
        /// Training epochs.
        #[arg(long, default_value_t = SentenceFeaturesConfig::default().epochs)]
        epochs: usize,
        /// Sentence pairs per batch.
        #[arg(long, default_value_t = SentenceFeaturesConfig::default().batch)]
        batch: usize,
        /// Adam's learning rate.
        #[arg(long, default_value_t = SentenceFeaturesConfig::default().lr)]
        lr: f64,
        /// Seed of the initialisation and the shuffles.
        #[arg(long, default_value_t = SentenceFeaturesConfig::default().seed)]
        seed: u64,
        /// cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// CPU threads of libtorch (default: libtorch's choice).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Train the Phase I image categoriser (spec/phase1-categoriser-training.md): fine-tune a
    /// ResNet-family classifier on a Food-101-format directory (from ImageNet weights given with
    /// --init, with a new fc, or from scratch) with SGD + momentum and a cosine learning rate,
    /// reporting test top-1/top-5 after every epoch; per-epoch checkpoints in OUT/checkpoint (a
    /// rerun resumes). Writes model.safetensors, classes.txt and categoriser.json, which
    /// `seje classify` loads.
    Categoriser {
        /// Food-101-format directory (images/<class>/<id>.jpg, meta/{classes,train,test}.txt).
        #[arg(long)]
        food101: PathBuf,
        /// Output directory (created).
        #[arg(long)]
        out: PathBuf,
        /// Architecture: wide_resnet50_2, resnet50, resnext101_32x8d or tiny.
        #[arg(long, default_value_t = CategoriserTrainingConfig::default().arch)]
        arch: String,
        /// Initial weights (torchvision `.pth` or `.safetensors`, e.g. wide_resnet50_2-95faca4d.pth);
        /// their fc is replaced. Default: from scratch.
        #[arg(long)]
        init: Option<PathBuf>,
        /// Training epochs.
        #[arg(long, default_value_t = CategoriserTrainingConfig::default().epochs)]
        epochs: usize,
        /// Images per batch.
        #[arg(long, default_value_t = CategoriserTrainingConfig::default().batch)]
        batch: usize,
        /// Peak learning rate of the cosine schedule.
        #[arg(long, default_value_t = CategoriserTrainingConfig::default().lr)]
        lr: f64,
        /// Shorter side after resizing.
        #[arg(long, default_value_t = CategoriserTrainingConfig::default().image_size)]
        image_size: u32,
        /// Side of the crop fed to the network.
        #[arg(long, default_value_t = CategoriserTrainingConfig::default().crop)]
        crop: u32,
        /// Seed of the initialisation, the data order and the augmentation.
        #[arg(long, default_value_t = CategoriserTrainingConfig::default().seed)]
        seed: u64,
        /// cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// CPU threads of libtorch (default: libtorch's choice).
        #[arg(long)]
        threads: Option<usize>,
        /// Start over even if OUT/checkpoint holds a run with other settings.
        #[arg(long)]
        force: bool,
    },
    /// The weighted term feature f_term of every recipe with a pair (spec/phase1-term-feature.md):
    /// ingredient entities and key terms (lexicon extractor), the word2vec corpus of the training
    /// recipes, TF-IDF (fitted on train), TextRank or BERT ratings, word2vec vectors trained on the
    /// corpus (or loaded with --vectors), written as term.safetensors, corpus.txt and vocab.bin.
    Text {
        /// Dataset root (holds layer1.json, layer2.json and det_ingrs.json).
        #[arg(long)]
        root: PathBuf,
        /// Output directory (created; term.safetensors, corpus.txt and vocab.bin in it are
        /// replaced, other files are left alone).
        #[arg(long)]
        out: PathBuf,
        /// The term rating (bert: KeyBERT-style cosines of the model in --bert,
        /// spec/phase1-bert-rating.md).
        #[arg(long, default_value = "tfidf", value_parser = ["tfidf", "textrank", "bert"])]
        rating: String,
        /// The BERT model directory for --rating bert (config.json, model.safetensors or
        /// pytorch_model.bin, tokenizer.json or vocab.txt).
        #[arg(long, required_if_eq("rating", "bert"))]
        bert: Option<PathBuf>,
        /// Texts per BERT forward pass.
        #[arg(long, default_value_t = 32)]
        bert_batch: usize,
        /// Where the BERT model runs: cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Key terms by the lexicon extractor (default) or by NLTK's averaged-perceptron POS
        /// tagger (`VB*` actions, `NN*` utensils, as the paper), which needs --tagger-model.
        #[arg(long, default_value = "lexicon", value_parser = ["lexicon", "tagger"])]
        key_terms: String,
        /// The tagger's model: NLTK's `averaged_perceptron_tagger_eng` directory (or one of its
        /// three JSON files).
        #[arg(long, required_if_eq("key_terms", "tagger"))]
        tagger_model: Option<PathBuf>,
        /// TextRank's co-occurrence window.
        #[arg(long, default_value_t = 2)]
        textrank_window: usize,
        /// Use these word2vec vectors (`-binary 1` file) instead of training.
        #[arg(long)]
        vectors: Option<PathBuf>,
        /// Also write each recipe's key terms and their ratings here (JSON lines).
        #[arg(long)]
        dump_terms: Option<PathBuf>,
        /// The splits (the im2recipe rule without --split-vocab takes the words of the vectors
        /// this command trains or loads: im2recipe's order, word2vec before the splits).
        #[command(flatten)]
        splits: SplitArgs,
        #[command(flatten)]
        word2vec: Word2vecArgs,
    },
    /// STAND-IN, not the paper's Phase I: hashed random-projection bag-of-words features
    /// (f_term, f_sent with lengths, zero f_cat, title-word classes) for every recipe with a pair,
    /// written as term.safetensors, sentences.safetensors and categories.safetensors, so Phase II
    /// can run before the real Phase I exists. Numbers obtained with them are not the paper's.
    StandIn {
        /// Dataset root (holds layer1.json, layer2.json and det_ingrs.json).
        #[arg(long)]
        root: PathBuf,
        /// Output directory (created; the three files in it are replaced).
        #[arg(long)]
        out: PathBuf,
        /// Number of classes C, background class 0 ("other") included.
        #[arg(long, default_value_t = StandInConfig::default().classes)]
        classes: usize,
        /// Seed of the word vectors.
        #[arg(long, default_value_t = StandInConfig::default().seed)]
        seed: u64,
        /// Width of f_term (Phase II's `model.term`).
        #[arg(long, default_value_t = StandInConfig::default().term_dim)]
        term_dim: usize,
        /// Width of each sentence vector of f_sent (Phase II's `model.sentence`).
        #[arg(long, default_value_t = StandInConfig::default().sentence_dim)]
        sentence_dim: usize,
        /// Width of f_cat (Phase II's `model.category_feature`).
        #[arg(long, default_value_t = StandInConfig::default().category_dim)]
        category_dim: usize,
        #[command(flatten)]
        splits: SplitArgs,
    },
}

/// A progress bar on stderr (hidden when stderr is not a terminal) with `template`.
fn progress_bar(template: &str) -> Result<indicatif::ProgressBar> {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(indicatif::ProgressStyle::with_template(template)?);
    Ok(bar)
}

/// Errors are printed as one `error: …` line (no backtrace) and give exit status 1.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let allocator = seje::runtime::keep_freed_memory();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log)?)
        .with_writer(std::io::stderr)
        .init();
    tracing::debug!(?allocator, "C allocator");
    match cli.command {
        Command::Info { json } => {
            let info = seje::runtime::runtime_info();
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("seje            {}", info.seje_version);
                println!("libtorch        {}", info.libtorch_version);
                println!("cpu threads     {}", info.cpu_threads);
                println!("openmp / mkl    {} / {}", info.openmp, info.mkl);
                println!(
                    "cuda            {} ({} devices)",
                    info.cuda_available, info.cuda_devices
                );
                println!(
                    "allocator       {}",
                    match info.allocator {
                        seje::runtime::AllocatorMode::KeepFreed =>
                            "keep freed memory (glibc: no mmap per block, no trim)",
                        seje::runtime::AllocatorMode::Default => "the C library's default",
                    }
                );
            }
        }
        Command::Features {
            command:
                FeaturesCommand::StandIn {
                    root,
                    out,
                    classes,
                    seed,
                    term_dim,
                    sentence_dim,
                    category_dim,
                    splits,
                },
        } => {
            let rule = splits.rule(&root, None)?;
            seje::runtime::seed_everything(seed, None);
            let cfg = StandInConfig {
                classes,
                seed,
                term_dim,
                sentence_dim,
                category_dim,
                ..StandInConfig::default()
            };
            stand_in(&root, &rule, &out, &cfg)?;
        }
        Command::Features {
            command:
                FeaturesCommand::Text {
                    root,
                    out,
                    rating,
                    bert,
                    bert_batch,
                    device,
                    key_terms,
                    tagger_model,
                    textrank_window,
                    vectors,
                    dump_terms,
                    splits,
                    word2vec,
                },
        } => {
            use seje::phase1::text_features::TermSplits;
            let splits = match (splits.split_rule.as_deref(), &splits.split_vocab) {
                (Some("im2recipe"), None) => TermSplits::Im2recipeOwnVectors,
                _ => TermSplits::Rule(splits.rule(&root, None)?),
            };
            use seje::phase1::text_features::KeyTermSource;
            let key_terms = match (key_terms.as_str(), tagger_model) {
                ("tagger", Some(model)) => KeyTermSource::Tagger(model),
                ("tagger", None) => anyhow::bail!("--key-terms tagger needs --tagger-model"),
                _ => KeyTermSource::Lexicon,
            };
            let cfg = seje::phase1::text_features::TextFeaturesConfig {
                key_terms,
                rating: rating.parse().map_err(anyhow::Error::msg)?,
                textrank: seje::phase1::rating::TextRankConfig {
                    window: textrank_window,
                    ..Default::default()
                },
                bert: match bert {
                    Some(dir) => Some(seje::phase1::bert_rating::BertRatingConfig {
                        dir,
                        device: seje::runtime::cuda::device(&device)?,
                        batch: bert_batch,
                    }),
                    None => None,
                },
                word2vec: word2vec.config(),
                vectors,
                dump_terms,
                splits,
            };
            text_features(&root, &out, &cfg)?;
        }
        Command::Features {
            command:
                FeaturesCommand::Sentences {
                    root,
                    out,
                    w2v,
                    from_t7,
                    only_split,
                    checkpoint,
                    splits,
                    force,
                    hidden,
                    vocab,
                    max_words,
                    epochs,
                    batch,
                    lr,
                    seed,
                    device,
                    threads,
                },
        } => {
            if let Some(n) = threads {
                tch::set_num_threads(n as i32);
            }
            let rule = splits.rule(&root, w2v.as_deref())?;
            match (from_t7, w2v) {
                (Some(dir), _) => sentences_from_t7(&root, &rule, &only_split, &dir, &out)?,
                (None, Some(w2v)) => {
                    let cfg = SentenceFeaturesConfig {
                        hidden,
                        vocab,
                        max_words,
                        epochs,
                        batch,
                        lr,
                        seed,
                        ..SentenceFeaturesConfig::default()
                    };
                    let device = seje::runtime::cuda::device(&device)?;
                    sentence_features(
                        &root,
                        &rule,
                        &w2v,
                        &out,
                        checkpoint.as_deref(),
                        &cfg,
                        device,
                        force,
                    )?;
                }
                (None, None) => anyhow::bail!("give --w2v (to train) or --from-t7 (to convert)"),
            }
        }
        Command::Features {
            command:
                FeaturesCommand::Categoriser {
                    food101,
                    out,
                    arch,
                    init,
                    epochs,
                    batch,
                    lr,
                    image_size,
                    crop,
                    seed,
                    device,
                    threads,
                    force,
                },
        } => {
            if let Some(n) = threads {
                tch::set_num_threads(n as i32);
            }
            let cfg = CategoriserTrainingConfig {
                arch,
                image_size,
                crop,
                epochs,
                batch,
                lr,
                seed,
                ..CategoriserTrainingConfig::default()
            };
            let device = seje::runtime::cuda::device(&device)?;
            categoriser_training(&food101, &out, init.as_deref(), &cfg, device, force)?;
        }
        Command::Features {
            command:
                FeaturesCommand::Categories {
                    root,
                    categoriser,
                    w2v,
                    food101,
                    features,
                    splits,
                    out,
                    top_bigrams,
                    min_train,
                    max_classes,
                    vote_margin,
                },
        } => {
            let cfg = seje::phase1::categories::CategoryConfig {
                top_bigrams,
                min_train,
                max_classes,
                vote_margin,
                ..Default::default()
            };
            let features = features.unwrap_or_else(|| out.clone());
            let rule = splits.rule(&root, Some(&w2v))?;
            categories(
                &root,
                &rule,
                &categoriser,
                &w2v,
                &food101,
                &features,
                &out,
                &cfg,
            )?;
        }
        Command::Word2vec {
            corpus,
            out,
            word2vec,
        } => word2vec_train(&corpus, &out, &word2vec.config())?,
        Command::Data {
            command:
                DataCommand::Check {
                    root,
                    images,
                    rule,
                    vocab,
                    keys,
                    json,
                },
        } => data_check(
            &root,
            &images,
            rule.as_deref(),
            vocab.as_deref(),
            keys.as_deref(),
            json,
        )?,
        Command::Classify {
            arch,
            weights,
            classes,
            top,
            resize,
            crop,
            json,
            images,
        } => classify(
            &arch,
            &weights,
            classes.as_deref(),
            top,
            (resize, crop),
            json,
            &images,
        )?,
        Command::Synth {
            out,
            food101,
            preset,
            recipes,
            seed,
            image_size,
            max_images,
            food101_train,
            food101_test,
            val_recipes,
            test_recipes,
            pretrain,
            pretrain_train,
            pretrain_test,
        } => {
            let mut cfg = match preset {
                Preset::Benchmark => SynthConfig::benchmark(recipes.unwrap_or(10_000)),
                Preset::FixtureMini => SynthConfig::fixture_mini(),
            };
            cfg.recipes = recipes.unwrap_or(cfg.recipes);
            cfg.seed = seed.unwrap_or(cfg.seed);
            cfg.image_size = image_size.unwrap_or(cfg.image_size);
            cfg.max_images = max_images.unwrap_or(cfg.max_images);
            cfg.min_images = cfg.min_images.min(cfg.max_images);
            cfg.food101_train = food101_train.unwrap_or(cfg.food101_train);
            cfg.food101_test = food101_test.unwrap_or(cfg.food101_test);
            cfg.val_recipes = val_recipes.or(cfg.val_recipes);
            cfg.test_recipes = test_recipes.or(cfg.test_recipes);
            synth_cmd(&cfg, &out, food101.as_deref())?;
            if let Some(dir) = pretrain {
                let start = Instant::now();
                let f = synth::generate_pretrain(&cfg, &dir, pretrain_train, pretrain_test)
                    .with_context(|| format!("generating {}", dir.display()))?;
                print_image_set("pretraining set ", &dir, &f, start);
            }
        }
        Command::Train {
            config,
            preset,
            run_dir,
            resume,
            force,
            device,
            mut set,
            no_progress,
        } => {
            if let Some(d) = device {
                set.push(format!("run.device=\"{d}\""));
            }
            let config = match config {
                Some(c) => c,
                None if run_dir.join("config.toml").is_file() => run_dir.join("config.toml"),
                None => anyhow::bail!(
                    "run directory {}: holds no run to resume (no config.toml)",
                    run_dir.display()
                ),
            };
            let cfg = seje::phase2::config::TrainConfig::load_with_preset(
                &config,
                preset.as_deref(),
                &set,
            )?;
            use seje::phase2::train::Stage;
            let opts = seje::phase2::train::TrainOptions { resume, force };
            let bar = if no_progress {
                indicatif::ProgressBar::hidden()
            } else {
                progress_bar("{spinner} {msg}: {pos}/{len} ({per_sec}, eta {eta})")?
            };
            let stage = std::cell::Cell::new(None);
            let epochs = cfg.schedule.max_epochs;
            let result = seje::phase2::train::train(&cfg, &run_dir, &opts, &|s, n| {
                if stage.get() != Some(s) {
                    stage.set(Some(s));
                    bar.reset();
                    let (message, length) = match s {
                        Stage::Train { epoch, batches } => (
                            format!("epoch {epoch}/{epochs} training (batches)"),
                            batches,
                        ),
                        Stage::Validation { epoch, pairs } => {
                            (format!("epoch {epoch}/{epochs} validation (pairs)"), pairs)
                        }
                        Stage::Test { pairs } => ("test split (pairs)".to_string(), pairs),
                    };
                    bar.set_message(message);
                    bar.set_length(length);
                }
                bar.set_position(n);
            });
            bar.finish_and_clear();
            let s = result.with_context(|| format!("training in {}", run_dir.display()))?;
            println!("run        {}", s.run_dir.display());
            println!("epochs     {} ({})", s.epochs, s.stopped);
            if let Some((score, epoch)) = s.best {
                println!("best       epoch {epoch}, validation score {score:.3}");
            }
            if let Some(report) = &s.test {
                println!("test of the best checkpoint (written to test.json):");
                print!("{}", seje::eval::report::render_table(report));
            }
        }
        Command::Step {
            config,
            preset,
            set,
            iterations,
            split,
            init,
            device,
            out,
        } => {
            let cfg = seje::phase2::config::TrainConfig::load_with_preset(
                &config,
                preset.as_deref(),
                &set,
            )?;
            let opts = seje::phase2::trace::TraceOptions {
                iterations,
                split: split.parse().map_err(|e: String| anyhow::anyhow!(e))?,
                init,
                device,
            };
            let s = seje::phase2::trace::trace(&cfg, &out, &opts)
                .with_context(|| format!("tracing {} iterations", iterations))?;
            println!("preset     {}", s.preset);
            for st in &s.steps {
                let l = &st.losses;
                println!(
                    "iteration {}: L {:.6}  L_TRI {:.6}  L_D {}  L_DA {}",
                    st.iteration,
                    l.total,
                    l.triplet,
                    l.discriminator.map_or("-".into(), |v| format!("{v:.6}")),
                    l.alignment.map_or("-".into(), |v| format!("{v:.6}")),
                );
            }
            println!(
                "written    {}",
                seje::phase2::trace::FILES
                    .map(|f| s.out.join(f).display().to_string())
                    .join(", ")
            );
        }
        Command::ImportCheckpoint {
            checkpoint,
            discriminator,
            config,
            preset,
            set,
            run_dir,
        } => {
            let record = seje::phase2::authors_import::import_checkpoint(
                &checkpoint,
                discriminator.as_deref(),
                &config,
                preset.as_deref(),
                &set,
                &run_dir,
            )
            .with_context(|| format!("importing {}", checkpoint.display()))?;
            println!("architecture  {}", record.architecture.render());
            println!(
                "epoch         {}",
                record
                    .epoch
                    .map_or("not recorded".to_string(), |e| e.to_string())
            );
            println!(
                "discriminator {}",
                record
                    .discriminator
                    .as_ref()
                    .map_or("freshly initialised (not the authors')".to_string(), |d| {
                        d.0.clone()
                    })
            );
            println!("wrote         {} (checkpoint best)", run_dir.display());
        }
        Command::Embed { from, out } => {
            let split = from.split()?;
            let emb = seje::phase2::embed::embed_run(
                &from.run_dir,
                split,
                &from.checkpoint,
                from.device.as_deref(),
            )
            .with_context(|| format!("embedding with {}", from.run_dir.display()))?;
            emb.write_safetensors(&out)?;
            println!(
                "{} pairs of the {} split, {}-d, written to {}",
                emb.n,
                split.as_str(),
                emb.d,
                out.display()
            );
        }
        Command::Index { from, out, phase1 } => {
            let split = from.split()?;
            let start = Instant::now();
            let index = seje::retrieval::build_index(
                &from.run_dir,
                split,
                &from.checkpoint,
                from.device.as_deref(),
                &phase1.artefacts(),
            )
            .with_context(|| format!("indexing with {}", from.run_dir.display()))?;
            index.write(&out)?;
            println!(
                "{} pairs of the {} split, {}-d, written to {} ({:.1} s)",
                index.n,
                split.as_str(),
                index.d,
                out.display(),
                start.elapsed().as_secs_f64()
            );
        }
        Command::Query {
            run_dir,
            index,
            image,
            recipe,
            text,
            each_gallery_photo,
            top,
            json,
            html,
            checkpoint,
            device,
            phase1,
        } => query(
            &run_dir,
            &index,
            QueryInput {
                image,
                recipe,
                text,
                each_gallery_photo,
            },
            top,
            json,
            html.as_deref(),
            checkpoint.as_deref(),
            device.as_deref(),
            &phase1.artefacts(),
        )?,
        Command::Bench {
            command:
                BenchCommand::Step {
                    config,
                    set,
                    device,
                    warmup,
                    iterations,
                    json,
                },
        } => {
            let cfg = seje::phase2::config::TrainConfig::load(&config, &set)?;
            let opts = seje::phase2::throughput::BenchOptions {
                device,
                warmup,
                iterations,
            };
            let report =
                seje::phase2::throughput::bench_step(&cfg, &config, &opts).with_context(|| {
                    format!("benchmarking the training step of {}", config.display())
                })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
        }
        Command::Truth {
            root,
            terms,
            categories,
            categoriser,
            out,
        } => {
            use seje::eval::phase1_truth::{measure, Phase1Outputs};
            if terms.is_none() && categories.is_none() {
                anyhow::bail!("nothing to measure: give --terms and/or --categories");
            }
            if let Some(dir) = out.as_ref().and_then(|o| o.parent()) {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
            }
            let predictions = categories
                .as_ref()
                .map(|d| d.join(seje::phase1::category_feature::PREDICTIONS_FILE));
            let labels = categories
                .as_ref()
                .map(|d| d.join(seje::phase1::categories::LABELS_FILE));
            let classes = categoriser
                .as_ref()
                .map(|d| d.join(seje::phase1::categoriser_training::CLASSES_FILE));
            let report = measure(
                &root,
                &Phase1Outputs {
                    terms: terms.as_deref(),
                    predictions: predictions.as_deref(),
                    classes: classes.as_deref(),
                    labels: labels.as_deref(),
                },
            )?;
            print!("{}", report.render());
            if let Some(o) = &out {
                seje::files::write_atomic(o, serde_json::to_string_pretty(&report)?.as_bytes())?;
                println!("wrote       {}", o.display());
            }
        }
        Command::Eval {
            embeddings,
            image_emb,
            recipe_emb,
            protocol,
            sizes,
            subsets,
            seed,
            device,
            block_elems,
            threads,
            permutations,
            reference,
            truth,
            json,
        } => {
            seje::runtime::seed_everything(seed, threads);
            let mut emb = match (embeddings, image_emb, recipe_emb) {
                (Some(path), _, _) => seje::eval::Embeddings::read_safetensors(&path)?,
                (None, Some(a), Some(b)) => seje::eval::Embeddings::read_npy_pair(&a, &b)?,
                _ => anyhow::bail!("give --embeddings FILE or --image-emb A --recipe-emb B"),
            };
            if let (Some(kind), Some(root)) = (reference, truth) {
                emb = seje::eval::synthetic_reference::for_pairs_of(&emb, &root, kind, seed)
                    .with_context(|| format!("{} reference", kind.name()))?;
            }
            let cfg = seje::eval::EvalConfig {
                protocol: match protocol {
                    ProtocolArg::Seje => seje::eval::Protocol::Seje,
                    ProtocolArg::Ht => seje::eval::Protocol::Ht,
                    ProtocolArg::Adamine => seje::eval::Protocol::Adamine,
                },
                sizes,
                subsets,
                seed,
                rank: seje::eval::ranking::RankOptions {
                    device: match device {
                        DeviceArg::Cpu => tch::Device::Cpu,
                        DeviceArg::Cuda => tch::Device::Cuda(0),
                    },
                    block_elems: block_elems.max(1),
                },
            };
            let mut report = seje::eval::evaluate(&emb, &cfg).context("evaluation failed")?;
            if permutations > 0 {
                report.permutation_test = Some(
                    seje::eval::significance::permutation_test(
                        &emb,
                        cfg.protocol.measure(),
                        permutations,
                        seed,
                    )
                    .context("permutation test failed")?,
                );
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", seje::eval::report::render_table(&report));
            }
        }
    }
    Ok(())
}

fn synth_cmd(
    cfg: &SynthConfig,
    out: &std::path::Path,
    food101: Option<&std::path::Path>,
) -> Result<()> {
    let start = Instant::now();
    let s = synth::generate(cfg, out).with_context(|| format!("generating {}", out.display()))?;
    println!(
            "recipe1m-format  {}: {} recipes (train {}, val {}, test {}), {} images ({:.1} MB), {} mislabelled lines, {:.1} s",
            out.display(),
            s.recipes,
            s.per_split[0],
            s.per_split[1],
            s.per_split[2],
            s.images,
            s.image_bytes as f64 / 1e6,
            s.mislabelled_lines,
            start.elapsed().as_secs_f64()
        );
    if let Some(dir) = food101 {
        let start = Instant::now();
        let f = synth::generate_food101(cfg, dir)
            .with_context(|| format!("generating {}", dir.display()))?;
        print_image_set("food101-format  ", dir, &f, start);
    }
    Ok(())
}

/// One line of `seje synth` for a Food-101-format set it wrote.
fn print_image_set(kind: &str, dir: &std::path::Path, f: &synth::Food101Summary, start: Instant) {
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

fn classify(
    arch: &str,
    weights: &std::path::Path,
    classes: Option<&std::path::Path>,
    top: usize,
    (resize, crop): (u32, u32),
    json: bool,
    images: &[PathBuf],
) -> Result<()> {
    use seje::data::food101::read_labels;
    use seje::phase1::categoriser::Categoriser;
    let labels = classes.map(read_labels).transpose()?;
    let transform = seje::data::transforms::TransformConfig::sized(resize, crop);
    let model = Categoriser::load(arch, weights, labels, transform)
        .with_context(|| format!("loading {arch} from {}", weights.display()))?;
    let start = Instant::now();
    let predictions = model.classify(images, top)?;
    tracing::info!(
        images = images.len(),
        seconds = start.elapsed().as_secs_f64(),
        "classified"
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&predictions)?);
        return Ok(());
    }
    for p in &predictions {
        println!("{}", p.image.display());
        for (i, (class, label, prob)) in p.top.iter().enumerate() {
            println!("  {}. {label:<30} {prob:>8.4}  (class {class})", i + 1);
        }
    }
    Ok(())
}

fn stand_in(
    root: &std::path::Path,
    rule: &SplitRule,
    out: &std::path::Path,
    cfg: &StandInConfig,
) -> Result<()> {
    let bar = progress_bar("{spinner} stand-in features: {pos} recipes ({per_sec})")?;
    let start = Instant::now();
    let result = seje::phase1::stand_in::write_features_with_progress(root, rule, out, cfg, &|n| {
        bar.set_position(n)
    });
    bar.finish_and_clear();
    let summary = result.with_context(|| {
        format!(
            "writing stand-in features of {} into {}",
            root.display(),
            out.display()
        )
    })?;
    print!("{}", summary.render());
    println!("time        {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

fn categoriser_training(
    root: &std::path::Path,
    out: &std::path::Path,
    init: Option<&std::path::Path>,
    cfg: &CategoriserTrainingConfig,
    device: tch::Device,
    force: bool,
) -> Result<()> {
    use seje::phase1::categoriser_training::{train_categoriser, Stage};
    let bar = progress_bar("{spinner} {msg}: {pos}/{len} ({per_sec}, eta {eta})")?;
    let stage = std::cell::Cell::new(None);
    let start = Instant::now();
    let result = train_categoriser(root, out, init, cfg, device, force, &|s, n| {
        if stage.get() != Some(s) {
            stage.set(Some(s));
            bar.reset();
            match s {
                Stage::Train { epoch, batches } => {
                    bar.set_message(format!("epoch {epoch}/{} training (batches)", cfg.epochs));
                    bar.set_length(batches);
                }
                Stage::Test { epoch, batches } => {
                    bar.set_message(format!("epoch {epoch}/{} testing (batches)", cfg.epochs));
                    bar.set_length(batches);
                }
            }
        }
        bar.set_position(n);
    });
    bar.finish_and_clear();
    let summary = result.with_context(|| {
        format!(
            "training the categoriser on {} into {}",
            root.display(),
            out.display()
        )
    })?;
    print!("{}", summary.render());
    println!("time        {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn sentence_features(
    root: &std::path::Path,
    rule: &SplitRule,
    w2v: &std::path::Path,
    out: &std::path::Path,
    checkpoint: Option<&std::path::Path>,
    cfg: &SentenceFeaturesConfig,
    device: tch::Device,
    force: bool,
) -> Result<()> {
    use seje::phase1::sentence_features::{write_sentence_features, Stage};
    let bar = progress_bar("{spinner} {msg}: {pos}/{len} ({per_sec}, eta {eta})")?;
    let stage = std::cell::Cell::new(None);
    let start = Instant::now();
    let result = write_sentence_features(
        root,
        rule,
        w2v,
        out,
        checkpoint,
        cfg,
        device,
        force,
        &|s, n| {
            if stage.get() != Some(s) {
                stage.set(Some(s));
                bar.reset();
                match s {
                    Stage::Read => {
                        bar.set_message("reading recipes");
                        bar.set_length(0);
                    }
                    Stage::Train { epoch, batches } => {
                        bar.set_message(format!("epoch {epoch}/{} (batches)", cfg.epochs));
                        bar.set_length(batches);
                    }
                    Stage::Encode => bar.set_message("encoding (recipes)"),
                }
            }
            bar.set_position(n);
        },
    );
    bar.finish_and_clear();
    let summary = result.with_context(|| {
        format!(
            "writing the sentence features of {} into {}",
            root.display(),
            out.display()
        )
    })?;
    print!("{}", summary.render());
    println!("time        {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

fn sentences_from_t7(
    root: &std::path::Path,
    rule: &SplitRule,
    only: &[String],
    dir: &std::path::Path,
    out: &std::path::Path,
) -> Result<()> {
    use seje::data::t7::{write_sentence_store, SkipInstructionVectors, MAX_SENTENCES};
    let mut sources = Vec::new();
    for split in ["train", "val", "test"] {
        let path = dir.join(format!("encs_{split}_1024.t7"));
        if path.exists() {
            sources.push(SkipInstructionVectors::open(&path)?);
        }
    }
    anyhow::ensure!(
        !sources.is_empty(),
        "no encs_{{train,val,test}}_1024.t7 in {}",
        dir.display()
    );
    let (dataset, _) = seje::data::pairs::open_with(root, rule)?;
    let ids: Vec<String> = dataset
        .rows()
        .into_iter()
        .filter(|(_, p)| only.is_empty() || only.iter().any(|s| s == p.as_str()))
        .map(|(id, _)| id)
        .collect();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let summary = write_sentence_store(&sources, &ids, MAX_SENTENCES, out)?;
    println!(
        "recipes     {} converted from {} file(s), {} sentence values each; {} cut at {MAX_SENTENCES} sentences, {} without a sentence (one zero row)",
        summary.recipes,
        sources.len(),
        summary.dim,
        summary.truncated,
        summary.empty
    );
    println!(
        "wrote       {}",
        out.join(seje::data::t7::SENTENCES_FILE).display()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn categories(
    root: &std::path::Path,
    rule: &SplitRule,
    categoriser: &std::path::Path,
    w2v: &std::path::Path,
    food101: &std::path::Path,
    features: &std::path::Path,
    out: &std::path::Path,
    cfg: &seje::phase1::categories::CategoryConfig,
) -> Result<()> {
    use seje::phase1::{categories as cat, category_feature as cf};
    let start = Instant::now();
    let model = seje::phase1::categoriser_training::load_trained(categoriser)
        .with_context(|| format!("loading the categoriser in {}", categoriser.display()))?;
    let vectors = seje::phase1::word2vec::WordVectors::read_binary(w2v)?;
    let bar = progress_bar("{spinner} classifying images: {pos} recipes ({per_sec}, {elapsed})")?;
    let feats = cf::category_features(root, rule, &model, &vectors, &|n| bar.set_position(n));
    bar.finish_and_clear();
    let feats = feats.with_context(|| format!("classifying the images of {}", root.display()))?;
    let predictions: std::collections::HashMap<String, String> = feats
        .ids
        .iter()
        .zip(&feats.predictions)
        .filter_map(|(id, p)| p.first().map(|c| (id.clone(), c.clone())))
        .collect();
    let assignment = cat::assign_from_disk(root, rule, features, food101, Some(&predictions), cfg)
        .with_context(|| format!("assigning the categories of {}", root.display()))?;
    let config_json = serde_json::json!({
        "categoriser": categoriser.display().to_string(),
        "w2v_sha256": seje::files::sha256_file(w2v)?,
        "top_bigrams": cfg.top_bigrams,
        "min_train": cfg.min_train,
        "max_classes": cfg.max_classes,
        "vote_margin": cfg.vote_margin,
    })
    .to_string();
    let store = cf::write_categories_store(
        out,
        &feats,
        &assignment.classes_i64(),
        &assignment.class_names,
        &config_json,
    )?;
    let labels = cat::write_labels(out, &assignment)?;
    if assignment.ids != feats.ids {
        anyhow::bail!("the category labels and the features hold different rows");
    }
    let predictions = cf::write_predictions(out, &feats, &assignment.partitions)?;
    let missing = feats.names_without_vector();
    println!(
        "images      {} classified over {} recipes; {} of {} class names without a vector{}",
        feats.images,
        feats.ids.len(),
        missing.len(),
        feats.names.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(" ({})", missing.join(", "))
        }
    );
    print!("{}", assignment.summary().render());
    println!("wrote       {}", store.display());
    println!("wrote       {}", labels.display());
    println!("wrote       {}", predictions.display());
    println!("time        {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

fn text_features(
    root: &std::path::Path,
    out: &std::path::Path,
    cfg: &seje::phase1::text_features::TextFeaturesConfig,
) -> Result<()> {
    use seje::phase1::text_features::{write_text_features, Stage};
    let bar = progress_bar("{spinner} {msg}: {pos} ({per_sec}, {elapsed})")?;
    let stage = std::sync::Mutex::new(None);
    let start = Instant::now();
    let result = write_text_features(root, out, cfg, &|s, n| {
        let mut current = stage.lock().unwrap_or_else(|e| e.into_inner());
        if *current != Some(s) {
            *current = Some(s);
            bar.set_message(match s {
                Stage::KeyTerms => "key terms, corpus (recipes)",
                Stage::Word2vec => "word2vec (per mille)",
                Stage::Feature => "f_term (rows)",
            });
            bar.reset();
        }
        bar.set_position(n);
    });
    bar.finish_and_clear();
    let summary = result.with_context(|| {
        format!(
            "writing the text features of {} into {}",
            root.display(),
            out.display()
        )
    })?;
    print!("{}", summary.render());
    println!("time        {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

fn word2vec_train(
    corpus: &std::path::Path,
    out: &std::path::Path,
    cfg: &seje::phase1::word2vec::Word2VecConfig,
) -> Result<()> {
    let bar = progress_bar("{spinner} word2vec: {pos}/1000 ({elapsed})")?;
    let start = Instant::now();
    let trained =
        seje::phase1::text_features::train_on_corpus(corpus, cfg, &|_, n| bar.set_position(n));
    bar.finish_and_clear();
    let trained = trained.with_context(|| format!("training word2vec on {}", corpus.display()))?;
    trained
        .vectors
        .write_binary(out)
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "vocabulary  {} words (min-count {}), {} training words",
        trained.vectors.len(),
        cfg.min_count,
        trained.vocab.train_words
    );
    println!("wrote       {}", out.display());
    println!("time        {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

fn data_check(
    root: &std::path::Path,
    images: &str,
    rule: Option<&str>,
    vocab: Option<&std::path::Path>,
    keys: Option<&std::path::Path>,
    json: bool,
) -> Result<()> {
    let policy: seje::data::images::ImagePolicy = images.parse().map_err(anyhow::Error::msg)?;
    let rule = split_rule_of(root, rule, vocab, None, "--rule")?;
    let bar = progress_bar("{spinner} checking images: {pos} ({per_sec})")?;
    let result = seje::data::check::check(root, policy, &rule, &|_| bar.inc(1));
    bar.finish_and_clear();
    let (report, dataset) = result?;
    let written = match keys {
        Some(dir) => seje::data::pairs::write_keys(dir, &dataset)?,
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

struct QueryInput {
    image: Option<PathBuf>,
    recipe: Option<PathBuf>,
    text: Option<String>,
    each_gallery_photo: bool,
}

#[allow(clippy::too_many_arguments)]
fn query(
    run_dir: &std::path::Path,
    index: &std::path::Path,
    input: QueryInput,
    top: usize,
    json: bool,
    html: Option<&std::path::Path>,
    checkpoint: Option<&str>,
    device: Option<&str>,
    phase1: &seje::retrieval::PhaseOneArtefacts,
) -> Result<()> {
    use seje::retrieval::{photo_self_retrieval, RecipeQuery, Retriever};
    let start = Instant::now();
    let mut r = Retriever::open(run_dir, index, checkpoint, device, phase1)?;
    if input.each_gallery_photo {
        let bar =
            progress_bar("{spinner} querying gallery photos: {pos}/{len} ({per_sec}, eta {eta})")?;
        bar.set_length(r.index().n as u64);
        let summary = photo_self_retrieval(&mut r, &[1, 5, 10], &|n| bar.set_position(n as u64));
        bar.finish_and_clear();
        let summary = summary?;
        if json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            print!("{}", summary.render());
        }
        return Ok(());
    }
    let result = match (input.image, input.recipe, input.text) {
        (Some(photo), _, _) => r.query_image(&photo, top)?,
        (_, Some(file), _) => r.query_recipe(&RecipeQuery::read_json(&file)?, top)?,
        (_, _, Some(text)) => r.query_recipe(&RecipeQuery::from_text(&text)?, top)?,
        _ => anyhow::bail!("give --image, --recipe, --text or --each-gallery-photo"),
    };
    tracing::info!(
        seconds = start.elapsed().as_secs_f64(),
        "query answered (loading included)"
    );
    if let Some(path) = html {
        let page = seje::retrieval::html::render(&result, r.index())?;
        std::fs::write(path, page).with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", result.render());
    }
    Ok(())
}
