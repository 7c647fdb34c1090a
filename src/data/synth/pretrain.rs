//! The synthetic world's stand-in for ImageNet: a Food-101-format set whose classes are the
//! world's *visible ingredients*, each photograph a freshly drawn dish of a random category that
//! shows exactly one kind of topping, labelled by that topping. Training a backbone on it teaches
//! what ImageNet pretraining gives the paper's encoders (recognising objects such as strawberries
//! or mushrooms under any plate, viewpoint and light) without ever seeing the retrieval task or
//! the benchmark's recipes: its images come from their own RNG purpose (`pretrain`).
//!
//! Spec: spec/data-synthetic-benchmark.md (section "Pretraining set"). Not in the paper: it
//! starts from torchvision's ImageNet weights, which a fresh machine cannot fetch.

use std::path::Path;

use rand::Rng;

use super::food101::{write_food101_format, Class};
use super::render::render_zoomed;
use super::world::Form;
use super::{
    encode_jpeg, image_dims, recipe_text, rng_for, Food101Summary, IngredientLine, RecipeText,
    SynthConfig, World,
};
use crate::{Error, Result};

/// How much closer than the benchmark's photographs the pretraining set's are: the middle of
/// the dish fills the frame and the toppings are this much larger (at 64 pixels a piece is
/// about 1.5 pixels across in a benchmark photograph, 4 here).
pub const ZOOM: f32 = 2.5;

/// The classes: every ingredient whose form is not hidden, by name (spaces become `_` in the
/// directory name), with its index into the world's ingredients.
pub fn pretrain_classes(world: &World) -> Vec<(usize, String)> {
    let mut v: Vec<(usize, String)> = world
        .ingredients
        .iter()
        .enumerate()
        .filter(|(_, g)| g.form != Form::Hidden)
        .map(|(i, g)| (i, g.name.to_string()))
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

/// Generates the pretraining set of `config`'s world and seed, `train` + `test` images per
/// visible ingredient, into `root` (created; must be empty or absent).
pub fn generate_pretrain(
    config: &SynthConfig,
    root: &Path,
    train: usize,
    test: usize,
) -> Result<Food101Summary> {
    config.validate()?;
    if train == 0 {
        return Err(Error::Invalid {
            what: "pretraining set".into(),
            problem: "no training image per class".into(),
        });
    }
    let world = World::standard();
    let ingredients = pretrain_classes(&world);
    let classes: Vec<Class> = ingredients
        .iter()
        .map(|(_, name)| Class {
            name: name.replace(' ', "_"),
            label: name.clone(),
        })
        .collect();
    write_food101_format(root, config.seed, &classes, train, test, &|c, k| {
        let entity = ingredients[c].0;
        let stream = (entity as u64) << 32 | k as u64;
        let mut rng = rng_for(config.seed, "pretrain", stream);
        let category = rng.gen_range(0..world.categories.len());
        let mut text = recipe_text(&world, category, 0.0, &mut rng);
        one_topping(&world, &mut text, entity);
        let (w, h) = image_dims(config.image_size, &mut rng);
        let img = render_zoomed(&world, &text, w, h, ZOOM, &mut rng);
        encode_jpeg(
            &img,
            config.jpeg_quality,
            &format!("{}/{k}.jpg", classes[c].name),
        )
    })
}

/// Keeps the hidden ingredients of `text` (they tint the food, as in any dish) and makes
/// `entity` its only visible one.
fn one_topping(world: &World, text: &mut RecipeText, entity: usize) {
    text.lines.retain(|l| {
        l.entity
            .is_none_or(|e| world.ingredients[e].form == Form::Hidden)
    });
    let name = world.ingredients[entity].name.to_string();
    text.lines.push(IngredientLine {
        text: name.clone(),
        detected: name,
        valid: true,
        entity: Some(entity),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::recipes::visible;

    #[test]
    fn every_class_is_a_visible_ingredient_and_none_is_missing() {
        let w = World::standard();
        let classes = pretrain_classes(&w);
        let visible_count = w
            .ingredients
            .iter()
            .filter(|g| g.form != Form::Hidden)
            .count();
        assert_eq!(classes.len(), visible_count);
        assert!(
            classes.windows(2).all(|p| p[0].1 < p[1].1),
            "sorted, distinct"
        );
        assert!(classes.iter().any(|(_, n)| n == "strawberries"));
        assert!(!classes.iter().any(|(_, n)| n == "cinnamon"), "hidden");
        // A dish drawn the pretraining way shows exactly its class's topping.
        let mut rng = rng_for(1, "pretrain", 0);
        for category in 0..w.categories.len() {
            let mut text = recipe_text(&w, category, 0.0, &mut rng);
            let e = classes[category % classes.len()].0;
            one_topping(&w, &mut text, e);
            assert_eq!(visible(&w, &text), vec![e], "category {category}");
        }
    }
}
