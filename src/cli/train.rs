//! Phase II's commands: `seje train`, `seje step` (traced iterations), `seje import-checkpoint`
//! (the authors' checkpoint as a run) and `seje embed`.
//!
//! Spec: spec/phase2-training-loop.md (`train`), spec/phase2-training-step.md (`step`),
//! spec/phase2-encoders.md (`import-checkpoint`, `embed`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use seje::data::splits::Partition;
use seje::phase2::config::TrainConfig;

use crate::cli::args::RunSplitArgs;
use crate::cli::progress::{Bar, STAGES};

#[derive(clap::Args)]
pub struct TrainCommand {
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
}

/// Runs `seje train`.
pub fn train(a: TrainCommand) -> Result<()> {
    use seje::phase2::train::{Stage, TrainOptions};
    let mut set = a.set;
    let explicit = a.device.is_some();
    if let Some(d) = a.device {
        set.push(format!("run.device=\"{d}\""));
    }
    let config = match a.config {
        Some(c) => c,
        None => seje::phase2::run_dir::RunDir::config_of(&a.run_dir)?,
    };
    let cfg = TrainConfig::load_with_preset(&config, a.preset.as_deref(), &set)?;
    if cfg.run.device == "cpu" && seje::phase2::throughput::sized_for_a_gpu(&cfg) && !a.resume {
        let estimate = seje::phase2::throughput::estimate_step(&cfg, &config)?;
        seje::runtime::heavy::announce(
            &estimate,
            explicit,
            "`--config paper/configs/synthetic.toml` runs the whole method on the generated \
             benchmark with a small backbone in minutes; on a GPU, --device cuda",
        )?;
        eprintln!("note: {}: {}", estimate.job, estimate.describe());
    }
    let opts = TrainOptions {
        resume: a.resume,
        force: a.force,
    };
    let bar = if a.no_progress {
        Bar::hidden()
    } else {
        Bar::new(STAGES)?
    };
    let epochs = cfg.schedule.max_epochs;
    let result = seje::phase2::train::train(&cfg, &a.run_dir, &opts, &|s, n| {
        bar.report(s, n, |s| match s {
            Stage::Train { epoch, batches } => (
                format!("epoch {epoch}/{epochs} training (batches)"),
                Some(batches),
            ),
            Stage::Validation { epoch, pairs } => (
                format!("epoch {epoch}/{epochs} validation (pairs)"),
                Some(pairs),
            ),
            Stage::Test { pairs } => ("test split (pairs)".to_string(), Some(pairs)),
        })
    });
    bar.finish();
    let s = result.with_context(|| format!("training in {}", a.run_dir.display()))?;
    println!("run        {}", s.run_dir.display());
    println!("epochs     {} ({})", s.epochs, s.stopped);
    if let Some((score, epoch)) = s.best {
        println!("best       epoch {epoch}, validation score {score:.3}");
    }
    if let Some(report) = &s.test {
        println!("test of the best checkpoint (written to test.json):");
        print!("{}", seje::eval::report::render_table(report));
    }
    let files = seje::phase2::report::write_report(&s.run_dir)?;
    println!(
        "report     {} (curves: {})",
        files.html.display(),
        files.curves.display()
    );
    Ok(())
}

/// Arguments of `seje report`.
#[derive(clap::Args)]
pub struct ReportCommand {
    /// Run directory of `seje train` (its metrics.jsonl, test.json, config.toml, manifest.json).
    #[arg(long)]
    run_dir: PathBuf,
}

/// Runs `seje report`: writes RUN/curves.svg and RUN/report.html again from the run's files.
pub fn report(a: ReportCommand) -> Result<()> {
    let files = seje::phase2::report::write_report(&a.run_dir)
        .with_context(|| format!("reporting on {}", a.run_dir.display()))?;
    println!(
        "{} epochs: {} and {}",
        files.epochs,
        files.html.display(),
        files.curves.display()
    );
    Ok(())
}

/// The behaviour preset and the overrides of a configuration (`seje step`,
/// `seje import-checkpoint`).
#[derive(clap::Args)]
struct BehaviourArgs {
    /// The behaviour preset under a layer config: `paper`, `authors-code` or a preset file.
    #[arg(long)]
    preset: Option<String>,
    /// Override a config value, e.g. --set data.features="DIR" (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(clap::Args)]
pub struct StepCommand {
    /// Training configuration (TOML; `paper/configs/*.toml`).
    #[arg(long)]
    config: PathBuf,
    #[command(flatten)]
    behaviour: BehaviourArgs,
    /// Iterations: the first N batches of the split's first training epoch.
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    /// Split whose batches are used (training transforms and order whatever the split).
    #[arg(long, default_value = "train")]
    split: Partition,
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
}

/// Runs `seje step`.
pub fn step(a: StepCommand) -> Result<()> {
    seje::files::prepare_output(&a.out, seje::files::Output::Dir)?;
    let cfg =
        TrainConfig::load_with_preset(&a.config, a.behaviour.preset.as_deref(), &a.behaviour.set)?;
    let opts = seje::phase2::trace::TraceOptions {
        iterations: a.iterations,
        split: a.split,
        init: a.init,
        device: a.device,
    };
    let s = seje::phase2::trace::trace(&cfg, &a.out, &opts)
        .with_context(|| format!("tracing {} iterations", a.iterations))?;
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
    Ok(())
}

#[derive(clap::Args)]
pub struct ImportCommand {
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
    #[command(flatten)]
    behaviour: BehaviourArgs,
    /// The run directory to create (must not hold a run).
    #[arg(long)]
    run_dir: PathBuf,
}

/// Runs `seje import-checkpoint`.
pub fn import_checkpoint(a: ImportCommand) -> Result<()> {
    // Its parent only: the import creates the run directory itself, and a refused import must
    // leave none behind.
    seje::files::prepare_output(&a.run_dir, seje::files::Output::File)?;
    let record = seje::phase2::authors_import::import_checkpoint(
        &a.checkpoint,
        a.discriminator.as_deref(),
        &a.config,
        a.behaviour.preset.as_deref(),
        &a.behaviour.set,
        &a.run_dir,
    )
    .with_context(|| format!("importing {}", a.checkpoint.display()))?;
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
    println!("wrote         {} (checkpoint best)", a.run_dir.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct EmbedCommand {
    #[command(flatten)]
    from: RunSplitArgs,
    /// Output file (safetensors: `image` and `recipe` [N, D] float32, ids in the metadata).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `seje embed`.
pub fn embed(a: EmbedCommand) -> Result<()> {
    seje::files::prepare_output(&a.out, seje::files::Output::File)?;
    let from = a.from;
    let emb = seje::phase2::embed::embed_run(
        &from.run_dir,
        from.split,
        &from.checkpoint,
        from.device.as_deref(),
    )
    .with_context(|| format!("embedding with {}", from.run_dir.display()))?;
    emb.write_safetensors(&a.out)?;
    println!(
        "{} pairs of the {} split, {}-d, written to {}",
        emb.n,
        from.split.as_str(),
        emb.d,
        a.out.display()
    );
    Ok(())
}
