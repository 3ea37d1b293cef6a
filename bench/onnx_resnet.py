#!/usr/bin/env python3
"""A model Bulwark does not ship, from PyTorch, for checking Bulwark's ONNX import.

Trains a small ResNet (batch normalization, residual additions, global average
pooling: no built-in Bulwark architecture has this shape) on Fashion-MNIST,
exports it with torch.onnx.export, and measures on the same test images what
Bulwark must reproduce from the ONNX file alone:

  - clean accuracy on the 10,000 test images;
  - PGD-20 (L-inf, eps 0.1, step 2.5 * eps / 20, random start) and APGD-CE
    (100 iterations, 1 restart) robust accuracy on the first 1,000, with
    torchattacks;
  - the logits of the first 8 test images (for an exact comparison).

Writes OUT/resnet.onnx, OUT/resnet.pt (the state_dict) and OUT/reference.json.

    python bench/onnx_resnet.py --out bench/results/onnx-resnet

Needs torch, torchattacks (installed with --no-deps, see README.md) and
numpy; onnxruntime, when importable, checks the export against PyTorch.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from idx import read_idx

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"


class Block(nn.Module):
    """A post-activation basic block (He et al. 2016) with a projection shortcut when the
    shape changes."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut = nn.Sequential()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """16-32-64 channels, one block a stage, for 1x28x28 inputs in [0, 1]."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layer1 = Block(16, 16, 1)
        self.layer2 = Block(16, 32, 2)
        self.layer3 = Block(32, 64, 2)
        self.fc = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def load(data_dir: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(data_dir / f"{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255
    labels = read_idx(data_dir / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 500) -> float:
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), batch):
            correct += (model(images[start:start + batch]).argmax(1) == labels[start:start + batch]).sum().item()
    return correct / len(images)


def train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        started = time.time()
        for start in range(0, len(images), 128):
            index = order[start:start + 128]
            loss = F.cross_entropy(model(images[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f} ({time.time() - started:.0f} s)", flush=True)
    model.eval()


def export(model: nn.Module, path: Path) -> None:
    example = torch.zeros(1, 1, 28, 28)
    arguments = dict(input_names=["input"], output_names=["logits"],
                     dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
    try:
        torch.onnx.export(model, (example,), str(path), dynamo=False, **arguments)
    except TypeError:  # releases without the `dynamo` switch export with TorchScript anyway
        torch.onnx.export(model, (example,), str(path), **arguments)


def robust_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilon: float) -> dict:
    import torchattacks

    attacks = {
        "pgd-20": torchattacks.PGD(model, eps=epsilon, alpha=2.5 * epsilon / 20, steps=20, random_start=True),
        "apgd-ce": torchattacks.APGD(model, norm="Linf", eps=epsilon, steps=100, n_restarts=1, loss="ce", seed=0),
    }
    results = {}
    for name, attack in attacks.items():
        torch.manual_seed(0)
        started = time.time()
        correct = 0
        for start in range(0, len(images), 250):
            adversarial = attack(images[start:start + 250], labels[start:start + 250])
            with torch.no_grad():
                correct += (model(adversarial).argmax(1) == labels[start:start + 250]).sum().item()
        results[name] = {"accuracy": correct / len(images), "seconds": round(time.time() - started, 1)}
        print(f"{name}: {correct / len(images):.4f}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--robust-count", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()

    torch.manual_seed(arguments.seed)
    torch.set_num_threads(arguments.threads)
    arguments.out.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = load(arguments.data_dir, "train")
    test_images, test_labels = load(arguments.data_dir, "test")

    model = SmallResNet()
    train(model, train_images, train_labels, arguments.epochs, arguments.seed)
    torch.save(model.state_dict(), arguments.out / "resnet.pt")
    export(model, arguments.out / "resnet.onnx")

    clean = accuracy(model, test_images, test_labels)
    print(f"clean accuracy: {clean:.4f}", flush=True)
    with torch.no_grad():
        logits = model(test_images[:8]).numpy()
    record = {
        "model": "SmallResNet (bench/onnx_resnet.py)",
        "seed": arguments.seed, "epochs": arguments.epochs, "epsilon": arguments.epsilon,
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
        "clean_accuracy": clean, "clean_count": len(test_images),
        "robust_count": arguments.robust_count,
        "first_logits": logits.tolist(),
    }
    try:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(arguments.out / "resnet.onnx"))
        onnx_logits = session.run(None, {"input": test_images[:8].numpy()})[0]
        record["onnxruntime_max_difference"] = float(np.abs(onnx_logits - logits).max())
    except ImportError:
        record["onnxruntime_max_difference"] = None
    record["robust"] = robust_accuracy(
        model, test_images[:arguments.robust_count], test_labels[:arguments.robust_count], arguments.epsilon)
    (arguments.out / "reference.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {arguments.out / 'reference.json'}")


if __name__ == "__main__":
    main()
