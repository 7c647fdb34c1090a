//! The readable table of an evaluation: one block per size, one row per direction, MedR and R@K as
//! fractions (4 decimals) and percentages, headed by the protocol and the comparability note.
//!
//! Spec: spec/eval-protocol.md (output).

use std::fmt::Write;

use super::protocol::{DirectionResult, EvalReport};

/// Renders `report` as text (the CLI prints it; `--json` prints the report itself instead).
pub fn render_table(report: &EvalReport) -> String {
    let mut out = String::new();
    let base = if report.medr_base == 0 {
        "0-based positions, AdaMine's convention"
    } else {
        "1-based ranks"
    };
    let _ = writeln!(
        out,
        "protocol {} (MedR over {base}); {} test pairs, {}-d, seed {}",
        report.protocol.name(),
        report.test_size,
        report.dimension,
        report.seed
    );
    let _ = writeln!(out, "note: {}", report.note);
    for r in &report.remarks {
        let _ = writeln!(out, "remark: {r}");
    }
    let _ = writeln!(
        out,
        "\n{:>6} {:>7} {:<15} {:>8} {:>16} {:>16} {:>16}",
        "size", "subsets", "direction", "MedR", "R@1", "R@5", "R@10"
    );
    let cell = |f: f64| format!("{f:.4} ({:.1}%)", f * 100.0);
    let row = |out: &mut String, size: usize, subsets: usize, dir: &str, d: &DirectionResult| {
        let _ = writeln!(
            out,
            "{size:>6} {subsets:>7} {dir:<15} {:>8.2} {:>16} {:>16} {:>16}",
            d.medr,
            cell(d.r1),
            cell(d.r5),
            cell(d.r10)
        );
    };
    for s in &report.sizes {
        row(
            &mut out,
            s.size,
            s.subsets,
            "image->recipe",
            &s.image_to_recipe,
        );
        row(
            &mut out,
            s.size,
            s.subsets,
            "recipe->image",
            &s.recipe_to_image,
        );
    }
    if let Some(t) = &report.permutation_test {
        let _ = writeln!(
            out,
            "\npermutation test on all {} pairs: mean rank {:.2} (learned nothing: {:.2} on \
             average); {} of {} random pairings as good; p = {:.4}",
            t.pairs, t.mean_rank, t.null_mean_rank, t.as_good, t.permutations, t.p_value
        );
    }
    out
}
