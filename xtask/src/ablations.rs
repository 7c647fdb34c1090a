//! The ablation tables of a reproduce run that trains every variant once per seed: each
//! variant's mean ± standard deviation over its seeds, its difference from the full model paired
//! by seed with a 95 % t interval, whether that difference shows the direction the paper claims,
//! and the same as an SVG chart.
//!
//! Spec: spec/reproduce.md (section "Seeds and ablations"). Like the rest of the tables, a pure
//! function of `results.json`.

use std::collections::BTreeMap;

use crate::results::{
    fmt_metric, metric_of, Claim, Results, VariantResult, DIRECTIONS, SYNTHETIC_BANNER,
};

/// The chart's file name.
pub const CHART: &str = "ablations.svg";

/// The metrics of one direction: report name, words, and whether lower is better.
const METRICS: [(&str, &str, bool); 4] = [
    ("medr", "MedR", true),
    ("r1", "R@1", false),
    ("r5", "R@5", false),
    ("r10", "R@10", false),
];

/// The 0.975 quantile of Student's t with `df` degrees of freedom (two-sided 95 %): the
/// tabulated value up to 30, then `1.96 + 2.4 / df` (within 0.003 of the exact value there).
pub fn t975(df: usize) -> Option<f64> {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => None,
        1..=30 => Some(TABLE[df - 1]),
        _ => Some(1.96 + 2.4 / df as f64),
    }
}

/// Mean and sample standard deviation (n − 1 in the denominator; 0 for one value).
pub fn mean_sd(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let sd = if xs.len() < 2 {
        0.0
    } else {
        (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    Some((mean, sd))
}

/// A paired difference: the mean of (variant − full) over the seeds both have, and its 95 %
/// t interval (`None` with fewer than two pairs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    /// Mean difference.
    pub mean: f64,
    /// The interval, when at least two seeds pair.
    pub interval: Option<(f64, f64)>,
    /// Seeds paired.
    pub n: usize,
}

/// The difference `variant − full`, paired by seed (seeds only one side has are left out).
pub fn paired(full: &BTreeMap<u64, f64>, variant: &BTreeMap<u64, f64>) -> Option<Paired> {
    let d: Vec<f64> = variant
        .iter()
        .filter_map(|(s, v)| full.get(s).map(|f| v - f))
        .collect();
    let (mean, sd) = mean_sd(&d)?;
    let interval = t975(d.len().saturating_sub(1)).map(|t| {
        let half = t * sd / (d.len() as f64).sqrt();
        (mean - half, mean + half)
    });
    Some(Paired {
        mean,
        interval,
        n: d.len(),
    })
}

/// Whether a variant's paired MedR differences (both directions) show the paper's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Both directions' intervals lie on the claimed side of zero.
    Agrees,
    /// At least one direction's interval lies on the other side.
    Opposite,
    /// An interval contains zero (or there is none): the seeds cannot tell.
    NotResolved,
    /// The paper claims nothing about this variant.
    NoClaim,
}

impl Verdict {
    /// The words of the table's column.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Agrees => "yes",
            Verdict::Opposite => "no: the opposite direction",
            Verdict::NotResolved => "not resolved (an interval holds 0)",
            Verdict::NoClaim => "no claim",
        }
    }
}

/// The verdict on MedR differences (variant − full) in both directions. `Worse` claims the
/// variant's MedR is higher (worse) than the full model's.
pub fn verdict(claim: Option<Claim>, medr: &[Option<Paired>]) -> Verdict {
    let Some(claim) = claim else {
        return Verdict::NoClaim;
    };
    let sign = match claim {
        Claim::Worse => 1.0,
        Claim::Better => -1.0,
    };
    let intervals: Vec<Option<(f64, f64)>> = medr
        .iter()
        .map(|p| p.and_then(|p| p.interval))
        .map(|i| i.map(|(lo, hi)| if sign > 0.0 { (lo, hi) } else { (-hi, -lo) }))
        .collect();
    if intervals.iter().flatten().any(|(_, hi)| *hi < 0.0) {
        Verdict::Opposite
    } else if !intervals.is_empty() && intervals.iter().all(|i| i.is_some_and(|(lo, _)| lo > 0.0)) {
        Verdict::Agrees
    } else {
        Verdict::NotResolved
    }
}

/// One variant's values at a size: per seed, per (direction, metric); MedR as reported, R@K in
/// percent.
struct Rows<'a> {
    name: &'a str,
    preset: &'a str,
    claim: Option<Claim>,
    not_run: Option<&'a str>,
    classes: usize,
    values: BTreeMap<(&'static str, &'static str), BTreeMap<u64, f64>>,
}

impl Rows<'_> {
    /// This variant minus `full` in one direction and metric, paired by seed.
    fn diff(&self, full: Option<&Rows>, dir: &'static str, metric: &'static str) -> Option<Paired> {
        paired(
            full?.values.get(&(dir, metric))?,
            self.values.get(&(dir, metric))?,
        )
    }

    /// The verdict on this variant's MedR differences from `full`, both directions.
    fn verdict(&self, full: Option<&Rows>) -> Verdict {
        let medr: Vec<Option<Paired>> = DIRECTIONS
            .iter()
            .map(|(d, _)| self.diff(full, d, "medr"))
            .collect();
        verdict(self.claim, &medr)
    }

    /// The values of every seed of one direction and metric.
    fn seeds(&self, dir: &'static str, metric: &'static str) -> Vec<f64> {
        self.values
            .get(&(dir, metric))
            .map(|m| m.values().copied().collect())
            .unwrap_or_default()
    }
}

/// The variants in their first order, each with its seeds' values.
fn collect(variants: &[VariantResult], size: u64) -> Vec<Rows<'_>> {
    let mut out: Vec<Rows> = Vec::new();
    for v in variants {
        let i = match out.iter().position(|r| r.name == v.name) {
            Some(i) => i,
            None => {
                out.push(Rows {
                    name: &v.name,
                    preset: &v.preset,
                    claim: v.paper_claim,
                    not_run: v.not_run.as_deref(),
                    classes: v.classes,
                    values: BTreeMap::new(),
                });
                out.len() - 1
            }
        };
        let seed = v.seed.unwrap_or(0);
        for (dir, _) in DIRECTIONS {
            for (metric, _, _) in METRICS {
                if let Some(x) = metric_of(&v.eval, size, dir, metric) {
                    out[i]
                        .values
                        .entry((dir, metric))
                        .or_default()
                        .insert(seed, x);
                }
            }
        }
    }
    out
}

fn csv_name(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The rendered section: the Markdown, `ablations.csv` (one row per variant, seed and
/// direction), `ablations_summary.csv` (one row per variant, direction and metric) and the
/// chart. `size` is the test-set size of the tables (1K when evaluated).
pub fn render(r: &Results, size: u64, banner_csv: &str) -> (String, String, String, String) {
    let rows = collect(&r.variants, size);
    let seeds: Vec<u64> = {
        let mut s: Vec<u64> = r.variants.iter().filter_map(|v| v.seed).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let full = rows.first();
    let mut md = String::from("\n## Ablations over seeds\n\n");
    md.push_str(&format!(
        "Test set of {size} pairs ({} random subsets per seed), R@K in percent. Every variant \
         is trained once per Phase II seed ({}) from the same Phase I stages; a cell is the mean \
         ± the standard deviation over the seeds. The paper's ablation tables are not \
         transcribed (spec/reproduce.md), so no paper value is shown; only the direction the \
         paper presents is.\n\n",
        r.variants
            .first()
            .and_then(|v| v
                .eval
                .get("sizes")?
                .as_array()?
                .first()?
                .get("subsets")?
                .as_u64())
            .map(|n| n.to_string())
            .unwrap_or_else(|| "the".into()),
        seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    ));
    md.push_str("| variant | preset | seeds | image→recipe MedR | R@1 | R@5 | R@10 | recipe→image MedR | R@1 | R@5 | R@10 |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
    let mut per_seed = banner_csv.to_string();
    per_seed.push_str("variant,preset,seed,test_size,direction,medr,r1,r5,r10\n");
    let mut summary = banner_csv.to_string();
    summary.push_str(
        "variant,preset,seeds,direction,metric,mean,sd,diff_mean,diff_lo95,diff_hi95,paper_claim,agrees\n",
    );
    for row in &rows {
        if let Some(why) = row.not_run {
            md.push_str(&format!(
                "| {} | — | 0 | not run: {why} | | | | | | | |\n",
                row.name
            ));
            summary.push_str(&format!(
                "{},,0,,,,,,,,{},not run\n",
                csv_name(row.name),
                claim_word(row.claim)
            ));
            continue;
        }
        let n = row.values.values().map(|m| m.len()).max().unwrap_or(0);
        md.push_str(&format!(
            "| {} (C = {}) | {} | {n}",
            row.name, row.classes, row.preset
        ));
        for (dir, _) in DIRECTIONS {
            for (metric, _, _) in METRICS {
                let xs = row.seeds(dir, metric);
                md.push_str(&match mean_sd(&xs) {
                    Some((m, sd)) => {
                        format!(" | {} ± {}", fmt_metric(metric, m), fmt_metric(metric, sd))
                    }
                    None => " | —".into(),
                });
            }
        }
        md.push_str(" |\n");
    }

    // Differences from the full model.
    md.push_str(&format!(
        "\nEach variant minus the full model ({}), paired by seed: the mean difference and its \
         95 % t interval over the seeds (n − 1 degrees of freedom). For MedR a positive \
         difference means the variant ranks the true match lower (worse); for R@K a negative one \
         does. *Agrees with the paper*: **yes** when both directions' MedR intervals lie on the \
         side the paper claims, **no** when one lies on the other side, *not resolved* when an \
         interval holds 0.\n\n",
        full.map(|f| f.name).unwrap_or("none")
    ));
    md.push_str("| variant | the paper's claim | image→recipe ΔMedR | ΔR@1 | recipe→image ΔMedR | ΔR@1 | agrees with the paper |\n");
    md.push_str("|---|---|---|---|---|---|---|\n");
    for row in rows.iter().skip(1) {
        let claim = claim_words(row.claim);
        if let Some(why) = row.not_run {
            md.push_str(&format!(
                "| {} | {claim} | not run: {why} | | | | — |\n",
                row.name
            ));
            continue;
        }
        let diff = |dir, metric| row.diff(full, dir, metric);
        let v = row.verdict(full);
        md.push_str(&format!("| {} | {claim}", row.name));
        for (dir, _) in DIRECTIONS {
            for metric in ["medr", "r1"] {
                md.push_str(&match diff(dir, metric) {
                    Some(p) => format!(" | {}", paired_words(&p)),
                    None => " | —".into(),
                });
            }
        }
        md.push_str(&format!(" | {} |\n", v.words()));
    }

    // The CSV files.
    for v in &r.variants {
        if v.not_run.is_some() {
            continue;
        }
        for (dir, _) in DIRECTIONS {
            let vals: Vec<String> = METRICS
                .iter()
                .map(|(m, _, _)| {
                    metric_of(&v.eval, size, dir, m)
                        .map(|x| format!("{x:.4}"))
                        .unwrap_or_default()
                })
                .collect();
            per_seed.push_str(&format!(
                "{},{},{},{size},{dir},{}\n",
                csv_name(&v.name),
                v.preset,
                v.seed.map(|s| s.to_string()).unwrap_or_default(),
                vals.join(",")
            ));
        }
    }
    for (i, row) in rows.iter().enumerate() {
        if row.not_run.is_some() {
            continue;
        }
        let agrees = if i == 0 {
            String::new()
        } else {
            row.verdict(full).words().to_string()
        };
        for (dir, _) in DIRECTIONS {
            for (metric, _, _) in METRICS {
                let xs = row.seeds(dir, metric);
                let Some((m, sd)) = mean_sd(&xs) else {
                    continue;
                };
                let d = if i == 0 {
                    None
                } else {
                    row.diff(full, dir, metric)
                };
                let (dm, lo, hi) = match d {
                    Some(p) => (
                        format!("{:.4}", p.mean),
                        p.interval
                            .map(|i| format!("{:.4}", i.0))
                            .unwrap_or_default(),
                        p.interval
                            .map(|i| format!("{:.4}", i.1))
                            .unwrap_or_default(),
                    ),
                    None => Default::default(),
                };
                summary.push_str(&format!(
                    "{},{},{},{dir},{metric},{m:.4},{sd:.4},{dm},{lo},{hi},{},\"{agrees}\"\n",
                    csv_name(row.name),
                    row.preset,
                    xs.len(),
                    claim_word(row.claim),
                ));
            }
        }
    }
    md.push_str(&format!(
        "\n![MedR of every ablation, mean ± sd over seeds]({CHART})\n"
    ));
    let chart = chart(r, &rows);
    (md, per_seed, summary, chart)
}

fn paired_words(p: &Paired) -> String {
    match p.interval {
        Some((lo, hi)) => format!("{:+.2} [{lo:+.2}, {hi:+.2}]", p.mean),
        None => format!("{:+.2} (one seed)", p.mean),
    }
}

fn claim_word(c: Option<Claim>) -> &'static str {
    match c {
        Some(Claim::Worse) => "worse",
        Some(Claim::Better) => "better",
        None => "",
    }
}

fn claim_words(c: Option<Claim>) -> &'static str {
    match c {
        Some(Claim::Worse) => "the full model is better",
        Some(Claim::Better) => "this variant is better",
        None => "none",
    }
}

/// The chart: one band per variant, MedR of both directions, each seed a dot, the mean a bar
/// with ± sd whiskers; the full model's means as dashed vertical lines.
fn chart(r: &Results, rows: &[Rows]) -> String {
    let (left, right, top) = (250.0, 30.0, 70.0);
    let band = 34.0;
    let w = 820.0;
    let h = top + band * rows.len() as f64 + 60.0;
    let pw = w - left - right;
    let colours = [
        ("image_to_recipe", "#1f77b4"),
        ("recipe_to_image", "#ff7f0e"),
    ];
    let mut xmax: f64 = 1.0;
    for row in rows {
        for (dir, _) in colours {
            if let Some(m) = row.values.get(&(dir, "medr")) {
                let xs: Vec<f64> = m.values().copied().collect();
                if let Some((mean, sd)) = mean_sd(&xs) {
                    xmax = xmax.max(mean + sd);
                }
                xmax = xs.iter().fold(xmax, |a, b| a.max(*b));
            }
        }
    }
    let step = crate::svg::nice_step(xmax / 6.0);
    let xmax = (xmax / step).ceil() * step;
    let xs = |x: f64| left + pw * x / xmax;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"
    );
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"20\" font-size=\"14\" text-anchor=\"middle\">MedR at 1K of every ablation: mean ± sd over seeds, each seed a dot</text>\n",
        w / 2.0
    ));
    if r.synthetic {
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"38\" fill=\"#c00000\" text-anchor=\"middle\">{SYNTHETIC_BANNER}</text>\n",
            w / 2.0
        ));
    }
    for (i, (dir, colour)) in colours.iter().enumerate() {
        let lx = left + 200.0 * i as f64;
        s.push_str(&format!(
            "<rect x=\"{lx:.1}\" y=\"48\" width=\"12\" height=\"12\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"58\">{}</text>\n",
            lx + 16.0,
            if *dir == "image_to_recipe" { "image→recipe" } else { "recipe→image" }
        ));
    }
    let bottom = top + band * rows.len() as f64;
    // Grid and axis.
    let mut x = 0.0;
    while x <= xmax + 1e-9 {
        s.push_str(&format!(
            "<line x1=\"{0:.1}\" y1=\"{top:.1}\" x2=\"{0:.1}\" y2=\"{bottom:.1}\" stroke=\"#dddddd\"/><text x=\"{0:.1}\" y=\"{1:.1}\" text-anchor=\"middle\">{2}</text>\n",
            xs(x),
            bottom + 16.0,
            crate::svg::trim_number(x)
        ));
        x += step;
    }
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">MedR (lower is better)</text>\n",
        left + pw / 2.0,
        bottom + 36.0
    ));
    // The full model's means.
    if let Some(full) = rows.first() {
        for (dir, colour) in colours {
            if let Some((m, _)) = full
                .values
                .get(&(dir, "medr"))
                .and_then(|m| mean_sd(&m.values().copied().collect::<Vec<_>>()))
            {
                s.push_str(&format!(
                    "<line x1=\"{0:.1}\" y1=\"{top:.1}\" x2=\"{0:.1}\" y2=\"{bottom:.1}\" stroke=\"{colour}\" stroke-dasharray=\"4 4\"/>\n",
                    xs(m)
                ));
            }
        }
    }
    for (i, row) in rows.iter().enumerate() {
        let y0 = top + band * i as f64;
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            left - 8.0,
            y0 + band / 2.0 + 4.0,
            xml(row.name)
        ));
        if row.not_run.is_some() {
            s.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#666666\">not run (see the table)</text>\n",
                left + 6.0,
                y0 + band / 2.0 + 4.0
            ));
            continue;
        }
        for (k, (dir, colour)) in colours.iter().enumerate() {
            let y = y0 + 11.0 + 12.0 * k as f64;
            let Some(m) = row.values.get(&(*dir, "medr")) else {
                continue;
            };
            let vals: Vec<f64> = m.values().copied().collect();
            if let Some((mean, sd)) = mean_sd(&vals) {
                s.push_str(&format!(
                    "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/>\n<rect x=\"{:.1}\" y=\"{:.1}\" width=\"3\" height=\"10\" fill=\"{colour}\"/>\n",
                    xs((mean - sd).max(0.0)),
                    xs(mean + sd),
                    xs(mean) - 1.5,
                    y - 5.0
                ));
            }
            for v in vals {
                s.push_str(&format!(
                    "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"2.5\" fill=\"white\" stroke=\"{colour}\"/>\n",
                    xs(v)
                ));
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_are_students() {
        // scipy.stats.t.ppf(0.975, df) to three decimals.
        assert_eq!(t975(1), Some(12.706));
        assert_eq!(t975(2), Some(4.303));
        assert_eq!(t975(30), Some(2.042));
        assert_eq!(t975(0), None);
        // 40: 2.021, 60: 2.000, 120: 1.980.
        for (df, exact) in [(40, 2.021), (60, 2.000), (120, 1.980)] {
            assert!((t975(df).unwrap() - exact).abs() < 0.003, "{df}");
        }
    }

    #[test]
    fn paired_differences_pair_by_seed() {
        let full: BTreeMap<u64, f64> = [(1, 8.0), (2, 9.0), (3, 10.0)].into();
        // The variant is exactly 2 worse on every seed: the interval is the point.
        let worse: BTreeMap<u64, f64> = [(1, 10.0), (2, 11.0), (3, 12.0)].into();
        let p = paired(&full, &worse).unwrap();
        assert_eq!(p.n, 3);
        assert!((p.mean - 2.0).abs() < 1e-12);
        let (lo, hi) = p.interval.unwrap();
        assert!((lo - 2.0).abs() < 1e-12 && (hi - 2.0).abs() < 1e-12);
        // Unpaired, these would overlap; paired, the difference is clear. Differences 1, 2, 3:
        // mean 2, sd 1, half-width 4.303 / sqrt(3) = 2.484.
        let v: BTreeMap<u64, f64> = [(1, 9.0), (2, 11.0), (3, 13.0)].into();
        let p = paired(&full, &v).unwrap();
        let (lo, hi) = p.interval.unwrap();
        assert!((lo - (2.0 - 2.484_3)).abs() < 1e-3, "{lo}");
        assert!((hi - (2.0 + 2.484_3)).abs() < 1e-3, "{hi}");
        // A seed only one side has is left out.
        let partial: BTreeMap<u64, f64> = [(1, 10.0), (4, 100.0)].into();
        let p = paired(&full, &partial).unwrap();
        assert_eq!((p.n, p.interval), (1, None));
    }

    #[test]
    fn verdicts_follow_the_intervals() {
        let p = |lo: f64, hi: f64| {
            Some(Paired {
                mean: (lo + hi) / 2.0,
                interval: Some((lo, hi)),
                n: 3,
            })
        };
        let worse = Some(Claim::Worse);
        assert_eq!(verdict(worse, &[p(1.0, 3.0), p(0.5, 2.0)]), Verdict::Agrees);
        assert_eq!(
            verdict(worse, &[p(1.0, 3.0), p(-0.5, 2.0)]),
            Verdict::NotResolved
        );
        assert_eq!(
            verdict(worse, &[p(1.0, 3.0), p(-3.0, -1.0)]),
            Verdict::Opposite
        );
        assert_eq!(
            verdict(Some(Claim::Better), &[p(-3.0, -1.0), p(-2.0, -0.1)]),
            Verdict::Agrees
        );
        assert_eq!(verdict(None, &[p(1.0, 3.0)]), Verdict::NoClaim);
        let one_seed = Some(Paired {
            mean: 5.0,
            interval: None,
            n: 1,
        });
        assert_eq!(verdict(worse, &[one_seed, one_seed]), Verdict::NotResolved);
    }

    #[test]
    fn mean_and_sample_sd() {
        let (m, sd) = mean_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(m, 5.0);
        // numpy.std(..., ddof=1) = 2.138089935299395
        assert!((sd - 2.138_089_935_299_395).abs() < 1e-12);
        assert_eq!(mean_sd(&[3.0]), Some((3.0, 0.0)));
        assert_eq!(mean_sd(&[]), None);
    }
}
