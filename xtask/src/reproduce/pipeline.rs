//! The reproduce pipeline as named stages: the run's context, the data, the authors' release,
//! Phase I and Phase II of each variant, and the results. Each stage function returns `None`
//! when the run was asked to stop after one of its stages (`--stop-after`).
//!
//! Spec: spec/reproduce.md.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result};

use super::{
    build_seje, choose, classes_of, config_path, data_fingerprint, is_msje_architecture,
    load_config, machine, not_evaluated_of, path_str, present_key_files, read_evaluation,
    read_phase1_truth, read_references, run_preset, sha256_hex, toml_string, train_key_extra,
    with_out, xtask_release_files, Ablation, AuthorsRelease, Cmd, Outcome, ReproduceArgs,
    ReproduceConfig, Runner, AUTHORS_VARIANT, FEATURE_FILES, TERMS_DUMP,
};
use crate::disk::{sha256_file, write_atomic};
use crate::results::{
    Phase1TruthResult, ReferenceResult, Results, VariantResult, MAIN_VARIANT, SYNTHETIC_BANNER,
};
use crate::tables;

/// A stage's directory; returns `Ok(None)` from the enclosing function when the run was asked
/// to stop after that stage.
macro_rules! or_stop {
    ($runner:expr, $stage:expr) => {{
        let dir = $stage?;
        if $runner.stopped {
            return Ok(None);
        }
        dir
    }};
}

/// Runs the reproduce pipeline. `root` is the workspace root.
pub fn run(root: &Path, args: &ReproduceArgs) -> Result<Outcome> {
    let wall = Instant::now();
    let ctx = RunContext::new(root, args)?;
    let (mut runner, given) = ctx.runner()?;
    match stages(&ctx, &mut runner, given)? {
        Some(collected) => write_results(&ctx, &runner, collected, wall),
        None => {
            eprintln!(
                "reproduce: stopped after `{}` as asked; rerun to resume",
                runner.stop_after.as_deref().unwrap_or("")
            );
            Ok(Outcome {
                results: None,
                summary_dir: ctx.summary_dir,
                tables_dir: ctx.tables_dir,
            })
        }
    }
}

/// What every stage of one run shares: the configuration, the `seje` binary and the places the
/// run reads and writes.
struct RunContext<'a> {
    root: &'a Path,
    args: &'a ReproduceArgs,
    cfg: ReproduceConfig,
    /// The configuration's file stem: the name of the summary and tables directories.
    config_label: String,
    /// The commit the run's commands were built from, read at the start.
    commit: String,
    seje: PathBuf,
    seje_sha256: String,
    phase2_config: PathBuf,
    phase2_sha: String,
    data_dir: PathBuf,
    runs: PathBuf,
    summary_dir: PathBuf,
    tables_dir: PathBuf,
}

impl<'a> RunContext<'a> {
    /// Chooses the configuration (printing why), builds or finds `seje`, and digests the files
    /// every key depends on.
    fn new(root: &'a Path, args: &'a ReproduceArgs) -> Result<Self> {
        let commit = crate::git_commit(root);
        let (data_dir, config_name, why) = choose(root, args);
        eprintln!("reproduce: {why}");
        let cfg_path = config_path(root, &config_name);
        let cfg = load_config(&cfg_path)?;
        let cfg_dir = cfg_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let config_label = cfg_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or(config_name.clone());
        if cfg.synthetic {
            eprintln!("reproduce: {SYNTHETIC_BANNER}");
        }
        let runs = args
            .runs
            .clone()
            .unwrap_or_else(|| root.join("runs/reproduce"));
        let seje = match &args.seje {
            Some(s) => s.clone(),
            None => build_seje(root)?,
        };
        let seje = fs::canonicalize(&seje)
            .with_context(|| format!("the seje binary {} is missing", seje.display()))?;
        let seje_sha256 = sha256_file(&seje)?;
        let phase2_config = cfg_dir.join(&cfg.phase2.config);
        let phase2_sha = sha256_file(&phase2_config)
            .with_context(|| format!("Phase II configuration of {}", cfg_path.display()))?;
        let data_dir = if data_dir.exists() {
            fs::canonicalize(&data_dir)?
        } else {
            data_dir
        };
        let summary_dir = runs.join(&config_label);
        let tables_dir = args
            .tables
            .clone()
            .unwrap_or_else(|| root.join("paper/regenerated").join(&config_label));
        Ok(RunContext {
            root,
            args,
            cfg,
            config_label,
            commit,
            seje,
            seje_sha256,
            phase2_config,
            phase2_sha,
            data_dir,
            runs,
            summary_dir,
            tables_dir,
        })
    }

    /// `s` with `{data}` replaced by the data directory.
    fn sub(&self, s: &str) -> String {
        s.replace("{data}", &path_str(&self.data_dir))
    }

    fn subs(&self, v: &[String]) -> Vec<String> {
        v.iter().map(|s| self.sub(s)).collect()
    }

    /// A stage's extra arguments: the configuration's, then the variant's, after `--device`
    /// when the command takes one.
    fn with(&self, base: &[String], extra: &[String], device: bool) -> Vec<String> {
        let mut a = if device {
            vec!["--device".to_string(), self.args.device.clone()]
        } else {
            Vec::new()
        };
        a.extend(self.subs(base));
        a.extend(self.subs(extra));
        a
    }

    fn im2recipe(&self) -> bool {
        self.cfg.data.split_rule == "im2recipe"
    }

    /// The data's fingerprint (the digest of the files a run reads, or of the generator's
    /// settings) and, where the data is given rather than generated, its Recipe1M and Food-101
    /// directories.
    fn data_inputs(&self) -> Result<(String, Option<(PathBuf, PathBuf)>)> {
        let (cfg, data_dir) = (&self.cfg, &self.data_dir);
        Ok(match (&cfg.data.recipe1m, &cfg.data.food101) {
            (Some(r), None) => {
                // The authors' release: no Food-101; their files are part of the data.
                let a = cfg.authors.as_ref().expect("checked by load_config");
                let (r, p) = (data_dir.join(r), data_dir.join(&a.pickles));
                let mut files = vec![
                    r.join("layer1.json"),
                    r.join("layer2.json"),
                    r.join("det_ingrs.json"),
                    data_dir.join(&a.checkpoint),
                ];
                files.extend(xtask_release_files(&p));
                let t7 = data_dir.join(&a.t7);
                files.extend(
                    ["train", "val", "test"]
                        .map(|s| t7.join(format!("encs_{s}_1024.t7")))
                        .into_iter()
                        .filter(|f| f.exists()),
                );
                files.extend(a.vocab.as_ref().map(|v| data_dir.join(v)));
                files.extend(present_key_files(&r));
                (
                    data_fingerprint(data_dir, &files)?,
                    Some((r, PathBuf::new())),
                )
            }
            (Some(r), Some(f)) => {
                let (r, f) = (data_dir.join(r), data_dir.join(f));
                let mut files = vec![
                    r.join("layer1.json"),
                    r.join("layer2.json"),
                    r.join("det_ingrs.json"),
                    f.join("meta/classes.txt"),
                    f.join("meta/train.txt"),
                    f.join("meta/test.txt"),
                ];
                // im2recipe's key files define the splits when present.
                files.extend(present_key_files(&r));
                (data_fingerprint(data_dir, &files)?, Some((r, f)))
            }
            _ => (
                sha256_hex(serde_json::to_string(&cfg.data.generate)?.as_bytes()),
                None,
            ),
        })
    }

    /// The stage runner: every key salted with the binary, the device and the data; the stage,
    /// data and workspace directories written as names.
    fn runner(&self) -> Result<(Runner, Option<(PathBuf, PathBuf)>)> {
        let (data_fp, given) = self.data_inputs()?;
        let salt = format!(
            "seje {}\ndevice {}\ndata {data_fp}",
            self.seje_sha256, self.args.device
        );
        let stages_dir = self.runs.join("stages");
        fs::create_dir_all(&stages_dir)
            .with_context(|| format!("cannot create {}", stages_dir.display()))?;
        let stages_dir = fs::canonicalize(&stages_dir)?;
        let mut places: Vec<(String, String)> = vec![
            (path_str(&stages_dir), "{stages}".into()),
            (path_str(&self.data_dir), "{data}".into()),
            (
                path_str(&fs::canonicalize(self.root).unwrap_or_else(|_| self.root.to_path_buf())),
                "{root}".into(),
            ),
        ];
        places.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        let runner = Runner {
            seje: self.seje.clone(),
            stages_dir,
            salt,
            places,
            device: self.args.device.clone(),
            records: Vec::new(),
            index: std::collections::BTreeMap::new(),
            stop_after: self.args.stop_after.clone(),
            stopped: false,
        };
        Ok((runner, given))
    }
}

/// The Recipe1M-format data every variant reads.
struct Data {
    recipe1m: PathBuf,
    food101: PathBuf,
    /// The generated pretraining set (the stand-in for ImageNet), when the configuration has one.
    pretrain_set: Option<PathBuf>,
}

impl Data {
    fn root_s(&self) -> String {
        path_str(&self.recipe1m)
    }

    fn food_s(&self) -> String {
        path_str(&self.food101)
    }

    /// A synthetic benchmark whose truth Phase I can be measured against.
    fn has_truth(&self) -> bool {
        self.recipe1m.join("synth_truth.json").exists()
    }
}

/// What the stages produce for the results.
#[derive(Default)]
struct Collected {
    variants: Vec<VariantResult>,
    references: Vec<ReferenceResult>,
    phase1_truth: Option<Phase1TruthResult>,
    /// The authors' checkpoint's architecture in words, and whether it is MSJE's.
    authors_architecture: Option<(String, bool)>,
}

/// Every stage, in order: the data, then the authors' release or each variant.
fn stages(
    ctx: &RunContext,
    runner: &mut Runner,
    given: Option<(PathBuf, PathBuf)>,
) -> Result<Option<Collected>> {
    let Some(data) = data_stage(ctx, runner, given)? else {
        return Ok(None);
    };
    let mut c = Collected::default();
    if let Some(a) = &ctx.cfg.authors {
        let Some((result, architecture)) = authors_release(ctx, runner, a, &data)? else {
            return Ok(None);
        };
        c.variants.push(result);
        c.authors_architecture = Some(architecture);
        return Ok(Some(c));
    }
    let variants: Vec<Ablation> = std::iter::once(Ablation {
        name: MAIN_VARIANT.into(),
        ..Ablation::default()
    })
    .chain(ctx.cfg.ablation.iter().cloned())
    .collect();
    for v in &variants {
        if variant(ctx, runner, v, &data, &mut c)?.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(c))
}

/// The data: given (Recipe1M, Food-101 or the authors' release), or generated by `seje synth`.
fn data_stage(
    ctx: &RunContext,
    runner: &mut Runner,
    given: Option<(PathBuf, PathBuf)>,
) -> Result<Option<Data>> {
    if let Some((recipe1m, food101)) = given {
        return Ok(Some(Data {
            recipe1m,
            food101,
            pretrain_set: None,
        }));
    }
    let g = ctx
        .cfg
        .data
        .generate
        .clone()
        .expect("checked by load_config");
    let synth_args = |out: &Path| {
        let mut a = with_out(&["synth"], &out.join("recipe1m"), &[]);
        a.extend([
            "--food101".to_string(),
            path_str(&out.join("food101")),
            "--recipes".into(),
            g.recipes.to_string(),
            "--seed".into(),
            g.seed.to_string(),
            "--food101-train".into(),
            g.food101_train.to_string(),
            "--food101-test".into(),
            g.food101_test.to_string(),
        ]);
        if let Some(px) = g.image_size {
            a.extend(["--image-size".to_string(), px.to_string()]);
        }
        if let Some(m) = g.max_images {
            a.extend(["--max-images".to_string(), m.to_string()]);
        }
        if let Some(n) = g.val_recipes {
            a.extend(["--val-recipes".to_string(), n.to_string()]);
        }
        if let Some(n) = g.test_recipes {
            a.extend(["--test-recipes".to_string(), n.to_string()]);
        }
        if let Some(n) = g.pretrain_train {
            a.extend([
                "--pretrain".to_string(),
                path_str(&out.join("pretrain")),
                "--pretrain-train".into(),
                n.to_string(),
            ]);
            if let Some(m) = g.pretrain_test {
                a.extend(["--pretrain-test".to_string(), m.to_string()]);
            }
        }
        a
    };
    let dir = or_stop!(
        runner,
        runner.command_stage(MAIN_VARIANT, "synth", false, &synth_args)
    );
    Ok(Some(Data {
        recipe1m: dir.join("recipe1m"),
        food101: dir.join("food101"),
        pretrain_set: g.pretrain_train.map(|_| dir.join("pretrain")),
    }))
}

/// The authors' release: their three pickles and im2recipe's sentence vectors converted to
/// feature stores, their checkpoint imported as a run directory, and that run evaluated.
fn authors_release(
    ctx: &RunContext,
    runner: &mut Runner,
    a: &AuthorsRelease,
    data: &Data,
) -> Result<Option<(VariantResult, (String, bool))>> {
    let (cfg, data_dir) = (&ctx.cfg, &ctx.data_dir);
    let root_s = data.root_s();
    let vocab = a.vocab.as_ref().map(|v| path_str(&data_dir.join(v)));
    let mut split_args: Vec<String> = vec!["--split-rule".into(), cfg.data.split_rule.clone()];
    if let Some(v) = &vocab {
        // Present exactly under the im2recipe rule (checked by load_config).
        split_args.extend(["--split-vocab".to_string(), v.clone()]);
    }
    let (pickles, t7) = (data_dir.join(&a.pickles), data_dir.join(&a.t7));
    let features_key = runner.key(
        "features",
        &[
            path_str(&pickles),
            path_str(&t7),
            root_s.clone(),
            a.dim.to_string(),
            a.classes.to_string(),
            split_args.join(" "),
        ],
        "",
    );
    let convert = |out: &Path| -> Result<()> {
        crate::import::run(
            ctx.root,
            &crate::import::ImportArgs {
                from: pickles.clone(),
                out: out.to_path_buf(),
                python: "python3".into(),
                dim: a.dim,
                num_classes: a.classes,
            },
        )
        .map(|_| ())
    };
    let sentences = |out: &Path| {
        let mut args = vec![
            "features".to_string(),
            "sentences".into(),
            "--from-t7".into(),
            path_str(&t7),
            // Only the test split is evaluated; the others may be the rule's, which the .t7
            // files (im2recipe's pairs) need not cover.
            "--only-split".into(),
            "test".into(),
            "--root".into(),
            root_s.clone(),
            "--out".into(),
            path_str(out),
        ];
        args.extend(split_args.iter().cloned());
        vec![Cmd {
            args,
            stdout_to: None,
        }]
    };
    let features = or_stop!(
        runner,
        runner.stage(
            AUTHORS_VARIANT,
            "features",
            &features_key,
            false,
            &convert,
            &sentences
        )
    );

    // Their checkpoint as a run directory (the architecture read from its tensors).
    let checkpoint = path_str(&data_dir.join(&a.checkpoint));
    let mut sets: Vec<String> = vec![
        format!("data.root={}", toml_string(&root_s)),
        format!("data.features={}", toml_string(&path_str(&features))),
        format!("data.split_rule={}", toml_string(&cfg.data.split_rule)),
        format!(
            "data.split_vocab={}",
            toml_string(if ctx.im2recipe() {
                vocab.as_deref().unwrap_or("")
            } else {
                ""
            })
        ),
    ];
    sets.extend(ctx.subs(&cfg.phase2.set));
    let import_args = |out: &Path| {
        let mut v = vec![
            "import-checkpoint".to_string(),
            "--checkpoint".into(),
            checkpoint.clone(),
            "--config".into(),
            path_str(&ctx.phase2_config),
            "--run-dir".into(),
            path_str(&out.join("run")),
        ];
        if let Some(p) = &cfg.phase2.preset {
            v.extend(["--preset".to_string(), p.clone()]);
        }
        for s in &sets {
            v.extend(["--set".to_string(), s.clone()]);
        }
        v
    };
    // Keyed with the Phase II configuration's digest too: it decides the run's transforms.
    let import_key = runner.key("import", &import_args(Path::new("{out}")), &ctx.phase2_sha);
    let import_cmds = |d: &Path| {
        vec![Cmd {
            args: import_args(d),
            stdout_to: None,
        }]
    };
    let imported = or_stop!(
        runner,
        runner.stage(
            AUTHORS_VARIANT,
            "import",
            &import_key,
            false,
            &|_| Ok(()),
            &import_cmds
        )
    );
    let run_dir = imported.join("run");
    let eval = or_stop!(
        runner,
        runner.evaluate(AUTHORS_VARIANT, &run_dir, &cfg.eval)
    );
    let record: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(run_dir.join("import.json"))
            .with_context(|| format!("{}: no import.json", run_dir.display()))?,
    )?;
    let arch = &record["architecture"];
    let words = format!(
        "{} backbone, f_cat {}, f_term {}, sentence {}, embedding {}, {} classes",
        arch["backbone"].as_str().unwrap_or("?"),
        arch["category_feature"],
        arch["term"],
        arch["sentence"],
        arch["embedding"],
        arch["classes"]
    );
    let (plan, report) = read_evaluation(&eval)?;
    let msje = is_msje_architecture(arch);
    let result = VariantResult {
        name: format!("{AUTHORS_VARIANT} ({words})"),
        test_pairs: plan["test_pairs"].as_u64().unwrap_or(0) as usize,
        not_evaluated: not_evaluated_of(&plan),
        classes: arch["classes"].as_u64().unwrap_or(0) as usize,
        preset: run_preset(&run_dir)?,
        eval: report,
        seed: None,
        not_run: None,
        paper_claim: None,
        baseline: false,
        report: None,
    };
    Ok(Some((result, (words, msje))))
}

/// One variant: a row saying what is missing when it needs a file that is not there; otherwise
/// its Phase I, the truth check (main variant, synthetic data), and a training and evaluation
/// per seed.
fn variant(
    ctx: &RunContext,
    runner: &mut Runner,
    v: &Ablation,
    data: &Data,
    c: &mut Collected,
) -> Result<Option<()>> {
    let name = v.name.as_str();
    if let Some(req) = &v.requires {
        let need = ctx.sub(&req.path);
        if !Path::new(&need).exists() {
            let missing = runner.portable(&need);
            eprintln!(
                "reproduce: `{name}` not run: {missing} is missing ({})",
                req.what
            );
            c.variants.push(VariantResult {
                name: name.to_string(),
                test_pairs: 0,
                not_evaluated: Vec::new(),
                classes: 0,
                preset: String::new(),
                eval: serde_json::Value::Null,
                seed: None,
                not_run: Some(format!("needs {missing}: {}", req.what)),
                paper_claim: v.paper_claim,
                baseline: v.baseline,
                report: None,
            });
            return Ok(Some(()));
        }
    }
    let Some(p1) = phase_one(ctx, runner, v, data)? else {
        return Ok(None);
    };
    // Phase I against the generator's truth (the main variant's stages, synthetic data).
    if name == MAIN_VARIANT && ctx.cfg.synthetic && data.has_truth() {
        let Some(truth) = truth_stage(runner, name, data, &p1)? else {
            return Ok(None);
        };
        c.phase1_truth = Some(truth);
    }
    let seeds: Vec<Option<u64>> = if ctx.cfg.phase2.seeds.is_empty() {
        vec![None]
    } else {
        ctx.cfg.phase2.seeds.iter().copied().map(Some).collect()
    };
    for (i, &seed) in seeds.iter().enumerate() {
        if train_and_evaluate(ctx, runner, v, data, &p1, seed, i == 0, c)?.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(()))
}

/// The directories of one variant's Phase I stages.
struct PhaseOne {
    text: PathBuf,
    /// The word2vec vectors the text stage trained (`vocab.bin`).
    vocab: String,
    sentences: PathBuf,
    /// The backbone trained on the pretraining set, when there is one.
    pretrained: Option<PathBuf>,
    categoriser: PathBuf,
    categories: PathBuf,
    classes: usize,
}

/// Phase I of a variant: text, sentences, the pretraining stand-in, the categoriser, the
/// categories.
fn phase_one(
    ctx: &RunContext,
    runner: &mut Runner,
    v: &Ablation,
    data: &Data,
) -> Result<Option<PhaseOne>> {
    let (name, cfg) = (v.name.as_str(), &ctx.cfg);
    let (root_s, food_s) = (data.root_s(), data.food_s());

    // Text. Under the im2recipe rule it chooses the pairs with the vocabulary of the vectors it
    // trains, and every later stage is given that vocabulary.
    let im2recipe = ctx.im2recipe();
    let mut tail = ctx.with(&cfg.phase1.text, &v.text, false);
    if im2recipe {
        tail.splice(0..0, ["--split-rule".to_string(), "im2recipe".into()]);
    }
    // On a synthetic benchmark the rated key terms are kept, to be measured against its truth.
    let dump = cfg.synthetic;
    let text = or_stop!(
        runner,
        runner.command_stage(name, "text", false, &|out| {
            let mut a = with_out(&["features", "text", "--root", &root_s], out, &tail);
            if dump {
                a.extend(["--dump-terms".into(), path_str(&out.join(TERMS_DUMP))]);
            }
            a
        })
    );
    let vocab = path_str(&text.join("vocab.bin"));
    let split_args: Vec<String> = if im2recipe {
        vec![
            "--split-rule".into(),
            "im2recipe".into(),
            "--split-vocab".into(),
            vocab.clone(),
        ]
    } else {
        Vec::new()
    };

    // Sentences (resumes from the encoder's checkpoints).
    let mut tail = ctx.with(&cfg.phase1.sentences, &v.sentences, true);
    tail.extend(split_args.iter().cloned());
    let head = ["features", "sentences", "--root", &root_s, "--w2v", &vocab];
    let sentences = or_stop!(
        runner,
        runner.command_stage(name, "sentences", true, &|out| with_out(&head, out, &tail))
    );

    // The stand-in for ImageNet: a backbone trained on the generated pretraining set (resumes
    // from its checkpoints); its weights start the categoriser and Phase II.
    let pretrained = match (&cfg.phase1.pretrain, &data.pretrain_set) {
        (Some(extra), Some(set)) => {
            let (tail, set_s) = (ctx.with(extra, &[], true), path_str(set));
            let dir = or_stop!(
                runner,
                runner.command_stage(name, "pretrain", true, &|out| {
                    with_out(
                        &["features", "categoriser", "--food101", &set_s],
                        out,
                        &tail,
                    )
                })
            );
            Some(dir.join("model.safetensors"))
        }
        _ => None,
    };

    // The image categoriser (resumes from its checkpoints).
    let mut tail = ctx.with(&cfg.phase1.categoriser, &v.categoriser, true);
    if let Some(w) = &pretrained {
        tail.extend(["--init".to_string(), path_str(w)]);
    }
    let categoriser = or_stop!(
        runner,
        runner.command_stage(name, "categoriser", true, &|out| {
            with_out(
                &["features", "categoriser", "--food101", &food_s],
                out,
                &tail,
            )
        })
    );

    // The category feature and labels.
    let mut tail = ctx.with(&cfg.phase1.categories, &v.categories, false);
    tail.extend(split_args.iter().cloned());
    let (cat_s, text_s) = (path_str(&categoriser), path_str(&text));
    let head = [
        "features",
        "categories",
        "--root",
        &root_s,
        "--categoriser",
        &cat_s,
        "--w2v",
        &vocab,
        "--food101",
        &food_s,
        "--features",
        &text_s,
    ];
    let categories = or_stop!(
        runner,
        runner.command_stage(name, "categories", false, &|out| with_out(
            &head, out, &tail
        ))
    );
    let classes = classes_of(&categories)?;
    Ok(Some(PhaseOne {
        text,
        vocab,
        sentences,
        pretrained,
        categoriser,
        categories,
        classes,
    }))
}

/// `seje truth`: the rated key terms and the categories against the generator's truth.
fn truth_stage(
    runner: &mut Runner,
    name: &str,
    data: &Data,
    p1: &PhaseOne,
) -> Result<Option<Phase1TruthResult>> {
    let root_s = data.root_s();
    let (terms, cats) = (
        path_str(&p1.text.join(TERMS_DUMP)),
        path_str(&p1.categories),
    );
    let cat_s = path_str(&p1.categoriser);
    let truth = or_stop!(
        runner,
        runner.command_stage(name, "truth", false, &|out| {
            [
                "truth",
                "--root",
                &root_s,
                "--terms",
                &terms,
                "--categories",
                &cats,
                "--categoriser",
                &cat_s,
                "--out",
                &path_str(&out.join("truth.json")),
            ]
            .map(String::from)
            .to_vec()
        })
    );
    Ok(Some(read_phase1_truth(&truth, &p1.categoriser)?))
}

/// Phase II for one seed: the training (resumable), the evaluation of its best checkpoint, and
/// (main variant, first seed, synthetic data) the reference rankings.
#[allow(clippy::too_many_arguments)]
fn train_and_evaluate(
    ctx: &RunContext,
    runner: &mut Runner,
    v: &Ablation,
    data: &Data,
    p1: &PhaseOne,
    seed: Option<u64>,
    first_seed: bool,
    c: &mut Collected,
) -> Result<Option<()>> {
    let (name, cfg, dev) = (v.name.as_str(), &ctx.cfg, &ctx.args.device);
    let mut sets: Vec<String> = vec![
        format!("data.root={}", toml_string(&path_str(&data.recipe1m))),
        format!("model.classes={}", p1.classes),
        format!("data.split_rule={}", toml_string(&cfg.data.split_rule)),
        format!(
            "data.split_vocab={}",
            toml_string(if ctx.im2recipe() { &p1.vocab } else { "" })
        ),
    ];
    if let Some(w) = &p1.pretrained {
        sets.push(format!("model.pretrained={}", toml_string(&path_str(w))));
    }
    sets.extend(ctx.subs(&cfg.phase2.set));
    sets.extend(ctx.subs(&v.phase2_set));
    if let Some(seed) = seed {
        sets.push(format!("run.seed={seed}"));
    }
    let preset = v
        .phase2_preset
        .clone()
        .or_else(|| cfg.phase2.preset.clone());
    let fresh_args = |out: &Path| {
        let mut a = vec![
            "train".to_string(),
            "--config".into(),
            path_str(&ctx.phase2_config),
            "--run-dir".into(),
            path_str(&out.join("run")),
            "--device".into(),
            dev.clone(),
            "--set".into(),
            format!(
                "data.features={}",
                toml_string(&path_str(&out.join("features")))
            ),
        ];
        if let Some(p) = &preset {
            a.push("--preset".into());
            a.push(p.clone());
        }
        for s in &sets {
            a.push("--set".into());
            a.push(s.clone());
        }
        a
    };
    let [term_file, sentences_file, categories_file] = FEATURE_FILES;
    let inputs = [
        p1.text.join(term_file),
        p1.sentences.join(sentences_file),
        p1.categories.join(categories_file),
    ];
    // The feature stores are linked into the stage, so its command line does not name them: the
    // key must, or a variant that changes only Phase I (TextRank) would reuse the main variant's
    // training.
    let key = runner.key(
        "train",
        &fresh_args(Path::new("{out}")),
        &train_key_extra(&ctx.phase2_sha, &inputs),
    );
    let prepare = |out: &Path| -> Result<()> {
        let f = out.join("features");
        fs::create_dir_all(&f)?;
        for src in &inputs {
            let dst = f.join(src.file_name().expect("file name"));
            if !dst.exists() {
                fs::hard_link(src, &dst)
                    .or_else(|_| fs::copy(src, &dst).map(|_| ()))
                    .with_context(|| {
                        format!("cannot bring {} into {}", src.display(), f.display())
                    })?;
            }
        }
        let run = out.join("run");
        if run.exists() && !run.join("config.toml").exists() {
            // Interrupted before the run directory held anything to resume.
            fs::remove_dir_all(&run)?;
        }
        Ok(())
    };
    let train_cmds = |out: &Path| {
        let run = out.join("run");
        if run.join("test.json").exists() {
            Vec::new() // finished; only the stage marker was missing
        } else if run.join("config.toml").exists() {
            vec![Cmd {
                args: vec![
                    "train".into(),
                    "--resume".into(),
                    "--run-dir".into(),
                    path_str(&run),
                    "--device".into(),
                    dev.clone(),
                ],
                stdout_to: None,
            }]
        } else {
            vec![Cmd {
                args: fresh_args(out),
                stdout_to: None,
            }]
        }
    };
    let train = or_stop!(
        runner,
        runner.stage(name, "train", &key, true, &prepare, &train_cmds)
    );

    // Evaluation: embed the test split with the best checkpoint, then every size it holds.
    let eval = or_stop!(runner, runner.evaluate(name, &train.join("run"), &cfg.eval));
    let (plan, report) = read_evaluation(&eval)?;
    if name == MAIN_VARIANT && first_seed && cfg.synthetic && data.has_truth() {
        let dir = or_stop!(runner, runner.references(&eval, &data.recipe1m, &cfg.eval));
        c.references = read_references(&dir)?;
    }
    let page = copy_report(ctx, runner, &train.join("run"), name, seed)?;
    c.variants.push(VariantResult {
        name: name.to_string(),
        test_pairs: plan["test_pairs"].as_u64().unwrap_or(0) as usize,
        not_evaluated: not_evaluated_of(&plan),
        classes: p1.classes,
        preset: run_preset(&train.join("run"))?,
        eval: report,
        seed,
        not_run: None,
        paper_claim: v.paper_claim,
        baseline: v.baseline,
        report: Some(page),
    });
    Ok(Some(()))
}

/// The file name of a variant's report: its name (and seed) in lowercase words joined by `-`.
fn report_name(variant: &str, seed: Option<u64>) -> String {
    let mut words: Vec<String> = variant
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if let Some(s) = seed {
        words.push(format!("seed-{s}"));
    }
    format!("{}.html", words.join("-"))
}

/// Copies the training run's `report.html` (which `seje train` wrote at its end) into
/// `reports/` of the summary and the tables directories, every known place of the machine
/// written as its name (`{stages}`, `{data}`, `{root}`), so the committed copy holds none of its
/// paths. Returns the copy's path relative to the tables (`reports/NAME.html`).
fn copy_report(
    ctx: &RunContext,
    runner: &Runner,
    run_dir: &Path,
    variant: &str,
    seed: Option<u64>,
) -> Result<String> {
    let page = run_dir.join("report.html");
    let text = fs::read_to_string(&page).with_context(|| {
        format!(
            "{}: the run's report is missing (`seje report --run-dir {}` writes it)",
            page.display(),
            run_dir.display()
        )
    })?;
    let portable = runner.portable(&text);
    let relative = format!("reports/{}", report_name(variant, seed));
    for dir in [&ctx.summary_dir, &ctx.tables_dir] {
        let dst = dir.join(&relative);
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        write_atomic(&dst, portable.as_bytes())?;
    }
    Ok(relative)
}

/// `results.json` (first: a table that cannot be rendered loses no computed result), then the
/// rendered tables, into the summary and the tables directories; prints the main table.
fn write_results(
    ctx: &RunContext,
    runner: &Runner,
    c: Collected,
    wall: Instant,
) -> Result<Outcome> {
    let cfg = &ctx.cfg;
    let title = match &c.authors_architecture {
        Some((words, true)) => format!(
            "{} (the checkpoint holds: {words}). That is MSJE's architecture (their TSC paper, \
             which their README names for the released model): the paper column is MSJE's",
            cfg.title
        ),
        Some((words, false)) => format!(
            "{} (the checkpoint holds: {words}). Their README calls the released model that of \
             their TSC paper (MSJE), but this is not MSJE's architecture (ResNet-50, 1024-d \
             category vectors): the paper column is SEJE's",
            cfg.title
        ),
        None => cfg.title.clone(),
    };
    let compare_with = match &c.authors_architecture {
        Some((_, true)) => Some("msje".to_string()),
        _ => None,
    };
    let results = Results {
        config: ctx.config_label.clone(),
        title,
        synthetic: cfg.synthetic,
        banner: if cfg.synthetic {
            SYNTHETIC_BANNER.into()
        } else {
            String::new()
        },
        device: ctx.args.device.clone(),
        machine: machine(&ctx.seje),
        commit: ctx.commit.clone(),
        seje_sha256: ctx.seje_sha256.clone(),
        stages: runner.records.clone(),
        wall_seconds: wall.elapsed().as_secs_f64(),
        variants: c.variants,
        references: c.references,
        phase1_truth: c.phase1_truth,
        compare_with,
    };
    // (`cargo xtask tables` renders the tables again from results.json.)
    let json = serde_json::to_string_pretty(&results)? + "\n";
    let (summary_dir, tables_dir) = (&ctx.summary_dir, &ctx.tables_dir);
    for dir in [summary_dir, tables_dir] {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write_atomic(&dir.join("results.json"), json.as_bytes())?;
    }
    let paper = tables::PaperTables::load(&ctx.root.join("paper/tables"))?;
    let rendered = tables::render(&results, &paper)?;
    for dir in [summary_dir, tables_dir] {
        for (name, text) in &rendered {
            write_atomic(&dir.join(name), text.as_bytes())?;
        }
    }
    let cached = results.stages.iter().filter(|s| s.cached).count();
    eprintln!(
        "reproduce: {} stages ({} cached) in {:.1} s; tables in {} and {}",
        results.stages.len(),
        cached,
        results.wall_seconds,
        tables_dir.display(),
        summary_dir.display()
    );
    if let Some(main) = rendered.iter().find(|(n, _)| n == tables::MARKDOWN) {
        println!("{}", main.1);
    }
    Ok(Outcome {
        results: Some(results),
        summary_dir: summary_dir.clone(),
        tables_dir: tables_dir.clone(),
    })
}
