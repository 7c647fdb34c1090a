//! The retrieval commands: `seje index` (embed a split into a retrieval index) and `seje query`
//! (a photo finds recipes, a recipe finds photos).
//!
//! Spec: spec/retrieval.md.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use seje::retrieval::{photo_self_retrieval, RecipeQuery, Retriever};

use crate::cli::args::{PhaseOneArgs, RunSplitArgs};
use crate::cli::progress::Bar;

#[derive(clap::Args)]
pub struct IndexCommand {
    #[command(flatten)]
    from: RunSplitArgs,
    /// The index file to write (safetensors).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    phase1: PhaseOneArgs,
}

/// Runs `seje index`.
pub fn index(a: IndexCommand) -> Result<()> {
    seje::files::prepare_output(&a.out, seje::files::Output::File)?;
    let from = a.from;
    let start = Instant::now();
    let index = seje::retrieval::build_index(
        &from.run_dir,
        from.split,
        &from.checkpoint,
        from.device.as_deref(),
        &a.phase1.artefacts(),
    )
    .with_context(|| format!("indexing with {}", from.run_dir.display()))?;
    index.write(&a.out)?;
    println!(
        "{} pairs of the {} split, {}-d, written to {} ({:.1} s)",
        index.n,
        from.split.as_str(),
        index.d,
        a.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct QueryCommand {
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
}

/// Runs `seje query`.
pub fn query(a: QueryCommand) -> Result<()> {
    let start = Instant::now();
    let mut r = Retriever::open(
        &a.run_dir,
        &a.index,
        a.checkpoint.as_deref(),
        a.device.as_deref(),
        &a.phase1.artefacts(),
    )?;
    if a.each_gallery_photo {
        let bar = Bar::<()>::new(
            "{spinner} querying gallery photos: {pos}/{len} ({per_sec}, eta {eta})",
        )?;
        bar.set_length(r.index().n as u64);
        let summary = photo_self_retrieval(&mut r, &[1, 5, 10], &|n| bar.set_position(n as u64));
        bar.finish();
        let summary = summary?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            print!("{}", summary.render());
        }
        return Ok(());
    }
    let result = match (a.image, a.recipe, a.text) {
        (Some(photo), _, _) => r.query_image(&photo, a.top)?,
        (_, Some(file), _) => r.query_recipe(&RecipeQuery::read_json(&file)?, a.top)?,
        (_, _, Some(text)) => r.query_recipe(&RecipeQuery::from_text(&text)?, a.top)?,
        _ => anyhow::bail!("give --image, --recipe, --text or --each-gallery-photo"),
    };
    tracing::info!(
        seconds = start.elapsed().as_secs_f64(),
        "query answered (loading included)"
    );
    if let Some(path) = &a.html {
        let page = seje::retrieval::html::render(&result, r.index())?;
        std::fs::write(path, page).with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", result.render());
    }
    Ok(())
}
