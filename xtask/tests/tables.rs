//! The regenerated tables: a snapshot of the rendering of a fixed results file, the synthetic
//! banner in every output, and the committed `paper/regenerated/*` tables not stale.
//!
//! Spec: spec/reproduce.md (section "Tables").

use serde_json::json;
use xtask::results::{
    Phase1TruthResult, ReferenceResult, Results, StageRecord, VariantResult, MAIN_VARIANT,
    SYNTHETIC_BANNER,
};
use xtask::tables::{self, PaperTables};

fn root() -> std::path::PathBuf {
    xtask::workspace_root()
}

/// An evaluation report in the shape `seje eval --json` prints, for the given sizes. The values
/// are made up for the rendering test (MedR grows with the size), not measured.
fn report(sizes: &[u64], scale: f64) -> serde_json::Value {
    let dir = |size: u64, k: f64| {
        let m = scale * size as f64 / 2500.0 + 1.0 + k;
        json!({"medr": m, "r1": 0.25 / m, "r5": 0.5 / m.sqrt(), "r10": 0.6 / m.sqrt().sqrt()})
    };
    json!({
        "protocol": "seje",
        "sizes": sizes.iter().map(|&s| json!({
            "size": s,
            "subsets": 10,
            "image_to_recipe": dir(s, 0.5),
            "recipe_to_image": dir(s, 0.25),
        })).collect::<Vec<_>>(),
    })
}

fn results(synthetic: bool) -> Results {
    let variant = |name: &str, sizes: &[u64], scale: f64, test_pairs: usize| VariantResult {
        name: name.into(),
        test_pairs,
        not_evaluated: Vec::new(),
        classes: 1005,
        preset: if name == MAIN_VARIANT {
            "paper".into()
        } else {
            "authors-code".into()
        },
        eval: report(sizes, scale),
        seed: None,
        not_run: None,
        paper_claim: None,
        baseline: false,
        report: None,
    };
    let all = [1000, 10000, 20000, 30000, 40000, 50000];
    Results {
        config: "paper".into(),
        title: "SEJE on Recipe1M".into(),
        synthetic,
        banner: if synthetic {
            SYNTHETIC_BANNER.into()
        } else {
            String::new()
        },
        device: "cuda".into(),
        machine: json!({"cpu": "test", "cores": 2}),
        commit: "0123456789abcdef".into(),
        seje_sha256: "ab".repeat(32),
        stages: vec![StageRecord {
            stage: "train".into(),
            variant: MAIN_VARIANT.into(),
            key: "cd".repeat(32),
            dir: "{stages}/train-cdcd".into(),
            cached: false,
            seconds: 1234.5,
        }],
        wall_seconds: 1300.0,
        variants: vec![
            variant(MAIN_VARIANT, &all, 1.0, 51303),
            variant("without the image category feature", &all, 1.5, 51303),
        ],
        // A synthetic benchmark's truth gives the two reference rankings (made-up values).
        references: if synthetic {
            ["oracle", "category-ceiling"]
                .iter()
                .zip([0.01, 3.0])
                .map(|(name, scale)| ReferenceResult {
                    name: name.to_string(),
                    eval: report(&all, scale),
                })
                .collect()
        } else {
            Vec::new()
        },
        // And Phase I measured against it (made-up values in the shape `seje truth` writes).
        phase1_truth: synthetic.then(|| Phase1TruthResult {
            measures: json!({
                "key_terms": {
                    "recipes": 8000, "precision": 0.917, "recall": 0.999, "rating_share": 0.965,
                    "kinds": [
                        {"kind": "ingredient", "precision": 0.996, "recall": 1.0, "extracted": 5},
                        {"kind": "action", "precision": 0.932, "recall": 1.0, "extracted": 5},
                        {"kind": "utensil", "precision": 1.0, "recall": 0.994, "extracted": 5},
                        {"kind": "other", "precision": 0.0, "recall": null, "extracted": 7843}
                    ],
                    "wrong": [["heat", 1998], ["crisp", 1967]],
                    "missed": [["rice_cooker", 146]]
                },
                "predictions": {"top1": 0.718, "test_top1": 0.714},
                "categories": {
                    "pairs": 8000, "categories": 47, "dishes": 42,
                    "purity": 0.985, "inverse_purity": 0.973, "nmi": 0.981
                }
            }),
            categoriser_top1: Some(0.722),
        }),
        compare_with: None,
    }
}

/// The text of `tables.md` under `heading`, up to the next section.
fn section<'a>(files: &'a [(String, String)], heading: &str) -> &'a str {
    let md = &files.iter().find(|(n, _)| n == "tables.md").unwrap().1;
    md.split(heading)
        .nth(1)
        .expect("the section")
        .split("\n## ")
        .next()
        .unwrap()
}

#[test]
fn a_synthetic_run_has_its_phase_one_measured_against_the_truth() {
    let paper = PaperTables::load(&root().join("paper/tables")).unwrap();
    let files = tables::render(&results(true), &paper).unwrap();
    let section = section(&files, "## Phase I against the generator's truth");
    for row in [
        "| key terms of 8000 recipes | precision / recall | 91.7% / 99.9% |",
        "| action terms | precision / recall | 93.2% / 100.0% |",
        "| key terms of no kind of the world | extracted | 7843 |",
        "| key terms | most often wrong | heat 1998, crisp 1967 |",
        "| categoriser, its Food-101-format test split | top-1 | 72.2% |",
        "| f_cat: categoriser top-1 on the benchmark's photographs | true dish, all splits / test split | 71.8% / 71.4% |",
        "| 47 categories of 8000 pairs, 42 dishes | purity / inverse purity / NMI | 98.5% / 97.3% / 0.981 |",
    ] {
        assert!(section.contains(row), "missing {row} in\n{section}");
    }
    let csv = &files
        .iter()
        .find(|(n, _)| n == "phase1_truth.csv")
        .unwrap()
        .1;
    assert!(
        csv.contains("\"rating mass on true terms\",\"96.5%\""),
        "{csv}"
    );
    let real = tables::render(&results(false), &paper).unwrap();
    assert!(real
        .iter()
        .all(|(n, t)| n != "phase1_truth.csv" && !t.contains("against the generator's truth")));
}

/// MedR of a `seje eval --json` report at `size` in direction `dir`.
fn medr(eval: &serde_json::Value, size: u64, dir: &str) -> Option<f64> {
    eval["sizes"]
        .as_array()?
        .iter()
        .find(|s| s["size"].as_u64() == Some(size))?[dir]["medr"]
        .as_f64()
}

#[test]
fn the_committed_synthetic_run_has_both_presets_below_the_category_ceiling() {
    // The claim of spec/reproduce.md: at 1K, in both directions, the paper preset (the main
    // variant) and the released code's preset retrieve better than recognising the dish alone.
    let file = root().join("paper/regenerated/synthetic/results.json");
    let r: Results = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let ceiling = &r
        .references
        .iter()
        .find(|x| x.name == "category-ceiling")
        .expect("the category ceiling")
        .eval;
    let main = r.variants.first().expect("the main variant");
    assert_eq!(
        (main.name.as_str(), main.preset.as_str()),
        (MAIN_VARIANT, "paper")
    );
    let released = r
        .variants
        .iter()
        .find(|v| v.preset == "authors-code")
        .expect("a variant of the released code's preset");
    for v in [main, released] {
        for dir in ["image_to_recipe", "recipe_to_image"] {
            let (ours, top) = (medr(&v.eval, 1000, dir), medr(ceiling, 1000, dir));
            assert!(
                matches!((ours, top), (Some(o), Some(c)) if o < c),
                "{} ({}), {dir}: MedR {ours:?}, category ceiling {top:?}",
                v.name,
                v.preset
            );
        }
    }
}

#[test]
fn a_synthetic_run_shows_the_oracle_above_and_the_category_ceiling_below_its_variants() {
    let paper = PaperTables::load(&root().join("paper/tables")).unwrap();
    let files = tables::render(&results(true), &paper).unwrap();
    let section = section(&files, "## What the generator knows is achievable");
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| 1K |"))
        .map(|l| l.split(" | ").nth(1).unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            "oracle",
            "ours: SEJE (all features)",
            "ours: without the image category feature",
            "category-ceiling"
        ]
    );
    assert!(section.contains("| 1K | oracle | 1.50 |"), "{section}");
    let csv = &files.iter().find(|(n, _)| n == "references.csv").unwrap().1;
    assert!(csv.contains("\"oracle\",1000,image_to_recipe,1.5"), "{csv}");
    // Real data has no truth, hence no section and no file.
    let real = tables::render(&results(false), &paper).unwrap();
    assert!(real
        .iter()
        .all(|(n, t)| n != "references.csv" && !t.contains("What the generator knows")));
}

#[test]
fn a_released_msje_checkpoint_is_compared_with_msjes_table() {
    // MSJE's table (git-disl/MSJE's README figure, read from the image): verified, every cell.
    let paper = PaperTables::load(&root().join("paper/tables")).unwrap();
    let r = Results {
        compare_with: Some("msje".into()),
        ..results(false)
    };
    let rendered = tables::render(&r, &paper).unwrap();
    let get = |n: &str| &rendered.iter().find(|(name, _)| name == n).unwrap().1;
    let md = get("tables.md");
    assert!(
        md.contains("## Main results: MSJE on the 1K and 10K test sets"),
        "{md}"
    );
    assert!(
        md.contains("`paper/tables/msje_main.toml` (verified: true"),
        "{md}"
    );
    let csv = get("main.csv");
    assert!(csv.contains("1000,image_to_recipe,r1,56.5,true,"), "{csv}");
    assert!(
        csv.contains("10000,recipe_to_image,r10,64.1,true,"),
        "{csv}"
    );
    // Without it, SEJE's.
    let seje = tables::render(&results(false), &paper).unwrap();
    let csv = &seje.iter().find(|(n, _)| n == "main.csv").unwrap().1;
    assert!(csv.contains("1000,image_to_recipe,r1,58.1,false,"), "{csv}");
}

#[test]
fn the_rendering_of_a_full_results_file_is_stable() {
    let paper = PaperTables::load(&root().join("paper/tables")).unwrap();
    for (name, text) in tables::render(&results(false), &paper).unwrap() {
        insta::assert_snapshot!(format!("render_{name}"), text);
    }
}

#[test]
fn every_output_of_a_synthetic_run_says_so_and_no_other_does() {
    let paper = PaperTables::load(&root().join("paper/tables")).unwrap();
    for (name, text) in tables::render(&results(true), &paper).unwrap() {
        assert!(text.contains(SYNTHETIC_BANNER), "{name} lacks the banner");
    }
    for (name, text) in tables::render(&results(false), &paper).unwrap() {
        assert!(!text.contains(SYNTHETIC_BANNER), "{name} has the banner");
    }
}

#[test]
fn every_table_names_the_preset_of_its_rows() {
    let paper = PaperTables::load(&root().join("paper/tables")).unwrap();
    let rendered = tables::render(&results(false), &paper).unwrap();
    let get = |n: &str| &rendered.iter().find(|(name, _)| name == n).unwrap().1;
    let md = get("tables.md");
    assert!(md.contains("## Main results: SEJE on the 1K and 10K test sets (ours: preset paper)"));
    assert!(md.contains("## MedR as the test set grows (ours: preset paper)"));
    assert!(
        md.contains("| without the image category feature (C = 1005) | authors-code |"),
        "{md}"
    );
    assert!(get("main.csv").lines().nth(1).unwrap().contains(",paper,"));
    assert!(get("ablations.csv").contains("\"without the image category feature\",authors-code,"));
    assert!(get("medr_vs_test_size.csv")
        .lines()
        .nth(1)
        .unwrap()
        .ends_with(",paper"));
    assert!(get("medr_vs_test_size.svg").contains("ours (preset paper)"));
}

#[test]
fn paper_values_and_their_verified_flags_come_from_paper_tables() {
    let paper = PaperTables::load(&root().join("paper/tables")).unwrap();
    let rendered = tables::render(&results(false), &paper).unwrap();
    let csv = &rendered.iter().find(|(n, _)| n == "main.csv").unwrap().1;
    // The 10K MedR cells are the verified ones (the scalability figure); 1K MedR is not.
    assert!(
        csv.contains("10000,image_to_recipe,medr,4.2,true,"),
        "{csv}"
    );
    assert!(
        csv.contains("10000,recipe_to_image,medr,4.0,true,"),
        "{csv}"
    );
    assert!(
        csv.contains("1000,image_to_recipe,medr,1.0,false,"),
        "{csv}"
    );
    assert!(
        csv.contains("10000,image_to_recipe,r1,26.9,false,"),
        "{csv}"
    );
    // ours − paper at 10K MedR: made-up MedR 10000/2500 + 1.5 = 5.5, minus 4.2.
    assert!(
        csv.contains("10000,image_to_recipe,medr,4.2,true,5.5000,paper,1.3000"),
        "{csv}"
    );
}

#[test]
fn sizes_not_evaluated_are_said_so_not_left_blank_or_invented() {
    let paper = PaperTables::load(&root().join("paper/tables")).unwrap();
    let mut r = results(true);
    r.variants[0].eval = report(&[1000], 1.0);
    r.variants[0].test_pairs = 1200;
    let md = tables::render(&r, &paper).unwrap().remove(0).1;
    assert!(
        md.contains("| 10K | image→recipe | MedR | 4.2 | yes | not evaluated (test split: 1200 pairs) | — |"),
        "{md}"
    );
}

#[test]
fn committed_regenerated_tables_are_not_stale() {
    let dirs = tables::regenerated_dirs(&root()).unwrap();
    assert!(
        !dirs.is_empty(),
        "paper/regenerated holds no results.json (the synthetic run is committed)"
    );
    for d in dirs {
        let stale = tables::refresh(&root(), &d, false).unwrap();
        assert!(
            stale.is_empty(),
            "stale (run `cargo xtask tables` and commit): {stale:?}"
        );
        let problems = tables::provenance_problems(&root(), &d).unwrap();
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

#[test]
fn results_from_a_dirty_tree_a_foreign_commit_or_with_a_machine_path_are_refused() {
    let head = xtask::git_commit(&root());
    let head = head.trim_end_matches("-dirty").to_string();
    let problems = |edit: &dyn Fn(&mut Results)| {
        let dir = tempfile::tempdir().unwrap();
        let mut r = results(true);
        r.commit = head.clone();
        edit(&mut r);
        let json = serde_json::to_string_pretty(&r).unwrap();
        std::fs::write(dir.path().join("results.json"), json).unwrap();
        tables::provenance_problems(&root(), dir.path()).unwrap()
    };
    assert_eq!(problems(&|_| {}), Vec::<String>::new());
    let dirty = problems(&|r| r.commit = format!("{}-dirty", r.commit));
    assert!(dirty[0].contains("uncommitted changes"), "{dirty:?}");
    let foreign = problems(&|r| r.commit = "0123456789abcdef0123456789abcdef01234567".into());
    assert!(foreign[0].contains("does not hold"), "{foreign:?}");
    assert!(problems(&|r| r.commit = "unknown".into())[0].contains("records no commit"));
    let path = problems(&|r| r.title = "/home/someone/seje".into());
    assert!(
        path[0].contains(".title holds the absolute path `/home/someone/seje`"),
        "{path:?}"
    );
}

#[test]
fn each_trained_variant_links_its_run_report_and_a_committed_report_must_be_there_and_portable() {
    let paper = PaperTables::load(&root().join("paper/tables")).unwrap();
    let mut r = results(true);
    // Results written before reports existed render as before: no section.
    let md = |r: &Results| {
        let files = tables::render(r, &paper).unwrap();
        files.into_iter().find(|(n, _)| n == "tables.md").unwrap().1
    };
    assert!(!md(&r).contains("## Run reports"));
    r.commit = xtask::git_commit(&root())
        .trim_end_matches("-dirty")
        .to_string();
    r.variants[0].report = Some("reports/seje-all-features.html".into());
    let text = md(&r);
    let section = &text[text.find("## Run reports").expect("a reports section")..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    assert!(
        section.contains(&format!(
            "| {} | — | [reports/seje-all-features.html](reports/seje-all-features.html) |",
            r.variants[0].name
        )),
        "{section}"
    );
    assert!(
        !section.contains(&r.variants[1].name),
        "a variant without a report is not linked: {section}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("results.json"),
        serde_json::to_string_pretty(&r).unwrap(),
    )
    .unwrap();
    let problems = || tables::provenance_problems(&root(), dir.path()).unwrap();
    let missing = problems();
    assert!(
        missing.len() == 1 && missing[0].contains("links is missing"),
        "{missing:?}"
    );
    std::fs::create_dir(dir.path().join("reports")).unwrap();
    let page = dir.path().join("reports/seje-all-features.html");
    let portable = "<pre>data.features = &quot;{stages}/train-0123/features&quot;</pre>";
    std::fs::write(&page, portable).unwrap();
    assert_eq!(problems(), Vec::<String>::new());
    std::fs::write(
        &page,
        portable.replace("{stages}", "/home/someone/runs/stages"),
    )
    .unwrap();
    let absolute = problems();
    assert!(
        absolute.len() == 1
            && absolute[0].contains(
                "holds the absolute path `/home/someone/runs/stages/train-0123/features`"
            ),
        "{absolute:?}"
    );
}

/// Results of a configuration with seeds: the full model and three variants, each seed's MedR
/// offset by `seed_shift * seed` (made-up values); a fourth variant not run.
fn seeded_results() -> Results {
    use xtask::results::Claim;
    let mut r = results(true);
    r.config = "synthetic-ablations".into();
    let v = |name: &str, scale: f64, seed: u64, claim: Option<Claim>| VariantResult {
        name: name.into(),
        test_pairs: 1200,
        not_evaluated: Vec::new(),
        classes: 47,
        preset: "paper".into(),
        eval: report(&[1000], scale + 0.1 * seed as f64),
        seed: Some(seed),
        not_run: None,
        paper_claim: claim,
        baseline: false,
        report: None,
    };
    let mut variants = Vec::new();
    for (name, scale, claim) in [
        (MAIN_VARIANT, 20.0, None),
        ("without f_cat", 120.0, Some(Claim::Worse)),
        ("term rating: TextRank", 20.0, None),
    ] {
        for seed in 1..=3 {
            variants.push(v(name, scale, seed, claim));
        }
    }
    // Better than the full model on every seed, where the paper claims worse.
    for (seed, scale) in [(1, 5.0), (2, 6.0), (3, 5.5)] {
        variants.push(v("instance negatives", scale, seed, Some(Claim::Worse)));
    }
    variants.push(VariantResult {
        eval: serde_json::Value::Null,
        not_run: Some("needs {data}/bert/config.json: a BERT model directory".into()),
        seed: None,
        ..v("term rating: BERT", 0.0, 0, None)
    });
    r.variants = variants;
    r
}

#[test]
fn seeds_give_means_paired_differences_verdicts_and_a_chart() {
    let paper = PaperTables::load(&root().join("paper/tables")).unwrap();
    let files = tables::render(&seeded_results(), &paper).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for f in ["ablations.csv", "ablations_summary.csv", "ablations.svg"] {
        assert!(names.contains(&f), "{f} missing from {names:?}");
    }
    let md = section(&files, "## Ablations over seeds");
    // Mean ± sd over seeds 1, 2, 3: image→recipe MedR = scale 1000/2500 + 1 + 0.5 with scale
    // 20.1, 20.2, 20.3: 9.54, 9.58, 9.62: mean 9.58, sd 0.04.
    assert!(
        md.contains("| SEJE (all features) (C = 47) | paper | 3 | 9.58 ± 0.04"),
        "{md}"
    );
    let row = |name: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no difference row for {name}:\n{md}"))
            .to_string()
    };
    // Every seed 40 worse: the interval is the point, the direction the paper's.
    assert!(
        row("without f_cat").contains("+40.00 [+40.00, +40.00]"),
        "{}",
        row("without f_cat")
    );
    assert!(
        row("without f_cat").ends_with("| yes |"),
        "{}",
        row("without f_cat")
    );
    assert!(row("instance negatives").ends_with("| no: the opposite direction |"));
    assert!(row("term rating: TextRank").ends_with("| no claim |"));
    assert!(md.contains("| term rating: BERT | — | 0 | not run: needs {data}/bert/config.json"));
    // One CSV row per variant, seed and direction; the not-run variant has none.
    let per_seed = &files.iter().find(|(n, _)| n == "ablations.csv").unwrap().1;
    assert_eq!(
        per_seed.lines().filter(|l| l.contains(",1000,")).count(),
        4 * 3 * 2
    );
    assert!(per_seed.contains("\"without f_cat\",paper,2,1000,image_to_recipe,"));
    let summary = &files
        .iter()
        .find(|(n, _)| n == "ablations_summary.csv")
        .unwrap()
        .1;
    assert!(
        summary.contains("\"term rating: BERT\",,0,,,,,,,,,not run"),
        "{summary}"
    );
    assert!(summary.contains("\"without f_cat\",paper,3,image_to_recipe,medr,49.5800,0.0400,40.0000,40.0000,40.0000,worse,\"yes\""), "{summary}");
    let svg = &files.iter().find(|(n, _)| n == "ablations.svg").unwrap().1;
    assert!(svg.contains(SYNTHETIC_BANNER));
    assert_eq!(
        svg.matches("<circle").count(),
        4 * 3 * 2,
        "a dot per variant, seed and direction"
    );
    // The main table says which seed it shows; the references list each variant once.
    assert!(section(&files, "## Main results").contains("preset paper, seed 1"));
    let refs = section(&files, "## What the generator knows");
    assert_eq!(
        refs.matches("ours: without f_cat, seed 1").count(),
        1,
        "{refs}"
    );
    assert!(!refs.contains("seed 2"));
}

#[test]
fn a_baseline_variant_is_drawn_next_to_ours_at_every_size() {
    let paper = PaperTables::load(&root().join("paper/tables")).unwrap();
    let mut r = results(true);
    r.variants[1].baseline = true;
    let files = tables::render(&r, &paper).unwrap();
    let md = section(&files, "## MedR as the test set grows");
    assert!(
        md.contains("Our baseline in ACME's role: *without the image category feature*"),
        "{md}"
    );
    // Main: 1.0 · 50000/2500 + 1.5 = 21.50; the baseline's scale is 1.5: 31.50.
    assert!(
        md.contains("| 50K | 19.0 | 31.2 | 21.50 | 31.50 | 18.0 | 29.0 |"),
        "{md}"
    );
    let csv = &files
        .iter()
        .find(|(n, _)| n == "medr_vs_test_size.csv")
        .unwrap()
        .1;
    assert!(
        csv.contains(",ours_baseline,ours_baseline_preset\n"),
        "{csv}"
    );
    assert!(csv.contains("50000,image_to_recipe,19.0,31.2,21.5000,paper,31.5000,authors-code\n"));
    let svg = &files.iter().find(|(n, _)| n == tables::FIGURE).unwrap().1;
    assert_eq!(
        svg.matches("stroke=\"#7f7f7f\"").count(),
        4,
        "two lines and two legend keys"
    );
    // Without a baseline, no such column.
    let plain = tables::render(&results(true), &paper).unwrap();
    assert!(!section(&plain, "## MedR as the test set grows").contains("baseline"));
}
