#!/usr/bin/env python3
"""PyTorch reference numbers for Bulwark's Fashion-MNIST benchmarks.

Two modes.

Speed workloads (--workloads): the workloads of `bulwark-bench` (W1-W7, see
bench/README.md), same shapes, same data (the first 256 Fashion-MNIST
training images), warm-up then the median of --repetitions runs, written as
the same JSON list as `bulwark-bench --json`. Attacks come from torchattacks
(FGSM, PGD, and FFGSM for Fast-AT); if it is not installed, hand-written
copies of those three attacks run instead and every attack entry says so.

Training recipes (--recipe, the default mode): trains one of the reference
models with one of three recipes and reports seconds per epoch, clean
accuracy and PGD-20 robust accuracy, so that the figures can be put beside
Bulwark's on the same machine.

Recipes
  standard  plain training, Adam lr 1e-3, batch 128
  fast      Fast-AT (Wong, Rice & Kolter 2020): random start + one FGSM step
  pgd       PGD-AT (Madry et al. 2018): random start + 7 PGD steps

Both adversarial recipes use Adam with a per-batch triangular learning rate
(0 -> peak at 40% of all iterations -> 0 at the end).

Examples
  python bench/torch_reference.py --workloads w1,w2,w3,w4,w5,w6,w7 \
      --models mlp,lenet,smallcnn --repetitions 5 --warmup 1 --json torch.json
  python bench/torch_reference.py --workloads w5 --models smallcnn --train-count 512
  python bench/torch_reference.py --recipe standard --json out.json
  python bench/torch_reference.py --recipe fast --epochs 1 --train-count 5000
"""

from __future__ import annotations

import argparse
import json
import os
import copy
import platform
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
NUM_THREADS = 2

# PGD-20 evaluation attack (the same for every recipe).
EVAL_EPS = 0.1
EVAL_STEP = 0.01
EVAL_STEPS = 20
EVAL_BATCH = 256


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

from idx import read_idx  # noqa: E402  (shared with the other peer)


def load_split(data_dir: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Load images as float32 NCHW [N,1,28,28] in [0,1] and labels as int64."""
    images = read_idx(data_dir / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(data_dir / f"{prefix}-labels-idx1-ubyte.gz")
    # One float32 copy, divided in place: no second full-size temporary (peak
    # resident memory is one of the compared figures).
    pixels = images.astype(np.float32)
    del images
    np.divide(pixels, 255.0, out=pixels)
    x = torch.from_numpy(pixels).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return x.contiguous(), y


def load_fashion_mnist(data_dir: str | Path):
    data_dir = Path(data_dir)
    return load_split(data_dir, "train"), load_split(data_dir, "t10k")


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

def build_model(name: str) -> nn.Sequential:
    if name == "smallcnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(3136, 1024), nn.ReLU(),
            nn.Linear(1024, 10),
        )
    if name == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 256), nn.ReLU(),
            nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, 10),
        )
    if name == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(1568, 100), nn.ReLU(),
            nn.Linear(100, 10),
        )
    if name == "fastcnn":
        return nn.Sequential(
            nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(1568, 100), nn.ReLU(),
            nn.Linear(100, 10),
        )
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")


MODEL_NAMES = ("smallcnn", "mlp", "lenet", "fastcnn")


# --------------------------------------------------------------------------
# Attacks
# --------------------------------------------------------------------------

def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the mean cross-entropy loss with respect to the input."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def pgd_linf(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             eps: float, step: float, steps: int) -> torch.Tensor:
    """Untargeted L-inf PGD with a uniform random start; returns x_adv in [0,1]."""
    delta = torch.empty_like(x).uniform_(-eps, eps)
    x_adv = (x + delta).clamp(0.0, 1.0)
    for _ in range(steps):
        grad = input_gradient(model, x_adv, y)
        x_adv = x_adv + step * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv.detach()


def fgsm_random_start(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                      eps: float, alpha: float) -> torch.Tensor:
    """Fast-AT example: uniform start, clamp to [0,1], one FGSM step of alpha."""
    delta = torch.empty_like(x).uniform_(-eps, eps)
    delta = (x + delta).clamp(0.0, 1.0) - x
    grad = input_gradient(model, x + delta, y)
    delta = (delta + alpha * grad.sign()).clamp(-eps, eps)
    return (x + delta).clamp(0.0, 1.0).detach()


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------

@torch.no_grad()
def clean_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   batch: int = 1000) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def pgd_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 batch: int = EVAL_BATCH) -> tuple[float, float, float]:
    """PGD-20 robust accuracy, and the wall and CPU seconds attack+check took."""
    model.eval()
    correct = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(0, len(x), batch):
        xb, yb = x[i:i + batch], y[i:i + batch]
        x_adv = pgd_linf(model, xb, yb, EVAL_EPS, EVAL_STEP, EVAL_STEPS)
        with torch.no_grad():
            correct += (model(x_adv).argmax(1) == yb).sum().item()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    return correct / len(x), seconds, cpu_seconds


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------

def triangle_lr(iteration: int, total: int, peak: float, rise_fraction: float = 0.4) -> float:
    """Linear 0 -> peak over the first rise_fraction of training, then -> 0."""
    t = iteration / total
    if t <= rise_fraction:
        return peak * t / rise_fraction
    return peak * (1.0 - t) / (1.0 - rise_fraction)


RECIPES = {
    # default epochs, and whether the lr follows the per-batch triangle schedule
    "standard": {"epochs": 3, "triangle": False},
    "fast": {"epochs": 5, "triangle": True},
    "pgd": {"epochs": 5, "triangle": True},
}


def train(model: nn.Module, recipe: str, x: torch.Tensor, y: torch.Tensor,
          epochs: int, batch: int, lr: float, eps: float, log=print) -> dict:
    """Train in place; returns per-epoch wall and CPU seconds and batch times."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batches_per_epoch = (len(x) + batch - 1) // batch
    total_iters = epochs * batches_per_epoch
    iteration = 0
    epoch_seconds, epoch_cpu_seconds, batch_seconds = [], [], []

    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x))
        running_loss, seen = 0.0, 0
        start, cpu_start = time.perf_counter(), time.process_time()
        for i in range(0, len(x), batch):
            batch_start = time.perf_counter()
            idx = order[i:i + batch]
            xb, yb = x[idx], y[idx]

            if RECIPES[recipe]["triangle"]:
                for group in optimizer.param_groups:
                    group["lr"] = triangle_lr(iteration, total_iters, lr)

            if recipe == "fast":
                xb = fgsm_random_start(model, xb, yb, eps, alpha=1.25 * eps)
            elif recipe == "pgd":
                xb = pgd_linf(model, xb, yb, eps, step=0.2 * eps, steps=7)

            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

            running_loss += loss.item() * len(yb)
            seen += len(yb)
            iteration += 1
            batch_seconds.append(time.perf_counter() - batch_start)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        epoch_seconds.append(elapsed)
        epoch_cpu_seconds.append(cpu)
        log(f"  epoch {epoch + 1}/{epochs}: {elapsed:.1f} s wall, {cpu:.1f} s CPU, "
            f"train loss {running_loss / seen:.4f}")
    return {
        "epoch_seconds": epoch_seconds,
        "epoch_cpu_seconds": epoch_cpu_seconds,
        "median_batch_seconds": float(np.median(batch_seconds)),
        "batches_per_epoch": batches_per_epoch,
    }


# --------------------------------------------------------------------------
# Speed workloads (mirror Sources/BulwarkBench/main.swift)
# --------------------------------------------------------------------------

WORKLOAD_NAMES = ("w1", "w2", "w3", "w4", "w5", "w6", "w7")
BENCH_EPS = 0.1                  # L-inf radius of W3-W6
W5_COUNT, W6_COUNT = 10_000, 5_000  # training images of one W5 / W6 epoch
EPOCH_BATCH = 128
GEMM_SIZES = (1024, 4096)
CONV_INPUT, CONV_WEIGHT, CONV_PADDING = (128, 32, 14, 14), (64, 32, 5, 5), 2


def load_attack_library():
    """torchattacks' FGSM, PGD and FFGSM, or hand-written copies of them.

    Returns (name, FGSM, PGD, FFGSM); each is a class called as
    Attack(model, **hyper)(images, labels), like torchattacks.
    """
    try:
        import torchattacks
        return (f"torchattacks {torchattacks.__version__}",
                torchattacks.FGSM, torchattacks.PGD, torchattacks.FFGSM)
    except ImportError:
        return ("hand-written (torchattacks not installed)",
                HandFGSM, HandPGD, HandFFGSM)


class _HandAttack:
    """The part of torchattacks.Attack these workloads use: the model runs in
    eval mode during the attack and gets its mode back afterwards."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        try:
            return self.forward(images.clone().detach(), labels.clone().detach())
        finally:
            self.model.train(was_training)

    def _grad(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x.requires_grad_(True)
        loss = F.cross_entropy(self.model(x), labels)
        return torch.autograd.grad(loss, x)[0]


class HandFGSM(_HandAttack):
    """torchattacks.FGSM: x + eps * sign(grad), clamped to [0, 1]."""

    def __init__(self, model, eps):
        super().__init__(model)
        self.eps = eps

    def forward(self, images, labels):
        grad = self._grad(images, labels)
        return torch.clamp(images + self.eps * grad.sign(), 0, 1).detach()


class HandPGD(_HandAttack):
    """torchattacks.PGD (L-inf, uniform random start)."""

    def __init__(self, model, eps, alpha, steps, random_start=True):
        super().__init__(model)
        self.eps, self.alpha, self.steps, self.random_start = eps, alpha, steps, random_start

    def forward(self, images, labels):
        adv = images.clone().detach()
        if self.random_start:
            adv = torch.clamp(adv + torch.empty_like(adv).uniform_(-self.eps, self.eps), 0, 1).detach()
        for _ in range(self.steps):
            grad = self._grad(adv, labels)
            adv = adv.detach() + self.alpha * grad.sign()
            delta = torch.clamp(adv - images, -self.eps, self.eps)
            adv = torch.clamp(images + delta, 0, 1).detach()
        return adv


class HandFFGSM(_HandAttack):
    """torchattacks.FFGSM, Fast-AT's attack: uniform start, one step of alpha."""

    def __init__(self, model, eps, alpha):
        super().__init__(model)
        self.eps, self.alpha = eps, alpha

    def forward(self, images, labels):
        # randn_like then uniform_, as torchattacks writes it (same work, same stream).
        adv = torch.clamp(images + torch.randn_like(images).uniform_(-self.eps, self.eps), 0, 1).detach()
        grad = self._grad(adv, labels)
        adv = adv + self.alpha * grad.sign()
        delta = torch.clamp(adv - images, -self.eps, self.eps)
        return torch.clamp(images + delta, 0, 1).detach()


def cyclic_lr(progress: float, peak: float, peak_fraction: float = 0.4) -> float:
    """Bulwark's LearningRateSchedule.cyclic: 0 -> peak at peak_fraction -> 0."""
    progress = min(max(progress, 0.0), 1.0)
    if progress <= peak_fraction:
        return peak * progress / peak_fraction if peak_fraction > 0 else peak
    return peak * max(0.0, (1.0 - progress) / (1.0 - peak_fraction))


def median_seconds(body, repetitions: int, warmup: int) -> float:
    """Run body `warmup` times untimed, then `repetitions` times; the median
    (the upper one for an even count, as bulwark-bench takes it)."""
    for _ in range(warmup):
        body()
    times = []
    for _ in range(max(repetitions, 1)):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def peak_rss_kib() -> int:
    """The process's peak resident set size so far, in KiB (Linux ru_maxrss)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def adversarial_epoch(model: nn.Module, workload: str, x: torch.Tensor, y: torch.Tensor,
                      attacks) -> None:
    """One epoch of W5 (Fast-AT) or W6 (PGD-7 AT), in place, as Bulwark's Trainer
    runs it: shuffled batches of 128 (the last one partial), Adam (PyTorch
    defaults) with the cyclic rate evaluated before every batch."""
    _, _, pgd_class, ffgsm_class = attacks
    if workload == "W5":
        attack = ffgsm_class(model, eps=BENCH_EPS, alpha=1.25 * BENCH_EPS)
    else:
        attack = pgd_class(model, eps=BENCH_EPS, alpha=0.02, steps=7, random_start=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = (len(x) + EPOCH_BATCH - 1) // EPOCH_BATCH
    order = torch.randperm(len(x))
    model.train()
    for index in range(batches):
        idx = order[index * EPOCH_BATCH:(index + 1) * EPOCH_BATCH]
        xb, yb = x[idx], y[idx]
        for group in optimizer.param_groups:
            group["lr"] = cyclic_lr(index / batches, peak=1e-3)
        adv = attack(xb, yb)
        loss = F.cross_entropy(model(adv), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def run_workloads(args: argparse.Namespace) -> list[dict]:
    """The speed workloads; returns bulwark-bench's JSON list."""
    selected = {w.strip().lower() for w in args.workloads.split(",") if w.strip()}
    unknown = selected - set(WORKLOAD_NAMES)
    if unknown:
        raise SystemExit(f"unknown workload(s) {', '.join(sorted(unknown))}; choose from {', '.join(WORKLOAD_NAMES)}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in models:
        if name not in MODEL_NAMES:
            raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    reps, warmup = args.repetitions, args.warmup

    attacks = load_attack_library()
    attack_name, fgsm_class, pgd_class, _ = attacks
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, attacks: {attack_name}", flush=True)

    # Like bulwark-bench: Fashion-MNIST training images when installed, noise
    # otherwise (W5 and W6 need the data and are skipped without it).
    try:
        x_train, y_train = load_split(Path(args.data_dir), "train")
    except FileNotFoundError:
        x_train = y_train = None
        print(f"no Fashion-MNIST in {args.data_dir}: W1-W4 on uniform noise, W5/W6 skipped", file=sys.stderr)

    results: list[dict] = []

    def report(entry: dict) -> None:
        results.append(entry)
        rate = (f"{entry['images_per_second']:10.0f} img/s" if "images_per_second" in entry
                else f"{entry['gflops']:10.1f} GFLOP/s")
        extra = f"  accuracy {entry['accuracy'] * 100:.2f}%" if "accuracy" in entry else ""
        if "peak_rss_kib" in entry:
            extra += f"  peak RSS {entry['peak_rss_kib'] / 1024:.0f} MiB"
        print(f"{entry['workload']:<4} {entry['model']:<9} {rate}  median {entry['median_seconds']:.4f} s{extra}", flush=True)

    for name in models:
        torch.manual_seed(0)
        model = build_model(name)
        if x_train is not None:
            images256, labels256 = x_train[:256].clone(), y_train[:256].clone()
        else:
            images256 = torch.rand(256, 1, 28, 28)
            labels256 = torch.arange(256) % 10

        if "w1" in selected:
            network = copy.deepcopy(model).eval()

            def w1():
                with torch.inference_mode():
                    network(images256)
            seconds = median_seconds(w1, reps, warmup)
            report({"workload": "W1", "model": name, "images_per_second": 256 / seconds,
                    "median_seconds": seconds})

        if "w2" in selected:
            network = copy.deepcopy(model).train()
            optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9)
            inputs, labels = images256[:128], labels256[:128]

            def w2():
                loss = F.cross_entropy(network(inputs), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            seconds = median_seconds(w2, reps, warmup)
            report({"workload": "W2", "model": name, "images_per_second": 128 / seconds,
                    "median_seconds": seconds})

        if "w3" in selected:
            torch.manual_seed(1)
            attack = fgsm_class(model, eps=BENCH_EPS)
            seconds = median_seconds(lambda: attack(images256, labels256), reps, warmup)
            report({"workload": "W3", "model": name, "images_per_second": 256 / seconds,
                    "median_seconds": seconds, "attack_library": attack_name})

        if "w4" in selected:
            torch.manual_seed(1)
            attack = pgd_class(model, eps=BENCH_EPS, alpha=0.01, steps=10, random_start=True)
            seconds = median_seconds(lambda: attack(images256, labels256), reps, warmup)
            report({"workload": "W4", "model": name, "images_per_second": 256 / seconds,
                    "median_seconds": seconds, "attack_library": attack_name})

        for workload, default_count in (("W5", W5_COUNT), ("W6", W6_COUNT)):
            if workload.lower() not in selected or x_train is None:
                continue
            count = min(args.train_count or default_count, len(x_train))
            x, y = x_train[:count], y_train[:count]
            accuracy_after = [0.0]

            def epoch():
                network = copy.deepcopy(model)
                torch.manual_seed(2)
                adversarial_epoch(network, workload, x, y, attacks)
                network.eval()
                with torch.inference_mode():
                    predicted = network(images256).argmax(1)
                accuracy_after[0] = (predicted == labels256).float().mean().item()
            seconds = median_seconds(epoch, reps, warmup)
            report({"workload": workload, "model": name, "images_per_second": count / seconds,
                    "median_seconds": seconds, "accuracy": accuracy_after[0],
                    "train_count": count, "attack_library": attack_name,
                    # The whole process's peak so far: W5's own only when it
                    # runs alone (--workloads w5 --models M).
                    "peak_rss_kib": peak_rss_kib()})

    if "w7" in selected:
        generator = torch.Generator().manual_seed(3)
        for size in GEMM_SIZES:
            a = torch.rand(size, size, generator=generator) * 2 - 1
            b = torch.rand(size, size, generator=generator) * 2 - 1
            seconds = median_seconds(lambda: torch.matmul(a, b), 2 if size > 2048 else reps, warmup)
            report({"workload": "W7", "model": f"gemm{size}", "gflops": 2 * size ** 3 / seconds / 1e9,
                    "median_seconds": seconds})
        x = torch.rand(*CONV_INPUT, generator=generator)
        w = (torch.rand(*CONV_WEIGHT, generator=generator) * 2 - 1) * 0.1
        n, cin, h, wd = CONV_INPUT
        cout, _, kh, kw = CONV_WEIGHT
        flops = 2.0 * n * cout * cin * kh * kw * h * wd
        seconds = median_seconds(lambda: F.conv2d(x, w, padding=CONV_PADDING), reps, warmup)
        report({"workload": "W7", "model": "conv-fwd", "gflops": flops / seconds / 1e9,
                "median_seconds": seconds})
        xg, wg = x.clone().requires_grad_(True), w.clone().requires_grad_(True)

        def forward_backward():
            out = F.conv2d(xg, wg, padding=CONV_PADDING).sum()
            torch.autograd.grad(out, [xg, wg])
        seconds = median_seconds(forward_backward, reps, warmup)
        # Forward plus the two backward GEMMs: three times the forward's flops.
        report({"workload": "W7", "model": "conv-f+b", "gflops": 3 * flops / seconds / 1e9,
                "median_seconds": seconds})

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, sort_keys=True)
            f.write("\n")
    return results


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    speed = p.add_argument_group("speed workloads (bulwark-bench's W1-W7)")
    speed.add_argument("--workloads", metavar="LIST",
                       help="comma-separated w1..w7; runs the speed workloads instead of a recipe")
    speed.add_argument("--models", default="mlp,lenet,smallcnn", metavar="LIST",
                       help="comma-separated models for the workloads (default: mlp,lenet,smallcnn)")
    speed.add_argument("--repetitions", type=int, default=5,
                       help="timed repetitions per workload; the median is reported")
    speed.add_argument("--warmup", type=int, default=1, help="untimed runs per workload")
    p.add_argument("--recipe", choices=sorted(RECIPES), default="standard")
    p.add_argument("--model", choices=MODEL_NAMES, default="smallcnn")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--epochs", type=int, default=None,
                   help="default: 3 for standard, 5 for fast and pgd")
    p.add_argument("--train-count", type=int, default=None,
                   help="use only the first N training images (speed workloads: "
                        "the images of one W5 and one W6 epoch, default 10000 and 5000)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3,
                   help="Adam learning rate (peak of the triangle for fast/pgd)")
    p.add_argument("--eps", type=float, default=0.1, help="training L-inf radius; Fast-AT steps 1.25*eps (0.125), "
                        "PGD-AT takes 7 steps of 0.2*eps (0.02)")
    p.add_argument("--pgd-count", type=int, default=1000,
                   help="test images for PGD-20 evaluation (the first N)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="FILE", help="write all figures to FILE (speed "
                   "workloads: the list bulwark-bench --json writes)")
    return p.parse_args(argv)


def main(argv=None) -> dict | list:
    args = parse_args(argv)
    torch.set_num_threads(NUM_THREADS)
    if args.workloads:
        return run_workloads(args)
    seed_everything(args.seed)

    epochs = args.epochs if args.epochs is not None else RECIPES[args.recipe]["epochs"]
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(args.data_dir)
    if args.train_count is not None:
        x_train, y_train = x_train[:args.train_count], y_train[:args.train_count]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"recipe={args.recipe} model={args.model} epochs={epochs} "
          f"train={len(x_train)} batch={args.batch_size}")

    model = build_model(args.model)
    timing = train(model, args.recipe, x_train, y_train, epochs,
                   args.batch_size, args.lr, args.eps)
    epoch_seconds = timing["epoch_seconds"]

    # The standard recipe reports clean accuracy on the full test set; the
    # adversarial recipes on the same images that PGD-20 is run on.
    clean_n = len(x_test) if args.recipe == "standard" else args.pgd_count
    clean_acc = clean_accuracy(model, x_test[:clean_n], y_test[:clean_n])
    pgd_acc, pgd_seconds, pgd_cpu_seconds = pgd_accuracy(model, x_test[:args.pgd_count], y_test[:args.pgd_count])

    mean_epoch = sum(epoch_seconds) / len(epoch_seconds)
    # Median batch time x batches, scaled to the full 60,000-image training set:
    # less sensitive to bursts of load from other processes than the mean.
    full_epoch_batches = (60000 + args.batch_size - 1) // args.batch_size
    median_epoch_60k = timing["median_batch_seconds"] * full_epoch_batches
    print(f"seconds/epoch: {mean_epoch:.2f} (epochs: {', '.join(f'{s:.1f}' for s in epoch_seconds)})")
    print(f"median batch: {timing['median_batch_seconds'] * 1000:.1f} ms "
          f"(x {full_epoch_batches} batches = {median_epoch_60k:.1f} s per 60k-image epoch)")
    print(f"clean accuracy ({clean_n} test images): {clean_acc:.4f}")
    print(f"PGD-{EVAL_STEPS} accuracy (eps={EVAL_EPS}, step={EVAL_STEP}, "
          f"{args.pgd_count} test images): {pgd_acc:.4f}")
    print(f"PGD-{EVAL_STEPS} time for {args.pgd_count} images (batch {EVAL_BATCH}): {pgd_seconds:.2f} s wall, "
          f"{pgd_cpu_seconds:.2f} s CPU")

    result = {
        "recipe": args.recipe,
        "model": args.model,
        "epochs": epochs,
        "train_count": len(x_train),
        "batch_size": args.batch_size,
        "lr": args.lr,
        "train_eps": args.eps if args.recipe != "standard" else None,
        "seed": args.seed,
        "seconds_per_epoch": mean_epoch,
        "epoch_seconds": epoch_seconds,
        "epoch_cpu_seconds": timing["epoch_cpu_seconds"],
        "median_batch_seconds": timing["median_batch_seconds"],
        "median_based_seconds_per_60k_epoch": median_epoch_60k,
        "clean_accuracy": clean_acc,
        "clean_eval_count": clean_n,
        "pgd20_accuracy": pgd_acc,
        "pgd20_eval_count": args.pgd_count,
        "pgd20_seconds": pgd_seconds,
        "pgd20_cpu_seconds": pgd_cpu_seconds,
        "pgd20_eps": EVAL_EPS,
        "pgd20_step": EVAL_STEP,
        "pgd20_batch": EVAL_BATCH,
        "torch_version": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return result


if __name__ == "__main__":
    main()
