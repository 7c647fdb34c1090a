//! The three evaluation protocols: which subsets, which comparison, which MedR base, and the
//! metrics (MedR, R@1/5/10) averaged over the subsets.
//!
//! Spec: spec/eval-protocol.md. `seje` follows SEJE `test.py::improved_rank_emb` (git-disl/SEJE @
//! 694a835); `ht` follows image-to-recipe-transformers
//! `src/eval.py` and `src/utils/metrics.py` (amzn/image-to-recipe-transformers @ f198356);
//! `adamine` follows recipe1m.bootstrap.pytorch `recipe1m/models/metrics/trijoint.py`
//! (Cadene/recipe1m.bootstrap.pytorch @ 5e65df0).

use serde::Serialize;

use super::embeddings::Embeddings;
use super::ranking::{subset_ranks, Measure, RankOptions};
use super::significance::PermutationTest;
use crate::cpython_random::CpythonRandom;
use crate::error::{Error, Result};

/// Printed with every result: numbers of different protocols must not be put side by side.
pub const NOT_COMPARABLE: &str =
    "numbers from different protocols (seje, ht, adamine) are not comparable";

/// An evaluation protocol of the cross-modal recipe retrieval literature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// SEJE/ACME/im2recipe: Python `random.sample` subsets (seed 1234, reseeded per size),
    /// Euclidean distance, optimistic 1-based ranks.
    Seje,
    /// image-to-recipe-transformers: rows sorted by recipe id, then the same sampling, cosine.
    Ht,
    /// AdaMine: disjoint bags of consecutive pairs of a seeded order, dot product, 0-based MedR.
    Adamine,
}

impl Protocol {
    /// All protocols, in the order of the spec page.
    pub const ALL: [Protocol; 3] = [Protocol::Seje, Protocol::Ht, Protocol::Adamine];

    /// The protocol's name on the command line and in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Seje => "seje",
            Protocol::Ht => "ht",
            Protocol::Adamine => "adamine",
        }
    }

    /// How this protocol compares a query and a gallery item.
    pub fn measure(self) -> Measure {
        match self {
            Protocol::Seje => Measure::Euclidean,
            Protocol::Ht => Measure::Cosine,
            Protocol::Adamine => Measure::NegativeDot,
        }
    }

    /// 1 when MedR is a median of 1-based ranks, 0 when of 0-based positions (AdaMine).
    pub fn medr_base(self) -> u32 {
        match self {
            Protocol::Adamine => 0,
            _ => 1,
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| Error::Invalid {
                what: format!("protocol `{s}`"),
                problem: "unknown (seje, ht, adamine)".into(),
            })
    }
}

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// The protocol.
    pub protocol: Protocol,
    /// Subset sizes (1000 and 10000 by default; the scaling sweep is 10000..=50000).
    pub sizes: Vec<usize>,
    /// Subsets per size (10 in all three protocols).
    pub subsets: usize,
    /// The seed of Python's `random` (1234 in the authors' code).
    pub seed: u64,
    /// Device and block size of the score computation.
    pub rank: RankOptions,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            protocol: Protocol::Seje,
            sizes: vec![1000, 10_000],
            subsets: 10,
            seed: crate::runtime::PAPER_SEED,
            rank: RankOptions::default(),
        }
    }
}

/// MedR and R@K of one subset (R@K as fractions).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    /// Median rank (NumPy's median: the mean of the two middle values for an even count).
    pub medr: f64,
    /// Fraction of queries whose true item ranks first.
    pub r1: f64,
    /// … within the first 5.
    pub r5: f64,
    /// … within the first 10.
    pub r10: f64,
}

/// One retrieval direction at one size: the means over subsets and each subset's values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectionResult {
    /// Mean over subsets of the median rank.
    pub medr: f64,
    /// Mean over subsets of R@1 (fraction).
    pub r1: f64,
    /// Mean over subsets of R@5 (fraction).
    pub r5: f64,
    /// Mean over subsets of R@10 (fraction).
    pub r10: f64,
    /// Each subset's values, in sampling order.
    pub per_subset: Vec<Metrics>,
}

/// Both directions at one subset size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeResult {
    /// Pairs per subset.
    pub size: usize,
    /// Number of subsets actually evaluated.
    pub subsets: usize,
    /// Image queries, recipe gallery.
    pub image_to_recipe: DirectionResult,
    /// Recipe queries, image gallery.
    pub recipe_to_image: DirectionResult,
}

/// Everything `seje eval` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// The protocol that produced these numbers.
    pub protocol: Protocol,
    /// [`NOT_COMPARABLE`].
    pub note: String,
    /// 1 (ranks) or 0 (AdaMine's 0-based positions).
    pub medr_base: u32,
    /// Pairs in the test set the subsets are drawn from.
    pub test_size: usize,
    /// Embedding width.
    pub dimension: usize,
    /// Seed of the sampler.
    pub seed: u64,
    /// Remarks on how the protocol was applied to this input (order, bags).
    pub remarks: Vec<String>,
    /// One entry per requested size.
    pub sizes: Vec<SizeResult>,
    /// The permutation test on every pair, when asked for (`seje eval --permutations M`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permutation_test: Option<PermutationTest>,
}

/// NumPy's `np.median` of integer ranks.
pub fn median(ranks: &[u32]) -> f64 {
    let mut v = ranks.to_vec();
    v.sort_unstable();
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        f64::from(v[m])
    } else {
        (f64::from(v[m - 1]) + f64::from(v[m])) / 2.0
    }
}

/// MedR (with `base` subtracted from every rank first) and R@1/5/10 of one subset.
pub fn subset_metrics(ranks: &[u32], base: u32) -> Metrics {
    let shifted: Vec<u32> = ranks.iter().map(|r| r + base - 1).collect();
    let n = ranks.len() as f64;
    let within = |k: u32| ranks.iter().filter(|&&r| r <= k).count() as f64 / n;
    Metrics {
        medr: median(&shifted),
        r1: within(1),
        r5: within(5),
        r10: within(10),
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, c) = v.fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
    s / c as f64
}

fn direction(per_subset: Vec<Metrics>) -> DirectionResult {
    DirectionResult {
        medr: mean(per_subset.iter().map(|m| m.medr)),
        r1: mean(per_subset.iter().map(|m| m.r1)),
        r5: mean(per_subset.iter().map(|m| m.r5)),
        r10: mean(per_subset.iter().map(|m| m.r10)),
        per_subset,
    }
}

/// The subsets (as indices into `emb`) a protocol evaluates at one size, and remarks about them.
pub fn protocol_subsets(
    emb: &Embeddings,
    protocol: Protocol,
    size: usize,
    subsets: usize,
    seed: u64,
) -> Result<(Vec<Vec<usize>>, Vec<String>)> {
    let n = emb.n;
    if size == 0 || subsets == 0 {
        return Err(Error::Invalid {
            what: format!("{subsets} subsets of size {size}"),
            problem: "sizes and subset counts must be at least 1".into(),
        });
    }
    if size > n {
        return Err(Error::SubsetTooLarge { size, available: n });
    }
    let mut rng = CpythonRandom::seed(seed);
    let mut remarks = Vec::new();
    let out = match protocol {
        Protocol::Seje => (0..subsets)
            .map(|_| rng.sample_range(n, size))
            .collect::<Result<_>>()?,
        Protocol::Ht => {
            let order: Vec<usize> = match &emb.ids {
                Some(ids) => {
                    let mut o: Vec<usize> = (0..n).collect();
                    o.sort_by(|&a, &b| ids[a].cmp(&ids[b]));
                    o
                }
                None => {
                    remarks.push(format!(
                        "size {size}: no recipe ids in the input, rows used in file order instead of sorted by id"
                    ));
                    (0..n).collect()
                }
            };
            (0..subsets)
                .map(|_| {
                    Ok(rng
                        .sample_range(n, size)?
                        .into_iter()
                        .map(|i| order[i])
                        .collect())
                })
                .collect::<Result<_>>()?
        }
        Protocol::Adamine => {
            let bags = subsets.min(n / size);
            if bags < subsets {
                tracing::warn!(size, bags, subsets, "too few pairs for disjoint bags");
                remarks.push(format!(
                    "size {size}: {n} pairs hold only {bags} disjoint bags instead of {subsets}"
                ));
            }
            let order = rng.sample_range(n, bags * size)?;
            order.chunks(size).map(<[usize]>::to_vec).collect()
        }
    };
    Ok((out, remarks))
}

/// Runs a protocol over every size of `cfg` on `emb`.
pub fn evaluate(emb: &Embeddings, cfg: &EvalConfig) -> Result<EvalReport> {
    if let tch::Device::Cuda(_) = cfg.rank.device {
        if !tch::Cuda::is_available() {
            return Err(Error::Invalid {
                what: "device cuda".into(),
                problem:
                    "libtorch sees no CUDA device (a CPU-only build or no GPU on this machine)"
                        .into(),
            });
        }
    }
    let protocol = cfg.protocol;
    let mut remarks = Vec::new();
    let mut sizes = Vec::new();
    for &size in &cfg.sizes {
        let (subsets, more) = protocol_subsets(emb, protocol, size, cfg.subsets, cfg.seed)?;
        remarks.extend(more);
        let (mut i2r, mut r2i) = (Vec::new(), Vec::new());
        for (s, subset) in subsets.iter().enumerate() {
            let ranks = subset_ranks(emb, subset, protocol.measure(), cfg.rank)?;
            tracing::debug!(
                protocol = protocol.name(),
                size,
                subset = s,
                recomputed = ranks.recomputed,
                "subset ranked"
            );
            i2r.push(subset_metrics(&ranks.image_to_recipe, protocol.medr_base()));
            r2i.push(subset_metrics(&ranks.recipe_to_image, protocol.medr_base()));
        }
        tracing::info!(
            protocol = protocol.name(),
            size,
            subsets = subsets.len(),
            "size done"
        );
        sizes.push(SizeResult {
            size,
            subsets: subsets.len(),
            image_to_recipe: direction(i2r),
            recipe_to_image: direction(r2i),
        });
    }
    Ok(EvalReport {
        protocol,
        note: NOT_COMPARABLE.into(),
        medr_base: protocol.medr_base(),
        test_size: emb.n,
        dimension: emb.d,
        seed: cfg.seed,
        remarks,
        sizes,
        permutation_test: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_median_and_recall() {
        assert_eq!(median(&[3, 1, 2]), 2.0);
        assert_eq!(median(&[4, 1, 2, 3]), 2.5);
        let m = subset_metrics(&[1, 1, 6, 11], 1);
        assert_eq!((m.medr, m.r1, m.r5, m.r10), (3.5, 0.5, 0.5, 0.75));
        assert_eq!(subset_metrics(&[1, 1, 6, 11], 0).medr, 2.5);
    }

    #[test]
    fn unknown_protocol_is_named() {
        let e = "acme".parse::<Protocol>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "protocol `acme`: unknown (seje, ht, adamine)"
        );
    }
}
