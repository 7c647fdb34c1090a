//! The title bigrams of im2recipe's category procedure (`scripts/bigrams.py`, reimplemented from
//! its semantics): its tokeniser, the content tokens of a title, the ranking of the training
//! titles' bigrams, and the forbidden tokens; and how a Food-101 class name is matched.
//!
//! Spec: spec/phase1-category-labels.md (step (i)).

use std::collections::HashMap;

use crate::phase1::stand_in::STOPWORDS;

/// Tokens that disqualify a bigram, as `scripts/bigrams.py` lists them (`fbd_chars`):
/// punctuation, the possessive clitic, marketing words and a few fragments.
pub const FORBIDDEN: &[&str] = &[
    ",",
    "&",
    "(",
    ")",
    "'",
    "'s",
    "!",
    "?",
    "%",
    "*",
    ".",
    "free",
    "slow",
    "low",
    "old",
    "easy",
    "super",
    "best",
    "-",
    "fresh",
    "ever",
    "fast",
    "quick",
    "fat",
    "ww",
    "n'",
    "'n",
    "n",
    "make",
    "con",
    "e",
    "minute",
    "minutes",
    "portabella",
    "de",
    "of",
    "chef",
    "lo",
    "rachael",
    "poor",
    "man",
    "ii",
    "i",
    "year",
    "new",
    "style",
];

/// Characters the tokeniser always makes tokens of their own.
const SPLIT_CHARS: &[char] = &[
    ',', ';', ':', '@', '#', '$', '%', '&', '(', ')', '[', ']', '{', '}', '!', '?', '"', '*',
];

/// Clitics split off the end of a word (the Treebank tokeniser's contractions).
const CLITICS: &[&str] = &["n't", "'s", "'ll", "'re", "'ve", "'d", "'m"];

/// Tokenises one text the way the procedure counts bigrams (a simplification of NLTK's
/// `word_tokenize`, see the spec page): lower-cased, split at white space; the characters of
/// [`SPLIT_CHARS`] become tokens of their own; a trailing `.` is split off; a leading or trailing
/// `'` is split off; the clitics `n't 's 'll 're 've 'd 'm` are split off the end of a word.
pub fn tokenize(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    for chunk in lower.split_whitespace() {
        let mut word = String::new();
        for ch in chunk.chars() {
            if SPLIT_CHARS.contains(&ch) {
                push_word(&mut out, &word);
                word.clear();
                out.push(ch.to_string());
            } else {
                word.push(ch);
            }
        }
        push_word(&mut out, &word);
    }
    out
}

fn push_word(out: &mut Vec<String>, word: &str) {
    if word.is_empty() {
        return;
    }
    let mut w = word;
    let mut lead = Vec::new();
    while let Some(rest) = w.strip_prefix('\'') {
        if rest.is_empty() {
            break;
        }
        lead.push("'");
        w = rest;
    }
    let mut tail: Vec<&str> = Vec::new();
    loop {
        if w.len() > 1 {
            if let Some(rest) = w.strip_suffix('.') {
                tail.push(".");
                w = rest;
                continue;
            }
        }
        if let Some(c) = CLITICS
            .iter()
            .find(|c| w.len() > c.len() && w.ends_with(**c))
        {
            tail.push(c);
            w = &w[..w.len() - c.len()];
            continue;
        }
        if w.len() > 1 {
            if let Some(rest) = w.strip_suffix('\'') {
                tail.push("'");
                w = rest;
                continue;
            }
        }
        break;
    }
    out.extend(lead.into_iter().map(String::from));
    out.push(w.to_string());
    out.extend(tail.into_iter().rev().map(String::from));
}

/// The content tokens of a title: [`tokenize`], then the stopwords dropped (the project's
/// [`STOPWORDS`] list of spec/phase1-stand-in.md, a subset of NLTK's English list).
pub fn content_tokens(text: &str) -> Vec<String> {
    tokenize(text)
        .into_iter()
        .filter(|t| STOPWORDS.binary_search(&t.as_str()).is_err())
        .collect()
}

/// The bigram ranking: the `top` most frequent bigrams of the training titles (given as
/// `(id, title)`; joined in id order), count descending, ties broken by first occurrence (Python's
/// `Counter.most_common`). Returns `((first, second), count)`.
pub fn rank_bigrams(
    titles: &[(String, String)],
    top: usize,
    cross_title: bool,
) -> Vec<((String, String), usize)> {
    let mut order: Vec<&(String, String)> = titles.iter().collect();
    order.sort();
    let mut seen: HashMap<(String, String), (usize, usize)> = HashMap::new();
    let mut position = 0usize;
    let mut add = |a: &str, b: &str| {
        let e = seen
            .entry((a.to_string(), b.to_string()))
            .or_insert((0, position));
        e.0 += 1;
        position += 1;
    };
    let mut previous: Option<String> = None;
    for (_, title) in order {
        let tokens = content_tokens(title);
        if cross_title {
            if let (Some(p), Some(first)) = (&previous, tokens.first()) {
                add(p, first);
            }
        }
        for w in tokens.windows(2) {
            add(&w[0], &w[1]);
        }
        if let Some(last) = tokens.last() {
            previous = Some(last.clone());
        }
    }
    let mut ranked: Vec<((String, String), (usize, usize))> = seen.into_iter().collect();
    ranked.sort_by_key(|(_, (count, first))| (std::cmp::Reverse(*count), *first));
    ranked.truncate(top);
    ranked.into_iter().map(|(b, (c, _))| (b, c)).collect()
}

/// A Food-101 class name as im2recipe matches it: lower case, `_` → space (`apple_pie` →
/// `apple pie`).
pub fn food101_query(name: &str) -> String {
    name.trim().to_lowercase().replace('_', " ")
}
