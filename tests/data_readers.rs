//! Reader round trips and the inclusion rules as properties: what a dataset writer puts in the
//! three files is what the readers give back, and the pairs are exactly those a direct
//! transcription of im2recipe's rules selects, whatever the order of layer2/det_ingrs.
//!
//! Spec: spec/data-recipe1m.md.

#[path = "support/dataset.rs"]
mod dataset;

use dataset::RecipeSpec;
use proptest::prelude::*;
use seje::data::pairs;
use seje::data::recipe1m;
use seje::data::splits::Partition;

fn recipes_strategy() -> impl Strategy<Value = Vec<RecipeSpec>> {
    prop::collection::vec(
        (
            0usize..3,
            0usize..24,
            prop::collection::vec(prop::bool::weighted(0.8), 0..23),
            0usize..8,
        ),
        0..24,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (p, n, valid, k))| RecipeSpec {
                id: format!("{:010x}", i * 2654435761 % 0xffff_ffff),
                partition: ["train", "val", "test"][p],
                n_instructions: n,
                valid,
                images: (0..k).map(|j| format!("{:08x}{j:02x}.jpg", i)).collect(),
            })
            .collect()
    })
}

/// im2recipe's rules, transcribed directly.
fn expected_pairs(
    recipes: &[RecipeSpec],
    removed: &[String],
    p: &str,
) -> Vec<(String, Vec<String>)> {
    recipes
        .iter()
        .filter(|r| r.partition == p)
        .filter(|r| !removed.contains(&r.id))
        .filter(|r| r.n_instructions < 20)
        .filter(|r| {
            let d = r.valid.iter().filter(|v| **v).count();
            (1..20).contains(&d)
        })
        .filter(|r| !r.images.is_empty())
        .map(|r| (r.id.clone(), r.images.iter().take(5).cloned().collect()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn layer1_round_trips(recipes in recipes_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        dataset::write_json(dir.path(), &recipes);
        let mut got = Vec::new();
        let n = recipe1m::read_layer1(dir.path(), |r| { got.push(r); Ok(()) }).unwrap();
        prop_assert_eq!(n, recipes.len());
        for (g, r) in got.iter().zip(&recipes) {
            prop_assert_eq!(&g.id, &r.id);
            prop_assert_eq!(g.partition.as_str(), r.partition);
            prop_assert_eq!(g.instructions.len(), r.n_instructions);
            prop_assert_eq!(g.ingredients.len(), r.valid.len());
            prop_assert_eq!(&g.title, &format!("dish {}", r.id));
        }
        let mut summaries = Vec::new();
        recipe1m::read_layer1_summaries(dir.path(), |s| { summaries.push(s); Ok(()) }).unwrap();
        for (s, g) in summaries.iter().zip(&got) {
            prop_assert_eq!((&s.id, s.partition, s.n_instructions), (&g.id, g.partition, g.instructions.len()));
        }
        let mut images = Vec::new();
        recipe1m::read_layer2(dir.path(), |r| { images.push(r); Ok(()) }).unwrap();
        let want: Vec<_> = recipes.iter().filter(|r| !r.images.is_empty()).map(|r| (r.id.clone(), r.images.clone())).collect();
        let got_images: Vec<_> = images.into_iter().map(|r| (r.id, r.images)).collect();
        prop_assert_eq!(got_images, want);
        let mut dets = Vec::new();
        recipe1m::read_det_ingrs(dir.path(), |d| { dets.push(d); Ok(()) }).unwrap();
        for (d, r) in dets.iter().zip(&recipes) {
            prop_assert_eq!(&d.valid, &r.valid);
            prop_assert_eq!(d.n_detected(), r.valid.iter().filter(|v| **v).count());
        }
    }

    #[test]
    fn pairs_follow_the_rules_and_counts_add_up(recipes in recipes_strategy(), remove_every in 2usize..6, reverse in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        dataset::write_json(dir.path(), &recipes);
        let removed: Vec<String> = recipes.iter().step_by(remove_every).map(|r| r.id.clone()).collect();
        std::fs::write(dir.path().join("remove1M.txt"), removed.join("\n")).unwrap();
        if reverse {
            // The order of layer2.json and det_ingrs.json must not matter.
            for f in ["layer2.json", "det_ingrs.json"] {
                let path = dir.path().join(f);
                let mut v: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                v.reverse();
                std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
            }
        }
        let (ds, report) = pairs::open(dir.path()).unwrap();
        for p in Partition::ALL {
            let got: Vec<_> = ds.split(p).iter().map(|x| (x.recipe_id.clone(), x.images.clone())).collect();
            prop_assert_eq!(&got, &expected_pairs(&recipes, &removed, p.as_str()));
            let c = report.split(p);
            prop_assert_eq!(c.pairs, got.len());
            prop_assert_eq!(c.recipes, c.pairs + c.excluded.total());
            prop_assert_eq!(c.recipes, recipes.iter().filter(|r| r.partition == p.as_str()).count());
            prop_assert_eq!(c.images, got.iter().map(|g| g.1.len()).sum::<usize>());
        }
    }
}

#[test]
fn an_empty_dataset_joins_to_nothing() {
    let dir = tempfile::tempdir().unwrap();
    dataset::write_json(dir.path(), &[]);
    let (ds, report) = pairs::open(dir.path()).unwrap();
    assert!(Partition::ALL.iter().all(|&p| ds.split(p).is_empty()));
    // Nothing counted; the splits come from the valid-count rule (no key files, no vocabulary).
    let source = seje::data::splits::SplitSource {
        kind: "rule".into(),
        rule: "valid-count".into(),
        ..Default::default()
    };
    assert_eq!(
        report,
        pairs::JoinReport {
            source,
            ..Default::default()
        }
    );
}

#[test]
fn a_missing_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = pairs::open(dir.path()).unwrap_err();
    assert!(
        e.to_string().starts_with("layer1.json: no such file"),
        "{e}"
    );
}

#[test]
fn a_bad_line_of_the_exclusion_list_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    dataset::write_json(dir.path(), &[dataset::recipe("a0", "train", 1)]);
    std::fs::write(dir.path().join("remove1M.txt"), "a0\n\nA0\n").unwrap();
    let e = pairs::open(dir.path()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "remove1M.txt:3: recipe id \"A0\" is not lowercase hex"
    );
}

#[test]
fn unknown_entries_in_layer2_and_det_ingrs_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    dataset::write_json(
        dir.path(),
        &[
            dataset::recipe("a0", "train", 1),
            dataset::recipe("b0", "val", 1),
        ],
    );
    // Drop b0 from layer1.json only.
    let path = dir.path().join("layer1.json");
    let mut v: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v.pop();
    std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    let (_, report) = pairs::open(dir.path()).unwrap();
    assert_eq!((report.layer2_unknown, report.det_ingrs_unknown), (1, 1));
}
