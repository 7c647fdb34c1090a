//! The evaluation against Python goldens: CPython's `random` stream and `sample`, the authors'
//! `test.py` ranking loop (1K subsets), the image-to-recipe-transformers and AdaMine references,
//! and a safetensors file written by an independent Python writer.
//!
//! Spec: spec/eval-protocol.md and spec/eval-cpython-sampling.md. Generator:
//! `fixtures/golden/eval/reference.py generate` (see the README there).

use std::path::{Path, PathBuf};

use seje::cpython_random::{sample_uses_pool, CpythonRandom};
use seje::eval::protocol::DirectionResult;
use seje::eval::{evaluate, Embeddings, EvalConfig, EvalReport, Protocol};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/eval")
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("golden.json")).expect("golden.json"))
        .expect("valid json")
}

fn fixture() -> Embeddings {
    Embeddings::read_npy_pair(&dir().join("image.npy"), &dir().join("recipe.npy")).unwrap()
}

fn run(emb: &Embeddings, protocol: Protocol, size: usize) -> EvalReport {
    let cfg = EvalConfig {
        protocol,
        sizes: vec![size],
        ..EvalConfig::default()
    };
    evaluate(emb, &cfg).unwrap()
}

/// Tolerance 1e-9: both sides average the same 10 exact fractions (k/1000) and medians (x or
/// x.5); only the order of the float additions of the mean can differ (NumPy sums pairwise).
fn check(got: &DirectionResult, want: &Value, what: &str) {
    let close = |g: f64, w: &Value, field: &str| {
        let w = w.as_f64().unwrap();
        assert!((g - w).abs() <= 1e-9, "{what} {field}: got {g}, golden {w}");
    };
    for (field, g) in [
        ("medr", got.medr),
        ("r1", got.r1),
        ("r5", got.r5),
        ("r10", got.r10),
    ] {
        close(g, &want[field], field);
    }
    let per = want["per_subset"].as_array().unwrap();
    assert_eq!(got.per_subset.len(), per.len(), "{what}: number of subsets");
    for (i, (g, w)) in got.per_subset.iter().zip(per).enumerate() {
        for (field, g) in [("medr", g.medr), ("r1", g.r1), ("r5", g.r5), ("r10", g.r10)] {
            close(g, &w[field], &format!("subset {i} {field}"));
        }
    }
}

// Python: random.seed(1234); [random.getrandbits(32) for _ in range(3)]
#[test]
fn golden_getrandbits_after_seed_1234() {
    let mut r = CpythonRandom::seed(1234);
    let got: Vec<u64> = (0..3)
        .map(|_| u64::from(r.getrandbits(32).unwrap()))
        .collect();
    let want: Vec<u64> = serde_json::from_value(golden()["getrandbits"].clone()).unwrap();
    assert_eq!(got, want);
}

// Python: random.seed(1234); [random.sample(range(n), k) for _ in range(10)]
#[test]
fn golden_sample_range_both_methods() {
    let g = golden();
    let mut methods = std::collections::BTreeSet::new();
    for (name, case) in g["sampler"].as_object().unwrap() {
        let n = case["n"].as_u64().unwrap() as usize;
        let k = case["k"].as_u64().unwrap() as usize;
        methods.insert(sample_uses_pool(n, k));
        let mut r = CpythonRandom::seed(1234);
        for s in 0..10 {
            let sub = r.sample_range(n, k).unwrap();
            let head: Vec<usize> = serde_json::from_value(case["head"][s].clone()).unwrap();
            assert_eq!(&sub[..head.len()], &head[..], "{name} subset {s} head");
            let sum: usize = sub.iter().sum();
            assert_eq!(
                sum as u64,
                case["sum"][s].as_u64().unwrap(),
                "{name} subset {s} sum"
            );
            if let Some(full) = case["full"].as_array() {
                let full: Vec<usize> = serde_json::from_value(full[s].clone()).unwrap();
                assert_eq!(sub, full, "{name} subset {s}");
            }
        }
    }
    assert_eq!(
        methods.len(),
        2,
        "the goldens cover both the pool and the set method"
    );
}

// Python: reference.py authors_loop(img, rec, 1000) — SEJE test.py's loop, literally.
#[test]
fn golden_seje_matches_the_authors_loop_at_1k() {
    let g = golden();
    let r = run(&fixture(), Protocol::Seje, 1000);
    check(
        &r.sizes[0].image_to_recipe,
        &g["seje_1000"]["image_to_recipe"],
        "seje i2r",
    );
    check(
        &r.sizes[0].recipe_to_image,
        &g["seje_1000"]["recipe_to_image"],
        "seje r2i",
    );
}

// Python: reference.py ht_reference(img, rec, ids, 1000) — eval.py + metrics.py of
// image-to-recipe-transformers (rows sorted by id, cosine, count of closer items + 1).
#[test]
fn golden_ht_matches_the_reference() {
    let g = golden();
    let mut e = fixture();
    e.ids = Some(serde_json::from_value(g["ht_ids"].clone()).unwrap());
    let r = run(&e, Protocol::Ht, 1000);
    check(
        &r.sizes[0].image_to_recipe,
        &g["ht_1000"]["image_to_recipe"],
        "ht i2r",
    );
    check(
        &r.sizes[0].recipe_to_image,
        &g["ht_1000"]["recipe_to_image"],
        "ht r2i",
    );
}

// Python: reference.py adamine_reference(img, rec, size) — trijoint.py's bags, argsort positions.
#[test]
fn golden_adamine_matches_the_reference() {
    let g = golden();
    for size in [100, 1000] {
        let r = run(&fixture(), Protocol::Adamine, size);
        let key = format!("adamine_{size}");
        check(
            &r.sizes[0].image_to_recipe,
            &g[&key]["image_to_recipe"],
            &key,
        );
        check(
            &r.sizes[0].recipe_to_image,
            &g[&key]["recipe_to_image"],
            &key,
        );
        assert_eq!(r.sizes[0].subsets, if size == 100 { 10 } else { 1 });
    }
}

// Python: reference.py write_safetensors (json.dumps with sorted keys, space padding)
#[test]
fn golden_safetensors_from_python_reads_and_rewrites_identically() {
    let path = dir().join("tiny.safetensors");
    let e = Embeddings::read_safetensors(&path).unwrap();
    let f = fixture();
    assert_eq!((e.n, e.d), (3, 16));
    assert_eq!(e.image, f.image[..48]);
    assert_eq!(e.recipe, f.recipe[..48]);
    assert_eq!(e.ids.as_deref().unwrap(), ["id00", "id01", "id02"]);
    assert_eq!(e.safetensors_bytes(), std::fs::read(&path).unwrap());
}
