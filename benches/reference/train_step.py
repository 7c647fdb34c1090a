#!/usr/bin/env python3
"""PyTorch reference for the training-step throughput benchmark (`seje bench step`).

What it is: the SEJE Phase II model and one training iteration written in plain PyTorch, timed on
one synthetic batch kept on the device. It is the project's OWN reference for timing, not the
authors' code: it follows the structure of their `trijoint.py` / `train.py` (git-disl/SEJE @
694a835; spec/phase2-encoders.md, spec/phase2-training-step.md) as this package implements it
(src/phase2/*.rs), so that both sides do the same work:

- image branch: torchvision ResNeXt-101 32x8d trunk (children[:-1], random init) -> cat f_cat ->
  Linear -> BatchNorm1d -> LeakyReLU(0.02) -> L2 normalisation;
- recipe branch: LSTM over the zero-padded sentence features (batch_first), output taken at step
  length-1 (as ours; the authors sort and pack, which gives the same vector), cat
  LeakyReLU(0.02)(Linear(f_term)) -> Linear -> BatchNorm1d -> LeakyReLU(0.02) -> L2 normalisation;
- shared semantic head Linear(embedding, classes) on both normalised embeddings;
- discriminator Linear(E,512)-LeakyReLU(0.2)-Linear(512,256)-LeakyReLU(0.2)-Linear(256,1);
- iteration: (1) discriminator step, WGAN-GP on detached embeddings (real = image, fake = recipe,
  penalty weight 10, Adam betas (0.5, 0.999)); (2) main step: batch-hard soft-margin triplet loss
  with instance-class double negatives (gamma 16, margin 0; spec/phase2-triplet-loss.md)
  + 0.005 CE(image logits) + 0.005 CE(recipe logits) + 0.005 * (-mean D(recipe)), Adam.
  Every loss term is read back with .item() as the Rust step does for its metrics.
- bf16: torch.autocast("cuda", dtype=torch.bfloat16) around the forward pass and the losses;
  backward passes and optimiser steps outside it (as `run.precision = "bf16"` in ours).

Synthetic batch (same shapes and rules as `seje bench step`): images [B,3,crop,crop] and features
standard normal from a CPU generator seeded 1234, then moved; sentences [B,20,1024] zero
past each count 1 + i % 19; category i % min(classes, max(B//2, 2)).

Run on a GPU (numbers: images/s over the timed steps, peak memory of the caching allocator):

    python3 benches/reference/train_step.py --device cuda --batch 100 --crop 224 \
        --precision f32 --cudnn-benchmark 0 --warmup 5 --iterations 20 --json

CPU smoke test with small widths (seconds):

    python3 benches/reference/train_step.py --device cpu --batch 8 --crop 64 --backbone resnet18 \
        --hidden 64 --embedding 64 --classes 50 --warmup 1 --iterations 2

Needs torch and torchvision (the project pins PyTorch 2.11, torchvision 0.26).
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

SENTENCE_SLOTS = 20
ENCODER_SLOPE = 0.02


def l2_normalize(x):
    return x / x.norm(p=2, dim=1, keepdim=True).clamp_min(1e-12)


class JointEmbedding(nn.Module):
    def __init__(self, backbone, category, sentence, hidden, term, embedding, classes):
        super().__init__()
        resnet = getattr(torchvision.models, backbone)(weights=None)
        features = resnet.fc.in_features
        self.visionMLP = nn.Sequential(*list(resnet.children())[:-1])
        self.visual_embedding = nn.Sequential(
            nn.Linear(features + category, embedding), nn.BatchNorm1d(embedding)
        )
        self.lstm = nn.LSTM(sentence, hidden, batch_first=True)
        self.tfidf_embedding = nn.Linear(term, embedding)
        self.recipe_embedding = nn.Sequential(
            nn.Linear(hidden + embedding, embedding), nn.BatchNorm1d(embedding)
        )
        self.semantic_branch = nn.Linear(embedding, classes)

    def forward(self, images, category, sentences, lengths, term):
        f = self.visionMLP(images).flatten(1)  # [B, F]
        v = self.visual_embedding(torch.cat([f, category], 1))
        image = l2_normalize(F.leaky_relu(v, ENCODER_SLOPE))  # [B, E]
        out, _ = self.lstm(sentences)  # [B, T, H]
        b, h = out.shape[0], out.shape[2]
        last = (lengths - 1).view(b, 1, 1).expand(b, 1, h)
        seq = out.gather(1, last).squeeze(1)  # [B, H]
        t = F.leaky_relu(self.tfidf_embedding(term), ENCODER_SLOPE)  # [B, E]
        r = self.recipe_embedding(torch.cat([seq, t], 1))
        recipe = l2_normalize(F.leaky_relu(r, ENCODER_SLOPE))  # [B, E]
        return image, recipe, self.semantic_branch(image), self.semantic_branch(recipe)


class Discriminator(nn.Module):
    def __init__(self, embedding):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(embedding, 512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 1),
        )

    def forward(self, x):
        return self.model(x).squeeze(1)


def pairwise_distance(x, y):
    """The loss form: sqrt(clamp(|x|^2 + |y|^2 - 2 x.y, 1e-12))."""
    xx = x.pow(2).sum(1, keepdim=True)
    yy = y.pow(2).sum(1, keepdim=True)
    return (xx + yy.t() - 2 * x @ y.t()).clamp_min(1e-12).sqrt()


def triplet_double(images, recipes, classes, gamma=16.0, margin=0.0):
    d = pairwise_distance(images, recipes)  # [B, B]
    b = d.shape[0]
    stacked = torch.cat([d, d.t()], 0)  # [2B, B]
    pos = torch.cat([d.diagonal(), d.diagonal()], 0)  # [2B]

    def soft(neg):
        return F.softplus((pos - neg + margin) * gamma)

    eye = torch.eye(b, dtype=torch.bool, device=d.device)
    own = torch.cat([eye, eye], 0)
    inst = stacked.masked_fill(own, float("inf")).min(1).values
    differ = classes.unsqueeze(1) != classes.unsqueeze(0)
    differ = torch.cat([differ, differ], 0)
    has = differ.any(1)
    hardest = stacked.masked_fill(~differ, float("inf")).min(1).values
    cls = torch.where(has, hardest, pos.detach())
    terms = torch.stack([soft(inst), soft(cls) * has.to(pos.dtype)], 0)
    return terms.sum() / (2 * b)


def discriminator_loss(disc, real, fake, alpha, penalty_weight=10.0):
    real, fake = real.detach(), fake.detach()
    adversarial = disc(fake).mean() - disc(real).mean()
    a = alpha.unsqueeze(1)
    x_hat = (a * real + (1 - a) * fake).requires_grad_(True)
    d_hat = disc(x_hat)
    (grad,) = torch.autograd.grad(d_hat.sum(), x_hat, create_graph=True)
    gp = (grad.norm(2, dim=1) - 1).pow(2).mean()
    return adversarial + penalty_weight * gp, gp


def synthetic_batch(args, device):
    b, g = args.batch, torch.Generator().manual_seed(args.seed)
    images = torch.randn(b, 3, args.crop, args.crop, generator=g)
    category = torch.randn(b, args.category, generator=g)
    sentences = torch.randn(b, SENTENCE_SLOTS, args.sentence, generator=g)
    term = torch.randn(b, args.term, generator=g)
    lengths = torch.arange(b) % (SENTENCE_SLOTS - 1) + 1
    mask = torch.arange(SENTENCE_SLOTS).unsqueeze(0) < lengths.unsqueeze(1)
    sentences = sentences * mask.unsqueeze(2).float()
    classes = torch.arange(b) % max(1, min(args.classes, max(b // 2, 2)))
    return [t.to(device) for t in (images, category, sentences, lengths, term, classes)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    p.add_argument("--cudnn-benchmark", type=int, choices=[0, 1], default=0)
    p.add_argument("--backbone", default="resnext101_32x8d",
                   help="a torchvision ResNet-family name (resnext101_32x8d, resnet50, resnet18, ...)")
    p.add_argument("--category", type=int, default=300)
    p.add_argument("--sentence", type=int, default=1024)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--term", type=int, default=300)
    p.add_argument("--embedding", type=int, default=1024)
    p.add_argument("--classes", type=int, default=1005)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--adam", choices=["auto", "single", "foreach", "fused"], default="auto",
                   help="torch.optim.Adam implementation: auto is PyTorch's default (foreach on "
                        "CUDA, single on the CPU); single is foreach=False, foreach is "
                        "foreach=True, fused is fused=True (ours: optim.adam)")
    p.add_argument("--adam-foreach", choices=["0", "1"], default=None,
                   help="the older spelling, kept so recorded measurement scripts still run: "
                        "0 is --adam single, 1 is --adam foreach")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--profile", default=None, metavar="FILE",
                   help="after the timed steps, run --iterations more under torch.profiler and "
                        "write its operator table (by device time) and the optimiser's share to FILE")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if args.precision == "bf16" and not cuda:
        p.error("--precision bf16 is a CUDA option")
    if args.iterations < 1:
        p.error("--iterations must be at least 1")
    torch.manual_seed(args.seed)
    if cuda:
        torch.cuda.manual_seed_all(args.seed)
        torch.backends.cudnn.benchmark = bool(args.cudnn_benchmark)
        device = torch.device("cuda", torch.cuda.current_device() if device.index is None else device.index)
        torch.cuda.set_device(device)

    model = JointEmbedding(args.backbone, args.category, args.sentence, args.hidden, args.term,
                           args.embedding, args.classes).to(device).train()
    disc = Discriminator(args.embedding).to(device).train()
    if args.adam_foreach is not None:
        args.adam = "foreach" if args.adam_foreach == "1" else "single"
    kind = {"auto": {}, "single": {"foreach": False}, "foreach": {"foreach": True},
            "fused": {"fused": True}}[args.adam]
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, **kind)
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(0.5, 0.999), **kind)
    images, category, sentences, lengths, term, classes = synthetic_batch(args, device)
    bf16 = args.precision == "bf16"

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16)

    def step():
        with autocast():
            image, recipe, li, lr = model(images, category, sentences, lengths, term)
            alpha = torch.rand(image.shape[0], device=device)
            l_d, gp = discriminator_loss(disc, image, recipe, alpha)
        logged = [l_d.item(), gp.item()]
        opt_d.zero_grad()
        l_d.backward()
        with torch.profiler.record_function("adam (discriminator)"):
            opt_d.step()
        with autocast():
            tri = triplet_double(image, recipe, classes)
            ca_v = F.cross_entropy(li, classes)
            ca_r = F.cross_entropy(lr, classes)
            da = -disc(recipe).mean()
            total = tri + 0.005 * ca_v + 0.005 * ca_r + 0.005 * da
        logged += [tri.item(), ca_v.item(), ca_r.item(), da.item()]
        loss = total.item()
        opt.zero_grad()
        total.backward()
        with torch.profiler.record_function("adam (model)"):
            opt.step()
        return loss

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    for _ in range(args.warmup):
        step()
    sync()
    start = time.perf_counter()
    loss = float("nan")
    for _ in range(args.iterations):
        loss = step()
    sync()
    seconds = time.perf_counter() - start

    if args.profile:
        acts = [torch.profiler.ProfilerActivity.CPU]
        if cuda:
            acts.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=acts) as prof:
            for _ in range(args.iterations):
                step()
            sync()
        key = "self_device_time_total" if cuda else "self_cpu_time_total"
        table = prof.key_averages().table(sort_by=key, row_limit=40)
        events = {e.key: e for e in prof.key_averages()}
        lines = [f"{args.iterations} steps, {args.precision}, Adam {args.adam}, batch {args.batch}"]
        for name in ("adam (model)", "adam (discriminator)"):
            e = events.get(name)
            if e is not None:
                lines.append(f"{name}: {e.cpu_time_total / 1000:.1f} ms wall on the host, "
                             f"{getattr(e, 'device_time_total', 0) / 1000:.1f} ms on the device, "
                             f"over {e.count} calls")
        with open(args.profile, "w") as f:
            f.write("\n".join(lines) + "\n\n" + table + "\n")

    report = {
        "implementation": "pytorch",
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else None,
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "backbone": args.backbone,
        "widths": {k: getattr(args, k) for k in
                   ("category", "sentence", "hidden", "term", "embedding", "classes")},
        "precision": args.precision,
        "cudnn_benchmark": bool(args.cudnn_benchmark) and cuda,
        "adam": args.adam,
        "batch": args.batch,
        "crop": args.crop,
        "warmup": args.warmup,
        "iterations": args.iterations,
        "seconds": seconds,
        "ms_per_iteration": 1000.0 * seconds / args.iterations,
        "images_per_second": args.batch * args.iterations / seconds,
        "last_total_loss": loss,
        "device_memory_used_bytes": None,
        "max_memory_allocated_bytes": None,
        "max_memory_reserved_bytes": None,
    }
    if cuda:
        free, total = torch.cuda.mem_get_info(device)
        report["device_memory_used_bytes"] = total - free
        report["max_memory_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
        report["max_memory_reserved_bytes"] = torch.cuda.max_memory_reserved(device)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k, v in report.items():
            print(f"{k:<28} {v}")


if __name__ == "__main__":
    main()
