//! The report of a training run, for the person who started it: `curves.svg` (every loss term,
//! the learning rate, validation MedR and R@1/5/10 per epoch, with the stage switch and the best
//! epoch marked) and `report.html` (the curves, the test metrics, every epoch, the configuration
//! and the manifest, in one self-contained page). `seje train` writes both at its end and
//! `seje report --run-dir DIR` writes them again from the run directory's files.
//!
//! Spec: spec/phase2-run-report.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::html::escape;
use crate::phase2::train::EpochRecord;

/// The chart file in the run directory.
pub const CURVES_FILE: &str = "curves.svg";
/// The page in the run directory.
pub const REPORT_FILE: &str = "report.html";

/// What [`write_report`] wrote.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// `RUN/curves.svg`.
    pub curves: PathBuf,
    /// `RUN/report.html`.
    pub html: PathBuf,
    /// Epochs drawn.
    pub epochs: usize,
}

/// One curve: its name (the legend and the SVG's `data-series`), colour and value per epoch.
struct Series {
    name: &'static str,
    colour: &'static str,
    values: Vec<(f64, f64)>,
}

/// One panel of the chart.
struct Panel {
    title: &'static str,
    series: Vec<Series>,
}

/// The series names of the chart, panel by panel: what a complete SEJE run draws.
pub const SERIES: [&str; 13] = [
    "L",
    "L_TRI",
    "L_CA-V",
    "L_CA-R",
    "L_DA",
    "L_D",
    "gradient penalty",
    "learning rate",
    "val MedR",
    "val R@1",
    "val R@5",
    "val R@10",
    "images/s",
];

fn series(
    name: &'static str,
    colour: &'static str,
    records: &[EpochRecord],
    f: impl Fn(&EpochRecord) -> Option<f64>,
) -> Series {
    Series {
        name,
        colour,
        values: records
            .iter()
            .filter_map(|r| f(r).filter(|v| v.is_finite()).map(|v| (r.epoch as f64, v)))
            .collect(),
    }
}

fn panels(records: &[EpochRecord]) -> Vec<Panel> {
    let pct = |v: f64| Some(100.0 * v);
    vec![
        Panel {
            title: "loss: total L and triplet L_TRI (epoch means)",
            series: vec![
                series("L", "#1f77b4", records, |r| Some(r.loss.total)),
                series("L_TRI", "#ff7f0e", records, |r| Some(r.loss.triplet)),
            ],
        },
        Panel {
            title: "category alignment L_CA-V, L_CA-R",
            series: vec![
                series("L_CA-V", "#2ca02c", records, |r| r.loss.category_image),
                series("L_CA-R", "#d62728", records, |r| r.loss.category_recipe),
            ],
        },
        Panel {
            title: "discriminator: L_DA, L_D, gradient penalty",
            series: vec![
                series("L_DA", "#9467bd", records, |r| r.loss.alignment),
                series("L_D", "#8c564b", records, |r| r.loss.discriminator),
                series("gradient penalty", "#e377c2", records, |r| {
                    r.loss.gradient_penalty
                }),
            ],
        },
        Panel {
            title: "learning rate",
            series: vec![series("learning rate", "#7f7f7f", records, |r| Some(r.lr))],
        },
        Panel {
            title: "validation MedR (image to recipe; lower is better)",
            series: vec![series("val MedR", "#17becf", records, |r| Some(r.val.medr))],
        },
        Panel {
            title: "validation R@1, R@5, R@10 (%)",
            series: vec![
                series("val R@1", "#1f77b4", records, |r| pct(r.val.r1)),
                series("val R@5", "#ff7f0e", records, |r| pct(r.val.r5)),
                series("val R@10", "#2ca02c", records, |r| pct(r.val.r10)),
            ],
        },
        Panel {
            title: "training throughput (images/s)",
            series: vec![series("images/s", "#bcbd22", records, |r| {
                Some(r.images_per_second)
            })],
        },
    ]
}

/// 1, 2 or 5 times a power of ten, at least `x`.
fn nice_step(x: f64) -> f64 {
    let p = 10f64.powf(x.max(1e-300).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= x)
        .unwrap_or(10.0 * p)
}

/// A tick label: plain for ordinary numbers, scientific for very small or large ones.
fn label(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

const PANEL_W: f64 = 470.0;
const PANEL_H: f64 = 230.0;
const MARGIN: (f64, f64, f64, f64) = (58.0, 14.0, 34.0, 46.0); // left, right, top, bottom

/// The chart: one panel per group of series, two panels a row; the stage switch and the best
/// epoch are vertical lines in every panel.
pub fn curves_svg(records: &[EpochRecord]) -> String {
    let panels = panels(records);
    let rows = panels.len().div_ceil(2);
    let (w, h) = (2.0 * PANEL_W, rows as f64 * PANEL_H + 30.0);
    let first = records.first().map_or(1.0, |r| r.epoch as f64);
    let last = records.last().map_or(1.0, |r| r.epoch as f64);
    let (x0, x1) = if last > first {
        (first, last)
    } else {
        (first - 0.5, first + 0.5)
    };
    let switch = records
        .windows(2)
        .find(|p| p[1].stage != p[0].stage)
        .map(|p| p[1].epoch as f64);
    let best = records.iter().rev().find(|r| r.improved).map(|r| r.epoch);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<text x="8" y="18" font-size="13">{} epochs; {}{}</text>"#,
        records.len(),
        switch.map_or("no stage switch".into(), |e| format!(
            "stage 2 (learning-rate drop) from epoch {e} (dashed)"
        )),
        best.map_or(String::new(), |b| format!(
            "; best validation epoch {b} (solid)"
        ))
    );
    for (k, panel) in panels.iter().enumerate() {
        let (ox, oy) = ((k % 2) as f64 * PANEL_W, 30.0 + (k / 2) as f64 * PANEL_H);
        let (l, r, t, b) = MARGIN;
        let (pw, ph) = (PANEL_W - l - r, PANEL_H - t - b);
        let values: Vec<f64> = panel
            .series
            .iter()
            .flat_map(|s| s.values.iter().map(|v| v.1))
            .collect();
        let (mut lo, mut hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        } else if hi - lo <= hi.abs().max(lo.abs()) * 1e-9 {
            let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.1 };
            (lo, hi) = (lo - pad, hi + pad);
        }
        let step = nice_step((hi - lo) / 4.0);
        let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
        let px = |x: f64| ox + l + (x - x0) / (x1 - x0) * pw;
        let py = |y: f64| oy + t + (1.0 - (y - lo) / (hi - lo)) * ph;
        let _ = writeln!(
            s,
            r#"<g class="panel" data-title="{}">"#,
            escape(panel.title)
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" font-size="12">{}</text><rect x="{}" y="{}" width="{pw}" height="{ph}" fill="none" stroke="#bbb"/>"##,
            ox + l,
            oy + t - 8.0,
            escape(panel.title),
            ox + l,
            oy + t
        );
        let mut y = lo;
        while y <= hi + step * 1e-6 {
            let (ya, tx, tl) = (py(y), ox + l - 4.0, label(y));
            let _ = writeln!(
                s,
                r##"<line x1="{}" x2="{}" y1="{ya}" y2="{ya}" stroke="#eee"/><text x="{tx}" y="{}" text-anchor="end">{tl}</text>"##,
                ox + l,
                ox + l + pw,
                ya + 4.0,
            );
            y += step;
        }
        let xstep = nice_step((x1 - x0) / 8.0).max(1.0);
        let mut x = (x0 / xstep).ceil() * xstep;
        while x <= x1 + 1e-9 {
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
                px(x),
                oy + t + ph + 14.0,
                label(x)
            );
            x += xstep;
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">epoch</text>"#,
            ox + l + pw / 2.0,
            oy + t + ph + 28.0
        );
        if let Some(e) = switch {
            let _ = writeln!(
                s,
                r##"<line class="stage-switch" x1="{0}" x2="{0}" y1="{1}" y2="{2}" stroke="#555" stroke-dasharray="4 3"/>"##,
                px(e),
                oy + t,
                oy + t + ph
            );
        }
        if let Some(e) = best {
            let _ = writeln!(
                s,
                r##"<line class="best-epoch" x1="{0}" x2="{0}" y1="{1}" y2="{2}" stroke="#2a2"/>"##,
                px(e as f64),
                oy + t,
                oy + t + ph
            );
        }
        for (i, se) in panel.series.iter().enumerate() {
            let _ = write!(
                s,
                r#"<g class="series" data-series="{}" data-points="{}">"#,
                escape(se.name),
                se.values.len()
            );
            let points: Vec<String> = se
                .values
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            if !points.is_empty() {
                let _ = write!(
                    s,
                    r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
                    se.colour,
                    points.join(" ")
                );
                for p in &points {
                    let (cx, cy) = p.split_once(',').expect("x,y");
                    let _ = write!(
                        s,
                        r#"<circle cx="{cx}" cy="{cy}" r="2" fill="{}"/>"#,
                        se.colour
                    );
                }
            }
            let legend = if se.values.is_empty() {
                format!("{} (off in this run)", se.name)
            } else {
                se.name.to_string()
            };
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" fill="{}">{}</text></g>"#,
                ox + l + 6.0 + 120.0 * i as f64,
                oy + t + ph + 40.0,
                se.colour,
                escape(&legend)
            );
        }
        let _ = writeln!(s, "</g>");
    }
    s.push_str("</svg>\n");
    s
}

/// The records of `RUN/metrics.jsonl`, in order; a line that is not an epoch record is an error
/// naming the file and the line. A run that has not finished an epoch (its `config.toml` there,
/// no `metrics.jsonl` yet, as after `schedule.max_epochs = 0`) has none; a folder without either
/// is an error naming the missing file.
pub fn read_metrics(run_dir: &Path) -> Result<Vec<EpochRecord>> {
    let path = run_dir.join("metrics.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && run_dir.join("config.toml").is_file() =>
        {
            String::new()
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Invalid {
                what: format!("{}, line {}", path.display(), i + 1),
                problem: format!("not an epoch record: {e}"),
            })
        })
        .collect()
}

/// A file of the run directory as text for the page, or a note that it is not there.
fn file_text(run_dir: &Path, name: &str) -> String {
    std::fs::read_to_string(run_dir.join(name))
        .unwrap_or_else(|_| format!("({name} is not in the run directory)"))
}

/// The test metrics table of `RUN/test.json`, or a line saying the run was not tested.
fn test_table(run_dir: &Path) -> String {
    let Some(v) = std::fs::read_to_string(run_dir.join("test.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
    else {
        return "<p>Not tested yet: <code>test.json</code> is written when training ends.</p>\n"
            .into();
    };
    let mut h = format!(
        "<p>The best checkpoint (epoch {}, validation score {}) on the test split.</p>\n",
        v["checkpoint_epoch"], v["checkpoint_score"]
    );
    h.push_str("<table><tr><th>size</th><th>subsets</th><th>direction</th><th>MedR</th><th>R@1</th><th>R@5</th><th>R@10</th></tr>\n");
    let pct = |x: &Value| {
        x.as_f64()
            .map_or("?".into(), |f| format!("{:.1}", 100.0 * f))
    };
    for size in v["report"]["sizes"].as_array().into_iter().flatten() {
        for (dir, key) in [
            ("image → recipe", "image_to_recipe"),
            ("recipe → image", "recipe_to_image"),
        ] {
            let d = &size[key];
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{dir}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                size["size"],
                size["subsets"],
                d["medr"],
                pct(&d["r1"]),
                pct(&d["r5"]),
                pct(&d["r10"])
            );
        }
    }
    h.push_str("</table>\n");
    h
}

/// The page: a heading, the curves, the test metrics, every epoch, the configuration and the
/// manifest. Self-contained: no script, no file or network reference.
pub fn report_html(run_dir: &Path, records: &[EpochRecord], svg: &str) -> String {
    let name = run_dir.file_name().map_or_else(
        || run_dir.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>SEJE run {}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style>\n\
         </head><body>\n<h1>SEJE training run <code>{}</code></h1>",
        escape(&name),
        escape(&name)
    );
    let best = records.iter().rev().find(|r| r.improved);
    let _ = writeln!(
        h,
        "<p>{} epochs{}. Written by <code>seje report</code> from the run directory's files \
         (<code>metrics.jsonl</code>, <code>test.json</code>, <code>config.toml</code>, \
         <code>manifest.json</code>).</p>",
        records.len(),
        best.map_or(String::new(), |b| format!(
            "; best validation epoch {} (MedR {}, R@1 {:.1} %)",
            b.epoch,
            b.val.medr,
            100.0 * b.val.r1
        ))
    );
    h.push_str("<h2>Curves</h2>\n");
    h.push_str(svg);
    h.push_str("<h2>Test metrics</h2>\n");
    h.push_str(&test_table(run_dir));
    h.push_str("<h2>Epochs</h2>\n<table><tr><th>epoch</th><th>stage</th><th>lr</th><th>L</th><th>L_TRI</th><th>val MedR</th><th>val R@1</th><th>val R@5</th><th>val R@10</th><th>best so far</th><th>images/s</th></tr>\n");
    for r in records {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{:e}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{:.0}</td></tr>",
            r.epoch,
            r.stage,
            r.lr,
            r.loss.total,
            r.loss.triplet,
            r.val.medr,
            100.0 * r.val.r1,
            100.0 * r.val.r5,
            100.0 * r.val.r10,
            if r.improved { "yes" } else { "" },
            r.images_per_second
        );
    }
    h.push_str("</table>\n<h2>Configuration (<code>config.toml</code>)</h2>\n<pre>");
    h.push_str(&escape(&file_text(run_dir, "config.toml")));
    h.push_str("</pre>\n<h2>Manifest (<code>manifest.json</code>)</h2>\n<pre>");
    h.push_str(&escape(&file_text(run_dir, "manifest.json")));
    h.push_str("</pre>\n</body></html>\n");
    h
}

/// Writes `RUN/curves.svg` and `RUN/report.html` from the run directory's files (each through a
/// temporary file and a rename).
pub fn write_report(run_dir: &Path) -> Result<ReportFiles> {
    let records = read_metrics(run_dir)?;
    let svg = curves_svg(&records);
    let html = report_html(run_dir, &records, &svg);
    let (curves, page) = (run_dir.join(CURVES_FILE), run_dir.join(REPORT_FILE));
    write_atomic(&curves, svg.as_bytes())?;
    write_atomic(&page, html.as_bytes())?;
    tracing::info!(report = %page.display(), epochs = records.len(), "run report written");
    Ok(ReportFiles {
        curves,
        html: page,
        epochs: records.len(),
    })
}
