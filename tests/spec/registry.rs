//! The one dispatch point from a spec example's `op` to the library. Pages name operations, never
//! Rust signatures, so the API can change without touching a page.
//!
//! Spec: spec/README.md (the list of operations is on each page that uses them).

use seje::checkpoint;
use seje::cpython_random::{sample_setsize, sample_uses_pool, CpythonRandom};
use seje::eval::protocol::{subset_metrics, DirectionResult, Metrics};
use seje::eval::ranking::{subset_ranks, Measure, RankOptions};
use seje::eval::{evaluate, Embeddings, EvalConfig};
use seje::nn::layers;
use seje::phase2::category_alignment::cross_entropy;
use seje::phase2::discriminator::{alignment_from_scores, critic_loss, AlignmentForm};
use seje::phase2::embedding_space as space;
use seje::phase2::objective::{total_loss, LossTerms, ObjectiveConfig};
use seje::phase2::triplet::{
    triplet_loss, triplet_loss_from_distances, NegativeMode, TripletConfig,
};
use tch::Kind;
use toml::{Table, Value};

/// Runs operation `op` with the example's inputs; `Err` carries the library's error message, which
/// examples with `expected_error` match.
pub fn run(op: &str, ex: &Table) -> Result<Value, String> {
    seje::runtime::seed_everything(seje::runtime::PAPER_SEED, Some(1));
    match op {
        "l2_normalize" => {
            let x = tensor(ex, "x")?;
            matrix_value(&space::l2_normalize(&x).map_err(err)?)
        }
        "pairwise_distance" => {
            let x = tensor(ex, "x")?;
            let y = tensor(ex, "y")?;
            let d = match string(ex, "form")? {
                "loss" => space::pairwise_distance_loss_form(&x, &y),
                "exact" => space::pairwise_distance_exact(&x, &y),
                other => return Err(format!("unknown form `{other}` (loss, exact)")),
            };
            matrix_value(&d.map_err(err)?)
        }
        "seeded_uniform" => {
            let v = seje::runtime::seeded_uniform(int(ex, "seed")? as u64, int(ex, "n")? as usize);
            Ok(Value::Array(
                v.into_iter().map(|x| Value::Float(f64::from(x))).collect(),
            ))
        }
        "triplet_loss_from_distances" => {
            let d = tensor(ex, "d")?;
            let classes = optional_int_tensor(ex, "classes")?;
            let out = triplet_loss_from_distances(&d, classes.as_ref(), &triplet_config(ex)?)
                .map_err(err)?;
            scalar(&out.loss)
        }
        "triplet_loss" => {
            let classes = optional_int_tensor(ex, "classes")?;
            let (x, y) = (tensor(ex, "images")?, tensor(ex, "recipes")?);
            let out = triplet_loss(&x, &y, classes.as_ref(), &triplet_config(ex)?).map_err(err)?;
            scalar(&out.loss)
        }
        "cross_entropy" => {
            let classes =
                optional_int_tensor(ex, "classes")?.ok_or("example is missing input `classes`")?;
            scalar(&cross_entropy("logits", &tensor(ex, "logits")?, &classes).map_err(err)?)
        }
        "critic_loss" => {
            let (real, fake) = (tensor(ex, "real_scores")?, tensor(ex, "fake_scores")?);
            scalar(&critic_loss(&real, &fake, alignment_form(ex)?).map_err(err)?)
        }
        "alignment_from_scores" => {
            let fake = tensor(ex, "fake_scores")?;
            scalar(&alignment_from_scores(&fake, alignment_form(ex)?).map_err(err)?)
        }
        "linear_init_bounds" => {
            let fan = int(ex, "fan_in")?;
            Ok(Value::Table(Table::from_iter([
                (
                    "weight".to_string(),
                    Value::Float(layers::linear_bound(fan)),
                ),
                ("bias".to_string(), Value::Float(layers::bias_bound(fan))),
            ])))
        }
        "total_loss" => {
            let cfg = match string(ex, "config")? {
                "paper" => ObjectiveConfig::paper(),
                "authors_code" => ObjectiveConfig::authors_code(),
                other => return Err(format!("unknown config `{other}` (paper, authors_code)")),
            };
            let term = |k: &str| -> Result<Option<tch::Tensor>, String> {
                ex.get(k)
                    .map(|v| float(v, k).map(tch::Tensor::from))
                    .transpose()
            };
            let terms = LossTerms {
                triplet: term("triplet")?.ok_or("example is missing input `triplet`")?,
                category_image: term("category_image")?,
                category_recipe: term("category_recipe")?,
                alignment: term("alignment")?,
            };
            scalar(&total_loss(&terms, &cfg))
        }
        "parameter_count" => parameter_count(string(ex, "component")?),
        "paper_config" => {
            use seje::phase2::config::TrainConfig;
            // `config`: a file of paper/configs (default paper.toml); `preset`: --preset.
            let file = match ex.get("config") {
                None => "paper.toml",
                Some(_) => string(ex, "config")?,
            };
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("paper/configs")
                .join(file);
            let preset = match ex.get("preset") {
                None => None,
                Some(_) => Some(string(ex, "preset")?),
            };
            let overrides: Vec<String> = match ex.get("set") {
                None => Vec::new(),
                Some(v) => v
                    .as_array()
                    .ok_or("input `set` must be an array of strings")?
                    .iter()
                    .map(|s| {
                        s.as_str()
                            .map(str::to_string)
                            .ok_or("input `set` must be an array of strings")
                    })
                    .collect::<Result<_, _>>()?,
            };
            let cfg = TrainConfig::load_with_preset(&path, preset, &overrides).map_err(err)?;
            let resolved: toml::Table = cfg.to_toml().parse().map_err(|e| format!("{e}"))?;
            let key = string(ex, "key")?;
            let mut node = &Value::Table(resolved);
            for part in key.split('.') {
                node = node
                    .get(part)
                    .ok_or_else(|| format!("no `{key}` in the resolved config"))?;
            }
            Ok(node.clone())
        }
        "parse_device" => seje::runtime::parse_device(string(ex, "device")?)
            .map(|d| Value::String(format!("{d:?}")))
            .map_err(err),
        "selection_score" => {
            let r = floats(ex, "recalls")?;
            let r: [f64; 3] = r
                .try_into()
                .map_err(|_| "input `recalls` must hold 3 numbers")?;
            Ok(Value::Float(seje::phase2::train::selection_score(
                r,
                [1.0, 0.8, 0.6],
            )))
        }
        "schedule" => schedule(ex),
        "test_sizes" => Ok(Value::Array(
            floats(ex, "pairs")?
                .into_iter()
                .map(|n| {
                    Value::Array(
                        seje::phase2::train::test_sizes(n as usize)
                            .into_iter()
                            .map(|s| Value::Integer(s as i64))
                            .collect(),
                    )
                })
                .collect(),
        )),
        "interpolation_weights" => {
            let (seed, n, offset) = (int(ex, "seed")?, int(ex, "n")?, int(ex, "offset")?);
            let w =
                seje::phase2::step::interpolation_weights(seed as u32, n as usize, offset as u64);
            Ok(Value::Array(
                w.into_iter().map(|x| Value::Float(f64::from(x))).collect(),
            ))
        }
        "adam_steps" => {
            use seje::nn::adam::{Adam, AdamConfig};
            let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
            let init = float(get(ex, "init")?, "init")?;
            let p = vs.root().var("p", &[1], tch::nn::Init::Const(init));
            vs.double(); // converts in place: `p` now holds float64
            let mut opt = Adam::new(&vs, AdamConfig::pytorch(float(get(ex, "lr")?, "lr")?));
            let grads = get(ex, "grads")?
                .as_array()
                .ok_or("input `grads` must be an array")?;
            for g in grads {
                opt.zero_grad();
                (&p * float(g, "grads")?).sum(tch::Kind::Double).backward();
                opt.step();
            }
            scalar(&p.get(0))
        }
        "cosine_lr" => categoriser_training_ops::cosine(ex),
        "sgd_steps" => categoriser_training_ops::sgd_steps(ex),
        "recipe1m_join" => data_ops::join(ex),
        "check_id" => {
            let id = string(ex, "id")?;
            let r = match string(ex, "kind")? {
                "recipe" => seje::data::ids::check_recipe_id(id),
                "image" => seje::data::ids::check_image_id(id),
                other => return Err(format!("unknown kind `{other}` (recipe, image)")),
            };
            r.map(|()| Value::String("ok".into()))
        }
        "image_path" => {
            let p: seje::data::splits::Partition = string(ex, "partition")?.parse()?;
            let path = seje::data::images::tree_path(p, string(ex, "image")?);
            Ok(Value::String(seje::data::images::slash(&path)))
        }
        "resized_size" => data_ops::resized_size(ex),
        "center_crop_origin" => data_ops::center_crop_origin(ex),
        "resize_bilinear" => data_ops::resize(ex),
        "normalize_pixel" => data_ops::normalize_pixel(ex),
        "epoch_order" => data_ops::epoch_order(ex),
        "feature_store" => data_ops::feature_store(ex),
        "stand_in_tokenize" => stand_in_ops::tokenize(ex),
        "stand_in_word_vector" => stand_in_ops::word_vector(ex),
        "stand_in_term_feature" => stand_in_ops::term_feature(ex),
        "stand_in_sentences" => stand_in_ops::sentences(ex),
        "stand_in_classes" => stand_in_ops::classes(ex),
        "stand_in_write" => stand_in_ops::write(ex),
        "tfidf" => rating_ops::tfidf(ex),
        "bert_tokens" => bert_ops::tokens(ex),
        "bert_rating" => bert_ops::rating(ex),
        "keybert_rating" => bert_ops::keybert_rating(ex),
        "textrank_graph" => rating_ops::textrank_graph(ex),
        "textrank" => rating_ops::textrank(ex),
        "text_words" => text_ops::words(ex),
        "ingredient_line" => text_ops::ingredient_line(ex),
        "replace_entities" => text_ops::replace_entities(ex),
        "reexamine" => text_ops::reexamine(ex),
        "reexamination_score" => text_ops::reexamination_score(ex),
        "key_terms" => text_ops::key_terms(ex),
        "key_term_lexicon" => text_ops::lexicon(ex),
        "category_name_vector" => category_feature_ops::class_name(ex),
        "category_tokens" => category_labels_ops::tokens(ex),
        "category_bigrams" => category_labels_ops::bigrams(ex),
        "category_labels" => category_labels_ops::assign_op(ex),
        "term_feature" => term_feature_ops::term_feature(ex),
        "recipe_text" => term_feature_ops::recipe_text_op(ex),
        "pos_features" => pos_tagger_ops::features(ex),
        "pos_tag" => pos_tagger_ops::tag(ex),
        "pos_tag_inline_model" => pos_tagger_ops::inline_model(ex),
        "pos_key_terms" => pos_tagger_ops::key_terms(ex),
        "skip_instructions_parameters" => skip_instructions_ops::parameters(ex),
        "skip_instructions_encode" => skip_instructions_ops::encode(ex),
        "skip_instructions_loss" => skip_instructions_ops::loss(ex),
        "word2vec_huffman" => word2vec_ops::huffman(ex),
        "word2vec_keep_probability" => word2vec_ops::keep_probability(ex),
        "word2vec_vocab" => word2vec_ops::vocab(ex),
        "word2vec_write_binary" => word2vec_ops::write_binary(ex),
        "word2vec_read_binary" => word2vec_ops::read_binary(ex),
        "t7_read" => t7_ops::read(ex),
        "t7_skip_instructions" => t7_ops::skip_instructions(ex),
        "t7_sentence_store" => t7_ops::sentence_store(ex),
        "synth_world" => synth_ops::world(ex),
        "synth_config" => synth_ops::config(ex).map(|c| synth_ops::config_value(&c)),
        "synth_recipe" => synth_ops::recipe(ex),
        "synth_image" => synth_ops::image(ex),
        "synth_strip_quantity" => Ok(Value::String(seje::data::synth::recipes::strip_quantity(
            string(ex, "line")?,
        ))),
        "synth_image_path" => synth_ops::image_path(ex),
        "synth_generate" => synth_ops::generate(ex),
        "checkpoint_tensors" => {
            let key = ex.get("key").map(|_| string(ex, "key")).transpose()?;
            let state = checkpoint::read_state_dict(fixture(ex)?, key).map_err(err)?;
            Ok(Value::Array(
                state
                    .iter()
                    .map(|(name, t)| Value::String(format!("{name}: {}", tensor_summary(t))))
                    .collect(),
            ))
        }
        "checkpoint_value" => {
            let root = checkpoint::read_torch_file(fixture(ex)?).map_err(err)?;
            let mut at = &root;
            for step in get(ex, "path")?
                .as_array()
                .ok_or("`path` must be an array")?
            {
                let next = match (step, at.as_dict()) {
                    (Value::String(k), Some(d)) => d.get(k),
                    (Value::Integer(i), Some(d)) => d.get_int(*i),
                    (Value::Integer(i), None) => {
                        at.as_seq().and_then(|s| s.get(usize::try_from(*i).ok()?))
                    }
                    _ => None,
                };
                at = next.ok_or_else(|| format!("no `{step}` in a {}", at.type_name()))?;
            }
            Ok(checkpoint_to_toml(at))
        }
        "cpython_getrandbits" => {
            let mut r = CpythonRandom::seed(int(ex, "seed")? as u64);
            let k = int(ex, "k")? as u32;
            let words = (0..int(ex, "count")?)
                .map(|_| r.getrandbits(k).map(|w| Value::Integer(i64::from(w))))
                .collect::<Result<_, _>>()
                .map_err(err)?;
            Ok(Value::Array(words))
        }
        "cpython_sample" => {
            let mut r = CpythonRandom::seed(int(ex, "seed")? as u64);
            let (n, k) = (int(ex, "n")? as usize, int(ex, "k")? as usize);
            let head = ex
                .get("head")
                .and_then(Value::as_integer)
                .map_or(k, |h| h as usize);
            let mut out = Vec::new();
            for _ in 0..int(ex, "subsets")? {
                let s = r.sample_range(n, k).map_err(err)?;
                out.push(Value::Array(
                    s[..head.min(k)]
                        .iter()
                        .map(|&i| Value::Integer(i as i64))
                        .collect(),
                ));
            }
            Ok(Value::Array(out))
        }
        "cpython_shuffle" => {
            let mut r = CpythonRandom::seed(int(ex, "seed")? as u64);
            let mut x: Vec<i64> = (0..int(ex, "n")?).collect();
            let mut out = Vec::new();
            for _ in 0..int(ex, "times")? {
                r.shuffle(&mut x).map_err(err)?;
                out.push(Value::Array(x.iter().map(|&i| Value::Integer(i)).collect()));
            }
            Ok(Value::Array(out))
        }
        "cpython_sample_method" => {
            let (n, k) = (int(ex, "n")? as usize, int(ex, "k")? as usize);
            Ok(Value::Table(Table::from_iter([
                (
                    "setsize".to_string(),
                    Value::Integer(sample_setsize(k) as i64),
                ),
                (
                    "method".to_string(),
                    Value::String(
                        if sample_uses_pool(n, k) {
                            "pool"
                        } else {
                            "set"
                        }
                        .into(),
                    ),
                ),
            ])))
        }
        "eval_ranks" => {
            let e = embeddings(ex)?;
            let measure = match string(ex, "measure")? {
                "euclidean" => Measure::Euclidean,
                "cosine" => Measure::Cosine,
                "negative_dot" => Measure::NegativeDot,
                other => return Err(format!("unknown measure `{other}`")),
            };
            let all: Vec<usize> = (0..e.n).collect();
            let r = subset_ranks(&e, &all, measure, RankOptions::default()).map_err(err)?;
            let ints = |v: Vec<u32>| {
                Value::Array(
                    v.into_iter()
                        .map(|x| Value::Integer(i64::from(x)))
                        .collect(),
                )
            };
            Ok(Value::Table(Table::from_iter([
                ("image_to_recipe".to_string(), ints(r.image_to_recipe)),
                ("recipe_to_image".to_string(), ints(r.recipe_to_image)),
            ])))
        }
        "eval_permutation" => {
            let e = embeddings(ex)?;
            let t = seje::eval::significance::permutation_test(
                &e,
                Measure::Euclidean,
                int(ex, "permutations")? as usize,
                int(ex, "seed")? as u64,
            )
            .map_err(err)?;
            Ok(Value::Table(Table::from_iter([
                ("mean_rank".to_string(), Value::Float(t.mean_rank)),
                ("null_mean_rank".to_string(), Value::Float(t.null_mean_rank)),
                ("as_good".to_string(), Value::Integer(t.as_good as i64)),
                ("p_value".to_string(), Value::Float(t.p_value)),
            ])))
        }
        "phase1_truth_agreement" => {
            let list = |key: &str| -> Result<Vec<String>, String> {
                get(ex, key)?
                    .as_array()
                    .ok_or(format!("input `{key}` must be an array"))?
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        Value::Integer(i) => Ok(i.to_string()),
                        _ => Err(format!("`{key}` holds strings or integers")),
                    })
                    .collect()
            };
            let (c, d) = (list("categories")?, list("dishes")?);
            if c.len() != d.len() {
                return Err("`categories` and `dishes` differ in length".into());
            }
            let pairs: Vec<(String, String)> = c.into_iter().zip(d).collect();
            let g = seje::eval::phase1_truth::agreement(&pairs);
            Ok(Value::Table(Table::from_iter([
                ("purity".to_string(), Value::Float(g.purity)),
                ("inverse_purity".to_string(), Value::Float(g.inverse_purity)),
                ("nmi".to_string(), Value::Float(g.nmi)),
            ])))
        }
        "eval_metrics" => {
            let ranks: Vec<u32> = get(ex, "ranks")?
                .as_array()
                .ok_or("input `ranks` must be an array")?
                .iter()
                .map(|v| v.as_integer().map(|i| i as u32).ok_or("ranks are integers"))
                .collect::<Result<_, _>>()?;
            let base = ex.get("base").and_then(Value::as_integer).unwrap_or(1) as u32;
            Ok(metrics_value(&subset_metrics(&ranks, base)))
        }
        "eval_protocol" => {
            let e = embeddings(ex)?;
            let cfg = EvalConfig {
                protocol: string(ex, "protocol")?.parse().map_err(err)?,
                sizes: get(ex, "sizes")?
                    .as_array()
                    .ok_or("input `sizes` must be an array")?
                    .iter()
                    .map(|v| {
                        v.as_integer()
                            .map(|i| i as usize)
                            .ok_or("sizes are integers")
                    })
                    .collect::<Result<_, _>>()?,
                subsets: int(ex, "subsets")? as usize,
                ..EvalConfig::default()
            };
            let report = evaluate(&e, &cfg).map_err(err)?;
            Ok(Value::Array(
                report
                    .sizes
                    .iter()
                    .map(|s| {
                        Value::Table(Table::from_iter([
                            ("size".to_string(), Value::Integer(s.size as i64)),
                            ("subsets".to_string(), Value::Integer(s.subsets as i64)),
                            (
                                "image_to_recipe".to_string(),
                                direction_value(&s.image_to_recipe),
                            ),
                            (
                                "recipe_to_image".to_string(),
                                direction_value(&s.recipe_to_image),
                            ),
                        ]))
                    })
                    .collect(),
            ))
        }
        other => Err(format!(
            "unknown op `{other}`: add it to tests/spec/registry.rs"
        )),
    }
}

#[path = "bert_ops.rs"]
mod bert_ops;
#[path = "categoriser_training_ops.rs"]
mod categoriser_training_ops;
#[path = "category_feature_ops.rs"]
mod category_feature_ops;
#[path = "category_labels_ops.rs"]
mod category_labels_ops;
#[path = "data_ops.rs"]
mod data_ops;
#[path = "pos_tagger_ops.rs"]
mod pos_tagger_ops;
#[path = "rating_ops.rs"]
mod rating_ops;
#[path = "skip_instructions_ops.rs"]
mod skip_instructions_ops;
#[path = "stand_in_ops.rs"]
mod stand_in_ops;
#[path = "t7_ops.rs"]
mod t7_ops;
#[path = "term_feature_ops.rs"]
mod term_feature_ops;
#[path = "text_ops.rs"]
mod text_ops;
#[path = "word2vec_ops.rs"]
mod word2vec_ops;

/// An input that must be an array of strings (`v` is the input named `key`).
pub fn string_array(v: &Value, key: &str) -> Result<Vec<String>, String> {
    v.as_array()
        .ok_or_else(|| format!("input `{key}` must be an array of strings"))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("input `{key}` must be an array of strings"))
        })
        .collect()
}

fn floats(ex: &Table, key: &str) -> Result<Vec<f64>, String> {
    get(ex, key)?
        .as_array()
        .ok_or_else(|| format!("input `{key}` must be an array of numbers"))?
        .iter()
        .map(|v| float(v, key))
        .collect()
}

/// Feeds one validation score per epoch to the training loop's schedule.
fn schedule(ex: &Table) -> Result<Value, String> {
    use seje::phase2::config::TrainConfig;
    use seje::phase2::run_dir::TrainState;
    use seje::phase2::train::{begin_epoch, end_epoch, ScheduleStep};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/configs/paper.toml");
    let sets = ["stage1_patience", "stage2_patience", "max_epochs"]
        .iter()
        .map(|k| Ok(format!("schedule.{k}={}", int(ex, k)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let cfg = TrainConfig::load(&path, &sets).map_err(err)?;
    let scores = floats(ex, "scores")?;
    let mut state = TrainState::start();
    let mut stage2_from = 0;
    let stopped = loop {
        match begin_epoch(&mut state, &cfg) {
            ScheduleStep::Stop(why) => break why,
            ScheduleStep::SwitchStage => stage2_from = state.epoch + 1,
            ScheduleStep::Continue => {}
        }
        let score = *scores
            .get(state.epoch)
            .ok_or_else(|| format!("no score for epoch {}", state.epoch + 1))?;
        end_epoch(&mut state, score);
    };
    let mut t = Table::new();
    t.insert("epochs".into(), Value::Integer(state.epoch as i64));
    t.insert(
        "stage2_from_epoch".into(),
        Value::Integer(stage2_from as i64),
    );
    t.insert(
        "best_epoch".into(),
        Value::Integer(state.best.map_or(0, |(_, e)| e as i64)),
    );
    t.insert("stopped".into(), Value::String(stopped.into()));
    Ok(Value::Table(t))
}

fn err(e: seje::Error) -> String {
    e.to_string()
}

pub fn get<'a>(ex: &'a Table, key: &str) -> Result<&'a Value, String> {
    ex.get(key)
        .ok_or_else(|| format!("example is missing input `{key}`"))
}

pub fn string<'a>(ex: &'a Table, key: &str) -> Result<&'a str, String> {
    get(ex, key)?
        .as_str()
        .ok_or_else(|| format!("input `{key}` must be a string"))
}

pub fn int(ex: &Table, key: &str) -> Result<i64, String> {
    get(ex, key)?
        .as_integer()
        .ok_or_else(|| format!("input `{key}` must be an integer"))
}

pub fn float(v: &Value, key: &str) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Integer(i) => Ok(*i as f64),
        _ => Err(format!("input `{key}` must contain numbers, found {v}")),
    }
}

/// A nested array of numbers of any depth as a tensor of that shape, in the example's `dtype`.
fn tensor(ex: &Table, key: &str) -> Result<tch::Tensor, String> {
    fn walk(
        v: &Value,
        key: &str,
        depth: usize,
        shape: &mut Vec<i64>,
        flat: &mut Vec<f64>,
    ) -> Result<(), String> {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len() as i64);
                } else if shape[depth] != items.len() as i64 {
                    return Err(format!("input `{key}` is ragged at depth {depth}"));
                }
                items
                    .iter()
                    .try_for_each(|i| walk(i, key, depth + 1, shape, flat))
            }
            v => {
                if depth != shape.len() {
                    return Err(format!(
                        "input `{key}` mixes numbers and arrays at depth {depth}"
                    ));
                }
                flat.push(float(v, key)?);
                Ok(())
            }
        }
    }
    let (mut shape, mut flat) = (Vec::new(), Vec::new());
    walk(get(ex, key)?, key, 0, &mut shape, &mut flat)?;
    Ok(tch::Tensor::from_slice(&flat)
        .view(shape.as_slice())
        .to_kind(kind(ex)?))
}

/// Trainable parameters of a component built at the paper's widths (batch-norm running
/// statistics are buffers, not parameters).
fn parameter_count(component: &str) -> Result<Value, String> {
    use seje::nn::backbone::{Backbone, BackboneConfig};
    use seje::phase2::category_alignment::CategoryHead;
    use seje::phase2::discriminator::{Discriminator, DiscriminatorConfig};
    use seje::phase2::image_encoder::ImageHead;
    use seje::phase2::recipe_encoder::{RecipeEncoder, RecipeEncoderConfig};
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let root = vs.root();
    tch::no_grad(|| -> Result<(), String> {
        match component.split_once(':') {
            Some(("backbone", arch)) => {
                let cfg = BackboneConfig::by_name(arch).map_err(err)?;
                let _ = Backbone::new(root, &cfg.with_classes(None));
            }
            Some(("backbone_with_fc", arch)) => {
                let _ = Backbone::new(root, &BackboneConfig::by_name(arch).map_err(err)?);
            }
            _ => match component {
                "image_head" => drop(ImageHead::new(&root, 2048, 300, 1024)),
                "recipe_encoder" => drop(RecipeEncoder::new(&root, &RecipeEncoderConfig::paper())),
                "category_head" => drop(CategoryHead::new(root, 1024, 1005)),
                "discriminator" => drop(Discriminator::new(root, &DiscriminatorConfig::paper())),
                other => return Err(format!("unknown component `{other}`")),
            },
        }
        Ok(())
    })?;
    let n: usize = vs
        .trainable_variables()
        .iter()
        .map(tch::Tensor::numel)
        .sum();
    Ok(Value::Integer(n as i64))
}

fn optional_int_tensor(ex: &Table, key: &str) -> Result<Option<tch::Tensor>, String> {
    let Some(v) = ex.get(key) else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| format!("input `{key}` must be an array of integers"))?;
    let ints: Vec<i64> = items
        .iter()
        .map(|i| {
            i.as_integer()
                .ok_or_else(|| format!("input `{key}` must contain integers"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(tch::Tensor::from_slice(&ints)))
}

/// `negatives` (instance | class | double), `gamma` (default 16) and `margin` (default 0).
fn triplet_config(ex: &Table) -> Result<TripletConfig, String> {
    let mut cfg = TripletConfig::paper();
    cfg.negatives = NegativeMode::parse(string(ex, "negatives")?).map_err(err)?;
    if let Some(g) = ex.get("gamma") {
        cfg.gamma = float(g, "gamma")?;
    }
    if let Some(m) = ex.get("margin") {
        cfg.margin = float(m, "margin")?;
    }
    Ok(cfg)
}

fn alignment_form(ex: &Table) -> Result<AlignmentForm, String> {
    match string(ex, "form")? {
        "wgan_gp" => Ok(AlignmentForm::WganGp),
        "seje_log" => Ok(AlignmentForm::SejeLog),
        other => Err(format!("unknown form `{other}` (wgan_gp, seje_log)")),
    }
}

pub fn scalar(t: &tch::Tensor) -> Result<Value, String> {
    Ok(Value::Float(f64::try_from(t).map_err(|e| e.to_string())?))
}

/// `dtype = "f32"` (default, the model's precision) or `"f64"`.
fn kind(ex: &Table) -> Result<Kind, String> {
    match ex.get("dtype").map(|v| v.as_str()) {
        None | Some(Some("f32")) => Ok(Kind::Float),
        Some(Some("f64")) => Ok(Kind::Double),
        _ => Err("`dtype` must be \"f32\" or \"f64\"".into()),
    }
}

fn matrix_value(t: &tch::Tensor) -> Result<Value, String> {
    let rows = space::tensor_to_matrix(t).map_err(err)?;
    Ok(Value::Array(
        rows.into_iter()
            .map(|r| Value::Array(r.into_iter().map(Value::Float).collect()))
            .collect(),
    ))
}

/// Operations of spec/data-synthetic-benchmark.md.
mod synth_ops {
    use super::{err, float, get, int, string};
    use seje::data::synth::{self, Partition, SynthConfig, World};
    use sha2::Digest;
    use toml::{Table, Value};

    fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
        Value::Array(items.into_iter().map(|s| Value::String(s.into())).collect())
    }

    fn table(pairs: Vec<(&str, Value)>) -> Value {
        Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// The world's sizes, or one category's definition with `category = "name"`.
    pub fn world(ex: &Table) -> Result<Value, String> {
        let w = World::standard();
        let names = |ix: &[usize]| strings(ix.iter().map(|&i| w.ingredients[i].name));
        match ex.get("category").and_then(Value::as_str) {
            None => {
                let mut classes: Vec<&str> = w.categories.iter().map(|c| c.name).collect();
                classes.sort_unstable();
                Ok(table(vec![
                    ("categories", Value::Integer(w.categories.len() as i64)),
                    ("ingredients", Value::Integer(w.ingredients.len() as i64)),
                    ("pantry", names(&w.pantry)),
                    ("first_classes", strings(classes.into_iter().take(4))),
                ]))
            }
            Some(name) => {
                let c = &w.categories[w
                    .category(name)
                    .ok_or_else(|| format!("no category `{name}`"))?];
                Ok(table(vec![
                    ("label", Value::String(c.label())),
                    ("core", names(&c.core)),
                    ("optional", names(&c.optional)),
                    ("actions", strings(c.actions.iter().copied())),
                    ("utensils", strings(c.utensils.iter().copied())),
                    ("oven", Value::Boolean(c.oven)),
                    (
                        "vessel",
                        Value::String(format!("{:?}", c.vessel).to_lowercase()),
                    ),
                    (
                        "shape",
                        Value::String(format!("{:?}", c.shape).to_lowercase()),
                    ),
                ]))
            }
        }
    }

    /// A preset (`preset = "benchmark" | "fixture-mini"`) with optional overrides, validated.
    pub fn config(ex: &Table) -> Result<SynthConfig, String> {
        let mut c = match ex.get("preset").and_then(Value::as_str) {
            None | Some("benchmark") => SynthConfig::benchmark(10_000),
            Some("fixture-mini") => SynthConfig::fixture_mini(),
            Some(other) => return Err(format!("unknown preset `{other}`")),
        };
        if ex.contains_key("seed") {
            c.seed = int(ex, "seed")? as u64;
        }
        if ex.contains_key("recipes") {
            c.recipes = int(ex, "recipes")? as usize;
        }
        if ex.contains_key("image_size") {
            c.image_size = int(ex, "image_size")? as u32;
        }
        if ex.contains_key("max_images") {
            c.max_images = int(ex, "max_images")? as usize;
        }
        if ex.contains_key("val_fraction") {
            c.val_fraction = float(get(ex, "val_fraction")?, "val_fraction")?;
        }
        if ex.contains_key("test_fraction") {
            c.test_fraction = float(get(ex, "test_fraction")?, "test_fraction")?;
        }
        if ex.contains_key("val_recipes") {
            c.val_recipes = Some(int(ex, "val_recipes")? as usize);
        }
        if ex.contains_key("test_recipes") {
            c.test_recipes = Some(int(ex, "test_recipes")? as usize);
        }
        c.validate().map_err(err)?;
        Ok(c)
    }

    pub fn config_value(c: &SynthConfig) -> Value {
        let (train, val, test) = c.split_counts();
        table(vec![
            ("recipes", Value::Integer(c.recipes as i64)),
            ("image_size", Value::Integer(i64::from(c.image_size))),
            (
                "images_per_recipe",
                Value::Array(vec![
                    Value::Integer(c.min_images as i64),
                    Value::Integer(c.max_images as i64),
                ]),
            ),
            (
                "split",
                Value::Array(
                    [train, val, test]
                        .map(|n| Value::Integer(n as i64))
                        .to_vec(),
                ),
            ),
        ])
    }

    /// Recipe `index` of the benchmark `config(ex)`: id, partition, category, text, image ids.
    pub fn recipe(ex: &Table) -> Result<Value, String> {
        let c = config(ex)?;
        let index = int(ex, "index")? as usize;
        let slot = synth::plan(&c)
            .into_iter()
            .nth(index)
            .ok_or_else(|| format!("index {index} is outside the {} recipes", c.recipes))?;
        let w = World::standard();
        let r = synth::recipe_at(&w, &c, index);
        let all = table(vec![
            ("id", Value::String(slot.id.clone())),
            ("partition", Value::String(slot.partition.as_str().into())),
            (
                "category",
                Value::String(w.categories[r.category].name.into()),
            ),
            ("title", Value::String(r.title.clone())),
            (
                "ingredients",
                strings(r.lines.iter().map(|l| l.text.as_str())),
            ),
            (
                "detected",
                strings(r.lines.iter().map(|l| l.detected.as_str())),
            ),
            (
                "valid",
                Value::Array(r.lines.iter().map(|l| Value::Boolean(l.valid)).collect()),
            ),
            (
                "instructions",
                strings(r.instructions.iter().map(String::as_str)),
            ),
            ("images", strings(slot.images.iter().map(String::as_str))),
        ]);
        // `field = "…"` picks one entry, so long lists read well on the page.
        match ex.get("field").and_then(Value::as_str) {
            None => Ok(all),
            Some(f) => all
                .get(f)
                .cloned()
                .ok_or_else(|| format!("no field `{f}` in a synthetic recipe")),
        }
    }

    /// Photograph `image` of recipe `index`: size and the first 16 hex digits of the JPEG's SHA-256.
    pub fn image(ex: &Table) -> Result<Value, String> {
        let c = config(ex)?;
        let index = int(ex, "index")? as usize;
        let k = int(ex, "image")? as usize;
        let slot = synth::plan(&c)
            .into_iter()
            .nth(index)
            .ok_or_else(|| format!("index {index} is outside the {} recipes", c.recipes))?;
        let (_, jpegs) = synth::make_recipe(&World::standard(), &c, &slot).map_err(err)?;
        let jpeg = jpegs
            .get(k)
            .ok_or_else(|| format!("recipe {index} has {} images", jpegs.len()))?;
        let img = image::load_from_memory(jpeg).map_err(|e| e.to_string())?;
        let digest = hex::encode(sha2::Sha256::digest(jpeg));
        Ok(table(vec![
            ("width", Value::Integer(i64::from(img.width()))),
            ("height", Value::Integer(i64::from(img.height()))),
            ("sha256_prefix", Value::String(digest[..16].into())),
        ]))
    }

    pub fn image_path(ex: &Table) -> Result<Value, String> {
        let partition = match string(ex, "partition")? {
            "train" => Partition::Train,
            "val" => Partition::Val,
            "test" => Partition::Test,
            other => return Err(format!("unknown partition `{other}`")),
        };
        let p = synth::image_path(
            std::path::Path::new("ROOT"),
            partition,
            string(ex, "image_id")?,
        );
        Ok(Value::String(p.display().to_string()))
    }

    /// Generates `config(ex)` (with its Food-101 set) into a temporary directory and reports what
    /// is on disk.
    pub fn generate(ex: &Table) -> Result<Value, String> {
        let c = config(ex)?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let s = synth::generate(&c, &dir.path().join("recipe1m")).map_err(err)?;
        let f = synth::generate_food101(&c, &dir.path().join("food101")).map_err(err)?;
        let mut top: Vec<String> = std::fs::read_dir(dir.path().join("recipe1m"))
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        top.sort();
        Ok(table(vec![
            ("files", strings(top.iter().map(String::as_str))),
            (
                "split",
                Value::Array(s.per_split.map(|n| Value::Integer(n as i64)).to_vec()),
            ),
            ("images", Value::Integer(s.images as i64)),
            ("food101_classes", Value::Integer(f.classes as i64)),
            ("food101_images", Value::Integer((f.train + f.test) as i64)),
        ]))
    }
}

/// The file an example names with `file`, relative to the repository root.
pub fn fixture(ex: &Table) -> Result<std::path::PathBuf, String> {
    Ok(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(string(ex, "file")?))
}

/// `torch.float32 [2, 3]`.
fn tensor_summary(t: &tch::Tensor) -> String {
    format!("{} {:?}", checkpoint::torch_dtype_name(t.kind()), t.size())
}

/// A checkpoint value as TOML: dicts become tables (keys as strings), `None` the string `None`,
/// tensors a `tensor torch.float32 [2, 3]` summary.
fn checkpoint_to_toml(v: &checkpoint::Value) -> Value {
    use checkpoint::Value as C;
    match v {
        C::None => Value::String("None".into()),
        C::Bool(b) => Value::Boolean(*b),
        C::Int(i) => Value::Integer(*i),
        C::Float(f) => Value::Float(*f),
        C::Str(s) => Value::String(s.clone()),
        C::Bytes(b) => Value::Array(b.iter().map(|&x| Value::Integer(x.into())).collect()),
        C::Tuple(items) | C::List(items) => {
            Value::Array(items.iter().map(checkpoint_to_toml).collect())
        }
        C::Dict(d) => Value::Table(
            d.entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        C::Str(s) => s.clone(),
                        C::Int(i) => i.to_string(),
                        other => format!("<{}>", other.type_name()),
                    };
                    (key, checkpoint_to_toml(v))
                })
                .collect(),
        ),
        C::Tensor(t) => Value::String(format!("tensor {}", tensor_summary(t))),
    }
}

/// `image` and `recipe` matrices (and optional `ids`) as an evaluation input.
fn embeddings(ex: &Table) -> Result<Embeddings, String> {
    let rows = |key: &str| -> Result<(usize, usize, Vec<f32>), String> {
        let t = tensor(ex, key)?;
        let m = space::tensor_to_matrix(&t).map_err(err)?;
        let d = m.first().map_or(0, Vec::len);
        Ok((
            m.len(),
            d,
            m.into_iter().flatten().map(|v| v as f32).collect(),
        ))
    };
    let (n, d, image) = rows("image")?;
    let (nr, dr, recipe) = rows("recipe")?;
    if (n, d) != (nr, dr) {
        return Err(format!(
            "example: image is [{n}, {d}], recipe is [{nr}, {dr}]"
        ));
    }
    let ids = match ex.get("ids") {
        None => None,
        Some(v) => Some(
            v.as_array()
                .ok_or("input `ids` must be an array of strings")?
                .iter()
                .map(|s| s.as_str().map(str::to_string).ok_or("ids are strings"))
                .collect::<Result<_, _>>()?,
        ),
    };
    Embeddings::new("example", (n, d), image, recipe, ids).map_err(err)
}

fn metrics_value(m: &Metrics) -> Value {
    Value::Table(Table::from_iter(
        [("medr", m.medr), ("r1", m.r1), ("r5", m.r5), ("r10", m.r10)]
            .map(|(k, v)| (k.to_string(), Value::Float(v))),
    ))
}

fn direction_value(d: &DirectionResult) -> Value {
    metrics_value(&Metrics {
        medr: d.medr,
        r1: d.r1,
        r5: d.r5,
        r10: d.r10,
    })
}
