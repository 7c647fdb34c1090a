//! The averaged perceptron POS tagger against NLTK goldens (`fixtures/golden/pos_tagger/`): the
//! committed NLTK model loads and tags every held-out sentence as NLTK tagged it; the features of
//! a word are NLTK's; our training on the same corpus with the same seed writes NLTK's weights;
//! loading errors name the file; properties of tagging; tagger key terms.
//!
//! Spec: spec/phase1-pos-tagger.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use seje::cpython_random::CpythonRandom;
use seje::phase1::entities::EntitySet;
use seje::phase1::key_terms::Kind;
use seje::phase1::pos_tagger::{
    context, features, normalize, tagged_key_terms, PerceptronTagger, NLTK_ENGLISH_MODEL,
};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/pos_tagger")
}

fn model_dir() -> PathBuf {
    dir().join("model")
}

fn golden() -> Value {
    let text = std::fs::read_to_string(dir().join("golden.json")).expect("golden.json exists");
    serde_json::from_str(&text).expect("golden.json parses")
}

fn tagger() -> PerceptronTagger {
    PerceptronTagger::load(&model_dir()).expect("the committed model loads")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// The hand-tagged training corpus: `word/TAG` tokens, `#` comment lines.
fn corpus() -> Vec<Vec<(String, String)>> {
    let text = std::fs::read_to_string(dir().join("train.tsv")).expect("train.tsv exists");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split(' ')
                .map(|tok| {
                    let (w, t) = tok.rsplit_once('/').expect("word/TAG");
                    (w.to_string(), t.to_string())
                })
                .collect()
        })
        .collect()
}

#[test]
fn every_golden_sentence_is_tagged_as_nltk_tagged_it() {
    let tagger = tagger();
    let g = golden();
    let sentences = g["sentences"].as_array().expect("sentences");
    assert!(
        sentences.len() >= 30,
        "golden has {} sentences",
        sentences.len()
    );
    let mut words = 0;
    for s in sentences {
        let tokens = strings(&s["tokens"]);
        let want = strings(&s["tags"]);
        let got = tagger.tag(&tokens);
        assert_eq!(got, want, "sentence {tokens:?}");
        words += tokens.len();
    }
    println!(
        "{} sentences, {words} words tagged as NLTK {} tags them",
        sentences.len(),
        g["nltk_version"]
    );
}

#[test]
fn features_are_nltks() {
    let g = golden();
    for case in g["features"].as_array().expect("features") {
        let tokens = strings(&case["tokens"]);
        let i = case["index"].as_u64().expect("index") as usize;
        let got = features(
            i,
            &tokens[i],
            &context(&tokens),
            case["prev"].as_str().expect("prev"),
            case["prev2"].as_str().expect("prev2"),
        );
        let got: BTreeMap<String, u64> = got.into_iter().map(|f| (f, 1)).collect();
        let want: BTreeMap<String, u64> = case["features"]
            .as_object()
            .expect("a feature dict")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
            .collect();
        assert_eq!(got, want, "word {i} of {tokens:?}");
    }
}

#[test]
fn normalize_is_nltks() {
    for (word, want) in [
        ("Whisk", "whisk"),
        ("all-purpose", "!HYPHEN"),
        ("-30", "-30"),
        ("²³¹⁰", "!YEAR"),
        ("٣", "!DIGITS"),
        ("-", "-"),
        ("1950", "!YEAR"),
        ("195", "!DIGITS"),
        ("2-3", "!HYPHEN"),
        ("350f", "!DIGITS"),
        ("½", "½"),
        ("", ""),
        ("ÉCLAIR", "éclair"),
    ] {
        assert_eq!(normalize(word), want, "normalize({word:?})");
    }
}

/// Our training on NLTK's corpus with NLTK's seed gives NLTK's model: the same classes and tag
/// dictionary and every weight equal (NLTK rounds to 3 decimals; we compare within 1e-9).
#[test]
fn training_reproduces_nltks_weights() {
    let g = golden();
    let seed = g["seed"].as_u64().expect("seed");
    let nr_iter = g["nr_iter"].as_u64().expect("nr_iter") as usize;
    let mut rng = CpythonRandom::seed(seed);
    let ours = PerceptronTagger::train(&corpus(), nr_iter, &mut rng).expect("training runs");
    let nltk = tagger();
    assert_eq!(ours.classes(), nltk.classes());

    let read = |name: &str| -> Value {
        let p = model_dir().join(format!("{NLTK_ENGLISH_MODEL}.{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(p).expect("model file")).expect("json")
    };
    let tagdict = read("tagdict");
    for (word, tag) in tagdict.as_object().expect("tagdict") {
        assert_eq!(ours.tagdict_tag(word), tag.as_str(), "tagdict of {word:?}");
    }
    let weights = read("weights");
    let weights = weights.as_object().expect("weights");
    assert_eq!(ours.feature_count(), weights.len(), "feature count");
    let mut compared = 0;
    for (feature, row) in weights {
        for class in nltk.classes() {
            let want = row.get(class).map_or(0.0, |v| v.as_f64().expect("weight"));
            let got = ours.weight(feature, class);
            assert!(
                (got - want).abs() <= 1e-9,
                "weight of {feature:?} for {class}: ours {got}, nltk {want}"
            );
            compared += 1;
        }
    }
    println!(
        "{} features, {compared} (feature, class) weights equal to NLTK's",
        weights.len()
    );

    // And a model we save loads back to the same tagger.
    let tmp = tempfile::tempdir().expect("tempdir");
    ours.save(tmp.path(), NLTK_ENGLISH_MODEL).expect("save");
    let back = PerceptronTagger::load(tmp.path()).expect("reload");
    assert_eq!(back, ours);
}

fn write_model(dir: &Path, weights: &str, tagdict: &str, classes: &str) -> PathBuf {
    for (ext, text) in [
        ("weights", weights),
        ("tagdict", tagdict),
        ("classes", classes),
    ] {
        std::fs::write(dir.join(format!("m.{ext}.json")), text).expect("write");
    }
    dir.to_path_buf()
}

#[test]
fn load_accepts_a_directory_a_file_or_the_stem() {
    let want = tagger();
    let stem = model_dir().join(NLTK_ENGLISH_MODEL);
    for p in [
        model_dir(),
        stem.clone(),
        model_dir().join(format!("{NLTK_ENGLISH_MODEL}.weights.json")),
        model_dir().join(format!("{NLTK_ENGLISH_MODEL}.classes.json")),
    ] {
        assert_eq!(PerceptronTagger::load(&p).expect("loads"), want, "{p:?}");
    }
}

#[test]
fn loading_errors_name_the_file() {
    let ok_w = r#"{"bias": {"NN": 1.0, "VB": -0.5}}"#;
    let ok_t = r#"{"the": "DT"}"#;
    let ok_c = r#"["NN", "VB", "DT"]"#;
    let cases: [(&str, &str, &str, &str, &[&str]); 7] = [
        (
            "bad json",
            "{\"bias\": ",
            ok_t,
            ok_c,
            &["m.weights.json", "malformed json"],
        ),
        (
            "weights wrong type",
            r#"{"bias": {"NN": "x"}}"#,
            ok_t,
            ok_c,
            &["m.weights.json"],
        ),
        (
            "unknown class",
            r#"{"bias": {"XX": 1.0}}"#,
            ok_t,
            ok_c,
            &["m.weights.json", "\"XX\"", "m.classes.json"],
        ),
        (
            "tagdict unknown tag",
            ok_w,
            r#"{"the": "ZZ"}"#,
            ok_c,
            &["m.tagdict.json", "\"ZZ\""],
        ),
        (
            "classes not a list",
            ok_w,
            ok_t,
            r#"{"NN": 1}"#,
            &["m.classes.json"],
        ),
        (
            "no classes",
            "{}",
            "{}",
            "[]",
            &["m.classes.json", "no class"],
        ),
        ("tagdict not a map", ok_w, "[1]", ok_c, &["m.tagdict.json"]),
    ];
    for (what, w, t, c, needles) in cases {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = write_model(tmp.path(), w, t, c);
        let e = PerceptronTagger::load(&dir).expect_err(what).to_string();
        for n in needles {
            assert!(e.contains(n), "{what}: {e:?} lacks {n:?}");
        }
    }
    let ok = tempfile::tempdir().expect("tempdir");
    let dir = write_model(ok.path(), ok_w, ok_t, ok_c);
    let t = PerceptronTagger::load(&dir).expect("a minimal model loads");
    assert_eq!(t.tag(&["the", "cat"]), ["DT", "NN"]);

    // A missing file is named.
    std::fs::remove_file(dir.join("m.tagdict.json")).expect("rm");
    let e = PerceptronTagger::load(&dir)
        .expect_err("missing")
        .to_string();
    assert!(e.contains("m.tagdict.json"), "{e}");
    // A directory without a model says so.
    let empty = tempfile::tempdir().expect("tempdir");
    let e = PerceptronTagger::load(empty.path())
        .expect_err("empty")
        .to_string();
    assert!(e.contains("weights.json"), "{e}");
    // A path that does not exist is named.
    let e = PerceptronTagger::load(&empty.path().join("nope"))
        .expect_err("nope")
        .to_string();
    assert!(e.contains("nope.weights.json"), "{e}");
}

/// Ties go to the greatest tag, as NLTK's `max(classes, key=(score, label))`: with no weights at
/// all every score is 0 and the greatest class wins.
#[test]
fn ties_go_to_the_greatest_tag() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = write_model(tmp.path(), "{}", "{}", r#"["NN", "VB", "DT"]"#);
    let t = PerceptronTagger::load(&dir).expect("loads");
    assert_eq!(t.tag(&["anything", "at", "all"]), ["VB", "VB", "VB"]);
    let dir = write_model(
        tmp.path(),
        r#"{"bias": {"NN": 1.0, "DT": 1.0}}"#,
        "{}",
        r#"["NN", "VB", "DT"]"#,
    );
    let t = PerceptronTagger::load(&dir).expect("loads");
    assert_eq!(t.tag(&["x"]), ["NN"]);
}

#[test]
fn tagger_key_terms_of_an_instruction() {
    let t = tagger();
    let e = EntitySet::from_phrases(["olive oil", "salmon"]);
    let got: Vec<(Kind, String)> = tagged_key_terms(
        &t,
        &e,
        "Brush the salmon with olive oil and grill it in a wok.",
    )
    .into_iter()
    .map(|k| (k.kind, k.term))
    .collect();
    println!("{got:?}");
    assert_eq!(got[0], (Kind::Action, "brush".to_string()));
    assert!(got.contains(&(Kind::Entity, "salmon".to_string())));
    assert!(got.contains(&(Kind::Entity, "olive_oil".to_string())));
    assert!(got.contains(&(Kind::Utensil, "wok".to_string())));
    assert!(!got.iter().any(|(_, w)| w == "the" || w == "it"));
}

fn words() -> impl Strategy<Value = Vec<String>> {
    let word = prop_oneof![
        prop::sample::select(vec![
            "the",
            "a",
            "and",
            "in",
            ".",
            "Preheat",
            "oven",
            "bake",
            "stir",
            ",",
            "pan",
            "all-purpose",
            "1950",
            "350",
            "½",
            "-30",
            "WHISK",
            "",
            "-",
        ])
        .prop_map(String::from),
        "[a-zA-Z0-9'½-]{0,8}",
        "\\PC{0,4}",
    ];
    prop::collection::vec(word, 0..14)
}

proptest! {
    #[test]
    fn one_tag_per_word_deterministic_and_known(ws in words()) {
        let t = tagger();
        let tags = t.tag(&ws);
        prop_assert_eq!(tags.len(), ws.len());
        prop_assert_eq!(&tags, &t.tag(&ws));
        let classes: BTreeSet<&str> = t.classes().iter().map(String::as_str).collect();
        for (w, tag) in ws.iter().zip(&tags) {
            prop_assert!(classes.contains(tag), "{tag} not a class");
            if let Some(d) = t.tagdict_tag(w) {
                prop_assert_eq!(*tag, d);
            }
        }
    }

    #[test]
    fn tagdict_words_keep_their_tag_in_any_context(ws in words(), at in 0usize..14) {
        let t = tagger();
        let mut ws = ws;
        let at = at.min(ws.len());
        ws.insert(at, "the".to_string());
        prop_assert_eq!(t.tag(&ws)[at], "DT");
    }

    #[test]
    fn key_terms_are_words_of_the_text(text in "[a-zA-Z ,.]{0,60}") {
        let t = tagger();
        let e = EntitySet::from_phrases(["olive oil"]);
        let replaced: HashMap<String, ()> = e.replace(&text).into_iter().map(|w| (w, ())).collect();
        for k in tagged_key_terms(&t, &e, &text) {
            prop_assert!(replaced.contains_key(&k.term), "{} not a word of {text:?}", k.term);
        }
    }
}
