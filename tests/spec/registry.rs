//! The one dispatch point from a spec example's `op` to the library. Pages name operations, never
//! Rust signatures, so the API can change without touching a page.
//!
//! Spec: spec/README.md (the list of operations is on each page that uses them).

use seje::phase2::category_alignment::cross_entropy;
use seje::phase2::discriminator::{alignment_from_scores, critic_loss, AlignmentForm};
use seje::phase2::embedding_space as space;
use seje::phase2::layers;
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
            let path =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/configs/paper.toml");
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
            let cfg = TrainConfig::load(&path, &overrides).map_err(err)?;
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
        "interpolation_weights" => {
            let (seed, n, it) = (int(ex, "seed")?, int(ex, "n")?, int(ex, "iteration")?);
            let w = seje::phase2::step::interpolation_weights(seed as u64, n as usize, it as u64);
            Ok(Value::Array(
                w.into_iter().map(|x| Value::Float(f64::from(x))).collect(),
            ))
        }
        "adam_steps" => {
            use seje::phase2::adam::{Adam, AdamConfig};
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
            let p: seje::data::recipe1m::Partition = string(ex, "partition")?.parse()?;
            let path = seje::data::images::tree_path(p, string(ex, "image")?);
            Ok(Value::String(seje::data::images::slash(&path)))
        }
        "resized_size" => data_ops::resized_size(ex),
        "center_crop_origin" => data_ops::center_crop_origin(ex),
        "resize_bilinear" => data_ops::resize(ex),
        "normalize_pixel" => data_ops::normalize_pixel(ex),
        "epoch_order" => data_ops::epoch_order(ex),
        "feature_store" => data_ops::feature_store(ex),
        other => Err(format!(
            "unknown op `{other}`: add it to tests/spec/registry.rs"
        )),
    }
}

#[path = "data_ops.rs"]
mod data_ops;

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
    use seje::phase2::backbone::{Backbone, BackboneConfig};
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

fn scalar(t: &tch::Tensor) -> Result<Value, String> {
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
