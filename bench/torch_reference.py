#!/usr/bin/env python3
"""PyTorch reference numbers for Bulwark's Fashion-MNIST benchmarks.

Trains one of the reference models with one of three recipes and reports
seconds per epoch, clean accuracy and PGD-20 robust accuracy, so that the
figures can be put beside Bulwark's on the same machine.

Recipes
  standard  plain training, Adam lr 1e-3, batch 128
  fast      Fast-AT (Wong, Rice & Kolter 2020): random start + one FGSM step
  pgd       PGD-AT (Madry et al. 2018): random start + 7 PGD steps

Both adversarial recipes use Adam with a per-batch triangular learning rate
(0 -> peak at 40% of all iterations -> 0 at the end).

Example
  python bench/torch_reference.py --recipe standard --json out.json
  python bench/torch_reference.py --recipe fast --epochs 1 --train-count 5000
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import struct
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

def read_idx(path: Path) -> np.ndarray:
    """Read a gzip-compressed IDX file (unsigned-byte data) into an array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    expected = int(np.prod(dims))
    if data.size != expected:
        raise ValueError(f"{path}: expected {expected} values, found {data.size}")
    return data.reshape(dims)


def load_split(data_dir: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Load images as float32 NCHW [N,1,28,28] in [0,1] and labels as int64."""
    images = read_idx(data_dir / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(data_dir / f"{prefix}-labels-idx1-ubyte.gz")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
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
# Main
# --------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", choices=sorted(RECIPES), default="standard")
    p.add_argument("--model", choices=MODEL_NAMES, default="smallcnn")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--epochs", type=int, default=None,
                   help="default: 3 for standard, 5 for fast and pgd")
    p.add_argument("--train-count", type=int, default=None,
                   help="use only the first N training images")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3,
                   help="Adam learning rate (peak of the triangle for fast/pgd)")
    p.add_argument("--eps", type=float, default=0.1, help="training L-inf radius; Fast-AT steps 1.25*eps (0.125), "
                        "PGD-AT takes 7 steps of 0.2*eps (0.02)")
    p.add_argument("--pgd-count", type=int, default=1000,
                   help="test images for PGD-20 evaluation (the first N)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="FILE", help="write all figures to FILE")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(NUM_THREADS)
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
