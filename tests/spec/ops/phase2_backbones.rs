//! Spec operations of phase2-backbones.md: parameter counts of backbones and heads (also used by spec/phase2-encoders.md).
//!
//! Spec: spec/phase2-backbones.md.

use toml::{Table, Value};

use crate::inputs::{err, string};

pub fn parameter_count(ex: &Table) -> Result<Value, String> {
    count(string(ex, "component")?)
}

/// Trainable parameters of a component built at the paper's widths (batch-norm running
/// statistics are buffers, not parameters).
fn count(component: &str) -> Result<Value, String> {
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
