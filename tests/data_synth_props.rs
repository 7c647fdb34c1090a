//! Properties of the synthetic benchmark generator: determinism per seed, different seeds give
//! different data, counts as configured, and the text rules (instruction counts, det_ingrs
//! alignment, recoverable mislabelled lines) for arbitrary seeds and recipe indices.
//!
//! Spec: spec/data-synthetic-benchmark.md (section "Determinism" and "Recipe text").

use proptest::prelude::*;
use rand::Rng;
use seje::data::synth::{self, render::render, SynthConfig, World};

fn config(seed: u64, recipes: usize) -> SynthConfig {
    let mut cfg = SynthConfig::benchmark(recipes);
    cfg.seed = seed;
    cfg
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_same_seed_gives_the_same_plan_and_text(seed in any::<u64>(), n in 1usize..200, pick in 0usize..200) {
        let cfg = config(seed, n);
        prop_assert_eq!(synth::plan(&cfg), synth::plan(&cfg));
        let world = World::standard();
        let i = pick % n;
        prop_assert_eq!(synth::recipe_at(&world, &cfg, i), synth::recipe_at(&world, &cfg, i));
    }

    #[test]
    fn different_seeds_give_different_data(seed in any::<u64>(), n in 20usize..100) {
        let (a, b) = (config(seed, n), config(seed.wrapping_add(1), n));
        let (pa, pb) = (synth::plan(&a), synth::plan(&b));
        prop_assert!(pa.iter().zip(&pb).all(|(x, y)| x.id != y.id));
        let world = World::standard();
        let differ = (0..n).filter(|&i| synth::recipe_at(&world, &a, i) != synth::recipe_at(&world, &b, i)).count();
        prop_assert!(differ * 10 >= n * 9, "{} of {} recipes differ", differ, n);
    }

    #[test]
    fn counts_are_as_configured(
        seed in any::<u64>(),
        n in 0usize..300,
        lo in 1usize..=5,
        span in 0usize..5,
        val in 0.0f64..0.5,
        test in 0.0f64..0.5,
    ) {
        let mut cfg = config(seed, n);
        cfg.min_images = lo;
        cfg.max_images = (lo + span).min(5);
        cfg.val_fraction = val;
        cfg.test_fraction = test;
        prop_assert!(cfg.validate().is_ok());
        let slots = synth::plan(&cfg);
        prop_assert_eq!(slots.len(), n);
        let count = |p| slots.iter().filter(|s| s.partition == p).count();
        prop_assert_eq!(
            (count(synth::Partition::Train), count(synth::Partition::Val), count(synth::Partition::Test)),
            cfg.split_counts()
        );
        prop_assert_eq!(cfg.split_counts().1, (n as f64 * val).floor() as usize);
        for s in &slots {
            prop_assert!((cfg.min_images..=cfg.max_images).contains(&s.images.len()));
        }
        let mut images: Vec<&String> = slots.iter().flat_map(|s| &s.images).collect();
        let total = images.len();
        images.sort();
        images.dedup();
        prop_assert_eq!(images.len(), total, "image ids are unique");
    }

    #[test]
    fn every_recipe_keeps_the_text_rules(seed in any::<u64>(), i in 0usize..10_000) {
        let world = World::standard();
        let r = synth::recipe_at(&world, &config(seed, 10_000), i);
        prop_assert!((2..=19).contains(&r.instructions.len()));
        prop_assert!(r.lines.len() <= 19);
        let valid = r.lines.iter().filter(|l| l.valid).count();
        prop_assert!(valid >= 1);
        for l in &r.lines {
            match l.entity {
                Some(e) => {
                    let name = world.ingredients[e].name;
                    prop_assert!(l.text.contains(name), "{:?} does not name {}", l.text, name);
                    prop_assert!(l.detected.contains(name));
                    // A valid detection is exactly the name; an invalid one still contains it.
                    prop_assert!(!l.valid || l.detected == name);
                }
                None => prop_assert!(!l.valid),
            }
        }
        // Every ingredient is named in the instructions unless there are too few steps to name them all.
        let text = r.instructions.join(" ");
        let named = r.entities().iter().filter(|&&e| text.contains(world.ingredients[e].name)).count();
        prop_assert!(named == r.entities().len() || r.instructions.len() < r.entities().len() + 2);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn rendering_is_deterministic_and_sized(seed in any::<u64>(), size in 16u32..80) {
        let world = World::standard();
        let text = synth::recipe_at(&world, &config(seed, 1), 0);
        let draw = || {
            let mut rng = synth::rng_for(seed, "test-render", 0);
            let (w, h) = synth::image_dims(size, &mut rng);
            render(&world, &text, w, h, &mut rng)
        };
        let (a, b) = (draw(), draw());
        prop_assert_eq!(a.width().min(a.height()), size);
        prop_assert!(a == b);
        let mut other = synth::rng_for(seed, "test-render", 1);
        let (w, h) = (a.width(), a.height());
        let _: u8 = other.gen();
        prop_assert!(render(&world, &text, w, h, &mut other) != a, "another stream, another photo");
    }
}
