//! Did a model learn anything at all? A permutation test on the ranks of the true items: under the
//! hypothesis that the embeddings carry no information about which recipe goes with which image,
//! every pairing of the rows is as likely as the true one, so the true pairing's rank sum is one
//! draw from the distribution of rank sums over random pairings.
//!
//! Spec: spec/eval-protocol.md (section "Did the model learn anything? The permutation test").
//! Not in the paper nor the authors' code: the package's end-to-end tests use it so that a model
//! that learned nothing fails them with a stated probability.
//!
//! How: the exact float64 scores of every image against every recipe, each row and each column
//! sorted once; the optimistic rank of recipe `j` for image `i` is then one plus the number of
//! entries of row `i` strictly below `S[i][j]` (a binary search), and likewise for the columns.
//! A permutation costs O(n log n).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::embeddings::Embeddings;
use super::ranking::{exact_score, Measure};
use crate::error::{Error, Result};

/// Largest number of pairs the test accepts: it keeps three n × n float64 matrices in memory
/// (about 600 MB at this size).
pub const MAX_PAIRS: usize = 5000;

/// The outcome of [`permutation_test`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PermutationTest {
    /// Pairs n (every row of the input).
    pub pairs: usize,
    /// Random pairings drawn, M.
    pub permutations: usize,
    /// Seed of the pairings (ChaCha8).
    pub seed: u64,
    /// Mean rank of the true item over both directions, the test's statistic (lower is better).
    pub mean_rank: f64,
    /// What the mean rank is on average when nothing was learned: (n + 1) / 2.
    pub null_mean_rank: f64,
    /// Random pairings whose mean rank was at most the true pairing's.
    pub as_good: usize,
    /// (1 + as_good) / (M + 1): the probability, for a model that learned nothing, of a mean rank
    /// at least this good. Never below 1 / (M + 1).
    pub p_value: f64,
}

impl PermutationTest {
    /// Whether the test rejects "learned nothing" at level `alpha`: a model that learned nothing
    /// passes with probability at most `alpha` (exactly floor(alpha (M + 1)) / (M + 1)).
    pub fn learned(&self, alpha: f64) -> bool {
        self.p_value <= alpha
    }
}

/// The sum over queries of optimistic ranks when image `i` is paired with recipe `pair[i]`, both
/// directions. `rows[i]` is row i of the scores sorted ascending, `cols[j]` column j sorted.
fn rank_sum(scores: &[f64], rows: &[f64], cols: &[f64], n: usize, pair: &[usize]) -> u64 {
    let mut sum = 0u64;
    for (i, &j) in pair.iter().enumerate() {
        let s = scores[i * n + j];
        let row = &rows[i * n..(i + 1) * n];
        let col = &cols[j * n..(j + 1) * n];
        sum += 2 + row.partition_point(|&x| x < s) as u64 + col.partition_point(|&x| x < s) as u64;
    }
    sum
}

/// Runs the test on all `emb.n` pairs with `permutations` random pairings drawn from `seed`.
pub fn permutation_test(
    emb: &Embeddings,
    measure: Measure,
    permutations: usize,
    seed: u64,
) -> Result<PermutationTest> {
    let n = emb.n;
    if permutations == 0 {
        return Err(Error::Invalid {
            what: "permutation test".into(),
            problem: "needs at least one permutation".into(),
        });
    }
    if n > MAX_PAIRS {
        return Err(Error::Invalid {
            what: format!("permutation test on {n} pairs"),
            problem: format!(
                "it holds n × n scores in memory; at most {MAX_PAIRS} pairs (evaluate a subset)"
            ),
        });
    }
    let scores: Vec<f64> = (0..n * n)
        .into_par_iter()
        .map(|k| exact_score(measure, emb.image_row(k / n), emb.recipe_row(k % n)))
        .collect();
    let mut rows = scores.clone();
    rows.par_chunks_mut(n.max(1))
        .for_each(|r| r.sort_unstable_by(f64::total_cmp));
    let mut cols: Vec<f64> = (0..n * n).map(|k| scores[(k % n) * n + k / n]).collect();
    cols.par_chunks_mut(n.max(1))
        .for_each(|c| c.sort_unstable_by(f64::total_cmp));

    let identity: Vec<usize> = (0..n).collect();
    let observed = rank_sum(&scores, &rows, &cols, n, &identity);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pair = identity.clone();
    let mut as_good = 0usize;
    for _ in 0..permutations {
        pair.shuffle(&mut rng);
        if rank_sum(&scores, &rows, &cols, n, &pair) <= observed {
            as_good += 1;
        }
    }
    let test = PermutationTest {
        pairs: n,
        permutations,
        seed,
        mean_rank: observed as f64 / (2 * n) as f64,
        null_mean_rank: (n as f64 + 1.0) / 2.0,
        as_good,
        p_value: (1 + as_good) as f64 / (permutations + 1) as f64,
    };
    tracing::info!(
        pairs = n,
        permutations,
        mean_rank = test.mean_rank,
        p_value = test.p_value,
        "permutation test"
    );
    Ok(test)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(image: Vec<f32>, recipe: Vec<f32>, n: usize) -> Embeddings {
        let d = image.len() / n;
        Embeddings::new("test", (n, d), image, recipe, None).unwrap()
    }

    #[test]
    fn a_perfect_model_gets_the_smallest_p_and_a_collapsed_one_p_one() {
        let n = 20;
        let mut e = vec![0.0f32; n * n];
        for i in 0..n {
            e[i * n + i] = 1.0;
        }
        let t = permutation_test(&emb(e.clone(), e, n), Measure::Euclidean, 999, 7).unwrap();
        assert_eq!((t.mean_rank, t.as_good, t.p_value), (1.0, 0, 0.001));
        assert!(t.learned(1e-3));
        // Every embedding equal: every rank is 1 under every pairing, nothing is learned.
        let flat = vec![0.5f32; n * 4];
        let t = permutation_test(&emb(flat.clone(), flat, n), Measure::Euclidean, 99, 7).unwrap();
        assert_eq!((t.as_good, t.p_value), (99, 1.0));
        assert!(!t.learned(1e-3));
    }

    #[test]
    fn ranks_match_the_protocols_ranking() {
        // The identity pairing's ranks are those of `subset_ranks` on the whole set.
        let (n, d) = (13, 5);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut draw = |k| {
            (0..k)
                .map(|_| rand::Rng::gen_range(&mut rng, -1.0f32..1.0))
                .collect::<Vec<_>>()
        };
        let e = emb(draw(n * d), draw(n * d), n);
        let all: Vec<usize> = (0..n).collect();
        let r =
            super::super::ranking::subset_ranks(&e, &all, Measure::Euclidean, Default::default())
                .unwrap();
        let sum: u32 = r.image_to_recipe.iter().chain(&r.recipe_to_image).sum();
        let t = permutation_test(&e, Measure::Euclidean, 1, 0).unwrap();
        assert_eq!(t.mean_rank, f64::from(sum) / (2 * n) as f64);
    }

    #[test]
    fn a_model_that_learned_nothing_passes_at_level_alpha_about_alpha_of_the_time() {
        // 400 independent draws of unrelated image and recipe embeddings; M = 19 pairings, so
        // p <= 0.05 should happen for about 5 % of them (Binomial(400, 0.05): 20 ± 4.4).
        let (n, d) = (16, 4);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut passed = 0;
        for seed in 0..400 {
            let draw = |rng: &mut ChaCha8Rng| {
                (0..n * d)
                    .map(|_| rand::Rng::gen_range(rng, -1.0f32..1.0))
                    .collect::<Vec<_>>()
            };
            let (a, b) = (draw(&mut rng), draw(&mut rng));
            let t = permutation_test(&emb(a, b, n), Measure::Euclidean, 19, seed).unwrap();
            passed += usize::from(t.learned(0.05));
        }
        assert!((6..=38).contains(&passed), "{passed} of 400 passed at 0.05");
    }

    #[test]
    fn too_many_pairs_or_no_permutation_is_refused() {
        let e = emb(vec![0.0; 2], vec![0.0; 2], 2);
        assert!(permutation_test(&e, Measure::Euclidean, 0, 0)
            .unwrap_err()
            .to_string()
            .contains("at least one permutation"));
    }
}
