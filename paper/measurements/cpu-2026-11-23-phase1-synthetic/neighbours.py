"""Nearest-neighbour sentences in a `sentences.safetensors` written by `seje features sentences`.

    python3 neighbours.py DATASET_ROOT FEATURES_DIR [N_QUERIES]

Reads f_sent/lengths (the feature-store layout, spec/data-feature-store.md) with NumPy only,
maps every row back to its instruction text through layer1.json, and prints, for a few query
sentences of the test split, the 5 most cosine-similar sentences of other test recipes.
Queries are the second sentence of evenly spaced test recipes (deterministic; first sentences
are mostly "Preheat the oven").
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np


def read_store(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dtype = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
        out[name] = np.frombuffer(body[a:b], dtype=dtype).reshape(info["shape"])
    return out, header["__metadata__"]


def main():
    root, feats = Path(sys.argv[1]), Path(sys.argv[2])
    queries = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    store, meta = read_store(feats / "sentences.safetensors")
    ids = json.loads(meta["ids"]) if "ids" in meta else None
    if ids is None:
        sys.exit("the store has no ids metadata")
    recipes = {r["id"]: r for r in json.loads((root / "layer1.json").read_text())}
    f, lengths = store["f_sent"], store["lengths"]
    rows, texts, owners = [], [], []
    test = [i for i, rid in enumerate(ids) if recipes[rid]["partition"] == "test"]
    for i in test:
        ins = recipes[ids[i]]["instructions"]
        for j in range(min(int(lengths[i]), len(ins))):
            rows.append(f[i, j])
            texts.append(ins[j]["text"])
            owners.append(i)
    x = np.stack(rows).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    owners = np.array(owners)
    starts = [k for k in range(1, len(texts)) if owners[k] == owners[k - 1] and (k < 2 or owners[k - 2] != owners[k])]
    for q in starts[:: max(1, len(starts) // queries)][:queries]:
        sims = x @ x[q]
        sims[owners == owners[q]] = -2
        best = np.argsort(-sims, kind="stable")[:5]
        print(f"query: {texts[q]}")
        for k in best:
            print(f"  {sims[k]:.3f}  {texts[k]}")
        print()


if __name__ == "__main__":
    main()
