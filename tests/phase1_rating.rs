//! Term rating against scikit-learn and networkx goldens (`fixtures/golden/rating/`), the errors,
//! and properties: TF-IDF rows have unit L2 norm (or are empty) and an idf independent of the
//! corpus order; TextRank scores sum to 1 and do not depend on the order or the names of the
//! candidates.
//!
//! Spec: spec/phase1-term-rating.md.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use seje::phase1::rating::{cooccurrence_graph, textrank, TextRankConfig, Tfidf};
use serde_json::Value;

const TOL: f64 = 1e-12;

fn golden() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/rating/golden.json");
    let text = std::fs::read_to_string(&path).expect("golden.json exists");
    serde_json::from_str(&text).expect("golden.json parses")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn docs(v: &Value) -> Vec<Vec<String>> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(strings)
        .collect()
}

fn owned(terms: &[&str]) -> Vec<String> {
    terms.iter().map(|t| t.to_string()).collect()
}

#[test]
fn tfidf_matches_scikit_learn() {
    let g = golden();
    let t = &g["tfidf"];
    let tfidf = Tfidf::fit(&docs(&t["corpus"])).expect("fits");
    let vocabulary = strings(&t["vocabulary"]);
    assert_eq!(tfidf.vocabulary().collect::<Vec<_>>(), vocabulary);
    assert_eq!(tfidf.documents(), 5);
    for (term, idf) in vocabulary.iter().zip(t["idf"].as_array().expect("idf")) {
        let want = idf.as_f64().expect("a number");
        let got = tfidf.idf(term).expect("a fitted term");
        assert!((got - want).abs() <= TOL, "idf({term}): {got} vs {want}");
    }
    let queries = docs(&t["queries"]);
    let rows = t["rows"].as_array().expect("rows");
    assert_eq!(queries.len(), rows.len());
    for (query, row) in queries.iter().zip(rows) {
        let want: Vec<(String, f64)> = row
            .as_array()
            .expect("a row")
            .iter()
            .map(|p| {
                (
                    p[0].as_str().expect("a term").to_string(),
                    p[1].as_f64().expect("a weight"),
                )
            })
            .collect();
        let got = tfidf.transform(query);
        assert_eq!(
            got.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            want.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            "terms of {query:?}"
        );
        for ((term, g), (_, w)) in got.iter().zip(&want) {
            assert!((g - w).abs() <= TOL, "{query:?}, {term}: {g} vs {w}");
            assert!((tfidf.weight(query, term) - w).abs() <= TOL);
        }
    }
    assert_eq!(tfidf.idf("saffron"), None);
    assert_eq!(tfidf.weight(&owned(&["saffron", "garlic"]), "saffron"), 0.0);
}

#[test]
fn textrank_matches_networkx() {
    let g = golden();
    for case in g["textrank"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("a name");
        let tokens = strings(&case["tokens"]);
        let candidates = strings(&case["candidates"]);
        let cfg = TextRankConfig {
            window: case["window"].as_u64().expect("window") as usize,
            weighted: case["weighted"].as_bool().expect("weighted"),
            max_iter: case["max_iter"].as_u64().expect("max_iter") as usize,
            ..TextRankConfig::default()
        };
        let graph = cooccurrence_graph(&tokens, &candidates, &cfg).expect("a graph");
        let edges: Vec<(String, String, f64)> = graph
            .edges
            .iter()
            .map(|(&(i, j), &w)| (graph.nodes[i].clone(), graph.nodes[j].clone(), w))
            .collect();
        let want_edges: Vec<(String, String, f64)> = case["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| {
                (
                    e[0].as_str().expect("a term").to_string(),
                    e[1].as_str().expect("a term").to_string(),
                    e[2].as_f64().expect("a weight"),
                )
            })
            .collect();
        assert_eq!(edges, want_edges, "{name}: edges");
        let got = textrank(&tokens, &candidates, &cfg);
        match &case["scores"] {
            Value::Null => {
                let e = got.expect_err("networkx did not converge");
                assert!(e.to_string().contains("did not converge"), "{name}: {e}");
            }
            Value::Object(scores) => {
                let got = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    got.keys().collect::<Vec<_>>(),
                    scores.keys().collect::<Vec<_>>(),
                    "{name}: nodes"
                );
                for (term, want) in scores {
                    let want = want.as_f64().expect("a score");
                    let g = got[term];
                    assert!((g - want).abs() <= TOL, "{name}, {term}: {g} vs {want}");
                }
            }
            other => panic!("{name}: unexpected scores {other}"),
        }
    }
}

#[test]
fn an_empty_corpus_is_refused() {
    let e = Tfidf::fit(&[]).expect_err("no documents");
    assert!(e.to_string().contains("empty vocabulary"), "{e}");
    let e = Tfidf::fit(&[vec![], vec![]]).expect_err("no terms");
    assert!(e.to_string().contains("empty vocabulary"), "{e}");
}

#[test]
fn bad_textrank_settings_are_refused() {
    let tokens = owned(&["a", "b"]);
    let bad = [
        (
            TextRankConfig {
                window: 1,
                ..Default::default()
            },
            "window",
        ),
        (
            TextRankConfig {
                window: 0,
                ..Default::default()
            },
            "window",
        ),
        (
            TextRankConfig {
                damping: 1.5,
                ..Default::default()
            },
            "damping",
        ),
        (
            TextRankConfig {
                damping: f64::NAN,
                ..Default::default()
            },
            "damping",
        ),
        (
            TextRankConfig {
                tol: 0.0,
                ..Default::default()
            },
            "tol",
        ),
        (
            TextRankConfig {
                max_iter: 0,
                ..Default::default()
            },
            "max_iter",
        ),
    ];
    for (cfg, what) in bad {
        let e = textrank(&tokens, &tokens, &cfg).expect_err("refused");
        assert!(e.to_string().contains(what), "{cfg:?}: {e}");
    }
}

/// Small documents over a small alphabet, so terms repeat across documents.
fn corpus() -> impl Strategy<Value = Vec<Vec<String>>> {
    prop::collection::vec(
        prop::collection::vec("[a-f]{1,2}".prop_map(String::from), 0..8),
        1..6,
    )
}

fn candidates_and_tokens() -> impl Strategy<Value = (Vec<String>, Vec<String>, usize)> {
    (
        prop::collection::vec("[a-h]".prop_map(String::from), 0..30),
        prop::collection::btree_set("[a-h]".prop_map(String::from), 0..8),
        2usize..5,
    )
        .prop_map(|(tokens, cands, window)| (tokens, cands.into_iter().collect(), window))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tfidf_rows_have_unit_norm_or_are_empty(docs in corpus(), query in prop::collection::vec("[a-g]{1,2}".prop_map(String::from), 0..8)) {
        prop_assume!(docs.iter().any(|d| !d.is_empty()));
        let tfidf = Tfidf::fit(&docs).expect("fits");
        for doc in docs.iter().chain([&query]) {
            let row = tfidf.transform(doc);
            let norm = row.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
            prop_assert!(row.is_empty() || (norm - 1.0).abs() <= TOL, "norm {}", norm);
            prop_assert!(row.iter().all(|(_, w)| *w > 0.0));
            prop_assert!(row.windows(2).all(|p| p[0].0 < p[1].0), "sorted, distinct terms");
        }
    }

    #[test]
    fn tfidf_idf_does_not_depend_on_document_order(docs in corpus(), seed in any::<u64>()) {
        prop_assume!(docs.iter().any(|d| !d.is_empty()));
        let mut shuffled = docs.clone();
        // A seeded Fisher–Yates shuffle, so the case is reproducible.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let (a, b) = (Tfidf::fit(&docs).expect("fits"), Tfidf::fit(&shuffled).expect("fits"));
        prop_assert_eq!(&a, &b);
        for doc in &docs {
            prop_assert_eq!(a.transform(doc), b.transform(doc));
        }
    }

    #[test]
    fn textrank_scores_sum_to_one((tokens, cands, window) in candidates_and_tokens()) {
        let cfg = TextRankConfig { window, ..Default::default() };
        let scores = textrank(&tokens, &cands, &cfg).expect("converges");
        prop_assert_eq!(scores.len(), cands.len());
        if !cands.is_empty() {
            let sum: f64 = scores.values().sum();
            prop_assert!((sum - 1.0).abs() <= TOL, "sum {}", sum);
            prop_assert!(scores.values().all(|&s| s > 0.0));
        }
    }

    #[test]
    fn textrank_does_not_depend_on_candidate_order_or_names(
        (tokens, cands, window) in candidates_and_tokens(),
        rotate in 0usize..8,
    ) {
        let cfg = TextRankConfig { window, ..Default::default() };
        let scores = textrank(&tokens, &cands, &cfg).expect("converges");
        // Listing order: the same map, bit for bit.
        let mut listed = cands.clone();
        listed.reverse();
        if !listed.is_empty() {
            let k = rotate % listed.len();
            listed.rotate_left(k);
        }
        listed.extend(cands.iter().cloned()); // duplicates name the same node
        prop_assert_eq!(&textrank(&tokens, &listed, &cfg).expect("converges"), &scores);
        // Renaming: a bijection on names that reverses their sorted order gives the same scores.
        let rename = |t: &String| format!("z{}", (b'a' + b'h' - t.as_bytes()[0]) as char);
        let renamed = textrank(
            &tokens.iter().map(rename).collect::<Vec<_>>(),
            &cands.iter().map(rename).collect::<Vec<_>>(),
            &cfg,
        )
        .expect("converges");
        let back: BTreeMap<String, f64> = scores.iter().map(|(t, &s)| (rename(t), s)).collect();
        prop_assert_eq!(renamed.len(), back.len());
        for (t, s) in &back {
            prop_assert!((renamed[t] - s).abs() <= TOL, "{}: {} vs {}", t, renamed[t], s);
        }
    }
}
