//! Every parameter and buffer of every model the package builds starts from the law its reference
//! library uses for that layer: PyTorch's `reset_parameters` (Linear, LSTM, BatchNorm), torchvision's
//! ResNet init (convolutions Kaiming-normal on fan-out, batch norms weight 1 and bias 0), and
//! transformers' BERT init. A tensor no rule below claims fails the test, so a new layer cannot
//! slip through unchecked.
//!
//! Spec: spec/phase2-layers.md ("Initialisation"). Constants are checked exactly; random laws by
//! their bound (uniform) and by mean and variance within 6 standard errors (a false alarm has a
//! probability of about 2e-9 per check).

use std::collections::BTreeMap;

use seje::nn::backbone::{Backbone, BackboneConfig};
use seje::phase1::bert::{BertConfig, BertModel};
use seje::phase1::skip_instructions::{SkipInstructions, SkipInstructionsConfig};
use seje::phase2::discriminator::{Discriminator, DiscriminatorConfig};
use seje::phase2::model::{JointEmbedding, ModelConfig};
use tch::{nn, Device, Kind, Tensor};

/// A reference library's law for one tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Law {
    /// Every entry equals this value.
    Const(f64),
    /// U(−a, a).
    Uniform(f64),
    /// N(0, σ²).
    Normal(f64),
    /// N(0, σ²) with one row (the padding token) zero.
    NormalZeroRow(f64, i64),
}

/// Which library's rules a model follows.
#[derive(Debug, Clone, Copy)]
enum Family {
    /// PyTorch layers and torchvision ResNets.
    Torch,
    /// transformers' BERT with this `initializer_range` and padding id.
    Bert(f64, i64),
}

fn parent(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(p, _)| p)
}

fn sibling(name: &str, leaf: &str) -> String {
    match parent(name) {
        "" => leaf.to_string(),
        p => format!("{p}.{leaf}"),
    }
}

/// The law of `name` (shape `shape`) among `shapes`, or `None`: no rule claims it.
fn law(
    family: Family,
    name: &str,
    shape: &[i64],
    shapes: &BTreeMap<String, Vec<i64>>,
) -> Option<Law> {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    match family {
        Family::Torch => {
            let is_bn = shapes.contains_key(&sibling(name, "running_mean"));
            match leaf {
                "running_mean" => Some(Law::Const(0.0)),
                "running_var" => Some(Law::Const(1.0)),
                "weight" if is_bn => Some(Law::Const(1.0)),
                "bias" if is_bn => Some(Law::Const(0.0)),
                "weight_ih_l0" | "weight_hh_l0" | "bias_ih_l0" | "bias_hh_l0" => {
                    let h = shapes.get(&sibling(name, "weight_hh_l0"))?[1];
                    Some(Law::Uniform(1.0 / (h as f64).sqrt()))
                }
                // torchvision ResNet: kaiming_normal_(mode="fan_out", nonlinearity="relu").
                "weight" if shape.len() == 4 => {
                    let fan_out = shape[0] * shape[2] * shape[3];
                    Some(Law::Normal((2.0 / fan_out as f64).sqrt()))
                }
                // nn.Linear.reset_parameters: U(±1/√fan_in) for weight and bias.
                "weight" if shape.len() == 2 => Some(Law::Uniform(1.0 / (shape[1] as f64).sqrt())),
                "bias" if shape.len() == 1 => {
                    let w = shapes.get(&sibling(name, "weight"))?;
                    (w.len() == 2).then(|| Law::Uniform(1.0 / (w[1] as f64).sqrt()))
                }
                _ => None,
            }
        }
        Family::Bert(std, pad) => {
            let layer_norm = parent(name).ends_with("LayerNorm");
            match leaf {
                "weight" if layer_norm => Some(Law::Const(1.0)),
                "bias" if layer_norm => Some(Law::Const(0.0)),
                "weight" if parent(name).ends_with("word_embeddings") => {
                    Some(Law::NormalZeroRow(std, pad))
                }
                "weight" if shape.len() == 2 => Some(Law::Normal(std)),
                "bias" if shape.len() == 1 => Some(Law::Const(0.0)),
                _ => None,
            }
        }
    }
}

/// Why `t` does not follow `law`, or `None`.
fn violation(t: &Tensor, law: Law) -> Option<String> {
    let t = t.to_kind(Kind::Double).flatten(0, -1);
    let n = t.size()[0] as f64;
    let mean = f64::try_from(t.mean(Kind::Double)).unwrap();
    let var = f64::try_from(t.var(false)).unwrap();
    let max_abs = f64::try_from(t.abs().max()).unwrap();
    let moments = |sd: f64, var_expected: f64, var_se: f64| {
        let mut out = Vec::new();
        if mean.abs() > 6.0 * sd / n.sqrt() {
            out.push(format!(
                "mean {mean:.3e} (expected 0 ± {:.1e})",
                6.0 * sd / n.sqrt()
            ));
        }
        if (var - var_expected).abs() > 6.0 * var_se {
            out.push(format!(
                "variance {var:.4e} (expected {var_expected:.4e} ± {:.1e})",
                6.0 * var_se
            ));
        }
        (!out.is_empty()).then(|| out.join(", "))
    };
    match law {
        Law::Const(c) => {
            let off = f64::try_from((&t - c).abs().max()).unwrap();
            (off != 0.0).then(|| format!("not all {c}: an entry is off by {off:.3e}"))
        }
        Law::Uniform(a) => {
            if max_abs > a * (1.0 + 1e-6) {
                return Some(format!(
                    "|x| reaches {max_abs:.4e}, above the bound {a:.4e}"
                ));
            }
            // Var(U(−a, a)) = a²/3; the sample variance's standard error is a²·√(4/45)/√n.
            moments(
                a / 3f64.sqrt(),
                a * a / 3.0,
                a * a * (4.0f64 / 45.0).sqrt() / n.sqrt(),
            )
        }
        Law::Normal(s) => moments(s, s * s, s * s * (2.0 / n).sqrt()),
        Law::NormalZeroRow(..) => unreachable!("split by check()"),
    }
}

/// Checks every variable of `vs` against its law; returns the failures.
fn check(model: &str, family: Family, vs: &nn::VarStore) -> Vec<String> {
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let shapes: BTreeMap<String, Vec<i64>> =
        vars.iter().map(|(k, t)| (k.clone(), t.size())).collect();
    let mut failures = Vec::new();
    for (name, t) in &vars {
        match law(family, name, &t.size(), &shapes) {
            None => failures.push(format!("{model}: no law claims `{name}` {:?}", t.size())),
            Some(Law::NormalZeroRow(s, row)) => {
                let r = t.get(row);
                if !r.equal(&r.zeros_like()) {
                    failures.push(format!("{model}: `{name}` row {row} (padding) is not zero"));
                }
                let rest = Tensor::cat(
                    &[
                        t.narrow(0, 0, row),
                        t.narrow(0, row + 1, t.size()[0] - row - 1),
                    ],
                    0,
                );
                if let Some(v) = violation(&rest, Law::Normal(s)) {
                    failures.push(format!("{model}: `{name}` ~ N(0, {s}²): {v}"));
                }
            }
            Some(l) => {
                if let Some(v) = violation(t, l) {
                    failures.push(format!("{model}: `{name}` ~ {l:?}: {v}"));
                }
            }
        }
    }
    assert!(!vars.is_empty(), "{model} has no variables");
    failures
}

fn built(f: impl FnOnce(&nn::Path)) -> nn::VarStore {
    let vs = nn::VarStore::new(Device::Cpu);
    f(&vs.root());
    vs
}

fn assert_laws(model: &str, family: Family, vs: &nn::VarStore) {
    let failures = check(model, family, vs);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_backbone_starts_from_torchvisions_law() {
    tch::manual_seed(1);
    for (name, cfg) in [
        ("resnet50", BackboneConfig::resnet50()),
        ("resnext101_32x8d", BackboneConfig::resnext101_32x8d()),
        // Phase I's categoriser: WideResNet-50-2 with a Food-101 classifier.
        (
            "wide_resnet50_2 (categoriser)",
            BackboneConfig::wide_resnet50_2().with_classes(Some(101)),
        ),
        ("tiny", BackboneConfig::tiny()),
        (
            "tiny with a classifier",
            BackboneConfig::tiny().with_classes(Some(101)),
        ),
    ] {
        let vs = built(|p| {
            Backbone::new(p.clone(), &cfg);
        });
        assert_laws(name, Family::Torch, &vs);
    }
}

#[test]
fn the_joint_model_and_the_discriminator_start_from_pytorchs_law() {
    tch::manual_seed(2);
    // The paper's model: ResNeXt-101 trunk, both heads, the LSTM, the term branch, the category
    // head; and the tiny model of the CPU configurations.
    for (name, cfg) in [
        ("paper model", ModelConfig::paper()),
        (
            "tiny model",
            ModelConfig {
                backbone: BackboneConfig::tiny(),
                ..ModelConfig::paper()
            },
        ),
    ] {
        let vs = built(|p| {
            JointEmbedding::new(p.clone(), &cfg);
        });
        assert_laws(name, Family::Torch, &vs);
    }
    let vs = built(|p| {
        Discriminator::new(p.clone(), &DiscriminatorConfig::paper());
    });
    assert_laws("discriminator", Family::Torch, &vs);
}

#[test]
fn no_batch_norm_weight_starts_below_one() {
    tch::manual_seed(3);
    let vs = built(|p| {
        JointEmbedding::new(p.clone(), &ModelConfig::paper());
    });
    let mut seen = 0;
    for (name, t) in vs.variables() {
        if name.ends_with(".weight") && vs.variables().contains_key(&sibling(&name, "running_mean"))
        {
            seen += 1;
            let min = f64::try_from(t.min()).unwrap();
            assert!(min >= 1.0, "{name} starts at {min}");
        }
    }
    assert!(seen > 100, "only {seen} batch norms found");
}

#[test]
fn the_skip_instructions_model_starts_from_pytorchs_law() {
    tch::manual_seed(4);
    let vs = built(|p| {
        SkipInstructions::new(p, SkipInstructionsConfig::paper()).unwrap();
    });
    assert_laws("skip-instructions", Family::Torch, &vs);
}

#[test]
fn bert_starts_from_transformers_law() {
    tch::manual_seed(5);
    let config: BertConfig = serde_json::from_str(
        r#"{"vocab_size": 300, "hidden_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 128, "pad_token_id": 0}"#,
    )
    .unwrap();
    let vs = built(|p| {
        BertModel::new(p, &config, true).unwrap();
    });
    assert_laws(
        "bert",
        Family::Bert(config.initializer_range, config.pad_token_id),
        &vs,
    );
}

#[test]
fn a_tensor_off_its_law_is_caught() {
    // The checker itself: a batch norm weight drawn as tch's default (uniform in [0, 1)), a
    // linear weight drawn with tch's default Kaiming bound (√6 times PyTorch's), and a tensor
    // no rule knows.
    tch::manual_seed(6);
    let vs = nn::VarStore::new(Device::Cpu);
    let p = vs.root();
    let _bn = nn::batch_norm1d(&p / "bn", 64, Default::default());
    let _lin = nn::linear(&p / "lin", 512, 64, Default::default());
    let _odd = p.var("odd", &[3, 3, 3], nn::Init::Const(0.0));
    let failures = check("planted", Family::Torch, &vs).join("\n");
    assert!(failures.contains("`bn.weight` ~ Const(1.0)"), "{failures}");
    assert!(failures.contains("`lin.weight` ~ Uniform"), "{failures}");
    assert!(failures.contains("no law claims `odd`"), "{failures}");
}
