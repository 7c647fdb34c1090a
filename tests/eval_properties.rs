//! The evaluation's invariants as properties: R@K monotone in K, MedR ≥ 1, perfect embeddings give
//! MedR 1 and R@1 = 1, ranks unchanged under the same rotation or positive scale of both sets,
//! ranks follow the queries when the gallery order changes, and the blocked computation equals a
//! naïve float64 count whatever the block size.
//!
//! Spec: spec/eval-protocol.md (properties). libtorch-heavy: small case counts.

use proptest::prelude::*;
use seje::eval::protocol::subset_metrics;
use seje::eval::ranking::{exact_score, subset_ranks, Measure, RankOptions};
use seje::eval::Embeddings;

const MEASURES: [Measure; 3] = [Measure::Euclidean, Measure::Cosine, Measure::NegativeDot];

/// n pairs of d-dimensional vectors with coordinates in [-4, 4].
fn pairs() -> impl Strategy<Value = (usize, Vec<f32>, Vec<f32>)> {
    (2usize..24, 1usize..6).prop_flat_map(|(n, d)| {
        (
            Just(d),
            prop::collection::vec(-4.0f32..4.0, n * d),
            prop::collection::vec(-4.0f32..4.0, n * d),
        )
    })
}

fn emb(d: usize, x: Vec<f32>, y: Vec<f32>) -> Embeddings {
    Embeddings::new("prop", (x.len() / d, d), x, y, None).unwrap()
}

fn all(e: &Embeddings) -> Vec<usize> {
    (0..e.n).collect()
}

fn ranks(e: &Embeddings, m: Measure, block: usize) -> (Vec<u32>, Vec<u32>) {
    let opts = RankOptions {
        block_elems: block,
        ..RankOptions::default()
    };
    let r = subset_ranks(e, &all(e), m, opts).unwrap();
    (r.image_to_recipe, r.recipe_to_image)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn recall_is_monotone_in_k_and_medr_at_least_1((d, x, y) in pairs()) {
        let e = emb(d, x, y);
        for m in MEASURES {
            let (a, b) = ranks(&e, m, 1 << 20);
            for r in [a, b] {
                prop_assert!(r.iter().all(|&k| k >= 1 && k as usize <= e.n));
                let s = subset_metrics(&r, 1);
                prop_assert!(s.r1 <= s.r5 && s.r5 <= s.r10 && s.r10 <= 1.0);
                prop_assert!(s.medr >= 1.0);
            }
        }
    }

    #[test]
    fn perfect_embeddings_rank_first((d, x, _y) in pairs()) {
        let e = emb(d, x.clone(), x);
        let (a, b) = ranks(&e, Measure::Euclidean, 1 << 20);
        for r in [a, b] {
            let s = subset_metrics(&r, 1);
            prop_assert_eq!((s.medr, s.r1), (1.0, 1.0));
        }
    }

    // A signed permutation of the coordinates is a rotation (or reflection) that floats carry
    // out exactly, and so is a scale by a power of two; a general rotation rounds and can flip
    // exact float ties, which is a property of the input, not of the ranking.
    #[test]
    fn ranks_unchanged_by_the_same_rotation_and_scale(
        (d, x, y) in pairs(),
        seed in any::<u64>(),
        exp in -3i32..4,
    ) {
        let mut perm: Vec<usize> = (0..d).collect();
        let mut s = seed;
        for i in (1..d).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            perm.swap(i, (s >> 33) as usize % (i + 1));
        }
        let sign: Vec<f32> = (0..d).map(|k| if (seed >> k) & 1 == 1 { -1.0 } else { 1.0 }).collect();
        let scale = 2f32.powi(exp);
        let rot = |m: &[f32]| -> Vec<f32> {
            m.chunks(d)
                .flat_map(|r| (0..d).map(|k| r[perm[k]] * sign[k] * scale).collect::<Vec<_>>())
                .collect()
        };
        let e = emb(d, x.clone(), y.clone());
        let f = emb(d, rot(&x), rot(&y));
        for m in MEASURES {
            prop_assert_eq!(ranks(&e, m, 1 << 20), ranks(&f, m, 1 << 20), "{:?}", m);
        }
    }

    #[test]
    fn ranks_follow_the_pairs_when_the_gallery_is_reordered((d, x, y) in pairs(), seed in any::<u64>()) {
        let e = emb(d, x, y);
        let mut order = all(&e);
        let mut s = seed;
        for i in (1..order.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (s >> 33) as usize % (i + 1));
        }
        for m in MEASURES {
            let base = subset_ranks(&e, &all(&e), m, RankOptions::default()).unwrap();
            let re = subset_ranks(&e, &order, m, RankOptions::default()).unwrap();
            for (pos, &pair) in order.iter().enumerate() {
                prop_assert_eq!(re.image_to_recipe[pos], base.image_to_recipe[pair]);
                prop_assert_eq!(re.recipe_to_image[pos], base.recipe_to_image[pair]);
            }
        }
    }

    #[test]
    fn blocked_ranks_equal_the_naive_float64_count((d, x, y) in pairs(), block in 1usize..200) {
        let e = emb(d, x, y);
        let n = e.n;
        for m in MEASURES {
            let s = |i: usize, j: usize| exact_score(m, e.image_row(i), e.recipe_row(j));
            let i2r: Vec<u32> = (0..n).map(|q| 1 + (0..n).filter(|&j| s(q, j) < s(q, q)).count() as u32).collect();
            let r2i: Vec<u32> = (0..n).map(|q| 1 + (0..n).filter(|&i| s(i, q) < s(q, q)).count() as u32).collect();
            prop_assert_eq!(ranks(&e, m, block), (i2r, r2i), "{:?}", m);
        }
    }
}
