#!/usr/bin/env python3
"""gensim reference for the word2vec throughput benchmark (`cargo bench --bench word2vec`).

Trains gensim's Word2Vec on a tokenised text file (one text per line, the format the C tool and
gensim's `corpus_file` mode read) with the settings the bench passes: skip-gram, hierarchical
softmax, no negative sampling, the C tool's learning-rate floor (min_alpha = 1e-4 * alpha).
Vocabulary building (`build_vocab`, which reads the file) and training (`train`) are timed
separately. Prints one JSON object: the corpus size gensim counted and both times in seconds.
Needs gensim 4 (tested with 4.4.0) and NumPy.
"""

import argparse
import json
import time

from gensim.models import Word2Vec
from gensim.models.word2vec import FAST_VERSION


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--window", type=int, required=True)
    p.add_argument("--iter", type=int, required=True)
    p.add_argument("--min-count", type=int, required=True)
    p.add_argument("--sample", type=float, required=True)
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--threads", type=int, required=True)
    a = p.parse_args()

    model = Word2Vec(
        sg=1,
        hs=1,
        negative=0,
        window=a.window,
        vector_size=a.size,
        sample=a.sample,
        alpha=a.alpha,
        min_alpha=a.alpha * 1e-4,
        min_count=a.min_count,
        epochs=a.iter,
        workers=a.threads,
        seed=1,
    )
    t0 = time.perf_counter()
    model.build_vocab(corpus_file=a.corpus)
    t1 = time.perf_counter()
    model.train(
        corpus_file=a.corpus,
        total_examples=model.corpus_count,
        total_words=model.corpus_total_words,
        epochs=a.iter,
    )
    t2 = time.perf_counter()
    print(
        json.dumps(
            {
                "gensim_fast_version": FAST_VERSION,
                "corpus_words": model.corpus_total_words,
                "corpus_lines": model.corpus_count,
                "vocab": len(model.wv),
                "vocab_seconds": t1 - t0,
                "train_seconds": t2 - t1,
            }
        )
    )


if __name__ == "__main__":
    main()
