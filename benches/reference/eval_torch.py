#!/usr/bin/env python3
"""PyTorch reference for the evaluation benchmark on a GPU (spec/benchmarks.md, GPU rows).

The evaluation protocol of `fixtures/golden/eval/reference.py` (`vectorised`): subsets drawn with
CPython's `random.seed(1234)` and `random.sample`, the whole squared-distance matrix of each subset
in float32 (expanded form, ||x||² + ||y||² - 2 x·y), optimistic 1-based ranks of the matching pair
in both directions, MedR and R@1/5/10 averaged over the subsets. Here the matrices are torch
tensors on `--device` (cuda, or cpu for checking), the embeddings are moved there once before the
clock starts, and the device is synchronised before the clock is read.

  python3 eval_torch.py --image A.npy --recipe B.npy --size 10000 --subsets 10 --device cuda

Prints one JSON object: the seconds (warm: one untimed pass first) and the averaged metrics.
"""

import argparse
import json
import random
import time

import numpy as np
import torch


def run(img, rec, lists):
    sums = {"image_to_recipe": np.zeros(4), "recipe_to_image": np.zeros(4)}
    for ids in lists:
        idx = torch.as_tensor(ids, device=img.device)
        x, y = img[idx], rec[idx]
        s = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
        diag = torch.diagonal(s)
        ranks = {
            "image_to_recipe": (s < diag[:, None]).sum(1) + 1,
            "recipe_to_image": (s < diag[None, :]).sum(0) + 1,
        }
        for k, r in ranks.items():
            r = r.double()
            sums[k] += np.array(
                [
                    r.quantile(0.5).item(),  # NumPy's median: the mean of the two middle ranks
                    (r <= 1).double().mean().item(),
                    (r <= 5).double().mean().item(),
                    (r <= 10).double().mean().item(),
                ]
            )
    n = len(lists)
    return {
        k: dict(zip(["medr", "r1", "r5", "r10"], (v / n).tolist())) for k, v in sums.items()
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--image", required=True)
    p.add_argument("--recipe", required=True)
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--subsets", type=int, default=10)
    p.add_argument("--device", default="cuda")
    a = p.parse_args()
    dev = torch.device(a.device)
    img = torch.from_numpy(np.load(a.image)).float().to(dev)
    rec = torch.from_numpy(np.load(a.recipe)).float().to(dev)
    random.seed(1234)
    lists = [random.sample(range(img.shape[0]), a.size) for _ in range(a.subsets)]

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    run(img, rec, lists[:1])  # warm-up: kernels, allocator
    sync()
    t = time.perf_counter()
    metrics = run(img, rec, lists)
    sync()
    secs = time.perf_counter() - t
    out = {
        "seconds": secs,
        "size": a.size,
        "subsets": a.subsets,
        "device": str(dev),
        "torch": torch.__version__,
        "metrics": metrics,
    }
    if dev.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(dev)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
