//! The run report (issue 28): `seje report` writes `curves.svg` and `report.html` from a run
//! directory; both parse as XML, every series of the chart is there with one point per epoch,
//! the stage switch and the best epoch are marked in every panel, and the page holds the curves,
//! the test metrics, every epoch, the configuration and the manifest, with nothing outside it.
//!
//! Spec: spec/phase2-run-report.md.

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;

use cli::seje;
use seje::phase2::report::{CURVES_FILE, REPORT_FILE, SERIES};

/// A run directory of `epochs` epochs whose stage switches after epoch 3 and whose best epoch is
/// 4, as `seje train` writes it (metrics, test, configuration, manifest).
fn run_dir(dir: &Path, epochs: usize) {
    let mut lines = String::new();
    for e in 1..=epochs {
        let stage = if e <= 3 { 1 } else { 2 };
        let improved = e == 1 || e == 2 || e == 4;
        let f = e as f64;
        lines.push_str(
            &serde_json::json!({
                "epoch": e, "stage": stage, "lr": if stage == 1 { 1e-4 } else { 1e-5 },
                "iterations": 10 * e, "pairs": 96, "skipped_images": 0, "whitened_images": 0,
                "loss": {
                    "total": 1.0 / f, "triplet": 0.9 / f, "category_image": 2.0 / f,
                    "category_recipe": 2.1 / f, "alignment": -0.1 * f, "discriminator": 0.5,
                    "gradient_penalty": 0.01 * f
                },
                "val": {"size": 32, "subsets": 10, "medr": 10.0 - f, "r1": 0.05 * f,
                        "r5": 0.1 * f, "r10": 0.15 * f},
                "score": 0.3 * f, "improved": improved, "epochs_without_improvement": 0,
                "train_seconds": 1.0, "val_seconds": 0.1, "images_per_second": 500.0 + f
            })
            .to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(dir.join("metrics.jsonl"), lines).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "preset = \"paper\" # <config & more>\n",
    )
    .unwrap();
    std::fs::write(dir.join("manifest.json"), "{\"seed\": 1234}\n").unwrap();
    let test = serde_json::json!({
        "checkpoint_epoch": 4, "checkpoint_score": 1.2,
        "report": {"sizes": [{"size": 32, "subsets": 10,
            "image_to_recipe": {"medr": 3.0, "r1": 0.25, "r5": 0.5, "r10": 0.75, "per_subset": []},
            "recipe_to_image": {"medr": 4.0, "r1": 0.2, "r5": 0.4, "r10": 0.7, "per_subset": []}}]}
    });
    std::fs::write(dir.join("test.json"), test.to_string()).unwrap();
}

fn parse(text: &str) -> roxmltree::Document<'_> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(text, opts)
        .unwrap_or_else(|e| panic!("not well-formed: {e}"))
}

#[test]
fn seje_report_writes_well_formed_curves_and_a_self_contained_page() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    run_dir(&run, 7);
    let out = seje()
        .args(["--log", "warn", "report", "--run-dir"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let svg = std::fs::read_to_string(run.join(CURVES_FILE)).unwrap();
    let doc = parse(&svg);
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let series: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("series"))
        .collect();
    for name in SERIES {
        let g = series
            .iter()
            .find(|g| g.attribute("data-series") == Some(name))
            .unwrap_or_else(|| panic!("series `{name}` missing"));
        assert_eq!(g.attribute("data-points"), Some("7"), "{name}");
        let line = g
            .children()
            .find(|c| c.has_tag_name("polyline"))
            .unwrap_or_else(|| panic!("{name}: no polyline"));
        assert_eq!(line.attribute("points").unwrap().split(' ').count(), 7);
    }
    let panels = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("panel"))
        .count();
    for (class, what) in [
        ("stage-switch", "stage switch"),
        ("best-epoch", "best epoch"),
    ] {
        let marks = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .count();
        assert_eq!(marks, panels, "the {what} is marked in every panel");
    }
    assert!(svg.contains("stage 2 (learning-rate drop) from epoch 4"));
    assert!(svg.contains("best validation epoch 4"));

    let html = std::fs::read_to_string(run.join(REPORT_FILE)).unwrap();
    let page = parse(&html);
    let text: String = page
        .descendants()
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join(" ");
    for words in [
        "Curves",
        "Test metrics",
        "image → recipe",
        "Epochs",
        "preset = \"paper\" # <config & more>",
        "\"seed\": 1234",
    ] {
        assert!(text.contains(words), "the page shows `{words}`");
    }
    assert_eq!(
        page.descendants().filter(|n| n.has_tag_name("svg")).count(),
        1,
        "the curves are inside the page"
    );
    for n in page.descendants() {
        for attr in ["src", "href"] {
            assert!(n.attribute(attr).is_none(), "no outside reference: {n:?}");
        }
        assert!(!n.has_tag_name("script"), "no script");
    }
}

#[test]
fn a_run_of_one_epoch_and_a_bad_metrics_line_are_handled() {
    let tmp = tempfile::tempdir().unwrap();
    run_dir(tmp.path(), 1);
    let files = seje::phase2::report::write_report(tmp.path()).unwrap();
    assert_eq!(files.epochs, 1);
    parse(&std::fs::read_to_string(&files.curves).unwrap());
    std::fs::write(tmp.path().join("metrics.jsonl"), "{\"epoch\": 1}\n").unwrap();
    let err = seje::phase2::report::write_report(tmp.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("metrics.jsonl, line 1: not an epoch record"),
        "{err}"
    );
}

#[test]
fn a_run_that_trained_no_epoch_has_a_report_and_a_folder_without_a_run_is_refused() {
    // `seje train --set schedule.max_epochs=0` tests the untrained model and writes no epoch
    // record: its report has no curve but exists.
    let tmp = tempfile::tempdir().unwrap();
    run_dir(tmp.path(), 1);
    std::fs::remove_file(tmp.path().join("metrics.jsonl")).unwrap();
    let files = seje::phase2::report::write_report(tmp.path()).unwrap();
    assert_eq!(files.epochs, 0);
    parse(&std::fs::read_to_string(&files.curves).unwrap());
    let html = std::fs::read_to_string(&files.html).unwrap();
    parse(&html);
    assert!(html.contains("<p>0 epochs."), "{html}");
    // A folder that holds no run at all is not taken for one.
    let empty = tempfile::tempdir().unwrap();
    let err = seje::phase2::report::write_report(empty.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("metrics.jsonl"), "{err}");
}
