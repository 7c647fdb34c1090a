#!/usr/bin/env python3
"""PIL + torchvision reference for the loader throughput benchmark (`cargo bench --bench data`).

Loads the JPEG files listed in a text file (one path per line) with the authors' training
pipeline, written with today's torchvision names: PIL open + RGB, Resize(resize) (bilinear with
antialiasing), CenterCrop(resize), RandomCrop(crop), RandomHorizontalFlip(), ToTensor(),
Normalize(ImageNet mean and std), batched by a torch DataLoader (shuffle, batch 64, `workers`
worker processes, each limited to one torch thread, as our loader's workers are one thread each).
One warm-up epoch, then a timed epoch. Prints one JSON object: images, seconds, images/s.
Needs torch and torchvision (tested with 2.11 / 0.26) and Pillow.
"""

import argparse
import json
import time

import torch
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import DataLoader, Dataset


class Files(Dataset):
    def __init__(self, files, transform):
        self.files = files
        self.transform = transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with Image.open(self.files[i]) as im:
            return self.transform(im.convert("RGB"))


def one_thread(_worker):
    torch.set_num_threads(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--files", required=True)
    p.add_argument("--resize", type=int, required=True)
    p.add_argument("--crop", type=int, required=True)
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    files = [line.strip() for line in open(a.files) if line.strip()]
    transform = T.Compose(
        [
            T.Resize(a.resize),
            T.CenterCrop(a.resize),
            T.RandomCrop(a.crop),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    torch.manual_seed(1234)
    torch.set_num_threads(1)
    loader = DataLoader(
        Files(files, transform),
        batch_size=a.batch,
        shuffle=True,
        num_workers=a.workers,
        worker_init_fn=one_thread,
        persistent_workers=True,
    )
    for _ in loader:  # warm-up: page cache, worker start-up
        pass
    start = time.perf_counter()
    n = 0
    for batch in loader:
        n += batch.shape[0]
    s = time.perf_counter() - start
    print(json.dumps({"images": n, "seconds": s, "images_per_second": n / s}))


if __name__ == "__main__":
    main()
