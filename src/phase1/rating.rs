//! Phase I term rating: the score s(t, r) of each key term t of recipe r, by TF-IDF (scikit-learn
//! `TfidfVectorizer` semantics) or by TextRank (Mihalcea & Tarau 2004, PageRank as networkx
//! computes it). The BERT-family rating is issue 11.
//!
//! Spec: spec/phase1-term-rating.md (paper: §4.b in our reconstruction, numbering unverified; the
//! authors released no code for this step, only TF-IDF-weighted features).

use std::collections::{BTreeMap, BTreeSet};

use crate::{Error, Result};

fn invalid(what: &str, problem: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.to_string(),
        problem: problem.into(),
    }
}

/// TF-IDF fitted on a corpus of already-tokenised documents, as scikit-learn's
/// `TfidfVectorizer(analyzer=identity, smooth_idf=True, sublinear_tf=False, norm="l2")`:
/// idf(t) = ln((1 + N) / (1 + df(t))) + 1, raw counts, rows scaled to unit L2 norm.
#[derive(Debug, Clone, PartialEq)]
pub struct Tfidf {
    /// Term → column index; the columns are the terms in sorted (code point) order, as
    /// sklearn's `vocabulary_`.
    vocabulary: BTreeMap<String, usize>,
    /// idf of each column.
    idf: Vec<f64>,
    /// Documents the idf was fitted on (N).
    documents: usize,
}

impl Tfidf {
    /// Fits the vocabulary and the idf on `docs` (the training partition, one document per
    /// recipe). A corpus without a single term is refused, as sklearn refuses it ("empty
    /// vocabulary").
    pub fn fit(docs: &[Vec<String>]) -> Result<Self> {
        let mut df: BTreeMap<String, usize> = BTreeMap::new();
        for doc in docs {
            let distinct: BTreeSet<&str> = doc.iter().map(String::as_str).collect();
            for term in distinct {
                *df.entry(term.to_string()).or_insert(0) += 1;
            }
        }
        Self::from_document_frequencies(df, docs.len())
    }

    /// The same fit from document frequencies counted elsewhere (a streaming pass over a large
    /// corpus): `df` maps each term to the number of the `documents` training documents holding
    /// it. Refuses an empty `df` (sklearn's "empty vocabulary") and a count above `documents`.
    pub fn from_document_frequencies(
        df: BTreeMap<String, usize>,
        documents: usize,
    ) -> Result<Self> {
        if df.is_empty() {
            return Err(invalid(
                "tf-idf corpus",
                format!("empty vocabulary: the {documents} documents hold no term"),
            ));
        }
        if let Some((term, count)) = df.iter().find(|(_, &c)| c == 0 || c > documents) {
            return Err(invalid(
                "tf-idf corpus",
                format!("term `{term}` has document frequency {count} of {documents} documents"),
            ));
        }
        let n = documents as f64;
        let mut vocabulary = BTreeMap::new();
        let mut idf = Vec::with_capacity(df.len());
        for (column, (term, count)) in df.into_iter().enumerate() {
            idf.push(((1.0 + n) / (1.0 + count as f64)).ln() + 1.0);
            vocabulary.insert(term, column);
        }
        tracing::debug!(documents, terms = vocabulary.len(), "tf-idf fitted");
        Ok(Self {
            vocabulary,
            idf,
            documents,
        })
    }

    /// The fitted terms in column order (sorted).
    pub fn vocabulary(&self) -> impl Iterator<Item = &str> {
        self.vocabulary.keys().map(String::as_str)
    }

    /// Number of fitted terms.
    pub fn len(&self) -> usize {
        self.idf.len()
    }

    /// Whether no term was fitted (never true for a fitted value; for clippy's `len` rule).
    pub fn is_empty(&self) -> bool {
        self.idf.is_empty()
    }

    /// Number of documents the idf was fitted on (N).
    pub fn documents(&self) -> usize {
        self.documents
    }

    /// idf(t), or `None` for a term unseen at fit time.
    pub fn idf(&self, term: &str) -> Option<f64> {
        self.vocabulary.get(term).map(|&c| self.idf[c])
    }

    /// The TF-IDF row of `doc`: (term, weight) for each fitted term the document holds, in column
    /// (sorted) order, scaled to unit L2 norm. Unseen terms get no weight; a document without a
    /// fitted term gives an empty row (sklearn's all-zero row).
    pub fn transform(&self, doc: &[String]) -> Vec<(String, f64)> {
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for term in doc {
            if let Some(&c) = self.vocabulary.get(term.as_str()) {
                *counts.entry(c).or_insert(0) += 1;
            }
        }
        let mut row: Vec<(usize, f64)> = counts
            .into_iter()
            .map(|(c, tf)| (c, tf as f64 * self.idf[c]))
            .collect();
        let norm = row.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
        if norm > 0.0 {
            for (_, w) in &mut row {
                *w /= norm;
            }
        }
        let terms: Vec<&String> = self.vocabulary.keys().collect();
        row.into_iter()
            .map(|(c, w)| (terms[c].clone(), w))
            .collect()
    }

    /// The weight of `term` in `doc`'s row (0 when the document lacks it or it is unseen).
    pub fn weight(&self, doc: &[String], term: &str) -> f64 {
        self.transform(doc)
            .into_iter()
            .find(|(t, _)| t == term)
            .map_or(0.0, |(_, w)| w)
    }
}

/// TextRank settings. [`Default`] is the original paper's window 2 with networkx's PageRank
/// defaults (damping 0.85, tol 1e-4, 100 iterations), weighted by co-occurrence counts.
#[derive(Debug, Clone, PartialEq)]
pub struct TextRankConfig {
    /// Two candidate occurrences are linked when their positions differ by less than `window`
    /// (2: adjacent tokens). At least 2.
    pub window: usize,
    /// Damping factor α of PageRank, in [0, 1].
    pub damping: f64,
    /// Convergence tolerance per node: stop when Σ|x − x_last| < N·tol. Positive.
    pub tol: f64,
    /// Power iterations before giving up with an error. At least 1.
    pub max_iter: usize,
    /// Edge weight = number of co-occurrences (`true`) or 1 for every edge (`false`).
    pub weighted: bool,
}

impl Default for TextRankConfig {
    fn default() -> Self {
        Self {
            window: 2,
            damping: 0.85,
            tol: 1e-4,
            max_iter: 100,
            weighted: true,
        }
    }
}

impl TextRankConfig {
    fn validate(&self) -> Result<()> {
        if self.window < 2 {
            return Err(invalid(
                "textrank window",
                format!(
                    "window {} links no two positions; it must be at least 2",
                    self.window
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.damping) {
            return Err(invalid(
                "textrank damping",
                format!("{} is outside [0, 1]", self.damping),
            ));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(invalid(
                "textrank tol",
                format!("{} is not a positive finite number", self.tol),
            ));
        }
        if self.max_iter == 0 {
            return Err(invalid("textrank max_iter", "must be at least 1"));
        }
        Ok(())
    }
}

/// The undirected co-occurrence graph of one recipe: its nodes (the distinct candidates, sorted)
/// and a symmetric weight per linked pair.
#[derive(Debug, Clone, PartialEq)]
pub struct CooccurrenceGraph {
    /// Node names, sorted.
    pub nodes: Vec<String>,
    /// (i, j) with i < j (indices into `nodes`) → edge weight.
    pub edges: BTreeMap<(usize, usize), f64>,
}

/// Builds the TextRank graph: the nodes are the distinct `candidates` (whether or not they occur in
/// `tokens`); for every two positions p < q of `tokens` with q − p < `window` whose tokens are two
/// different candidates, the edge between them gains 1 (or is set to 1 when not `weighted`).
pub fn cooccurrence_graph(
    tokens: &[String],
    candidates: &[String],
    cfg: &TextRankConfig,
) -> Result<CooccurrenceGraph> {
    cfg.validate()?;
    let set: BTreeSet<&str> = candidates.iter().map(String::as_str).collect();
    let index: BTreeMap<&str, usize> = set.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let mut edges: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    for (p, a) in tokens.iter().enumerate() {
        let Some(&i) = index.get(a.as_str()) else {
            continue;
        };
        for b in tokens.iter().skip(p + 1).take(cfg.window - 1) {
            let Some(&j) = index.get(b.as_str()) else {
                continue;
            };
            if i == j {
                continue;
            }
            let w = edges.entry((i.min(j), i.max(j))).or_insert(0.0);
            *w = if cfg.weighted { *w + 1.0 } else { 1.0 };
        }
    }
    Ok(CooccurrenceGraph {
        nodes: set.into_iter().map(str::to_string).collect(),
        edges,
    })
}

/// PageRank of an undirected weighted graph with networkx's `pagerank` update (uniform
/// teleport, dangling mass spread uniformly, start at 1/N):
/// x ← α (x·D⁻¹W + Σ_{dangling} x / N) + (1 − α)/N, until Σ|x − x_last| < N·tol; an error after
/// `max_iter` iterations, as networkx's `PowerIterationFailedConvergence`.
pub fn pagerank(graph: &CooccurrenceGraph, cfg: &TextRankConfig) -> Result<Vec<f64>> {
    cfg.validate()?;
    let n = graph.nodes.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    // Adjacency lists (both directions) and weighted degrees.
    let mut adjacent: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for (&(i, j), &w) in &graph.edges {
        if i >= n || j >= n {
            return Err(invalid(
                "textrank graph",
                format!("edge ({i}, {j}) names a node outside 0..{n}"),
            ));
        }
        adjacent[i].push((j, w));
        adjacent[j].push((i, w));
    }
    let degree: Vec<f64> = adjacent
        .iter()
        .map(|a| a.iter().map(|(_, w)| w).sum())
        .collect();
    let nf = n as f64;
    let alpha = cfg.damping;
    let mut x = vec![1.0 / nf; n];
    let mut err = f64::INFINITY;
    for iteration in 1..=cfg.max_iter {
        let dangling: f64 = (0..n).filter(|&i| degree[i] == 0.0).map(|i| x[i]).sum();
        let mut spread = vec![0.0; n];
        for i in 0..n {
            if degree[i] != 0.0 {
                let share = x[i] / degree[i];
                for &(j, w) in &adjacent[i] {
                    spread[j] += share * w;
                }
            }
        }
        let next: Vec<f64> = spread
            .iter()
            .map(|s| alpha * (s + dangling / nf) + (1.0 - alpha) / nf)
            .collect();
        err = next.iter().zip(&x).map(|(a, b)| (a - b).abs()).sum();
        x = next;
        if err < nf * cfg.tol {
            tracing::trace!(nodes = n, iteration, err, "pagerank converged");
            return Ok(x);
        }
    }
    Err(invalid(
        "textrank",
        format!(
            "power iteration did not converge within {} iterations (error {err:e} ≥ N·tol {:e})",
            cfg.max_iter,
            nf * cfg.tol
        ),
    ))
}

/// TextRank scores of the candidate key terms of one recipe: [`cooccurrence_graph`] over the
/// recipe's `tokens`, then [`pagerank`]. Every distinct candidate gets a score; scores sum to 1
/// (an empty candidate list gives an empty map).
pub fn textrank(
    tokens: &[String],
    candidates: &[String],
    cfg: &TextRankConfig,
) -> Result<BTreeMap<String, f64>> {
    let graph = cooccurrence_graph(tokens, candidates, cfg)?;
    let scores = pagerank(&graph, cfg)?;
    Ok(graph.nodes.into_iter().zip(scores).collect())
}
