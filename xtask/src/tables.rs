//! The regenerated tables: the paper's numbers (`paper/tables/*.toml`, each with its source and
//! verified flag) next to a reproduce run's (`results.json`), with the difference, as Markdown,
//! CSV and the MedR-vs-test-size figure as SVG; and `cargo xtask tables [--check]`, which renders
//! the committed `paper/regenerated/*/results.json` again and writes or compares the files.
//!
//! Spec: spec/reproduce.md (section "Tables"). Rendering is a pure function of the results and
//! the paper's tables: no clock, no paths of the machine, fixed number formats, so a committed
//! table is stale exactly when rendering it again gives other bytes.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::results::{fmt_metric, metric_of, Results, VariantResult, DIRECTIONS, SYNTHETIC_BANNER};
use crate::svg::{nice_step, trim_number};

/// The Markdown file of a rendering.
pub const MARKDOWN: &str = "tables.md";
/// The figure.
pub const FIGURE: &str = "medr_vs_test_size.svg";

/// The metrics of a direction, as the report names them, and in words.
const METRICS: [(&str, &str); 4] = [
    ("medr", "MedR"),
    ("r1", "R@1"),
    ("r5", "R@5"),
    ("r10", "R@10"),
];

/// `paper/tables/seje_main.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct MainTable {
    /// Where the values come from.
    pub source: String,
    /// Whether the table as a whole was checked.
    pub verified: bool,
    /// Columns of `rows`.
    pub columns: Vec<String>,
    /// `[test_size, direction, medr, r1, r5, r10]`.
    pub rows: Vec<(u64, String, f64, f64, f64, f64)>,
    /// Cells checked against a source.
    #[serde(default)]
    pub verified_cells: Vec<VerifiedCell>,
}

/// One verified cell of [`MainTable`].
#[derive(Debug, Clone, Deserialize)]
pub struct VerifiedCell {
    /// Test-set size.
    pub test_size: u64,
    /// Direction.
    pub direction: String,
    /// Column name.
    pub column: String,
    /// Where it was checked.
    pub source: String,
}

/// `paper/tables/medr_vs_test_size.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScalingTable {
    /// Where the values come from.
    pub source: String,
    /// Whether they were checked.
    pub verified: bool,
    /// `[size, i→r SEJE, i→r ACME, r→i SEJE, r→i ACME]`.
    pub rows: Vec<(u64, f64, f64, f64, f64)>,
}

/// The paper's tables the rendering uses.
#[derive(Debug, Clone)]
pub struct PaperTables {
    /// SEJE's main table.
    pub main: MainTable,
    /// MSJE's main table (the authors' TSC model), for a released checkpoint of its
    /// architecture.
    pub msje: MainTable,
    /// The scalability figure.
    pub scaling: ScalingTable,
}

impl PaperTables {
    /// Reads them from `dir` (`paper/tables`).
    pub fn load(dir: &Path) -> Result<Self> {
        let read = |name: &str| -> Result<String> {
            let p = dir.join(name);
            fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
        };
        let main: MainTable =
            toml::from_str(&read("seje_main.toml")?).context("paper/tables/seje_main.toml")?;
        let scaling: ScalingTable = toml::from_str(&read("medr_vs_test_size.toml")?)
            .context("paper/tables/medr_vs_test_size.toml")?;
        let msje: MainTable =
            toml::from_str(&read("msje_main.toml")?).context("paper/tables/msje_main.toml")?;
        for (name, t) in [("seje_main.toml", &main), ("msje_main.toml", &msje)] {
            if t.columns != ["test_size", "direction", "medr", "r1", "r5", "r10"] {
                bail!(
                    "paper/tables/{name}: columns {:?} are not the ones the tables read",
                    t.columns
                );
            }
        }
        Ok(Self {
            main,
            scaling,
            msje,
        })
    }

    /// The main table results are compared with: MSJE's when `compare_with` says `msje`.
    fn main_table(&self, compare_with: Option<&str>) -> (&MainTable, &'static str, &'static str) {
        match compare_with {
            Some("msje") => (&self.msje, "msje_main.toml", "MSJE"),
            _ => (&self.main, "seje_main.toml", "SEJE"),
        }
    }

    fn main_value(
        &self,
        compare_with: Option<&str>,
        size: u64,
        dir: &str,
        metric: &str,
    ) -> Option<(f64, bool)> {
        let table = self.main_table(compare_with).0;
        let row = table.rows.iter().find(|r| r.0 == size && r.1 == dir)?;
        let v = match metric {
            "medr" => row.2,
            "r1" => row.3,
            "r5" => row.4,
            "r10" => row.5,
            _ => return None,
        };
        let verified = table.verified
            || table
                .verified_cells
                .iter()
                .any(|c| c.test_size == size && c.direction == dir && c.column == metric);
        Some((v, verified))
    }
}

/// A metric of a variant at a size: MedR as reported, R@K in percent.
fn ours(v: &VariantResult, size: u64, dir: &str, metric: &str) -> Option<f64> {
    metric_of(&v.eval, size, dir, metric)
}

/// The four metrics of one direction of an evaluation report at a size: as Markdown cells
/// (` | x` each, `—` where missing) and as comma-separated CSV values (empty where missing).
fn direction_cells(eval: &serde_json::Value, size: u64, dir: &str) -> (String, String) {
    let vals: Vec<Option<f64>> = METRICS
        .iter()
        .map(|(m, _)| metric_of(eval, size, dir, m))
        .collect();
    let cells = METRICS
        .iter()
        .zip(&vals)
        .map(|((m, _), x)| {
            format!(
                " | {}",
                x.map(|x| fmt_metric(m, x)).unwrap_or_else(|| "—".into())
            )
        })
        .collect();
    let values = vals
        .iter()
        .map(|x| x.map(|x| format!("{x:.4}")).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(",");
    (cells, values)
}

fn evaluated_sizes(v: &VariantResult) -> Vec<u64> {
    v.eval
        .get("sizes")
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.get("size").and_then(|x| x.as_u64()))
                .collect()
        })
        .unwrap_or_default()
}

fn size_label(size: u64) -> String {
    if size >= 1000 && size.is_multiple_of(1000) {
        format!("{}K", size / 1000)
    } else {
        size.to_string()
    }
}

/// `preset NAME` (`, seed S` with seeds), or `preset unrecorded` for results written before
/// runs recorded it.
fn preset_label(v: &VariantResult) -> String {
    if v.preset.is_empty() {
        "preset unrecorded".into()
    } else {
        format!("preset {}{}", v.preset, seed_label(v))
    }
}

/// `, seed S` for a run of a configuration with seeds, otherwise nothing.
fn seed_label(v: &VariantResult) -> String {
    v.seed.map(|s| format!(", seed {s}")).unwrap_or_default()
}

fn not_evaluated(v: &VariantResult) -> String {
    format!("not evaluated (test split: {} pairs)", v.test_pairs)
}

/// Renders every file: `(file name, contents)`, in a fixed order.
pub fn render(r: &Results, paper: &PaperTables) -> Result<Vec<(String, String)>> {
    let main = r
        .variants
        .first()
        .context("results hold no variant (the main configuration is missing)")?;
    let banner_md = if r.synthetic {
        format!("> **{SYNTHETIC_BANNER}.** These numbers measure this package's pipeline on generated data; they say nothing about the paper's claims.\n\n")
    } else {
        String::new()
    };
    let banner_csv = if r.synthetic {
        format!("# {SYNTHETIC_BANNER}\n")
    } else {
        String::new()
    };

    let compare_with = r.compare_with.as_deref();
    let (main_table, main_file, model) = paper.main_table(compare_with);
    let mut md = String::new();
    md.push_str(&format!("# Regenerated tables: {}\n\n", r.title));
    md.push_str(&banner_md);
    md.push_str(&format!(
        "Written by `cargo xtask reproduce --config {}` (spec/reproduce.md) from `results.json` \
         beside this file; `cargo xtask tables --check` fails when this file is stale. Device \
         `{}`, commit `{}`, `seje` binary SHA-256 `{}…`. Test split: {} pairs. Paper values: \
         `paper/tables/{}` (verified: {}; cells marked \"yes\" are verified, see its \
         `verified_cells`) and `paper/tables/medr_vs_test_size.toml` (verified: {}). Phase II \
         behaviour of every row: its preset (spec/phase2-training-config.md); the main results' \
         is `{}`.\n\n",
        r.config,
        r.device,
        r.commit,
        &r.seje_sha256[..r.seje_sha256.len().min(12)],
        main.test_pairs,
        main_file,
        main_table.verified,
        paper.scaling.verified,
        if main.preset.is_empty() {
            "unrecorded"
        } else {
            &main.preset
        },
    ));

    // Main table.
    let mut main_csv = banner_csv.clone();
    main_csv.push_str(
        "test_size,direction,metric,paper,paper_verified,ours,ours_preset,ours_minus_paper\n",
    );
    md.push_str(&format!(
        "## Main results: {model} on the 1K and 10K test sets (ours: {})\n\n",
        preset_label(main)
    ));
    md.push_str(
        "R@K in percent. Paper: the paper's value; verified: whether that value was checked \
         against a source.\n\n",
    );
    md.push_str("| test set | direction | metric | paper | verified | ours | ours − paper |\n");
    md.push_str("|---|---|---|---|---|---|---|\n");
    for size in [1000u64, 10000] {
        for (dir, dir_words) in DIRECTIONS {
            for (metric, metric_words) in METRICS {
                let p = paper.main_value(compare_with, size, dir, metric);
                let o = ours(main, size, dir, metric);
                let (p_s, v_s) = match p {
                    Some((x, v)) => (format!("{x:.1}"), if v { "yes" } else { "no" }),
                    None => ("—".into(), "—"),
                };
                let o_s = o
                    .map(|x| fmt_metric(metric, x))
                    .unwrap_or_else(|| not_evaluated(main));
                let d_s = match (p, o) {
                    (Some((p, _)), Some(o)) => format!("{:+.2}", o - p),
                    _ => "—".into(),
                };
                md.push_str(&format!(
                    "| {} | {dir_words} | {metric_words} | {p_s} | {v_s} | {o_s} | {d_s} |\n",
                    size_label(size)
                ));
                main_csv.push_str(&format!(
                    "{size},{dir},{metric},{},{},{},{},{}\n",
                    p.map(|(x, _)| format!("{x:.1}")).unwrap_or_default(),
                    p.map(|(_, v)| v.to_string()).unwrap_or_default(),
                    o.map(|x| format!("{x:.4}")).unwrap_or_default(),
                    main.preset,
                    match (p, o) {
                        (Some((p, _)), Some(o)) => format!("{:.4}", o - p),
                        _ => String::new(),
                    }
                ));
            }
        }
    }

    // Scaling: the paper's SEJE and ACME, ours, and our baseline in ACME's role when a variant
    // is marked so.
    let baseline = r
        .variants
        .iter()
        .find(|v| v.baseline && v.not_run.is_none() && v.seed == main.seed);
    let mut sizes: BTreeSet<u64> = paper.scaling.rows.iter().map(|r| r.0).collect();
    sizes.extend(evaluated_sizes(main));
    let mut scaling_csv = banner_csv.clone();
    scaling_csv.push_str("test_size,direction,paper_seje,paper_acme,ours,ours_preset");
    scaling_csv.push_str(if baseline.is_some() {
        ",ours_baseline,ours_baseline_preset\n"
    } else {
        "\n"
    });
    md.push_str(&format!(
        "\n## MedR as the test set grows (ours: {})\n\n",
        preset_label(main)
    ));
    md.push_str(
        "The paper's scalability figure (SEJE and ACME, verified) and ours, MedR (lower is \
         better).",
    );
    match baseline {
        Some(b) => md.push_str(&format!(
            " Our baseline in ACME's role: *{}* ({}).\n\n\
             | test set | image→recipe SEJE (paper) | ACME (paper) | ours | ours: baseline | recipe→image SEJE (paper) | ACME (paper) | ours | ours: baseline |\n\
             |---|---|---|---|---|---|---|---|---|\n",
            b.name,
            preset_label(b)
        )),
        None => md.push_str(
            "\n\n| test set | image→recipe SEJE (paper) | ACME (paper) | ours | recipe→image SEJE (paper) | ACME (paper) | ours |\n\
             |---|---|---|---|---|---|---|\n",
        ),
    }
    for &size in &sizes {
        let prow = paper.scaling.rows.iter().find(|r| r.0 == size);
        let p = |x: Option<f64>| x.map(|x| format!("{x:.1}")).unwrap_or_else(|| "—".into());
        let o = |v: &VariantResult, dir: &str| {
            ours(v, size, dir, "medr")
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "—".into())
        };
        let b = |dir: &str| {
            baseline
                .map(|b| format!(" {} |", o(b, dir)))
                .unwrap_or_default()
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} |{} {} | {} | {} |{}\n",
            size_label(size),
            p(prow.map(|r| r.1)),
            p(prow.map(|r| r.2)),
            o(main, "image_to_recipe"),
            b("image_to_recipe"),
            p(prow.map(|r| r.3)),
            p(prow.map(|r| r.4)),
            o(main, "recipe_to_image"),
            b("recipe_to_image"),
        ));
        for (dir, seje, acme) in [
            ("image_to_recipe", prow.map(|r| r.1), prow.map(|r| r.2)),
            ("recipe_to_image", prow.map(|r| r.3), prow.map(|r| r.4)),
        ] {
            let medr = |v: &VariantResult| {
                ours(v, size, dir, "medr")
                    .map(|x| format!("{x:.4}"))
                    .unwrap_or_default()
            };
            scaling_csv.push_str(&format!(
                "{size},{dir},{},{},{},{}",
                seje.map(|x| format!("{x:.1}")).unwrap_or_default(),
                acme.map(|x| format!("{x:.1}")).unwrap_or_default(),
                medr(main),
                main.preset,
            ));
            match baseline {
                Some(b) => scaling_csv.push_str(&format!(",{},{}\n", medr(b), b.preset)),
                None => scaling_csv.push('\n'),
            }
        }
    }
    if !main.not_evaluated.is_empty() {
        md.push_str(&format!(
            "\nNot evaluated: {}.\n",
            main.not_evaluated.join("; ")
        ));
    }
    md.push_str(&format!("\n![MedR vs size of the test set]({FIGURE})\n"));

    // Ablations.
    let mut abl_csv = banner_csv.clone();
    abl_csv.push_str("variant,preset,test_size,direction,medr,r1,r5,r10\n");
    let abl_size = if evaluated_sizes(main).contains(&1000) {
        Some(1000)
    } else {
        evaluated_sizes(main).into_iter().max()
    };
    let seeded = r.variants.iter().any(|v| v.seed.is_some());
    let mut seeded_files = Vec::new();
    match abl_size {
        Some(size) if seeded => {
            let (section, per_seed, summary, chart) =
                crate::ablations::render(r, size, &banner_csv);
            md.push_str(&section);
            abl_csv = per_seed;
            seeded_files.push(("ablations_summary.csv".to_string(), summary));
            seeded_files.push((crate::ablations::CHART.to_string(), chart));
        }
        _ => {
            md.push_str("\n## Ablations\n\n");
            match abl_size {
                None => md.push_str(&format!("No size evaluated: {}.\n", not_evaluated(main))),
                Some(size) => {
                    md.push_str(&format!(
                    "Test set of {} pairs, R@K in percent. The paper's ablation tables are not \
                     transcribed (spec/reproduce.md), so there is no paper column.\n\n",
                    size_label(size)
                ));
                    md.push_str("| variant | preset | image→recipe MedR | R@1 | R@5 | R@10 | recipe→image MedR | R@1 | R@5 | R@10 |\n");
                    md.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
                    for v in &r.variants {
                        let preset = if v.preset.is_empty() {
                            "unrecorded"
                        } else {
                            &v.preset
                        };
                        let mut row = format!("| {} (C = {}) | {preset}", v.name, v.classes);
                        for (dir, _) in DIRECTIONS {
                            let (cells, values) = direction_cells(&v.eval, size, dir);
                            row.push_str(&cells);
                            abl_csv.push_str(&format!(
                                "\"{}\",{},{size},{dir},{values}\n",
                                v.name.replace('"', "\"\""),
                                v.preset,
                            ));
                        }
                        row.push_str(" |\n");
                        md.push_str(&row);
                    }
                }
            }
        }
    }

    md.push_str(&reports_section(r));
    let references = references_section(r);
    let truth = phase1_truth_section(r);

    // Stages.
    md.push_str(&references.0);
    md.push_str(&truth.0);
    md.push_str("\n## Stages\n\n");
    md.push_str("Seconds are those of the run that computed the stage.\n\n");
    md.push_str("| stage | first needed by | key | seconds |\n|---|---|---|---|\n");
    for s in &r.stages {
        md.push_str(&format!(
            "| {} | {} | `{}` | {:.1} |\n",
            s.stage,
            s.variant,
            &s.key[..s.key.len().min(16)],
            s.seconds
        ));
    }

    let mut files = vec![
        (MARKDOWN.to_string(), md),
        ("main.csv".to_string(), main_csv),
        ("medr_vs_test_size.csv".to_string(), scaling_csv),
        ("ablations.csv".to_string(), abl_csv),
        (FIGURE.to_string(), figure(r, paper, main, baseline)),
    ];
    files.extend(seeded_files);
    if !r.references.is_empty() {
        files.push((
            "references.csv".to_string(),
            banner_csv.clone() + &references.1,
        ));
    }
    if r.phase1_truth.is_some() {
        files.push(("phase1_truth.csv".to_string(), banner_csv + &truth.1));
    }
    Ok(files)
}

/// The section "Run reports": a link to each trained variant's report, copied beside the tables
/// by `reproduce` (spec/phase2-run-report.md). Empty when no variant has one (results written
/// before reports existed, or a run that trained nothing).
fn reports_section(r: &Results) -> String {
    let with: Vec<&VariantResult> = r.variants.iter().filter(|v| v.report.is_some()).collect();
    if with.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n## Run reports\n\nEach trained variant's run as `seje report` draws it: every loss term, \
         the learning rate and the validation MedR and R@1/5/10 per epoch, the test metrics, the \
         configuration and the manifest (spec/phase2-run-report.md). Copied beside this file, the \
         machine's paths written `{stages}`, `{data}` and `{root}`.\n\n\
         | variant | seed | report |\n|---|---|---|\n",
    );
    for v in with {
        let page = v.report.as_deref().unwrap_or_default();
        md.push_str(&format!(
            "| {} | {} | [{page}]({page}) |\n",
            v.name,
            v.seed.map_or_else(|| "—".to_string(), |s| s.to_string())
        ));
    }
    md
}

/// The section "Phase I against the generator's truth" and its CSV rows (output, measure,
/// value): key terms against each recipe's ingredients, actions and utensils, the categoriser's
/// top-1 (f_cat's class) against the true dish, the categories against the dishes
/// (spec/eval-phase1-truth.md). Empty for real data.
fn phase1_truth_section(r: &Results) -> (String, String) {
    let mut csv = String::from("output,measure,value\n");
    let Some(t) = &r.phase1_truth else {
        return (String::new(), csv);
    };
    let m = &t.measures;
    let pct = |v: &serde_json::Value| {
        v.as_f64()
            .map_or("-".to_string(), |x| format!("{:.1}%", 100.0 * x))
    };
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let mut push = |output: &str, measure: &str, v: String| {
        rows.push((output.to_string(), measure.to_string(), v));
    };
    let k = &m["key_terms"];
    if k.is_object() {
        push(
            &format!("key terms of {} recipes", k["recipes"]),
            "precision / recall",
            format!("{} / {}", pct(&k["precision"]), pct(&k["recall"])),
        );
        for kind in k["kinds"].as_array().into_iter().flatten() {
            let name = kind["kind"].as_str().unwrap_or("?");
            if name == "other" {
                push(
                    "key terms of no kind of the world",
                    "extracted",
                    kind["extracted"].to_string(),
                );
            } else {
                push(
                    &format!("{name} terms"),
                    "precision / recall",
                    format!("{} / {}", pct(&kind["precision"]), pct(&kind["recall"])),
                );
            }
        }
        push(
            "f_term (rating-weighted)",
            "rating mass on true terms",
            pct(&k["rating_share"]),
        );
        let wrong: Vec<String> = k["wrong"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| Some(format!("{} {}", w.get(0)?.as_str()?, w.get(1)?)))
            .collect();
        push("key terms", "most often wrong", wrong.join(", "));
    }
    if let Some(top1) = t.categoriser_top1 {
        push(
            "categoriser, its Food-101-format test split",
            "top-1",
            pct(&serde_json::json!(top1)),
        );
    }
    let p = &m["predictions"];
    if p.is_object() {
        push(
            "f_cat: categoriser top-1 on the benchmark's photographs",
            "true dish, all splits / test split",
            format!("{} / {}", pct(&p["top1"]), pct(&p["test_top1"])),
        );
    }
    let c = &m["categories"];
    if c.is_object() {
        push(
            &format!(
                "{} categories of {} pairs, {} dishes",
                c["categories"], c["pairs"], c["dishes"]
            ),
            "purity / inverse purity / NMI",
            format!(
                "{} / {} / {}",
                pct(&c["purity"]),
                pct(&c["inverse_purity"]),
                c["nmi"].as_f64().map_or("-".into(), |x| format!("{x:.3}"))
            ),
        );
    }
    let mut md = String::from(
        "\n## Phase I against the generator's truth\n\n\
         Each Phase I output of the main variant measured against what the generator wrote \
         (spec/eval-phase1-truth.md): key terms against each recipe's ingredients, the actions \
         and utensils its instructions name; the categoriser's top-1 class, whose word2vec \
         vector is f_cat, against each photograph's dish; the assigned categories against the \
         dishes.\n\n| Phase I output | measure | value |\n|---|---|---|\n",
    );
    for (o, m, v) in rows {
        md.push_str(&format!("| {o} | {m} | {v} |\n"));
        let q = |x: &str| format!("\"{}\"", x.replace('"', "\"\""));
        csv.push_str(&format!("{},{},{}\n", q(&o), q(&m), q(&v)));
    }
    (md, csv)
}

/// The section "What the generator knows is achievable" and its CSV rows: the oracle, every
/// variant and the category ceiling at each size the main variant was evaluated at
/// (spec/eval-protocol.md). Empty without references (real data).
fn references_section(r: &Results) -> (String, String) {
    let mut csv = String::from("ranking,test_size,direction,medr,r1,r5,r10\n");
    let (Some(main), false) = (r.variants.first(), r.references.is_empty()) else {
        return (String::new(), csv);
    };
    let mut md = String::from(
        "\n## What the generator knows is achievable\n\n\
         Reference rankings built from the synthetic benchmark's truth on the same test pairs and \
         subsets (spec/eval-protocol.md): the *oracle* knows each item's dish and the ingredients \
         its photographs show; the *category ceiling* knows each item's dish and orders the items \
         of a dish at random, which is what recognising the dish alone achieves. A model below \
         the ceiling's MedR retrieves instances, not only dishes. R@K in percent.\n\n",
    );
    md.push_str("| test size | ranking | image→recipe MedR | R@1 | R@5 | R@10 | recipe→image MedR | R@1 | R@5 | R@10 |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    let oracle = r.references.iter().filter(|x| x.name == "oracle");
    let rest = r.references.iter().filter(|x| x.name != "oracle");
    for size in evaluated_sizes(main) {
        let rows: Vec<(String, &serde_json::Value)> = oracle
            .clone()
            .map(|x| (x.name.clone(), &x.eval))
            .chain(
                // With seeds, each variant's run of the main variant's first seed.
                r.variants
                    .iter()
                    .filter(|v| v.not_run.is_none() && v.seed == main.seed)
                    .map(|v| (format!("ours: {}{}", v.name, seed_label(v)), &v.eval)),
            )
            .chain(rest.clone().map(|x| (x.name.clone(), &x.eval)))
            .collect();
        for (name, eval) in rows {
            let mut row = format!("| {} | {name}", size_label(size));
            for (dir, _) in DIRECTIONS {
                let (cells, values) = direction_cells(eval, size, dir);
                row.push_str(&cells);
                csv.push_str(&format!(
                    "\"{}\",{size},{dir},{values}\n",
                    name.replace('"', "\"\"")
                ));
            }
            row.push_str(" |\n");
            md.push_str(&row);
        }
    }
    (md, csv)
}

/// The figure's MedR axis: linear from 0, or logarithmic over whole decades when the values
/// span two decades or more (a baseline thousands of times above the paper's values would
/// otherwise flatten every other series onto the axis).
#[derive(Debug, Clone, Copy, PartialEq)]
enum YAxis {
    /// From 0 to `max` in steps of `step`.
    Linear { max: f64, step: f64 },
    /// From 10^`lo` to 10^`hi`, a tick at every power of ten.
    Log { lo: i32, hi: i32 },
}

impl YAxis {
    fn for_range(min: f64, max: f64) -> Self {
        if min > 0.0 && max / min >= 100.0 {
            YAxis::Log {
                lo: min.log10().floor() as i32,
                hi: (max.log10().ceil() as i32).max(min.log10().floor() as i32 + 1),
            }
        } else {
            let step = nice_step(max / 5.0);
            YAxis::Linear {
                max: (max / step).ceil() * step,
                step,
            }
        }
    }

    /// Where `y` lies on the axis, 0 at the bottom and 1 at the top.
    fn fraction(self, y: f64) -> f64 {
        match self {
            YAxis::Linear { max, .. } => y / max,
            YAxis::Log { lo, hi } => (y.max(1e-12).log10() - lo as f64) / (hi - lo) as f64,
        }
    }

    fn ticks(self) -> Vec<f64> {
        match self {
            YAxis::Linear { max, step } => {
                let (mut ticks, mut y) = (Vec::new(), 0.0);
                while y <= max + 1e-9 {
                    ticks.push(y);
                    y += step;
                }
                ticks
            }
            YAxis::Log { lo, hi } => (lo..=hi).map(|e| 10f64.powi(e)).collect(),
        }
    }

    fn label(self) -> &'static str {
        match self {
            YAxis::Linear { .. } => "MedR",
            YAxis::Log { .. } => "MedR (log scale)",
        }
    }
}

/// A line of the figure: label, colour, dashed, points (size, MedR).
type Series = (String, &'static str, bool, Vec<(f64, f64)>);

/// The MedR-vs-test-size figure (SVG): the paper's four series, ours and our baseline's.
fn figure(
    r: &Results,
    paper: &PaperTables,
    main: &VariantResult,
    baseline: Option<&VariantResult>,
) -> String {
    let (w, h) = (760.0, 420.0);
    let (left, right, top, bottom) = (60.0, 250.0, 50.0, 50.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    // The paper's four columns (SEJE i→r, ACME i→r, SEJE r→i, ACME r→i), drawn in this order.
    let paper_series = [
        ("SEJE image→recipe (paper)", "#1f77b4", false, 0),
        ("SEJE recipe→image (paper)", "#1f77b4", true, 2),
        ("ACME image→recipe (paper)", "#ff7f0e", false, 1),
        ("ACME recipe→image (paper)", "#ff7f0e", true, 3),
    ];
    let mut series: Vec<Series> = paper_series
        .into_iter()
        .map(|(label, colour, dashed, i)| {
            let points = paper
                .scaling
                .rows
                .iter()
                .map(|r| (r.0 as f64, [r.1, r.2, r.3, r.4][i]))
                .collect();
            (label.to_string(), colour, dashed, points)
        })
        .collect();
    let ours_series = std::iter::once((main, "ours", "#2ca02c"))
        .chain(baseline.map(|b| (b, "ours: baseline", "#7f7f7f")));
    for (v, who, colour) in ours_series {
        for (i, (dir, words)) in DIRECTIONS.iter().enumerate() {
            let pts: Vec<(f64, f64)> = evaluated_sizes(v)
                .into_iter()
                .filter_map(|s| ours(v, s, dir, "medr").map(|m| (s as f64, m)))
                .collect();
            series.push((
                format!("{who} ({}) {words}", preset_label(v)),
                colour,
                i == 1,
                pts,
            ));
        }
    }
    let xmax = series
        .iter()
        .flat_map(|s| s.3.iter().map(|p| p.0))
        .fold(50_000.0f64, f64::max);
    let ymax_raw = series
        .iter()
        .flat_map(|s| s.3.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let ymin_raw = series
        .iter()
        .flat_map(|s| s.3.iter().map(|p| p.1))
        .filter(|y| *y > 0.0)
        .fold(ymax_raw, f64::min);
    let axis = YAxis::for_range(ymin_raw, ymax_raw);
    let xs = |x: f64| left + pw * x / xmax;
    let ys = |y: f64| top + ph - ph * axis.fraction(y);
    let mut s = String::new();
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    ));
    s.push_str(&format!(
        "<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"
    ));
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"20\" font-size=\"14\" text-anchor=\"middle\">MedR vs size of the test set</text>\n",
        left + pw / 2.0
    ));
    if r.synthetic {
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"38\" fill=\"#c00000\" text-anchor=\"middle\">{SYNTHETIC_BANNER}</text>\n",
            left + pw / 2.0
        ));
    }
    // Axes, grid and ticks.
    s.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n",
        top + ph,
        left + pw,
        top + ph
    ));
    s.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{:.1}\" stroke=\"black\"/>\n",
        top + ph
    ));
    let mut x = 0.0;
    while x <= xmax + 1e-9 {
        s.push_str(&format!(
            "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"black\"/><text x=\"{0:.1}\" y=\"{3:.1}\" text-anchor=\"middle\">{4}</text>\n",
            xs(x),
            top + ph,
            top + ph + 5.0,
            top + ph + 18.0,
            size_label(x as u64)
        ));
        x += 10_000.0;
    }
    for y in axis.ticks() {
        s.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#dddddd\"/><text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{4}</text>\n",
            ys(y),
            left + pw,
            left - 6.0,
            ys(y) + 4.0,
            trim_number(y)
        ));
    }
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">test set size (pairs)</text>\n",
        left + pw / 2.0,
        h - 12.0
    ));
    s.push_str(&format!(
        "<text x=\"16\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1})\">{}</text>\n",
        top + ph / 2.0,
        top + ph / 2.0,
        axis.label()
    ));
    // Series and legend.
    for (i, (label, colour, dashed, pts)) in series.iter().enumerate() {
        let dash = if *dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        if pts.len() > 1 {
            let path: Vec<String> = pts
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", xs(*x), ys(*y)))
                .collect();
            s.push_str(&format!(
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\n",
                path.join(" ")
            ));
        }
        for (x, y) in pts {
            s.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>\n",
                xs(*x),
                ys(*y)
            ));
        }
        let ly = top + 10.0 + 20.0 * i as f64;
        let lx = left + pw + 12.0;
        s.push_str(&format!(
            "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            label
        ));
        if pts.is_empty() {
            s.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#666666\">(not evaluated)</text>\n",
                lx + 30.0,
                ly + 16.0
            ));
        }
    }
    s.push_str("</svg>\n");
    s
}

/// The result directories under `paper/regenerated` (each with a `results.json`).
pub fn regenerated_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join("paper/regenerated");
    let mut out = Vec::new();
    if dir.exists() {
        for e in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let p = e?.path();
            if p.join("results.json").exists() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Renders `dir/results.json` again; returns the files whose committed bytes differ (missing
/// files included). With `write`, it also writes them.
pub fn refresh(root: &Path, dir: &Path, write: bool) -> Result<Vec<PathBuf>> {
    let p = dir.join("results.json");
    let results: Results = serde_json::from_str(
        &fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?,
    )
    .with_context(|| format!("{}: not a reproduce results file", p.display()))?;
    let paper = PaperTables::load(&root.join("paper/tables"))?;
    let mut stale = Vec::new();
    for (name, text) in render(&results, &paper)? {
        let f = dir.join(&name);
        if fs::read_to_string(&f).ok().as_deref() != Some(text.as_str()) {
            stale.push(f.clone());
            if write {
                crate::disk::write_atomic(&f, text.as_bytes())?;
            }
        }
    }
    Ok(stale)
}

/// Why the committed results in `dir` cannot vouch for their tables, if they cannot: their
/// recorded commit is `-dirty` (uncommitted changes) or `unknown`, is not in this repository, or
/// is not an ancestor of HEAD; or a string in them is an absolute path of the machine that made
/// them. Outside a git checkout the ancestry cannot be asked and only the rest is checked.
pub fn provenance_problems(root: &Path, dir: &Path) -> Result<Vec<String>> {
    let p = dir.join("results.json");
    let text = fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    let results: Results = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a reproduce results file", p.display()))?;
    let mut problems = Vec::new();
    let commit = results.commit.as_str();
    let clean = "rerun `cargo xtask reproduce` from a clean checkout of a commit on main";
    if commit.ends_with("-dirty") {
        problems.push(format!(
            "{}: made from a tree with uncommitted changes (commit {commit}): {clean}",
            p.display()
        ));
    } else if commit == "unknown" || commit.is_empty() {
        problems.push(format!("{}: records no commit: {clean}", p.display()));
    } else {
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .current_dir(root)
                .args(args)
                .output()
                .ok()
        };
        let in_checkout = git(&["rev-parse", "HEAD"]).is_some_and(|o| o.status.success());
        let shallow = git(&["rev-parse", "--is-shallow-repository"])
            .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true");
        if in_checkout && !shallow {
            let ancestor = git(&["merge-base", "--is-ancestor", commit, "HEAD"]);
            match ancestor.map(|o| o.status.code()) {
                Some(Some(0)) => {}
                Some(Some(1)) => problems.push(format!(
                    "{}: made from commit {commit}, which is not an ancestor of HEAD: {clean}",
                    p.display()
                )),
                _ => problems.push(format!(
                    "{}: made from commit {commit}, which this repository does not hold: {clean}",
                    p.display()
                )),
            }
        } else {
            eprintln!(
                "tables: {}: not a full git checkout, so whether commit {commit} is an \
                 ancestor of HEAD is not checked",
                root.display()
            );
        }
    }
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let mut absolute = Vec::new();
    absolute_paths(&value, "", &mut absolute);
    for (at, path) in absolute {
        problems.push(format!(
            "{}: {at} holds the absolute path `{path}` of the machine that made it",
            p.display()
        ));
    }
    for v in &results.variants {
        if let Some(page) = &v.report {
            problems.extend(report_problems(dir, &v.name, page));
        }
    }
    Ok(problems)
}

/// Why a variant's linked report cannot stand beside committed tables: it is missing, or it
/// quotes an absolute path (`"/…` or `"C:\…` in its configuration or manifest, which the page
/// shows HTML-escaped).
fn report_problems(dir: &Path, variant: &str, page: &str) -> Vec<String> {
    let f = dir.join(page);
    let Ok(text) = fs::read_to_string(&f) else {
        return vec![format!(
            "{}: the report of `{variant}` that tables.md links is missing",
            f.display()
        )];
    };
    let mut problems = Vec::new();
    for (at, _) in text.match_indices("&quot;") {
        let rest = &text.as_bytes()[at + "&quot;".len()..];
        let drive = rest.len() > 2 && rest[0].is_ascii_alphabetic() && &rest[1..3] == b":\\";
        if rest.first() == Some(&b'/') || drive {
            let end = rest
                .windows(6)
                .position(|w| w == b"&quot;")
                .unwrap_or(rest.len().min(80));
            problems.push(format!(
                "{}: holds the absolute path `{}` of the machine that made it",
                f.display(),
                String::from_utf8_lossy(&rest[..end])
            ));
        }
    }
    problems
}

/// Every string of `v` that is an absolute path (starts with `/` or a drive letter), with where.
fn absolute_paths(v: &serde_json::Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::String(s) => {
            let b = s.as_bytes();
            let drive = b.len() > 2 && b[0].is_ascii_alphabetic() && &b[1..3] == b":\\";
            if s.starts_with('/') || drive {
                out.push((at.to_string(), s.clone()));
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                absolute_paths(x, &format!("{at}[{i}]"), out);
            }
        }
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                absolute_paths(x, &format!("{at}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// `cargo xtask tables [--check]`: with `--check`, also the provenance of every committed
/// results file ([`provenance_problems`]).
pub fn run(root: &Path, check: bool) -> Result<()> {
    let dirs = regenerated_dirs(root)?;
    if dirs.is_empty() {
        bail!("no paper/regenerated/*/results.json: run `cargo xtask reproduce` first");
    }
    if check {
        let mut problems = Vec::new();
        for d in &dirs {
            problems.extend(provenance_problems(root, d)?);
        }
        if !problems.is_empty() {
            bail!(
                "regenerated tables of unproven origin:\n  {}",
                problems.join("\n  ")
            );
        }
    }
    let mut all = Vec::new();
    for d in &dirs {
        let stale = refresh(root, d, !check)?;
        eprintln!(
            "tables: {}: {}",
            d.display(),
            if stale.is_empty() {
                "up to date".to_string()
            } else if check {
                format!("{} stale file(s)", stale.len())
            } else {
                format!("{} file(s) written", stale.len())
            }
        );
        all.extend(stale);
    }
    if check && !all.is_empty() {
        bail!(
            "stale regenerated tables (run `cargo xtask tables` and commit):\n{}",
            all.iter()
                .map(|p| format!("  {}", p.display()))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::YAxis;

    #[test]
    fn the_medr_axis_turns_logarithmic_when_the_values_span_two_decades() {
        assert!(matches!(YAxis::for_range(4.0, 31.2), YAxis::Linear { .. }));
        let log = YAxis::for_range(4.0, 14_656.85);
        assert_eq!(log, YAxis::Log { lo: 0, hi: 5 });
        assert_eq!(log.ticks(), [1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0]);
        assert!((log.fraction(1000.0) - 0.6).abs() < 1e-12);
        assert_eq!(log.label(), "MedR (log scale)");
        let linear = YAxis::for_range(4.0, 31.2);
        assert_eq!(linear.label(), "MedR");
        assert!((linear.fraction(0.0)).abs() < 1e-12);
    }
}
