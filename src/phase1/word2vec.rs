//! Phase I term embedding: word2vec as the original C tool trains it with the paper's command
//! (`-cbow 0 -hs 1 -negative 0`: skip-gram with hierarchical softmax), its vocabulary and Huffman
//! tree, and (in `format`) the `-binary 1` file the authors ship as `vocab_v4.bin`.
//!
//! Mirrors `word2vec.c` of the original tool (Mikolov et al. 2013, code.google.com/p/word2vec;
//! github.com/tmikolov/word2vec at `d83ccfb`, as bundled in the PyPI `word2vec` 0.11.1 sdist,
//! checked bit for bit by tests/phase1_word2vec_c.rs): `LearnVocabFromTrainFile`, `SortVocab`,
//! `CreateBinaryTree`, `InitNet` and the skip-gram/HS branch of `TrainModelThread`. One thread
//! trains on plain floats with the C tool's arithmetic; several share the weights through
//! `shared_floats` (Hogwild, the module's one `unsafe` argument).
//!
//! Spec: spec/phase1-word2vec.md.

pub mod format;
mod shared_floats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

pub use format::WordVectors;
use shared_floats::{Access, Avx, Elements, Quad, SharedFloats};

use crate::{Error, Result};

/// The C tool's `EXP_TABLE_SIZE`.
pub const EXP_TABLE_SIZE: usize = 1000;
/// The C tool's `MAX_EXP`: |f| ≥ 6 skips the update.
pub const MAX_EXP: f32 = 6.0;
/// The C tool's `MAX_SENTENCE_LENGTH`: longer sentences are cut into pieces of this many kept
/// words.
pub const MAX_SENTENCE_LENGTH: usize = 1000;
/// The sentence-end token, vocabulary entry 0.
pub const SENTENCE_END: &str = "</s>";

fn invalid(what: &str, problem: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.to_string(),
        problem: problem.into(),
    }
}

/// Hyper-parameters; [`Word2VecConfig::paper`] is the authors' command (from their README;
/// spec/phase1-word2vec.md, "Hyper-parameters").
#[derive(Debug, Clone, PartialEq)]
pub struct Word2VecConfig {
    /// `-size`: vector dimension.
    pub size: usize,
    /// `-window`: maximal skip length; the effective window is `window - b`, b uniform in
    /// `[0, window)`.
    pub window: usize,
    /// `-iter`: training epochs.
    pub iter: usize,
    /// `-min-count`: words seen fewer times are discarded (`</s>` is always kept).
    pub min_count: u64,
    /// `-sample`: sub-sampling threshold of frequent words (0 turns it off).
    pub sample: f32,
    /// `-alpha`: starting learning rate, decayed linearly to `alpha · 1e-4`.
    pub alpha: f32,
    /// `-threads`: Hogwild threads; only `threads = 1` is deterministic.
    pub threads: usize,
    /// Seed of the LCGs. With 1 (the default) the initialisation and the thread generators start
    /// exactly as the C tool's (`InitNet` starts at 1, thread `id` at `id`); in general the
    /// initialisation starts at `seed` and thread `id` at `seed - 1 + id` (wrapping).
    pub seed: u64,
}

impl Word2VecConfig {
    /// The thread count this package's commands default to: one thread is the only
    /// deterministic choice (the authors ran 20, [`Word2VecConfig::paper`]).
    pub const DETERMINISTIC_THREADS: usize = 1;

    /// The authors' command: `-hs 1 -negative 0 -window 10 -cbow 0 -iter 10 -size 300 -binary 1
    /// -min-count 10 -threads 20`, tool defaults `-sample 1e-3 -alpha 0.025` (skip-gram).
    pub const fn paper() -> Self {
        Self {
            size: 300,
            window: 10,
            iter: 10,
            min_count: 10,
            sample: 1e-3,
            alpha: 0.025,
            threads: 20,
            seed: 1,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |p: &str| Err(invalid("word2vec config", p));
        if self.size == 0 {
            return bad("size must be at least 1");
        }
        if self.window == 0 {
            return bad("window must be at least 1");
        }
        if self.iter == 0 {
            return bad("iter must be at least 1");
        }
        if self.threads == 0 {
            return bad("threads must be at least 1");
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return bad("alpha must be a positive number");
        }
        if !(self.sample.is_finite() && self.sample >= 0.0) {
            return bad("sample must be a number >= 0");
        }
        Ok(())
    }
}

impl Default for Word2VecConfig {
    fn default() -> Self {
        Self::paper()
    }
}

/// One vocabulary entry with its Huffman code (root first) and the inner nodes on its path
/// (`point[d]` is the row of syn1 that decides bit `code[d]`).
#[derive(Debug, Clone, PartialEq)]
pub struct VocabWord {
    /// The word.
    pub word: String,
    /// Its count in the corpus (for `</s>`: the number of sentences).
    pub count: u64,
    /// Huffman code, bits from the root down.
    pub code: Vec<u8>,
    /// Inner nodes from the root down, numbered `0..len-1` (the root is `len - 2`).
    pub point: Vec<u32>,
}

/// The C tool's vocabulary: `</s>` first, then the words of count ≥ `min_count` by count
/// descending (ties in order of first appearance, as glibc's stable `qsort`).
#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    /// The entries, in index order.
    pub words: Vec<VocabWord>,
    /// `train_words`: the sum of the kept counts, `</s>` included.
    pub train_words: u64,
}

impl Vocab {
    /// Builds the vocabulary from (word, count) in order of first appearance plus the number of
    /// sentences (the count of `</s>`), as `SortVocab` and `CreateBinaryTree`.
    pub fn from_counts(words: &[(String, u64)], sentences: u64, min_count: u64) -> Result<Self> {
        let mut kept: Vec<(String, u64)> = words
            .iter()
            .filter(|(w, c)| *c >= min_count && w != SENTENCE_END)
            .cloned()
            .collect();
        kept.sort_by_key(|w| std::cmp::Reverse(w.1)); // stable, as glibc qsort
        kept.insert(0, (SENTENCE_END.to_string(), sentences));
        if kept.len() < 2 {
            return Err(invalid(
                "word2vec vocabulary",
                format!("no word occurs at least {min_count} times (min_count)"),
            ));
        }
        let counts: Vec<u64> = kept.iter().map(|w| w.1).collect();
        let tree = huffman(&counts)?;
        let train_words = counts.iter().sum();
        Ok(Self {
            words: kept
                .into_iter()
                .zip(tree)
                .map(|((word, count), (code, point))| VocabWord {
                    word,
                    count,
                    code,
                    point,
                })
                .collect(),
            train_words,
        })
    }
}

/// `CreateBinaryTree` of word2vec.c: Huffman codes and paths for `counts` in vocabulary order.
/// The C tool assumes the counts descend (after entry 0) and merges with two cursors; ties pick
/// the inner node. Needs at least two entries.
pub fn huffman(counts: &[u64]) -> Result<Vec<(Vec<u8>, Vec<u32>)>> {
    let n = counts.len();
    if n < 2 {
        return Err(invalid(
            "huffman tree",
            format!("needs at least 2 words, got {n}"),
        ));
    }
    let mut count: Vec<u64> = counts.to_vec();
    count.resize(2 * n, 1_000_000_000_000_000); // the C tool's 1e15 sentinel
    let mut binary = vec![0u8; 2 * n];
    let mut parent = vec![0usize; 2 * n];
    let (mut pos1, mut pos2) = (n as isize - 1, n);
    let mut pick = |count: &[u64]| {
        if pos1 >= 0 && count[pos1 as usize] < count[pos2] {
            pos1 -= 1;
            (pos1 + 1) as usize
        } else {
            pos2 += 1;
            pos2 - 1
        }
    };
    for a in 0..n - 1 {
        let min1 = pick(&count);
        let min2 = pick(&count);
        count[n + a] = count[min1] + count[min2];
        parent[min1] = n + a;
        parent[min2] = n + a;
        binary[min2] = 1;
    }
    Ok((0..n)
        .map(|a| {
            let (mut code, mut point) = (Vec::new(), Vec::new());
            let mut b = a;
            loop {
                code.push(binary[b]);
                point.push(b);
                b = parent[b];
                if b == 2 * n - 2 {
                    break;
                }
            }
            code.reverse();
            // point[0] is the root (n - 2); then the parents of the nodes below it.
            let mut path = vec![(n - 2) as u32];
            path.extend(point[1..].iter().rev().map(|&p| (p - n) as u32));
            (code, path)
        })
        .collect())
}

/// The C tool's sub-sampling value `ran = (sqrt(cn / (sample · T)) + 1) · (sample · T) / cn` for a
/// word of count `cn` among `T = train_words`, in its mix of float and double; a word occurrence
/// is kept when `ran ≥ u`, u uniform on {0, 1/65536, …} (so words with `ran ≥ 1` are always kept).
pub fn keep_probability(count: u64, train_words: u64, sample: f32) -> f32 {
    let st = sample * train_words as f32; // real · long long → float
    let inner = f64::from(count as f32 / st).sqrt(); // sqrt(double)
    ((inner + 1.0) * f64::from(st) / count as f64) as f32
}

/// The C tool's sigmoid table: `expTable[i] = e / (e + 1)`, `e = exp((i / 1000 · 2 − 1) · 6)`,
/// looked up at `(int)((f + 6) · 83)` (83 is the C tool's integer `1000 / 6 / 2`).
pub fn exp_table() -> Vec<f32> {
    (0..EXP_TABLE_SIZE)
        .map(|i| {
            let x = (i as f32 / EXP_TABLE_SIZE as f32 * 2.0 - 1.0) * MAX_EXP;
            let e = f64::from(x).exp() as f32;
            e / (e + 1.0)
        })
        .collect()
}

const EXP_INDEX_SCALE: f32 = (EXP_TABLE_SIZE / MAX_EXP as usize / 2) as f32;

/// The next state of the C tool's generator: `next_random * 25214903917 + 11` (mod 2^64).
pub fn lcg(state: u64) -> u64 {
    state.wrapping_mul(25_214_903_917).wrapping_add(11)
}

/// A trained model: the vocabulary (with its Huffman tree) and the input vectors syn0.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The vocabulary, in row order.
    pub vocab: Vocab,
    /// syn0, one row per vocabulary entry (`</s>` included, as the C tool writes it).
    pub vectors: WordVectors,
}

/// The weights as one training thread sees them, and how it trains one (context, centre) pair:
/// the C tool's loop over the nodes of the centre word's path (for node `d`: `f = syn0[context] ·
/// syn1[point[d]]`, `g = (1 - code[d] - σ(f)) · alpha`, `neu1e += g · syn1[point[d]]`,
/// `syn1[point[d]] += g · syn0[context]`), then `syn0[context] += neu1e`.
trait Weights {
    /// Trains the pair of `context` (a row of syn0) and `word` (the centre word, whose path gives
    /// the rows of syn1).
    fn pair(&mut self, context: usize, word: &VocabWord, alpha: f32, exp: &[f32]);
}

/// `g` of one node from its dot product `f`, or `None` where |f| ≥ `MAX_EXP` (the C tool skips
/// the node).
#[inline(always)]
fn gradient(f: f32, code: u8, alpha: f32, exp: &[f32]) -> Option<f32> {
    if f <= -MAX_EXP || f >= MAX_EXP {
        return None;
    }
    let f = exp[((f + MAX_EXP) * EXP_INDEX_SCALE) as usize];
    Some((1.0 - f32::from(code) - f) * alpha)
}

/// Elements per block of loads in [`dots_chains`].
const BLOCK: usize = 8;

/// `out[d] = a · rows[d]` summed left to right. The rows go through
/// [`dots_chains`] eight at a time, then four; a last group of fewer rows is padded with copies of
/// its last row, whose results are dropped, so that no row is left to a lone, latency-bound
/// chain (a pass over four or eight chains costs about what a pass over one does).
#[inline(always)]
fn dots_by(a: &[f32], syn1: &[f32], rows: &[u32], out: &mut [f32]) {
    let mut d = 0;
    while d < rows.len() {
        let left = rows.len() - d;
        let n = if left > 4 { left.min(8) } else { left };
        if n > 4 {
            let mut group = [rows[d + n - 1]; 8];
            group[..n].copy_from_slice(&rows[d..d + n]);
            let f = dots_chains(a, syn1, &group);
            out[d..d + n].copy_from_slice(&f[..n]);
        } else {
            let mut group = [rows[d + n - 1]; 4];
            group[..n].copy_from_slice(&rows[d..d + n]);
            let f = dots_chains(a, syn1, &group);
            out[d..d + n].copy_from_slice(&f[..n]);
        }
        d += n;
    }
}

/// The dot products of `a` with `N` rows of `syn1`, each summed left to right in its own chain
/// of additions: blocks of loads first, then the `N` chains over them, so that the processor
/// overlaps `N` independent chains.
#[inline(always)]
fn dots_chains<const N: usize>(a: &[f32], syn1: &[f32], group: &[u32; N]) -> [f32; N] {
    let size = a.len();
    // Plain loops rather than `std::array::from_fn`: the compiler once left that helper out of
    // line here, which halved the speed (spec/phase1-word2vec.md, Throughput).
    let mut rows: [&[f32]; N] = [&a[..0]; N];
    for (r, &g) in rows.iter_mut().zip(group) {
        *r = &syn1[g as usize * size..][..size];
    }
    let mut f = [0f32; N];
    let split = size - size % BLOCK;
    for start in (0..split).step_by(BLOCK) {
        let mut x = [0f32; BLOCK];
        for (v, e) in x.iter_mut().zip(&a[start..start + BLOCK]) {
            *v = *e;
        }
        let mut ys = [[0f32; BLOCK]; N];
        for (y, r) in ys.iter_mut().zip(&rows) {
            for (v, e) in y.iter_mut().zip(&r[start..start + BLOCK]) {
                *v = *e;
            }
        }
        for k in 0..BLOCK {
            for j in 0..N {
                f[j] += x[k] * ys[j][k];
            }
        }
    }
    for k in split..size {
        let x = a[k];
        for j in 0..N {
            f[j] += x * rows[j][k];
        }
    }
    f
}

/// One thread's own weights (`threads = 1`): plain floats, so the updates vectorise. The loop over
/// a path is split in two: first all dot products `syn0[context] · syn1[point[d]]`, then the
/// updates node by node. Within one pair `syn0[context]` is only written at the end and each node
/// touches only its own row of syn1 (the nodes of a path are distinct), so the dot products do not
/// depend on the updates before them: the numbers are the C tool's, bit for bit. Each dot product
/// is summed left to right as in C; computing several at a time only lets the processor overlap
/// independent chains of additions.
struct Plain {
    size: usize,
    syn0: Vec<f32>,
    syn1: Vec<f32>,
    /// The pair's `neu1e` and dot products.
    neu1e: Vec<f32>,
    dots: Vec<f32>,
}

impl Weights for Plain {
    // Always inlined, so that the AVX2 build of the loop (`Run::thread_avx2`) has its own copy.
    #[inline(always)]
    fn pair(&mut self, context: usize, word: &VocabWord, alpha: f32, exp: &[f32]) {
        let size = self.size;
        let l1 = context * size;
        let dots = &mut self.dots[..word.point.len()];
        dots_by(&self.syn0[l1..l1 + size], &self.syn1, &word.point, dots);
        let neu1e = &mut self.neu1e[..size];
        neu1e.fill(0.0);
        let s0 = &self.syn0[l1..l1 + size];
        for ((&code, &point), &f) in word.code.iter().zip(&word.point).zip(dots.iter()) {
            let Some(g) = gradient(f, code, alpha, exp) else {
                continue;
            };
            let l2 = point as usize * size;
            for ((e, y), x) in neu1e.iter_mut().zip(&mut self.syn1[l2..l2 + size]).zip(s0) {
                *e += g * *y;
                *y += g * *x;
            }
        }
        for (x, e) in self.syn0[l1..l1 + size].iter_mut().zip(neu1e.iter()) {
            *x += *e;
        }
    }
}

/// The weights shared by the Hogwild threads (`threads > 1`), in [`SharedFloats`] read and
/// written through `A` ([`Access`]): a read-modify-write by two threads may lose one update (the C
/// tool's races, by design), but every access is atomic, so there is no data race in Rust's
/// sense. The loop differs from [`Plain`]'s in three ways, all measured (spec/phase1-word2vec.md,
/// Throughput):
///
/// * node by node as the C tool does (dot product, then the update of that node's row), not all
///   dot products of a path first: with two threads on the same rows near the root, reading all
///   of a path's rows ahead of writing them ran at a third of the speed;
/// * before a node's dot product, its row is claimed for writing ([`Access::claim`]), so that the
///   update does not wait for the other core to give the row's cache lines up;
/// * each dot product is summed in sixteen lanes ([`dot_shared`]), not left to right, and with
///   `FMA` every multiply-add is fused: with threads the order of updates is not reproducible
///   anyway, so the C tool's roundings buy nothing here.
struct Hogwild<'a, A, const FMA: bool> {
    syn0: &'a SharedFloats,
    syn1: &'a SharedFloats,
    access: A,
    /// The pair's `neu1e`, by quads.
    neu1e: Vec<[f32; 4]>,
}

impl<'a, A: Access, const FMA: bool> Hogwild<'a, A, FMA> {
    fn new(syn0: &'a SharedFloats, syn1: &'a SharedFloats, access: A) -> Self {
        let neu1e = vec![[0f32; 4]; syn0.stride()];
        Self {
            syn0,
            syn1,
            access,
            neu1e,
        }
    }
}

/// `a · b + c`, fused (one rounding) where `FMA`: only in the build of the loop for processors
/// with FMA ([`Run::shared_fma`]); elsewhere a multiplication and an addition.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Two quads as eight floats (the compiler keeps them in one 256-bit register where it can).
#[inline(always)]
fn eight(two: [[f32; 4]; 2]) -> [f32; 8] {
    let [a, b] = two;
    [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
}

/// Eight floats as two quads.
#[inline(always)]
fn quads(v: [f32; 8]) -> [[f32; 4]; 2] {
    [[v[0], v[1], v[2], v[3]], [v[4], v[5], v[6], v[7]]]
}

/// `a · b` over one row of quads, in sixteen lanes: four chains of four (quad `q` into chain
/// `q mod 4`), added pairwise at the end.
#[inline(always)]
fn dot_shared<const FMA: bool>(access: impl Access, a: &[Quad], b: &[Quad]) -> f32 {
    let mut chains = [[0f32; 4]; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (a4.remainder(), b4.remainder());
    for (x, y) in a4.zip(b4) {
        for c in 0..4 {
            let (xc, yc) = (access.load(&x[c]), access.load(&y[c]));
            for k in 0..4 {
                chains[c][k] = madd::<FMA>(xc[k], yc[k], chains[c][k]);
            }
        }
    }
    for (c, (x, y)) in ra.iter().zip(rb).enumerate() {
        let (xc, yc) = (access.load(x), access.load(y));
        for k in 0..4 {
            chains[c][k] = madd::<FMA>(xc[k], yc[k], chains[c][k]);
        }
    }
    let mut lanes = [0f32; 4];
    for k in 0..4 {
        lanes[k] = (chains[0][k] + chains[2][k]) + (chains[1][k] + chains[3][k]);
    }
    (lanes[0] + lanes[2]) + (lanes[1] + lanes[3])
}

/// One node's update over a row, two quads at a time: `neu1e += g · b`, then `b += g · a`.
#[inline(always)]
fn update_shared<const FMA: bool>(
    access: impl Access,
    g: f32,
    a: &[Quad],
    b: &[Quad],
    neu1e: &mut [[f32; 4]],
) {
    let (a2, b2, e2) = (
        a.chunks_exact(2),
        b.chunks_exact(2),
        neu1e.chunks_exact_mut(2),
    );
    let (ra, rb) = (a2.remainder(), b2.remainder());
    for ((a, b), e) in a2.zip(b2).zip(e2) {
        let x = eight([access.load(&a[0]), access.load(&a[1])]);
        let y = eight([access.load(&b[0]), access.load(&b[1])]);
        let mut sum = eight([e[0], e[1]]);
        let mut next = [0f32; 8];
        for k in 0..8 {
            sum[k] = madd::<FMA>(g, y[k], sum[k]);
            next[k] = madd::<FMA>(g, x[k], y[k]);
        }
        [e[0], e[1]] = quads(sum);
        let [y0, y1] = quads(next);
        access.store(&b[0], y0);
        access.store(&b[1], y1);
    }
    if let (Some(a), Some(b)) = (ra.first(), rb.first()) {
        let (x, mut y) = (access.load(a), access.load(b));
        let e = neu1e.last_mut().expect("a row has a quad");
        for k in 0..4 {
            e[k] = madd::<FMA>(g, y[k], e[k]);
            y[k] = madd::<FMA>(g, x[k], y[k]);
        }
        access.store(b, y);
    }
}

impl<A: Access, const FMA: bool> Weights for Hogwild<'_, A, FMA> {
    #[inline(always)]
    fn pair(&mut self, context: usize, word: &VocabWord, alpha: f32, exp: &[f32]) {
        let access = self.access;
        let x = self.syn0.row(context);
        self.neu1e.fill([0.0; 4]);
        for (&code, &point) in word.code.iter().zip(&word.point) {
            let y = self.syn1.row(point as usize);
            access.claim(y);
            let Some(g) = gradient(dot_shared::<FMA>(access, x, y), code, alpha, exp) else {
                continue;
            };
            update_shared::<FMA>(access, g, x, y, &mut self.neu1e);
        }
        for (e, a) in self.neu1e.iter().zip(x) {
            let mut v = access.load(a);
            for k in 0..4 {
                v[k] += e[k];
            }
            access.store(a, v);
        }
    }
}

/// Trains skip-gram with hierarchical softmax on `sentences` as `word2vec -cbow 0 -hs 1
/// -negative 0`. Each sentence is one line of the C tool's training file: its tokens are words
/// and its end is a `</s>` (a token equal to `</s>` also ends a sentence, as a newline would).
/// Tokens must be non-empty and free of whitespace (the C tool would split them).
pub fn train<I>(sentences: I, cfg: &Word2VecConfig) -> Result<Trained>
where
    I: IntoIterator,
    I::Item: AsRef<[String]>,
{
    train_with_progress(sentences, cfg, &|_| {})
}

/// [`train`], calling `progress` with the share of the training done (0 to 1, the C tool's
/// `word_count_actual / (iter · train_words + 1)`) about every 10,000 words, from any thread.
pub fn train_with_progress<I>(
    sentences: I,
    cfg: &Word2VecConfig,
    progress: &(dyn Fn(f32) + Sync),
) -> Result<Trained>
where
    I: IntoIterator,
    I::Item: AsRef<[String]>,
{
    cfg.validate()?;
    let (vocab, stream) = prepare(sentences, cfg)?;
    let storage = if cfg.threads > 1 {
        Storage::Hogwild(Way::Fused)
    } else {
        Storage::Plain { avx2: true }
    };
    let syn0 = fit(cfg, &vocab, &stream, storage, progress);
    tracing::info!(
        words = vocab.words.len(),
        dim = cfg.size,
        "word2vec trained"
    );
    let words = vocab.words.iter().map(|w| w.word.clone()).collect();
    let vectors = WordVectors::new(words, cfg.size, syn0)?;
    Ok(Trained { vocab, vectors })
}

/// The vocabulary and the corpus as vocabulary ids (0 ends a sentence), as `LearnVocabFromTrainFile`
/// and `ReadWordIndex` see the file.
fn prepare<I>(sentences: I, cfg: &Word2VecConfig) -> Result<(Vocab, Vec<u32>)>
where
    I: IntoIterator,
    I::Item: AsRef<[String]>,
{
    // One pass: provisional ids in order of first appearance, the token stream, the counts.
    const END: u32 = u32::MAX;
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut first_seen: Vec<(String, u64)> = Vec::new();
    let mut stream: Vec<u32> = Vec::new();
    let mut lines = 0u64;
    for (s, sentence) in sentences.into_iter().enumerate() {
        for token in sentence.as_ref() {
            if token.is_empty() || token.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "word2vec corpus",
                    format!("sentence {s}: token {token:?} is empty or holds whitespace"),
                ));
            }
            if token == SENTENCE_END {
                lines += 1;
                stream.push(END);
                continue;
            }
            let id = *ids.entry(token.clone()).or_insert_with(|| {
                first_seen.push((token.clone(), 0));
                (first_seen.len() - 1) as u32
            });
            first_seen[id as usize].1 += 1;
            stream.push(id);
        }
        lines += 1;
        stream.push(END);
    }
    let vocab = Vocab::from_counts(&first_seen, lines, cfg.min_count)?;
    let index: HashMap<&str, u32> = vocab
        .words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.word.as_str(), i as u32))
        .collect();
    let remap: Vec<Option<u32>> = first_seen
        .iter()
        .map(|(w, _)| index.get(w.as_str()).copied())
        .collect();
    // Words below min_count are skipped without being counted, as `ReadWordIndex` returns -1.
    let stream: Vec<u32> = stream
        .into_iter()
        .filter_map(|id| {
            if id == END {
                Some(0)
            } else {
                remap[id as usize]
            }
        })
        .collect();
    drop(ids);
    tracing::info!(
        words = vocab.words.len(),
        train_words = vocab.train_words,
        threads = cfg.threads,
        "word2vec vocabulary built"
    );
    Ok((vocab, stream))
}

/// How the weights are held while training.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Storage {
    /// One thread, plain floats; with `avx2`, the AVX2 build of the loop when the processor has
    /// it (the same numbers; `false` only in tests, to check that).
    Plain { avx2: bool },
    /// Shared atomic floats, needed for more than one thread, reached the fastest way the
    /// processor allows up to the one given (the others only in tests, to compare them).
    Hogwild(Way),
}

/// How the Hogwild threads reach the shared floats, from the fastest down; each falls back to the
/// next where the processor lacks what it needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Way {
    /// Whole quads ([`Avx`]) and the loop built for AVX2 with fused multiply-adds: needs AVX2 and
    /// FMA.
    Fused,
    /// Whole quads ([`Avx`]), the baseline build, separate multiplications and additions: needs
    /// AVX.
    Quads,
    /// Four atomic floats ([`Elements`]): every processor.
    Elements,
}

/// `InitNet` and the training threads; returns syn0.
fn fit(
    cfg: &Word2VecConfig,
    vocab: &Vocab,
    stream: &[u32],
    storage: Storage,
    progress: &(dyn Fn(f32) + Sync),
) -> Vec<f32> {
    let (n, size) = (vocab.words.len(), cfg.size);
    // InitNet: syn0 from the LCG, `((r & 0xFFFF) / (real)65536 - 0.5) / layer1_size` (the
    // subtraction and the division in double, as in C); syn1 zeros.
    let mut state = cfg.seed;
    let syn0: Vec<f32> = (0..n * size)
        .map(|_| {
            state = lcg(state);
            ((f64::from((state & 0xFFFF) as f32 / 65536.0) - 0.5) / size as f64) as f32
        })
        .collect();
    let syn1 = vec![0f32; n * size];
    let run = Run {
        cfg,
        vocab,
        exp: exp_table(),
        actual: AtomicU64::new(0),
        progress,
    };
    let way = match storage {
        Storage::Plain { avx2 } => {
            let longest = vocab.words.iter().map(|w| w.point.len()).max();
            let mut w = Plain {
                size,
                syn0,
                syn1,
                neu1e: vec![0.0; size],
                dots: vec![0.0; longest.unwrap_or(0)],
            };
            if avx2 {
                run.thread_plain(stream, &mut w);
            } else {
                run.thread(0, stream, &mut w);
            }
            return w.syn0;
        }
        Storage::Hogwild(way) => way,
    };
    // Thread `id` reads from the first sentence start at or after len · id / threads (the C
    // tool seeks to file_size / threads · id, possibly mid-word) to the next thread's start.
    let starts: Vec<usize> = (0..=cfg.threads)
        .map(|t| {
            let at = stream.len() * t / cfg.threads;
            if t == 0 || t == cfg.threads {
                return at;
            }
            at + stream[at - 1..].iter().position(|&w| w == 0).unwrap_or(0)
        })
        .collect();
    let syn0 = SharedFloats::new(&syn0, size);
    let syn1 = SharedFloats::new(&syn1, size);
    std::thread::scope(|scope| {
        for t in 0..cfg.threads {
            let chunk = &stream[starts[t].min(starts[t + 1])..starts[t + 1]];
            let (run, syn0, syn1) = (&run, &syn0, &syn1);
            scope.spawn(move || run.thread_shared(t, chunk, syn0, syn1, way));
        }
    });
    syn0.into_values()
}

struct Run<'a> {
    cfg: &'a Word2VecConfig,
    vocab: &'a Vocab,
    exp: Vec<f32>,
    /// `word_count_actual`, shared by the threads.
    actual: AtomicU64,
    /// Told the share of the training done.
    progress: &'a (dyn Fn(f32) + Sync),
}

impl Run<'_> {
    /// The one-thread path: [`Run::thread`] compiled a second time for AVX2 and taken when the
    /// processor has it (wider vectors in the updates and the dot products). Multiplications and
    /// additions stay separate (AVX2 does not bring fused multiply-add), each element's operations
    /// in the same order, so the numbers are the same bit for bit.
    fn thread_plain(&self, chunk: &[u32], w: &mut Plain) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2, checked just above.
            unsafe { self.thread_avx2(chunk, w) };
            return;
        }
        self.thread(0, chunk, w);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn thread_avx2(&self, chunk: &[u32], w: &mut Plain) {
        self.thread(0, chunk, w);
    }

    /// One Hogwild thread: [`Run::thread`] on the shared weights, the fastest [`Way`] the
    /// processor allows from `way` down.
    fn thread_shared(
        &self,
        id: usize,
        chunk: &[u32],
        syn0: &SharedFloats,
        syn1: &SharedFloats,
        way: Way,
    ) {
        let avx = Avx::detect().filter(|_| way != Way::Elements);
        #[cfg(target_arch = "x86_64")]
        if let Some(avx) = avx.filter(|_| way == Way::Fused) {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                if id == 0 {
                    tracing::debug!(way = ?Way::Fused, "word2vec shared weights");
                }
                // SAFETY: the processor supports AVX2 and FMA, checked just above.
                unsafe { self.shared_fma(id, chunk, &mut Hogwild::new(syn0, syn1, avx)) };
                return;
            }
        }
        if id == 0 {
            let way = if avx.is_some() {
                Way::Quads
            } else {
                Way::Elements
            };
            tracing::debug!(?way, "word2vec shared weights");
        }
        match avx {
            Some(avx) => self.thread(id, chunk, &mut Hogwild::<_, false>::new(syn0, syn1, avx)),
            None => self.thread(
                id,
                chunk,
                &mut Hogwild::<_, false>::new(syn0, syn1, Elements),
            ),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn shared_fma(&self, id: usize, chunk: &[u32], w: &mut Hogwild<Avx, true>) {
        self.thread(id, chunk, w);
    }

    /// `TrainModelThread` of word2vec.c, skip-gram and hierarchical softmax only.
    #[inline(always)]
    fn thread(&self, id: usize, chunk: &[u32], w: &mut impl Weights) {
        let cfg = self.cfg;
        let window = cfg.window as u64;
        let train_words = self.vocab.train_words;
        let total = (cfg.iter as u64 * train_words + 1) as f32;
        let mut next_random = cfg.seed.wrapping_sub(1).wrapping_add(id as u64);
        let mut alpha = cfg.alpha;
        let (mut word_count, mut last_word_count) = (0u64, 0u64);
        let mut local_iter = cfg.iter;
        let mut sen: Vec<u32> = Vec::with_capacity(MAX_SENTENCE_LENGTH);
        let (mut cursor, mut sentence_position) = (0usize, 0usize);
        let st = cfg.sample * train_words as f32;
        loop {
            if word_count - last_word_count > 10_000 {
                let actual = self
                    .actual
                    .fetch_add(word_count - last_word_count, Ordering::Relaxed)
                    + (word_count - last_word_count);
                last_word_count = word_count;
                alpha = cfg.alpha * (1.0 - actual as f32 / total);
                alpha = alpha.max(cfg.alpha * 0.0001);
                tracing::trace!(
                    thread = id,
                    alpha,
                    progress = actual as f32 / total,
                    "word2vec"
                );
                (self.progress)(actual as f32 / total);
            }
            let mut eof = false;
            if sen.is_empty() {
                loop {
                    let Some(&word) = chunk.get(cursor) else {
                        eof = true;
                        break;
                    };
                    cursor += 1;
                    word_count += 1;
                    if word == 0 {
                        break;
                    }
                    if cfg.sample > 0.0 {
                        let cn = self.vocab.words[word as usize].count;
                        let ran = ((f64::from(cn as f32 / st).sqrt() + 1.0) * f64::from(st)
                            / cn as f64) as f32;
                        next_random = lcg(next_random);
                        if ran < (next_random & 0xFFFF) as f32 / 65536.0 {
                            continue;
                        }
                    }
                    sen.push(word);
                    if sen.len() >= MAX_SENTENCE_LENGTH {
                        break;
                    }
                }
                sentence_position = 0;
            }
            if eof || word_count > train_words / cfg.threads as u64 {
                self.actual
                    .fetch_add(word_count - last_word_count, Ordering::Relaxed);
                local_iter -= 1;
                if id == 0 {
                    tracing::debug!(epoch = cfg.iter - local_iter, alpha, "word2vec epoch done");
                }
                if local_iter == 0 {
                    break;
                }
                word_count = 0;
                last_word_count = 0;
                sen.clear();
                cursor = 0;
                continue;
            }
            if sen.is_empty() {
                // A sentence of discarded words only: the C tool draws the window of a stale
                // `sen[0]`, trains nothing (every context position is past the end) and reads
                // the next sentence; only the draw is visible.
                next_random = lcg(next_random);
                continue;
            }
            let word = &self.vocab.words[sen[sentence_position] as usize];
            next_random = lcg(next_random);
            let b = next_random % window;
            let (b, win) = (b as usize, window as usize);
            for a in b..(win * 2 + 1 - b) {
                if a == win {
                    continue;
                }
                let Some(c) = (sentence_position + a).checked_sub(win) else {
                    continue;
                };
                if c >= sen.len() {
                    continue;
                }
                w.pair(sen[c] as usize, word, alpha, &self.exp);
            }
            sentence_position += 1;
            if sentence_position >= sen.len() {
                sen.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On one thread every storage trains the same model. The plain one is the same bit for bit
    /// in both of its builds (the AVX2 build is the one tests/phase1_word2vec_c.rs checks against
    /// the C tool). The Hogwild ways differ from it only in the order of each dot product's
    /// additions (and, fused, in the roundings of the multiply-adds), so their vectors stay
    /// within 1e-5 of it, relative to the largest element (measured: 0 unfused, since a dot
    /// product only matters through its bucket of the exp table, and 1.5e-7 to 3.1e-7 fused); the two
    /// unfused ways (four atomics, one 16-byte move) are the same bit for bit. Sizes 36, 22 and
    /// 43 are 9, 6 and 11 quads: remainders 1, 2 and 3 of the dot products' groups of four,
    /// 1 and 0 of the updates' pairs, and rows padded by 0, 2 and 1 floats.
    #[test]
    fn every_storage_on_one_thread_trains_the_same_model() {
        let mut state = 7u64;
        let sentences: Vec<Vec<String>> = (0..300)
            .map(|_| {
                state = lcg(state);
                let len = 2 + (state >> 40) % 15;
                (0..len)
                    .map(|_| {
                        state = lcg(state);
                        let x = (state >> 33) % 1000;
                        format!("w{}", x * x / 20_000) // skewed: w0 most frequent
                    })
                    .collect()
            })
            .collect();
        for size in [36, 22, 43] {
            let cfg = Word2VecConfig {
                size,
                window: 5,
                iter: 2,
                min_count: 2,
                threads: 1,
                ..Word2VecConfig::paper()
            };
            let (vocab, stream) = prepare(&sentences, &cfg).expect("a vocabulary");
            assert!(vocab.words.len() > 20);
            let fit_with =
                |cfg: &Word2VecConfig, storage| fit(cfg, &vocab, &stream, storage, &|_| {});
            let plain = fit_with(&cfg, Storage::Plain { avx2: true });
            let baseline = fit_with(&cfg, Storage::Plain { avx2: false });
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let (fused, quads, elements) = (
                fit_with(&cfg, Storage::Hogwild(Way::Fused)),
                fit_with(&cfg, Storage::Hogwild(Way::Quads)),
                fit_with(&cfg, Storage::Hogwild(Way::Elements)),
            );
            assert_eq!(bits(&quads), bits(&elements), "size {size}");
            let scale = plain.iter().fold(0f32, |m, x| m.max(x.abs()));
            for (way, v) in [("fused", &fused), ("quads", &quads)] {
                let worst = plain
                    .iter()
                    .zip(v)
                    .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
                assert!(
                    worst <= 1e-5 * scale,
                    "size {size}, {way}: {worst:e} at scale {scale:e}"
                );
            }
            // The AVX2 build of the loop (taken where the processor has it, as on the machines
            // the C-tool goldens run on) computes what the baseline build computes.
            assert_eq!(bits(&plain), bits(&baseline), "size {size}");
            // And training moved the vectors away from their initial values.
            let init = fit_with(
                &Word2VecConfig {
                    alpha: 1e-30,
                    ..cfg.clone()
                },
                Storage::Plain { avx2: true },
            );
            assert_ne!(bits(&plain), bits(&init), "size {size}");
        }
    }
}
