//! The weighted term feature of one recipe (§4.c in our reconstruction): the rating-weighted mean
//! of its key terms' word2vec vectors, f_term(r) = Σ_t s(t, r)·v(t) / Σ_t s(t, r), over the key
//! terms that have a vector; the zero vector when none is left or their ratings sum to zero.
//!
//! Spec: spec/phase1-term-feature.md.

use crate::phase1::word2vec::WordVectors;
use crate::{Error, Result};

/// What [`weighted_term_feature`] used.
#[derive(Debug, Clone, PartialEq)]
pub struct TermFeature {
    /// f_term, `vectors.dim()` values.
    pub vector: Vec<f32>,
    /// Key terms that had a vector (and so entered the mean).
    pub used: usize,
    /// Key terms without a vector (skipped).
    pub skipped: usize,
}

impl TermFeature {
    /// Whether f_term is the zero vector because no rated term had a vector.
    pub fn is_empty(&self) -> bool {
        self.vector.iter().all(|&x| x == 0.0)
    }
}

/// f_term of one recipe from its rated key terms `(term, s(t, r))`.
///
/// Terms missing from `vectors` are skipped (numerator and denominator). The sum runs in f64
/// over the terms sorted by name (then by rating), so the result does not depend on the order
/// the terms are given in, bit for bit; it is rounded to f32 once at the end. A term listed twice
/// counts twice. When no term is left, or the kept ratings sum to zero, f_term is the zero vector.
///
/// Errors: a rating that is negative or not finite (the error names the term).
pub fn weighted_term_feature(rated: &[(&str, f64)], vectors: &WordVectors) -> Result<TermFeature> {
    let mut terms: Vec<(&str, f64)> = rated.to_vec();
    for &(term, s) in &terms {
        if !(s.is_finite() && s >= 0.0) {
            return Err(Error::Invalid {
                what: format!("rating of key term `{term}`"),
                problem: format!("{s} is not a finite number >= 0"),
            });
        }
    }
    terms.sort_by(|a, b| a.0.cmp(b.0).then(a.1.total_cmp(&b.1)));
    let dim = vectors.dim();
    let mut sum = vec![0f64; dim];
    let (mut total, mut used, mut skipped) = (0f64, 0usize, 0usize);
    for (term, s) in terms {
        let Some(v) = vectors.get(term) else {
            skipped += 1;
            continue;
        };
        used += 1;
        total += s;
        for (acc, &x) in sum.iter_mut().zip(v) {
            *acc += s * f64::from(x);
        }
    }
    let vector = if total > 0.0 {
        sum.iter().map(|&x| (x / total) as f32).collect()
    } else {
        vec![0.0; dim]
    };
    Ok(TermFeature {
        vector,
        used,
        skipped,
    })
}
