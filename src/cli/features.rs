//! Phase I's commands: `seje features {categories, sentences, categoriser, text, stand-in}`,
//! `seje word2vec` and `seje classify`.
//!
//! Spec: spec/phase1-term-feature.md (`text`), spec/phase1-sentence-features.md (`sentences`),
//! spec/phase1-categoriser-training.md (`categoriser`), spec/phase1-category-feature.md and
//! spec/phase1-category-labels.md (`categories`), spec/phase1-stand-in.md (`stand-in`),
//! spec/phase1-word2vec.md (`word2vec`), spec/phase1-categoriser.md (`classify`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;
use seje::data::splits::{Partition, RuleName};
use seje::phase1::categories::CategoryConfig;
use seje::phase1::categoriser_training::CategoriserTrainingConfig;
use seje::phase1::sentence_features::SentenceFeaturesConfig;
use seje::phase1::stand_in::StandInConfig;
use seje::phase1::text_features::{KeyTermKind, Rating, TermSplits, TextFeaturesConfig};

use crate::cli::args::{one_of, SplitArgs, Word2vecArgs};
use crate::cli::progress::{Bar, STAGES};

#[derive(Subcommand)]
pub enum Command {
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
        #[arg(long, default_value_t = CategoryConfig::default().top_bigrams)]
        top_bigrams: usize,
        /// A bigram class needs more than this many training pairs (im2recipe's tsamples).
        #[arg(long, default_value_t = CategoryConfig::default().min_train)]
        min_train: usize,
        /// Bigram classes kept at most.
        #[arg(long, default_value_t = CategoryConfig::default().max_classes)]
        max_classes: usize,
        /// The image vote wins when its centroid similarity is within this margin of the best.
        #[arg(long, default_value_t = CategoryConfig::default().vote_margin)]
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
        #[arg(long = "only-split", requires = "from_t7", value_parser = one_of::<Partition>(&["train", "val", "test"]))]
        only_split: Vec<Partition>,
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
        /// cpu, cuda or cuda:N (default: cpu; a GPU-sized network on the CPU, such as the
        /// default WideResNet-50-2 at 224 px, runs only when --device cpu is given: without it a
        /// few images are timed and the estimate of the whole training shown).
        #[arg(long)]
        device: Option<String>,
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
        #[arg(long, default_value = "tfidf", value_parser = one_of::<Rating>(&["tfidf", "textrank", "bert"]))]
        rating: Rating,
        /// The BERT model directory for --rating bert (config.json, model.safetensors or
        /// pytorch_model.bin, tokenizer.json or vocab.txt).
        #[arg(long, required_if_eq("rating", "bert"))]
        bert: Option<PathBuf>,
        /// Texts per BERT forward pass.
        #[arg(long, default_value_t = 32)]
        bert_batch: usize,
        /// Where the BERT model runs: cpu, cuda or cuda:N (default cpu). A model sized for a
        /// GPU (50 million parameters or more, as BERT-base) rates on the CPU only when
        /// --device cpu is given: without it the command times one batch, prints the estimate
        /// and stops.
        #[arg(long)]
        device: Option<String>,
        /// Key terms by the lexicon extractor (default) or by NLTK's averaged-perceptron POS
        /// tagger (`VB*` actions, `NN*` utensils, as the paper), which needs --tagger-model.
        #[arg(long, default_value = "lexicon", value_parser = one_of::<KeyTermKind>(KeyTermKind::NAMES))]
        key_terms: KeyTermKind,
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

/// Runs `seje features …`.
impl Command {
    /// The output directory every subcommand writes into.
    fn out(&self) -> &Path {
        match self {
            Command::StandIn { out, .. }
            | Command::Text { out, .. }
            | Command::Sentences { out, .. }
            | Command::Categoriser { out, .. }
            | Command::Categories { out, .. } => out,
        }
    }
}

pub fn run(command: Command) -> Result<()> {
    let start = Instant::now();
    seje::files::prepare_output(command.out(), seje::files::Output::Dir)?;
    match command {
        Command::StandIn {
            root,
            out,
            classes,
            seed,
            term_dim,
            sentence_dim,
            category_dim,
            splits,
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
            let bar = Bar::<()>::new("{spinner} stand-in features: {pos} recipes ({per_sec})")?;
            let result = seje::phase1::stand_in::write_features_with_progress(
                &root,
                &rule,
                &out,
                &cfg,
                &|n| bar.set_position(n),
            );
            bar.finish();
            let summary = result.with_context(|| {
                format!(
                    "writing stand-in features of {} into {}",
                    root.display(),
                    out.display()
                )
            })?;
            print!("{}", summary.render());
        }
        Command::Text {
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
        } => {
            use seje::phase1::text_features::{write_text_features, Stage};
            let splits = match (splits.split_rule, &splits.split_vocab) {
                (Some(RuleName::Im2recipe), None) => TermSplits::Im2recipeOwnVectors,
                _ => TermSplits::Rule(splits.rule(&root, None)?),
            };
            let key_terms = key_terms.with_model(tagger_model)?;
            let cfg = TextFeaturesConfig {
                key_terms,
                rating,
                textrank: seje::phase1::rating::TextRankConfig {
                    window: textrank_window,
                    ..Default::default()
                },
                bert: match bert {
                    Some(dir) => Some(seje::phase1::bert_rating::BertRatingConfig {
                        dir,
                        device: seje::runtime::cuda::device(device.as_deref().unwrap_or("cpu"))?,
                        batch: bert_batch,
                        device_asked: device.is_some(),
                    }),
                    None => None,
                },
                word2vec: word2vec.config(),
                vectors,
                dump_terms,
                splits,
            };
            let bar = Bar::new("{spinner} {msg}: {pos} ({per_sec}, {elapsed})")?;
            let result = write_text_features(&root, &out, &cfg, &|s, n| {
                bar.report(s, n, |s| {
                    let message = match s {
                        Stage::KeyTerms => "key terms, corpus (recipes)",
                        Stage::Word2vec => "word2vec (per mille)",
                        Stage::Feature => "f_term (rows)",
                    };
                    (message.to_string(), None)
                })
            });
            bar.finish();
            let summary = result.with_context(|| {
                format!(
                    "writing the text features of {} into {}",
                    root.display(),
                    out.display()
                )
            })?;
            print!("{}", summary.render());
        }
        Command::Sentences {
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
        } => {
            if let Some(n) = threads {
                tch::set_num_threads(n as i32);
            }
            let rule = splits.rule(&root, w2v.as_deref())?;
            match (from_t7, w2v) {
                (Some(dir), _) => {
                    let conversion = seje::data::skip_instruction_vectors::convert_released_files(
                        &dir,
                        &root,
                        &rule,
                        &only_split,
                        &out,
                    )?;
                    print!("{}", conversion.render());
                    return Ok(());
                }
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
        Command::Categoriser {
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
        } => {
            use seje::phase1::categoriser_training::{train_categoriser, Stage};
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
            let explicit = device.is_some();
            let device = seje::runtime::cuda::device(device.as_deref().unwrap_or("cpu"))?;
            if device == tch::Device::Cpu
                && seje::phase1::categoriser_training::sized_for_a_gpu(&cfg)
            {
                let estimate =
                    seje::phase1::categoriser_training::time_first_batch(&food101, &cfg, device)?;
                seje::runtime::heavy::announce(
                    &estimate,
                    explicit,
                    "`--arch tiny --image-size 36 --crop 32` trains a small network in seconds \
                     (spec/phase1-categoriser-training.md); on a GPU, --device cuda",
                )?;
                eprintln!("note: {}: {}", estimate.job, estimate.describe());
            }
            let bar = Bar::new(STAGES)?;
            let result = train_categoriser(
                &food101,
                &out,
                init.as_deref(),
                &cfg,
                device,
                force,
                &|s, n| {
                    bar.report(s, n, |s| match s {
                        Stage::Train { epoch, batches } => (
                            format!("epoch {epoch}/{} training (batches)", cfg.epochs),
                            Some(batches),
                        ),
                        Stage::Test { epoch, batches } => (
                            format!("epoch {epoch}/{} testing (batches)", cfg.epochs),
                            Some(batches),
                        ),
                    })
                },
            );
            bar.finish();
            let summary = result.with_context(|| {
                format!(
                    "training the categoriser on {} into {}",
                    food101.display(),
                    out.display()
                )
            })?;
            print!("{}", summary.render());
        }
        Command::Categories {
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
        } => {
            use seje::phase1::category_stage::{write_category_outputs, CategoryStageInputs};
            let cfg = CategoryConfig {
                top_bigrams,
                min_train,
                max_classes,
                vote_margin,
                ..Default::default()
            };
            let features = features.unwrap_or_else(|| out.clone());
            let rule = splits.rule(&root, Some(&w2v))?;
            let inputs = CategoryStageInputs {
                root: &root,
                rule: &rule,
                categoriser: &categoriser,
                w2v: &w2v,
                food101: &food101,
                features: &features,
            };
            let bar = Bar::<()>::new(
                "{spinner} classifying images: {pos} recipes ({per_sec}, {elapsed})",
            )?;
            let result = write_category_outputs(&inputs, &out, &cfg, &|n| bar.set_position(n));
            bar.finish();
            let summary = result.with_context(|| {
                format!(
                    "writing the categories of {} into {}",
                    root.display(),
                    out.display()
                )
            })?;
            print!("{}", summary.render());
        }
    }
    println!("time        {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// `seje features sentences` with training.
#[allow(clippy::too_many_arguments)]
fn sentence_features(
    root: &Path,
    rule: &seje::data::splits::SplitRule,
    w2v: &Path,
    out: &Path,
    checkpoint: Option<&Path>,
    cfg: &SentenceFeaturesConfig,
    device: tch::Device,
    force: bool,
) -> Result<()> {
    use seje::phase1::sentence_features::{write_sentence_features, Stage};
    let bar = Bar::new(STAGES)?;
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
            bar.report(s, n, |s| match s {
                Stage::Read => ("reading recipes".to_string(), Some(0)),
                Stage::Train { epoch, batches } => (
                    format!("epoch {epoch}/{} (batches)", cfg.epochs),
                    Some(batches),
                ),
                Stage::Encode => ("encoding (recipes)".to_string(), None),
            })
        },
    );
    bar.finish();
    let summary = result.with_context(|| {
        format!(
            "writing the sentence features of {} into {}",
            root.display(),
            out.display()
        )
    })?;
    print!("{}", summary.render());
    Ok(())
}

#[derive(clap::Args)]
pub struct Word2vecCommand {
    /// The corpus: one text per line, words separated by white space.
    #[arg(long)]
    corpus: PathBuf,
    /// The vectors file to write (`vocab.bin`).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    word2vec: Word2vecArgs,
}

/// Runs `seje word2vec`.
pub fn word2vec(a: Word2vecCommand) -> Result<()> {
    seje::files::prepare_output(&a.out, seje::files::Output::File)?;
    let cfg = a.word2vec.config();
    let bar = Bar::<()>::new("{spinner} word2vec: {pos}/1000 ({elapsed})")?;
    let start = Instant::now();
    let trained =
        seje::phase1::text_features::train_on_corpus(&a.corpus, &cfg, &|_, n| bar.set_position(n));
    bar.finish();
    let trained =
        trained.with_context(|| format!("training word2vec on {}", a.corpus.display()))?;
    trained
        .vectors
        .write_binary(&a.out)
        .with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "vocabulary  {} words (min-count {}), {} training words",
        trained.vectors.len(),
        cfg.min_count,
        trained.vocab.train_words
    );
    println!("wrote       {}", a.out.display());
    println!("time        {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

#[derive(clap::Args)]
pub struct ClassifyCommand {
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
}

/// Runs `seje classify`.
pub fn classify(a: ClassifyCommand) -> Result<()> {
    use seje::data::food101::read_labels;
    use seje::phase1::categoriser::Categoriser;
    let labels = a.classes.as_deref().map(read_labels).transpose()?;
    let transform = seje::data::transforms::TransformConfig::sized(a.resize, a.crop);
    let model = Categoriser::load(&a.arch, &a.weights, labels, transform)
        .with_context(|| format!("loading {} from {}", a.arch, a.weights.display()))?;
    let start = Instant::now();
    let predictions = model.classify(&a.images, a.top)?;
    tracing::info!(
        images = a.images.len(),
        seconds = start.elapsed().as_secs_f64(),
        "classified"
    );
    if a.json {
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
