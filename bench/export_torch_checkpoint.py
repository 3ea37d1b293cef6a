#!/usr/bin/env python3
"""Export a PyTorch reference model as safetensors plus its predictions.

Builds one of the reference nn.Sequential models (see torch_reference.py)
with a fixed seed, optionally trains it for a few Adam steps on
Fashion-MNIST so that its predictions are meaningful, and writes

  OUT                      safetensors.torch.save_file(model.state_dict())
  OUT.predictions.json     logits and argmax predictions for the first
                           --count Fashion-MNIST test images

so that Bulwark can check that it loads the checkpoint and predicts the same.

Example
  python bench/export_torch_checkpoint.py --model lenet --out /tmp/lenet.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_reference import (  # noqa: E402
    DEFAULT_DATA_DIR, MODEL_NAMES, NUM_THREADS, build_model, load_fashion_mnist,
    seed_everything,
)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=MODEL_NAMES, required=True)
    p.add_argument("--out", required=True, help="path of the .safetensors file to write")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-steps", type=int, default=200,
                   help="Adam steps on Fashion-MNIST before export (0: untrained)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--count", type=int, default=100,
                   help="number of test images (the first N) to record predictions for")
    return p.parse_args(argv)


def train_briefly(model, x, y, steps: int, batch: int, lr: float) -> float | None:
    """Run `steps` Adam steps on random mini-batches; returns the last loss."""
    if steps <= 0:
        return None
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    loss = None
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,))
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return loss.item()


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(NUM_THREADS)
    seed_everything(args.seed)

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(args.data_dir)
    model = build_model(args.model)
    last_loss = train_briefly(model, x_train, y_train, args.train_steps,
                              args.batch_size, args.lr)

    model.eval()
    with torch.no_grad():
        logits = model(x_test[:args.count])
    predictions = logits.argmax(1)
    labels = y_test[:args.count]
    accuracy = (predictions == labels).float().mean().item()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # save_file needs contiguous tensors; the state dict keys are the
    # nn.Sequential indices, e.g. "0.weight", "0.bias", "3.weight", ...
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out), metadata={"model": args.model, "seed": str(args.seed),
                                         "train_steps": str(args.train_steps)})

    record = {
        "model": args.model,
        "seed": args.seed,
        "train_steps": args.train_steps,
        "final_train_loss": last_loss,
        "count": args.count,
        "input": "first `count` Fashion-MNIST t10k images, float32 NCHW [N,1,28,28] = byte/255",
        "tensors": {k: list(v.shape) for k, v in state.items()},
        "accuracy": accuracy,
        "labels": labels.tolist(),
        "predictions": predictions.tolist(),
        "logits": logits.tolist(),
        "torch_version": torch.__version__,
    }
    pred_path = Path(str(out) + ".predictions.json")
    with open(pred_path, "w") as f:
        json.dump(record, f)
        f.write("\n")

    print(f"{args.model}: {sum(v.numel() for v in state.values())} parameters, "
          f"{args.train_steps} train steps, accuracy on first {args.count} test images "
          f"{accuracy:.2f}")
    print(f"  wrote {out}")
    print(f"  wrote {pred_path}")


if __name__ == "__main__":
    main()
