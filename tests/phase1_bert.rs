//! The BERT encoder and its KeyBERT-style term rating against Hugging Face transformers'
//! `BertModel` on a tiny random model (`fixtures/golden/bert/`, written by its `generate.py`):
//! token ids equal, last hidden states, mean-pooled vectors and pooler within 1e-5, cosines
//! within 1e-5; the `torch.save` twin with `bert.` names and `gamma`/`beta` loads to the same
//! model; `seje features text --rating bert` writes every row on `fixtures/recipe1m-mini`.
//!
//! Spec: spec/phase1-bert-rating.md.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fixtures.rs"]
mod fixtures;
use cli::seje;

use std::path::{Path, PathBuf};

use fixtures::recipe1m_mini as mini;
use seje::data::feature_store::FeatureStore;
use seje::data::pairs;
use seje::phase1::bert::{self, BertConfig, BertEncoder};
use seje::phase1::bert_rating::{self, BertRater, BertRatingConfig};
use seje::phase1::text_features::{write_text_features, Rating, TextFeaturesConfig, TERM_FILE};
use seje::phase1::word2vec::Word2VecConfig;
use serde_json::Value;
use tch::{Device, Tensor};

const TOL: f64 = 1e-5;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/bert")
}

fn tiny() -> PathBuf {
    golden_dir().join("tiny")
}

fn golden() -> Value {
    let text = std::fs::read_to_string(golden_dir().join("golden.json")).expect("golden.json");
    serde_json::from_str(&text).expect("golden JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn ids(v: &Value) -> Vec<Vec<u32>> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_u64().expect("id") as u32)
                .collect()
        })
        .collect()
}

/// A nested JSON array of numbers, flattened, with its shape.
fn flat(v: &Value) -> (Vec<i64>, Vec<f64>) {
    match v {
        Value::Array(items) => {
            let mut shape = vec![items.len() as i64];
            let mut values = Vec::new();
            let mut inner: Option<Vec<i64>> = None;
            for item in items {
                let (s, vals) = flat(item);
                assert!(inner.is_none() || inner.as_ref() == Some(&s), "ragged");
                inner = Some(s);
                values.extend(vals);
            }
            shape.extend(inner.unwrap_or_default());
            (shape, values)
        }
        Value::Number(n) => (vec![], vec![n.as_f64().expect("number")]),
        other => panic!("not a number: {other}"),
    }
}

fn assert_close(what: &str, got: &Tensor, want: &Value) {
    let (shape, want) = flat(want);
    assert_eq!(got.size(), shape, "{what}: shape");
    let got = Vec::<f64>::try_from(&got.to_kind(tch::Kind::Double).flatten(0, -1)).expect("values");
    let worst = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0f64, f64::max);
    assert!(worst <= TOL, "{what}: max |diff| {worst:e} > {TOL:e}");
}

fn check_against_golden(enc: &BertEncoder, g: &Value) {
    for (inputs, prefix) in [("texts", "texts"), ("terms", "terms")] {
        let texts = strings(&g[inputs]);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let e = enc.encode(&refs).expect("encode");
        assert_eq!(
            e.ids,
            ids(&g[format!("{prefix}_ids")]),
            "{prefix}: token ids"
        );
        assert_close(
            &format!("{prefix} mask"),
            &e.mask,
            &g[format!("{prefix}_mask")],
        );
        assert_close(
            &format!("{prefix} last hidden states"),
            &e.hidden,
            &g[format!("{prefix}_hidden")],
        );
        assert_close(
            &format!("{prefix} mean-pooled"),
            &e.mean,
            &g[format!("{prefix}_mean")],
        );
        if prefix == "texts" {
            let pooled = e.pooled.expect("the tiny model has a pooler");
            assert_close("pooler", &pooled, &g["pooler"]);
        }
    }
}

// Python (generate.py): tok(texts, padding=True, truncation=True, max_length=64);
// BertModel(...)(input_ids, attention_mask).last_hidden_state, pooler_output.
#[test]
fn token_ids_hidden_states_and_pooling_equal_transformers() {
    let g = golden();
    let enc = BertEncoder::load(&tiny(), Device::Cpu).expect("tiny model");
    assert!(enc.model().has_pooler());
    assert_eq!(enc.dim(), 32);
    // The long text is cut at max_position_embeddings = 64 tokens, [SEP] last.
    let long = &ids(&g["texts_ids"])[3];
    assert_eq!(long.len(), 64);
    assert_eq!(long.last(), Some(&3));
    check_against_golden(&enc, &g);
}

#[test]
fn the_torch_save_twin_with_bert_prefix_and_gamma_beta_names_is_the_same_model() {
    // tiny-mlm: pytorch_model.bin with `bert.` names, LayerNorm gamma/beta, an MLM head entry
    // and the position_ids buffer; vocab.txt and no tokenizer.json.
    let dir = golden_dir().join("tiny-mlm");
    assert!(!dir.join(bert::TOKENIZER_FILE).exists());
    assert!(!dir.join(bert::SAFETENSORS_FILE).exists());
    let enc = BertEncoder::load(&dir, Device::Cpu).expect("tiny-mlm model");
    check_against_golden(&enc, &golden());
}

#[test]
fn file_names_map_to_bert_model_names() {
    assert_eq!(
        bert::hf_name("bert.embeddings.LayerNorm.gamma").as_deref(),
        Some("embeddings.LayerNorm.weight")
    );
    assert_eq!(
        bert::hf_name("encoder.layer.3.output.LayerNorm.beta").as_deref(),
        Some("encoder.layer.3.output.LayerNorm.bias")
    );
    assert_eq!(
        bert::hf_name("bert.encoder.layer.0.attention.self.query.weight").as_deref(),
        Some("encoder.layer.0.attention.self.query.weight")
    );
    assert_eq!(bert::hf_name("cls.predictions.bias"), None);
    assert_eq!(bert::hf_name("bert.embeddings.position_ids"), None);
}

// Python: cos = normalize(texts_mean) @ normalize(terms_mean).T (float64).
#[test]
fn ratings_are_the_golden_cosines_clamped_at_zero() {
    let g = golden();
    let texts = strings(&g["texts"]);
    let terms = strings(&g["terms"]);
    let mut rater = BertRater::load(&BertRatingConfig {
        batch: 3,
        ..BertRatingConfig::new(tiny())
    })
    .expect("rater");
    let batch: Vec<(&str, &[String])> = texts
        .iter()
        .map(|t| (t.as_str(), terms.as_slice()))
        .collect();
    let first = rater.rate(&batch).expect("ratings");
    assert_eq!(rater.cached_terms(), terms.len());
    let want = g["cosine"].as_array().expect("cosine rows");
    for (i, row) in first.iter().enumerate() {
        assert_eq!(row.len(), terms.len());
        for (j, r) in row.iter().enumerate() {
            let c = want[i][j].as_f64().expect("cosine");
            assert_eq!(r.term, terms[j]);
            assert!(
                (r.cosine - c).abs() <= TOL,
                "text {i} term {j}: {} vs {c}",
                r.cosine
            );
            assert_eq!(r.rating, r.cosine.max(0.0));
        }
    }
    // Cached term vectors give the numbers of fresh ones; the recipe alone in its batch (no
    // padding) moves its vector by float rounding only.
    let again = rater.rate(&batch[1..2]).expect("ratings");
    assert_eq!(rater.cached_terms(), terms.len());
    for (a, b) in again[0].iter().zip(&first[1]) {
        assert_eq!(a.term, b.term);
        assert!((a.cosine - b.cosine).abs() <= 1e-6, "{a:?} vs {b:?}");
    }
}

#[test]
fn negative_cosines_rate_zero_and_nan_is_refused() {
    assert_eq!(bert_rating::rating_from_cosine(-0.25).unwrap(), 0.0);
    assert_eq!(bert_rating::rating_from_cosine(-1.0).unwrap(), 0.0);
    assert_eq!(bert_rating::rating_from_cosine(0.0).unwrap(), 0.0);
    assert_eq!(bert_rating::rating_from_cosine(0.625).unwrap(), 0.625);
    let e = bert_rating::rating_from_cosine(f64::NAN).unwrap_err();
    assert!(e.to_string().contains("NaN"), "{e}");
    assert_eq!(bert_rating::cosine(&[1.0, 0.0], &[-2.0, 0.0]), -1.0);
    assert_eq!(bert_rating::cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
    assert_eq!(bert_rating::term_text("olive_oil"), "olive oil");
    assert_eq!(
        bert_rating::recipe_text(
            "Soup",
            &["1 onion".to_string(), " ".to_string()],
            &["Boil.".to_string()]
        ),
        "Soup 1 onion Boil."
    );
}

#[test]
fn batching_does_not_change_the_vectors() {
    let enc = BertEncoder::load(&tiny(), Device::Cpu).expect("tiny model");
    let texts = strings(&golden()["texts"]);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let one = enc.embed(&refs, 1).expect("batch 1");
    let all = enc.embed(&refs, 4).expect("batch 4");
    for (a, b) in one.iter().zip(&all) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-5, "{x} vs {y}");
        }
    }
}

#[test]
fn cuda_gives_the_cpu_vectors_when_a_gpu_is_there() {
    if !tch::Cuda::is_available() {
        eprintln!("skipped: no CUDA device visible to libtorch on this machine");
        return;
    }
    let g = golden();
    let enc = BertEncoder::load(&tiny(), Device::Cuda(0)).expect("tiny model on cuda");
    check_against_golden(&enc, &g);
}

#[test]
fn bad_model_directories_say_what_is_wrong() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = BertEncoder::load(dir.path(), Device::Cpu).unwrap_err();
    assert!(e.to_string().contains("config.json"), "{e}");

    let config = std::fs::read_to_string(tiny().join(bert::CONFIG_FILE)).expect("config");
    let mut v: Value = serde_json::from_str(&config).expect("json");
    std::fs::write(dir.path().join(bert::CONFIG_FILE), v.to_string()).expect("write");
    let e = BertEncoder::load(dir.path(), Device::Cpu).unwrap_err();
    assert!(
        e.to_string().contains("model.safetensors") && e.to_string().contains("pytorch_model.bin"),
        "{e}"
    );

    v["model_type"] = "roberta".into();
    std::fs::write(dir.path().join(bert::CONFIG_FILE), v.to_string()).expect("write");
    let e = BertConfig::from_file(&dir.path().join(bert::CONFIG_FILE)).unwrap_err();
    assert!(e.to_string().contains("roberta"), "{e}");

    v["model_type"] = "bert".into();
    v["num_attention_heads"] = 5.into();
    std::fs::write(dir.path().join(bert::CONFIG_FILE), v.to_string()).expect("write");
    let e = BertConfig::from_file(&dir.path().join(bert::CONFIG_FILE)).unwrap_err();
    assert!(e.to_string().contains("num_attention_heads 5"), "{e}");

    // A weights file whose shapes do not fit the configuration.
    v["num_attention_heads"] = 4.into();
    v["hidden_size"] = 16.into();
    std::fs::write(dir.path().join(bert::CONFIG_FILE), v.to_string()).expect("write");
    std::fs::copy(
        tiny().join(bert::SAFETENSORS_FILE),
        dir.path().join(bert::SAFETENSORS_FILE),
    )
    .expect("copy");
    let e = BertEncoder::load(dir.path(), Device::Cpu).unwrap_err();
    assert!(e.to_string().contains("shape"), "{e}");
}

fn bert_config() -> TextFeaturesConfig {
    TextFeaturesConfig {
        rating: Rating::Bert,
        bert: Some(BertRatingConfig::new(tiny())),
        word2vec: Word2VecConfig {
            size: 16,
            iter: 2,
            min_count: 2,
            threads: 1,
            ..Word2VecConfig::paper()
        },
        ..TextFeaturesConfig::default()
    }
}

// The tiny vocabulary maps most recipe words to [UNK]: this checks rows and shapes, not the
// quality of the ratings.
#[test]
fn features_text_with_the_bert_rating_writes_every_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = TextFeaturesConfig {
        dump_terms: Some(dir.path().join("terms.jsonl")),
        ..bert_config()
    };
    let s = write_text_features(&mini(), dir.path(), &cfg, &|_, _| {}).expect("text features");
    assert_eq!(s.recipes, 160);
    assert_eq!(s.rating, Rating::Bert);
    assert!(s.render().contains("rating bert"), "{}", s.render());

    let store = FeatureStore::open(&dir.path().join(TERM_FILE)).expect("store");
    let (dataset, _) = pairs::open(&mini()).expect("pairs");
    let ids: Vec<String> = dataset.rows().into_iter().map(|(id, _)| id).collect();
    assert_eq!(store.ids(), ids.as_slice());
    assert_eq!(store.info("f_term").expect("f_term").shape, vec![160, 16]);
    let bytes = store.bytes("f_term").expect("f_term");
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    assert!(values.iter().all(|x| x.is_finite()));
    let nonzero_rows = values
        .chunks_exact(16)
        .filter(|r| r.iter().any(|&x| x != 0.0))
        .count();
    assert_eq!(nonzero_rows, 160 - s.empty_terms);
    let config = store
        .metadata()
        .get("text_features_config")
        .expect("config");
    assert!(config.contains("\"rating\":\"bert\""), "{config}");
    assert!(config.contains("model_sha256"), "{config}");

    // The dumped ratings are the model's clamped cosines of the recipe text and each term.
    let dump = std::fs::read_to_string(dir.path().join("terms.jsonl")).expect("dump");
    assert_eq!(dump.lines().count(), 160);
    let mut rater = BertRater::load(&BertRatingConfig::new(tiny())).expect("rater");
    let mut layer1 = Vec::new();
    seje::data::recipe1m::read_layer1(&mini(), |r| {
        layer1.push(r);
        Ok(())
    })
    .expect("layer1");
    let mut checked = 0;
    for line in dump.lines().take(5) {
        let v: Value = serde_json::from_str(line).expect("json line");
        let id = v["id"].as_str().expect("id");
        let recipe = layer1.iter().find(|r| r.id == id).expect("recipe");
        let text =
            bert_rating::recipe_text(&recipe.title, &recipe.ingredients, &recipe.instructions);
        let terms: Vec<String> = v["terms"]
            .as_array()
            .expect("terms")
            .iter()
            .map(|t| t["term"].as_str().expect("term").to_string())
            .collect();
        let want = rater.rate(&[(text.as_str(), &terms)]).expect("rate");
        for (t, w) in v["terms"].as_array().unwrap().iter().zip(&want[0]) {
            let got = t["rating"].as_f64().expect("rating");
            assert!((0.0..=1.0).contains(&got));
            assert!(
                (got - w.rating).abs() <= 1e-6,
                "{id} {}: {got} vs {}",
                w.term,
                w.rating
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
}

#[test]
fn the_bert_rating_needs_a_model() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = TextFeaturesConfig {
        bert: None,
        ..bert_config()
    };
    let e = write_text_features(&mini(), dir.path(), &cfg, &|_, _| {}).unwrap_err();
    assert!(e.to_string().contains("BERT model"), "{e}");
}

#[test]
fn the_command_rates_with_bert() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = seje()
        .args(["--log", "warn", "features", "text", "--root"])
        .arg(mini())
        .arg("--out")
        .arg(dir.path())
        .args(["--rating", "bert", "--bert"])
        .arg(tiny())
        .args(["--size", "8", "--iter", "1", "--min-count", "2"])
        .output()
        .expect("seje runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("rating bert"), "{stdout}");
    let store = FeatureStore::open(&dir.path().join(TERM_FILE)).expect("store");
    assert_eq!(store.info("f_term").unwrap().shape, vec![160, 8]);

    let out = seje()
        .args(["features", "text", "--root"])
        .arg(mini())
        .arg("--out")
        .arg(dir.path())
        .args(["--rating", "bert"])
        .output()
        .expect("seje runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--bert"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_config_describing_more_parameters_than_the_weights_hold_is_refused_before_building() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["model.safetensors", "vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(tiny().join(f), dir.path().join(f)).unwrap();
    }
    let text = std::fs::read_to_string(tiny().join("config.json")).unwrap();
    let mut cfg: Value = serde_json::from_str(&text).unwrap();
    // 10^9 words of the tiny width: gigabytes of embeddings the 100 KB weights cannot fill.
    cfg["vocab_size"] = Value::from(1_000_000_000i64);
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_string(&cfg).unwrap(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = seje::phase1::bert::load_model(dir.path(), Device::Cpu)
        .map(drop)
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("model.safetensors: expected at least the")
            && text.contains("parameters")
            && text.contains("config.json describes"),
        "{text}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // The tiny model's own config counts exactly what its weights hold without the pooler.
    let tiny_cfg = seje::phase1::bert::BertConfig::from_file(&tiny().join("config.json")).unwrap();
    let held: i64 = Tensor::read_safetensors(tiny().join("model.safetensors"))
        .unwrap()
        .iter()
        .filter(|(n, _)| !n.contains("pooler") && !n.contains("position_ids"))
        .map(|(_, t)| t.numel() as i64)
        .sum();
    assert_eq!(tiny_cfg.parameter_count(), Some(held as u64));
}

/// A model of 50 million parameters or more (spec/cli.md, heavy work announced): the tiny
/// model's tokeniser with a 50,000-word, 1024-wide embedding (51 million parameters, one short
/// layer, so a forward pass stays cheap).
fn gpu_sized_model(dir: &Path) -> BertConfig {
    for f in ["tokenizer.json", "vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(tiny().join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(tiny().join("config.json")).unwrap();
    let mut cfg: Value = serde_json::from_str(&text).unwrap();
    cfg["vocab_size"] = Value::from(50_000);
    cfg["hidden_size"] = Value::from(1024);
    cfg["num_hidden_layers"] = Value::from(1);
    cfg["intermediate_size"] = Value::from(64);
    cfg["max_position_embeddings"] = Value::from(32);
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&cfg).unwrap(),
    )
    .unwrap();
    let config = BertConfig::from_file(&dir.join("config.json")).unwrap();
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let _model = bert::BertModel::new(&vs.root(), &config, false).unwrap();
    vs.save(dir.join("model.safetensors")).unwrap();
    config
}

#[test]
fn a_gpu_sized_model_on_the_cpu_is_estimated_and_stops_unless_the_cpu_was_asked_for() {
    let tiny_cfg = BertConfig::from_file(&tiny().join("config.json")).unwrap();
    assert!(!bert_rating::sized_for_a_gpu(&tiny_cfg));
    let model = tempfile::tempdir().unwrap();
    let config = gpu_sized_model(model.path());
    assert!(bert_rating::sized_for_a_gpu(&config), "{config:?}");

    // The library: refused with the estimate and the lighter ratings, nothing written.
    let out = tempfile::tempdir().unwrap();
    let cfg = TextFeaturesConfig {
        bert: Some(BertRatingConfig {
            batch: 4,
            ..BertRatingConfig::new(model.path())
        }),
        ..bert_config()
    };
    let err = write_text_features(&mini(), out.path(), &cfg, &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rating key terms with the BERT model in")
            && err.contains("for 160 recipes is sized for a GPU")
            && err.contains("its 40 batches would take about")
            && err.contains("--rating tfidf")
            && err.ends_with("pass --device cpu"),
        "{err}"
    );
    assert!(!out.path().join(TERM_FILE).exists());

    // The command: without --device it stops with the estimate; with --device cpu it goes on,
    // logging what it estimated (a warning).
    let run = |device: Option<&str>| {
        let mut c = seje();
        c.args(["--log", "warn", "features", "text", "--root"])
            .arg(mini())
            .arg("--out")
            .arg(out.path())
            .args(["--rating", "bert", "--bert-batch", "16", "--bert"])
            .arg(model.path())
            .args(["--size", "8", "--iter", "1", "--min-count", "2"]);
        if let Some(d) = device {
            c.args(["--device", d]);
        }
        c.output().expect("seje runs")
    };
    let refused = run(None);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("its 10 batches would take about") && stderr.contains("--device cpu"),
        "{stderr}"
    );
    let asked = run(Some("cpu"));
    let stderr = String::from_utf8_lossy(&asked.stderr);
    assert!(asked.status.success(), "{stderr}");
    assert!(
        stderr.contains("a job sized for a GPU, on the CPU")
            && stderr.contains("rating key terms with the BERT model in"),
        "{stderr}"
    );
    let store = FeatureStore::open(&out.path().join(TERM_FILE)).expect("store");
    assert_eq!(store.info("f_term").unwrap().shape, vec![160, 8]);
}
