//! `seje index` and `seje query` end to end with real Phase I artefacts built here (text
//! features, sentence features, a categoriser, the category feature) and a tiny Phase II run, on
//! a 600-recipe set of the fixture generator (`seje synth --preset fixture-mini --recipes 600`:
//! the committed 160-recipe fixture leaves 32 test pairs, on which a CI-sized run ranks at
//! chance, so it cannot show retrieval working): photo queries reproduce the index's image
//! embeddings, and the index's pairs pass the permutation test (p <= 1e-3); a dataset recipe given as JSON reproduces its stored
//! f_term and f_sent rows and its index embedding; JSON and HTML output; errors.
//!
//! Spec: spec/retrieval.md.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fixtures.rs"]
mod fixtures;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fixtures::repo;
use seje::data::feature_store::FeatureStore;
use seje::data::recipe1m::{read_layer1, Recipe};
use seje::data::splits::Partition;
use seje::retrieval::features::{RecipeFeatures, Vectors};
use seje::retrieval::{photo_self_retrieval, Index, PhaseOneArtefacts, RecipeQuery, Retriever};
use serde_json::Value;

fn seje() -> assert_cmd::Command {
    cli::seje_logging("warn")
}

fn run(args: &[&str]) {
    let out = seje().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "seje {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Everything built once per test binary: Phase I artefacts, a trained run and its test index.
struct Built {
    _dir: tempfile::TempDir,
    root: PathBuf,
    text: PathBuf,
    sentences: PathBuf,
    categoriser: PathBuf,
    run: PathBuf,
    index: PathBuf,
}

impl Built {
    fn artefacts(&self) -> PhaseOneArtefacts {
        PhaseOneArtefacts {
            text_features: Some(self.text.clone()),
            sentences: Some(self.sentences.clone()),
            categoriser: Some(self.categoriser.clone()),
            w2v: None,
        }
    }
}

fn built() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let s = |p: &Path| p.display().to_string();
        let (root_dir, food_dir) = (p("recipe1m"), p("food101"));
        let (root, food) = (s(&root_dir), s(&food_dir));
        #[rustfmt::skip]
        run(&["synth", "--preset", "fixture-mini", "--recipes", "600", "--image-size", "64", "--max-images", "1", "--out", &root, "--food101", &food]);
        let (text, sentences, categoriser, features, run_dir, index) = (
            p("text"),
            p("sentences"),
            p("categoriser"),
            p("features"),
            p("run"),
            p("test.index"),
        );
        let vocab = s(&text.join("vocab.bin"));
        // The CI-sized arguments of paper/reproduce/fixture-mini.toml.
        run(&[
            "features",
            "text",
            "--root",
            &root,
            "--out",
            &s(&text),
            "--size",
            "8",
            "--iter",
            "1",
            "--min-count",
            "2",
        ]);
        run(&[
            "features",
            "sentences",
            "--root",
            &root,
            "--w2v",
            &vocab,
            "--out",
            &s(&sentences),
            "--hidden",
            "16",
            "--epochs",
            "1",
            "--vocab",
            "200",
        ]);
        run(&[
            "features",
            "categoriser",
            "--food101",
            &food,
            "--out",
            &s(&categoriser),
            "--arch",
            "tiny",
            "--image-size",
            "72",
            "--crop",
            "64",
            "--epochs",
            "4",
            "--batch",
            "8",
        ]);
        run(&[
            "features",
            "categories",
            "--root",
            &root,
            "--categoriser",
            &s(&categoriser),
            "--w2v",
            &vocab,
            "--food101",
            &food,
            "--features",
            &s(&text),
            "--out",
            &s(&features),
            "--min-train",
            "0",
        ]);
        std::fs::copy(
            text.join("term.safetensors"),
            features.join("term.safetensors"),
        )
        .unwrap();
        std::fs::copy(
            sentences.join("sentences.safetensors"),
            features.join("sentences.safetensors"),
        )
        .unwrap();
        let labels = std::fs::read_to_string(features.join("labels.json")).unwrap();
        let classes = serde_json::from_str::<Value>(&labels).unwrap()["num_classes"]
            .as_u64()
            .expect("labels.json has num_classes");
        let config = s(&repo().join("paper/configs/fixture-mini.toml"));
        // The objective of the synthetic benchmark's run (instance negatives, category weights 1)
        // and 30 epochs: what it takes for the tiny model to pass the permutation test here (with
        // 32-pixel photographs it did not: p = 0.11; spec/retrieval.md).
        let sets = vec![
            format!("data.root=\"{root}\""),
            format!("data.features=\"{}\"", s(&features)),
            "objective.triplet.negatives=\"instance\"".into(),
            "objective.category_image_weight=1.0".into(),
            "objective.category_recipe_weight=1.0".into(),
            "optim.batch_size=32".into(),
            "schedule.max_epochs=30".into(),
            "schedule.stage1_patience=20".into(),
            "model.sentence=16".into(),
            "model.term=8".into(),
            "model.category_feature=8".into(),
            format!("model.classes={classes}"),
        ];
        let mut args: Vec<String> = vec![
            "train".into(),
            "--no-progress".into(),
            "--config".into(),
            config,
            "--run-dir".into(),
            s(&run_dir),
        ];
        for set in sets {
            args.push("--set".into());
            args.push(set);
        }
        run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        run(&[
            "index",
            "--run-dir",
            &s(&run_dir),
            "--split",
            "test",
            "--out",
            &s(&index),
            "--text-features",
            &s(&text),
            "--sentences",
            &s(&sentences),
            "--categoriser",
            &s(&categoriser),
        ]);
        Built {
            _dir: dir,
            root: root_dir,
            text,
            sentences,
            categoriser,
            run: run_dir,
            index,
        }
    })
}

fn test_recipes() -> Vec<Recipe> {
    let mut out = Vec::new();
    read_layer1(&built().root, |r| {
        if r.partition == Partition::Test {
            out.push(r);
        }
        Ok(())
    })
    .unwrap();
    out
}

fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "{what}[{i}]: {x} vs {y}");
    }
}

#[test]
fn photo_queries_reproduce_the_index_and_the_model_learned() {
    let b = built();
    // The index records the artefacts; giving the same ones again overrides them with themselves.
    let mut r = Retriever::open(&b.run, &b.index, None, Some("cpu"), &b.artefacts()).unwrap();
    let index = r.index().clone();
    for i in 0..index.n {
        let q = r.query_image(&index.photo(i), 3).unwrap();
        close(
            &q.embedding,
            &index.image[i * index.d..(i + 1) * index.d],
            1e-5,
            &format!("image embedding of row {i}"),
        );
    }
    let s = photo_self_retrieval(&mut r, &[1, 5, 10], &|_| {}).unwrap();
    eprintln!("fixture photo self-retrieval: {s:?}");
    assert_eq!(s.queries, index.n);
    // Learned, by the permutation test of spec/eval-protocol.md on the index's pairs: M = 9999
    // random pairings, threshold p <= 1e-3, which a model that learned nothing passes with
    // probability at most 1e-3.
    let emb = seje::eval::Embeddings::new(
        "index",
        (index.n, index.d),
        index.image.clone(),
        index.recipe.clone(),
        Some(index.ids.clone()),
    )
    .unwrap();
    let test = seje::eval::significance::permutation_test(
        &emb,
        seje::eval::ranking::Measure::Euclidean,
        9999,
        1234,
    )
    .unwrap();
    eprintln!("fixture permutation test: {test:?}");
    assert!(
        test.learned(1e-3),
        "the index ranks no better than a random pairing would: {test:?}"
    );
}

#[test]
fn a_dataset_recipe_reproduces_its_stored_features_and_index_embedding() {
    let b = built();
    let term_store = FeatureStore::open(&b.text.join("term.safetensors")).unwrap();
    let sent_store = FeatureStore::open(&b.sentences.join("sentences.safetensors")).unwrap();
    let vectors = Vectors::read(&b.text.join("vocab.bin")).unwrap();
    let f =
        RecipeFeatures::load(&b.root, &b.text, &b.sentences, vectors, tch::Device::Cpu).unwrap();
    let recipes = test_recipes();
    assert!(!recipes.is_empty());
    let lengths = sent_store.bytes("lengths").unwrap();
    for r in &recipes {
        let Some(row) = term_store.row_of(&r.id) else {
            continue;
        };
        let term = f
            .term(Some(&r.id), &r.title, &r.ingredients, &r.instructions)
            .unwrap();
        close(
            &term,
            &term_store.row_f32("f_term", &r.id).unwrap(),
            1e-6,
            "f_term",
        );
        let (sent, len) = f.sentences(&r.instructions).unwrap();
        close(
            &sent,
            &sent_store.row_f32("f_sent", &r.id).unwrap(),
            1e-6,
            "f_sent",
        );
        let srow = sent_store.row_of(&r.id).unwrap();
        let stored = i64::from_le_bytes(lengths[srow * 8..srow * 8 + 8].try_into().unwrap());
        assert_eq!(len, stored, "lengths of {}", r.id);
        let _ = row;
    }

    let mut retriever = Retriever::open(
        &b.run,
        &b.index,
        None,
        Some("cpu"),
        &PhaseOneArtefacts::default(),
    )
    .unwrap();
    let index = retriever.index().clone();
    let tmp = tempfile::tempdir().unwrap();
    for (k, id) in index.ids.iter().enumerate().take(8) {
        let r = recipes.iter().find(|r| &r.id == id).unwrap();
        let json = serde_json::json!({
            "id": r.id, "title": r.title, "partition": "test", "url": "",
            "ingredients": r.ingredients.iter().map(|t| serde_json::json!({"text": t})).collect::<Vec<_>>(),
            "instructions": r.instructions.iter().map(|t| serde_json::json!({"text": t})).collect::<Vec<_>>(),
        });
        let file = tmp.path().join(format!("{id}.json"));
        std::fs::write(&file, json.to_string()).unwrap();
        let q = RecipeQuery::read_json(&file).unwrap();
        let res = retriever.query_recipe(&q, 5).unwrap();
        close(
            &res.embedding,
            &index.recipe[k * index.d..(k + 1) * index.d],
            1e-5,
            &format!("recipe embedding of {id}"),
        );
    }
}

#[test]
fn json_output_has_every_field() {
    let b = built();
    let index = Index::read(&b.index).unwrap();
    let out = seje()
        .args(["query", "--run-dir"])
        .arg(&b.run)
        .arg("--index")
        .arg(&b.index)
        .arg("--image")
        .arg(index.photo(0))
        .args(["--top", "4", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["direction"], "image_to_recipe");
    assert_eq!(v["gallery"], index.n);
    assert!(v["predicted_class"].is_string());
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 4);
    let mut last = 0.0;
    for (k, h) in hits.iter().enumerate() {
        assert_eq!(h["rank"], k + 1);
        let d = h["distance"].as_f64().unwrap();
        assert!(d >= last);
        last = d;
        let id = h["id"].as_str().unwrap();
        let row = index.ids.iter().position(|i| i == id).unwrap();
        assert_eq!(h["title"], index.meta.titles[row].as_str());
        assert_eq!(h["image"], index.meta.images[row].as_str());
    }
    for k in ["feature_ms", "embedding_ms", "search_ms", "total_ms"] {
        assert!(v["latency"][k].as_f64().unwrap() >= 0.0, "{k}");
    }

    let out = seje()
        .args(["query", "--run-dir"])
        .arg(&b.run)
        .arg("--index")
        .arg(&b.index)
        .args([
            "--text",
            "Tomato soup\n- 2 tomatoes\nChop the tomatoes. Simmer.",
            "--top",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["direction"], "recipe_to_image");
    assert_eq!(v["recipe"]["title"], "Tomato soup");
    assert_eq!(v["recipe"]["instructions"].as_array().unwrap().len(), 2);
    assert_eq!(v["hits"].as_array().unwrap().len(), 2);
}

/// Checks that every non-void element is closed in order and returns the `src` of every `<img>`.
fn check_html(page: &str) -> Vec<String> {
    const VOID: [&str; 4] = ["meta", "img", "br", "!doctype"];
    let mut stack: Vec<String> = Vec::new();
    let mut srcs = Vec::new();
    let mut rest = page;
    while let Some(at) = rest.find('<') {
        let end = rest[at..].find('>').expect("every tag closes") + at;
        let tag = &rest[at + 1..end];
        rest = &rest[end + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect::<String>()
            .to_lowercase();
        if name == "img" {
            let src = tag.split("src=\"").nth(1).expect("img has src");
            srcs.push(src[..src.find('"').unwrap()].to_string());
        }
        if VOID.contains(&name.as_str()) {
            continue;
        }
        if tag.starts_with('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.as_str()),
                "closing </{name}>"
            );
        } else {
            stack.push(name);
        }
        if matches!(stack.last().map(String::as_str), Some("style" | "title")) {
            // Raw text: skip to its closing tag.
            let close = format!("</{}>", stack.last().unwrap());
            let c = rest.find(&close).expect("raw text element closes");
            rest = &rest[c + close.len()..];
            stack.pop();
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    srcs
}

#[test]
fn html_page_is_self_contained_and_well_formed() {
    let b = built();
    let index = Index::read(&b.index).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (name, args) in [
        (
            "photo.html",
            vec!["--image".to_string(), index.photo(1).display().to_string()],
        ),
        (
            "text.html",
            vec![
                "--text".to_string(),
                "Soup & <bread>\n- 1 onion\nCook it.".to_string(),
            ],
        ),
    ] {
        let page_path = tmp.path().join(name);
        let out = seje()
            .args(["query", "--run-dir"])
            .arg(&b.run)
            .arg("--index")
            .arg(&b.index)
            .args(&args)
            .args(["--top", "3", "--json", "--html"])
            .arg(&page_path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let page = std::fs::read_to_string(&page_path).unwrap();
        let srcs = check_html(&page);
        let photos = if name == "photo.html" { 4 } else { 3 };
        assert_eq!(srcs.len(), photos, "query photo and one per hit");
        for s in &srcs {
            assert!(s.starts_with("data:image/"), "{}", &s[..40.min(s.len())]);
            assert!(s.contains(";base64,"));
        }
        assert!(!page.contains("http://") && !page.contains("https://"));
        for h in v["hits"].as_array().unwrap() {
            let title = seje::retrieval::html::escape(h["title"].as_str().unwrap());
            assert!(page.contains(&title), "title {title}");
        }
        if name == "text.html" {
            assert!(page.contains("Soup &amp; &lt;bread&gt;"));
        }
    }
}

fn query_err(b: &Built, args: &[&str]) -> String {
    let out = seje()
        .args(["query", "--run-dir"])
        .arg(&b.run)
        .arg("--index")
        .arg(&b.index)
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn bad_queries_name_the_problem() {
    let b = built();
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).display().to_string();

    let missing = p("nowhere.jpg");
    let e = query_err(b, &["--image", &missing]);
    assert!(e.contains(&missing), "{e}");

    std::fs::write(p("garbage.jpg"), b"not an image").unwrap();
    let e = query_err(b, &["--image", &p("garbage.jpg")]);
    assert!(e.contains("garbage.jpg"), "{e}");

    std::fs::write(
        p("r.json"),
        r#"{"title": "Toast", "ingredients": [{"text": "bread"}]}"#,
    )
    .unwrap();
    let e = query_err(b, &["--recipe", &p("r.json")]);
    assert!(
        e.contains("r.json") && e.contains("missing field `instructions`"),
        "{e}"
    );

    std::fs::write(
        p("corrupt.index"),
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json",
    )
    .unwrap();
    let out = seje()
        .args(["query", "--run-dir"])
        .arg(&b.run)
        .args(["--index", &p("corrupt.index"), "--text", "Toast"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && e.contains("corrupt.index"), "{e}");

    // Another run: the same files, but a configuration that differs.
    let other = tmp.path().join("other-run");
    copy_dir(&b.run, &other);
    let mut config = std::fs::read_to_string(other.join("config.toml")).unwrap();
    config.push_str("# another run\n");
    std::fs::write(other.join("config.toml"), config).unwrap();
    let out = seje()
        .args(["query", "--run-dir"])
        .arg(&other)
        .arg("--index")
        .arg(&b.index)
        .args(["--text", "Toast"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{e}");
    assert!(e.contains("was built with another run"), "{e}");
    assert!(
        e.contains(&b.run.display().to_string()),
        "names the index's run: {e}"
    );
    assert!(
        e.contains(&other.display().to_string()),
        "names the model's run: {e}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn help_snapshots() {
    for cmd in ["index", "query"] {
        let out = seje().args([cmd, "--help"]).output().unwrap();
        assert!(out.status.success());
        insta::assert_snapshot!(format!("{cmd}_help"), String::from_utf8_lossy(&out.stdout));
    }
}
