//! Word vectors and their files: the original word2vec C tool's `-binary 1` format (the format of
//! the authors' `vocab_v4.bin`, readable by gensim's `KeyedVectors.load_word2vec_format(path,
//! binary=True)`) and its text format, plus cosine nearest neighbours.
//!
//! Spec: spec/phase1-word2vec.md.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

fn invalid(what: &str, problem: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.to_string(),
        problem: problem.into(),
    }
}

/// One vector of `dim` f32 per word, in vocabulary order (the C tool's order: `</s>` first, then
/// by count descending).
#[derive(Debug, Clone, PartialEq)]
pub struct WordVectors {
    words: Vec<String>,
    dim: usize,
    /// Row-major `[words.len(), dim]`.
    vectors: Vec<f32>,
    index: HashMap<String, usize>,
}

impl WordVectors {
    /// Builds the table from words and their row-major vectors (`vectors.len() == words.len() *
    /// dim`). Refuses duplicate words, empty words and words holding whitespace (they cannot be
    /// written to either file format).
    pub fn new(words: Vec<String>, dim: usize, vectors: Vec<f32>) -> Result<Self> {
        if dim == 0 {
            return Err(invalid("word vectors", "dimension 0"));
        }
        if vectors.len() != words.len() * dim {
            return Err(invalid(
                "word vectors",
                format!(
                    "{} words of dimension {dim} need {} numbers, got {}",
                    words.len(),
                    words.len() * dim,
                    vectors.len()
                ),
            ));
        }
        let mut index = HashMap::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            if w.is_empty() || w.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "word vectors",
                    format!("word {i} ({w:?}) is empty or holds whitespace"),
                ));
            }
            if index.insert(w.clone(), i).is_some() {
                return Err(invalid("word vectors", format!("duplicate word {w:?}")));
            }
        }
        Ok(Self {
            words,
            dim,
            vectors,
            index,
        })
    }

    /// The words, in row order.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The dimension of every vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the table holds no word.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// All vectors, row-major `[len, dim]`.
    pub fn as_slice(&self) -> &[f32] {
        &self.vectors
    }

    /// The vector of `word`, or `None` for a word outside the vocabulary.
    pub fn get(&self, word: &str) -> Option<&[f32]> {
        self.index
            .get(word)
            .map(|&i| &self.vectors[i * self.dim..(i + 1) * self.dim])
    }

    /// The `k` words of highest cosine similarity to `word` (itself excluded), best first, ties
    /// in vocabulary order; gensim's `most_similar(word, topn=k)`. `None` for an unknown word.
    pub fn most_similar(&self, word: &str, k: usize) -> Option<Vec<(String, f32)>> {
        let &q = self.index.get(word)?;
        let unit = |i: usize| {
            let v = &self.vectors[i * self.dim..(i + 1) * self.dim];
            let n = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            (v, if n > 0.0 { n } else { 1.0 })
        };
        let (qv, qn) = unit(q);
        let mut scored: Vec<(usize, f32)> = (0..self.len())
            .filter(|&i| i != q)
            .map(|i| {
                let (v, n) = unit(i);
                let dot: f64 = v
                    .iter()
                    .zip(qv)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                (i, (dot / (n * qn)) as f32)
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Some(
            scored
                .into_iter()
                .take(k)
                .map(|(i, s)| (self.words[i].clone(), s))
                .collect(),
        )
    }

    /// The bytes of the C tool's `-binary 1` file: `"{len} {dim}\n"`, then per word `"{word} "`,
    /// `dim` little-endian f32 and `"\n"`.
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = format!("{} {}\n", self.len(), self.dim).into_bytes();
        out.reserve(self.len() * (self.dim * 4 + 16));
        for (i, w) in self.words.iter().enumerate() {
            out.extend_from_slice(w.as_bytes());
            out.push(b' ');
            for x in &self.vectors[i * self.dim..(i + 1) * self.dim] {
                out.extend_from_slice(&x.to_le_bytes());
            }
            out.push(b'\n');
        }
        out
    }

    /// Writes the `-binary 1` file (see [`WordVectors::to_binary`]).
    pub fn write_binary(&self, path: &Path) -> Result<()> {
        let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        f.write_all(&self.to_binary())
            .map_err(|e| Error::io(path, e))?;
        tracing::info!(file = %path.display(), words = self.len(), dim = self.dim, "word2vec binary written");
        Ok(())
    }

    /// Reads a `-binary 1` file (the C tool's, the authors' `vocab_v4.bin`, or gensim's
    /// `save_word2vec_format(binary=True)`, which omits the newline after each vector).
    pub fn read_binary(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_binary(&bytes).map_err(|problem| Error::Invalid {
            what: path.display().to_string(),
            problem,
        })
    }

    /// Parses the bytes of a `-binary 1` file; the error names the word and the byte offset.
    pub fn from_binary(bytes: &[u8]) -> std::result::Result<Self, String> {
        let nl = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("word2vec binary: no header line")?;
        let (count, dim) = header(&bytes[..nl])?;
        let mut at = nl + 1;
        // Each entry takes at least a one-byte word, a space and `dim` floats: a header that
        // declares more than the bytes present is refused before anything is allocated.
        let entry = dim.checked_mul(4).and_then(|d| d.checked_add(2));
        let fits = entry
            .and_then(|e| e.checked_mul(count))
            .is_some_and(|n| n <= bytes.len() - at);
        if !fits {
            return Err(format!(
                "word2vec binary: the header declares {count} words of {dim} floats, more than \
                 the {} bytes after it can hold",
                bytes.len() - at
            ));
        }
        let mut words = Vec::with_capacity(count);
        let mut vectors = Vec::with_capacity(count * dim);
        for i in 0..count {
            // The C tool writes "\n" after each vector; gensim does not. Both readers skip it.
            while bytes.get(at) == Some(&b'\n') {
                at += 1;
            }
            let start = at;
            let len = bytes[at..].iter().position(|&b| b == b' ').ok_or_else(|| {
                format!("word2vec binary: word {i} at byte {start}: no space after the word (file truncated?)")
            })?;
            let word = std::str::from_utf8(&bytes[at..at + len])
                .map_err(|e| format!("word2vec binary: word {i} at byte {start}: not utf-8: {e}"))?
                .to_string();
            at += len + 1;
            let need = dim * 4;
            let data = bytes.get(at..at + need).ok_or_else(|| {
                format!(
                    "word2vec binary: word {i} ({word:?}) at byte {start}: vector needs {need} bytes from byte {at}, the file has {}",
                    bytes.len().saturating_sub(at)
                )
            })?;
            vectors.extend(
                data.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
            words.push(word);
            at += need;
        }
        Self::new(words, dim, vectors).map_err(|e| format!("word2vec binary: {e}"))
    }

    /// Reads the C tool's text format (`-binary 0`): the header line, then per line a word and
    /// `dim` decimal numbers separated by spaces.
    pub fn read_text(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let fail = |problem: String| Error::Invalid {
            what: path.display().to_string(),
            problem,
        };
        let mut lines = text.lines();
        let (count, dim) = header(lines.next().unwrap_or("").as_bytes()).map_err(fail)?;
        // Each number takes at least two characters ("0 "): the same bound as the binary form.
        let fits = dim
            .checked_mul(2)
            .and_then(|d| d.checked_mul(count))
            .is_some_and(|n| n <= text.len());
        if !fits {
            return Err(fail(format!(
                "word2vec text: the header declares {count} words of {dim} numbers, more than \
                 the file's {} bytes can hold",
                text.len()
            )));
        }
        let mut words = Vec::with_capacity(count);
        let mut vectors = Vec::with_capacity(count * dim);
        for i in 0..count {
            let line = lines
                .next()
                .ok_or_else(|| fail(format!("word2vec text: line {}: missing", i + 2)))?;
            let mut parts = line.split_whitespace();
            let word = parts.next().unwrap_or("").to_string();
            let row = parts
                .map(str::parse::<f32>)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| fail(format!("word2vec text: line {} ({word:?}): {e}", i + 2)))?;
            if row.len() != dim {
                return Err(fail(format!(
                    "word2vec text: line {} ({word:?}): {} numbers, expected {dim}",
                    i + 2,
                    row.len()
                )));
            }
            words.push(word);
            vectors.extend(row);
        }
        Self::new(words, dim, vectors)
    }
}

fn header(line: &[u8]) -> std::result::Result<(usize, usize), String> {
    let text = std::str::from_utf8(line).map_err(|_| "word2vec header: not utf-8".to_string())?;
    let mut parts = text.split_whitespace();
    let mut number = |name: &str| -> std::result::Result<usize, String> {
        parts.next().and_then(|p| p.parse().ok()).ok_or_else(|| {
            format!("word2vec header {text:?}: expected \"<words> <dim>\", bad {name}")
        })
    };
    let count = number("word count")?;
    let dim = number("dimension")?;
    if dim == 0 {
        return Err(format!("word2vec header {text:?}: dimension 0"));
    }
    Ok((count, dim))
}
