#!/usr/bin/env python3
"""TensorFlow 2 reference numbers for Bulwark's speed workloads W1-W4.

The workloads of `bulwark-bench` (see bench/README.md) in TensorFlow graph mode
(every workload is one `tf.function`, traced and run once untimed before the
--warmup runs), with 2 intra-op
threads, on the same data (the first 256 Fashion-MNIST training images) and
the same shapes, written as the same JSON list as `bulwark-bench --json`:

  W1  inference forward, batch 256
  W2  one training step (forward, backward, SGD momentum 0.9, lr 0.01), batch 128
  W3  FGSM, eps 0.1, batch 256
  W4  PGD-10 L-inf, eps 0.1, step 0.01, uniform random start, batch 256

The models are the PyTorch/Bulwark `nn.Sequential` networks written with
`tf.nn` ops. Their parameters are kept in PyTorch's layout and initialization
(conv weight [out, in, kh, kw], linear weight [out, in], U(-1/sqrt(fan_in),
+1/sqrt(fan_in))) and converted once to TensorFlow's: convolutions run NHWC
(TensorFlow's CPU layout) with HWIO filters, and the first linear layer after
a flatten has its input rows permuted from CHW to HWC order, so a converted
PyTorch state_dict (`--weights`) computes the same function. The NCHW input
batch is transposed to NHWC once, outside the timed region.

TensorFlow has no torchattacks; FGSM and PGD are written here with
tf.GradientTape exactly as torchattacks writes them (mean cross-entropy,
sign step, clamp to the eps-ball and to [0, 1]).

Example
  python bench/tf_reference.py --workloads w1,w2,w3,w4 --models mlp,lenet,smallcnn \\
      --repetitions 5 --warmup 1 --json tf.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # hide TensorFlow's info lines

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
INTRA_OP_THREADS = 2
WORKLOAD_NAMES = ("w1", "w2", "w3", "w4")
BENCH_EPS = 0.1

# The networks, as their PyTorch nn.Sequential definitions (see
# Sources/BulwarkNN/Architecture.swift):
#   ("conv", in, out, kernel, stride, padding), ("relu",), ("pool", 2),
#   ("flatten",), ("linear", in, out)
ARCHITECTURES = {
    "mlp": [("flatten",), ("linear", 784, 256), ("relu",), ("linear", 256, 256), ("relu",),
            ("linear", 256, 10)],
    "lenet": [("conv", 1, 16, 3, 1, 1), ("relu",), ("pool", 2),
              ("conv", 16, 32, 3, 1, 1), ("relu",), ("pool", 2),
              ("flatten",), ("linear", 1568, 100), ("relu",), ("linear", 100, 10)],
    "smallcnn": [("conv", 1, 32, 5, 1, 2), ("relu",), ("pool", 2),
                 ("conv", 32, 64, 5, 1, 2), ("relu",), ("pool", 2),
                 ("flatten",), ("linear", 3136, 1024), ("relu",), ("linear", 1024, 10)],
    "fastcnn": [("conv", 1, 16, 4, 2, 1), ("relu",), ("conv", 16, 32, 4, 2, 1), ("relu",),
                ("flatten",), ("linear", 1568, 100), ("relu",), ("linear", 100, 10)],
}
INPUT_SHAPE = (1, 28, 28)  # C, H, W


# --------------------------------------------------------------------------
# Data (the same reader as torch_reference.py)
# --------------------------------------------------------------------------

from idx import read_idx  # noqa: E402  (shared with the other peer)


def first_training_images(data_dir: str, count: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` training images as float32 NCHW in [0, 1], labels int64."""
    images = read_idx(Path(data_dir) / "train-images-idx3-ubyte.gz")[:count]
    labels = read_idx(Path(data_dir) / "train-labels-idx1-ubyte.gz")[:count]
    return (images.astype(np.float32) / 255.0)[:, None, :, :], labels.astype(np.int64)


# --------------------------------------------------------------------------
# Models: PyTorch layout and init, converted to TensorFlow's layout
# --------------------------------------------------------------------------

def torch_style_parameters(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """A state_dict-like {"<index>.weight"/"<index>.bias": array} in PyTorch's
    layout with PyTorch's default initialization U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    rng = np.random.default_rng(seed)
    params = {}
    for index, layer in enumerate(ARCHITECTURES[name]):
        if layer[0] == "conv":
            _, cin, cout, k, _, _ = layer
            shape, fan_in = (cout, cin, k, k), cin * k * k
        elif layer[0] == "linear":
            _, fin, fout = layer
            shape, fan_in = (fout, fin), fin
        else:
            continue
        bound = 1.0 / np.sqrt(fan_in)
        params[f"{index}.weight"] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
        params[f"{index}.bias"] = rng.uniform(-bound, bound, size=shape[0]).astype(np.float32)
    return params


class Model:
    """One of the reference networks on NHWC inputs, with tf.Variables converted
    from a PyTorch-layout state_dict."""

    def __init__(self, name: str, state: dict[str, np.ndarray]):
        self.layers = []       # (kind, config, variable indices)
        self.variables_list = []
        c, h, w = INPUT_SHAPE
        flatten_from = None    # (C, H, W) of the tensor a flatten saw, for the next linear
        for index, layer in enumerate(ARCHITECTURES[name]):
            kind = layer[0]
            if kind == "conv":
                _, cin, cout, k, stride, pad = layer
                weight = state[f"{index}.weight"]                  # [out, in, kh, kw]
                hwio = np.ascontiguousarray(weight.transpose(2, 3, 1, 0))
                padding = "SAME" if stride == 1 and 2 * pad == k - 1 else [[0, 0], [pad, pad], [pad, pad], [0, 0]]
                self._add(kind, (stride, padding), hwio, state[f"{index}.bias"])
                c, h, w = cout, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
            elif kind == "pool":
                self.layers.append((kind, layer[1], ()))
                c, h, w = c, h // layer[1], w // layer[1]
            elif kind == "relu":
                self.layers.append((kind, None, ()))
            elif kind == "flatten":
                self.layers.append((kind, None, ()))
                flatten_from = (c, h, w)
            elif kind == "linear":
                _, fin, fout = layer
                weight = state[f"{index}.weight"]                  # [out, in]
                if flatten_from is not None and flatten_from[1] * flatten_from[2] > 1:
                    # PyTorch flattens CHW, an NHWC tensor flattens HWC: permute the rows.
                    fc, fh, fw = flatten_from
                    weight = weight.reshape(fout, fc, fh, fw).transpose(0, 2, 3, 1).reshape(fout, fin)
                flatten_from = None
                self._add(kind, None, np.ascontiguousarray(weight.T), state[f"{index}.bias"])
            else:
                raise ValueError(f"unknown layer {kind}")

    def _add(self, kind, config, weight, bias):
        first = len(self.variables_list)
        self.variables_list.append(tf.Variable(weight, name=f"w{first}"))
        self.variables_list.append(tf.Variable(bias, name=f"b{first + 1}"))
        self.layers.append((kind, config, (first, first + 1)))

    @property
    def parameters(self) -> list[tf.Variable]:
        return self.variables_list

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        v = self.variables_list
        for kind, config, ids in self.layers:
            if kind == "conv":
                stride, padding = config
                x = tf.nn.bias_add(tf.nn.conv2d(x, v[ids[0]], strides=stride, padding=padding), v[ids[1]])
            elif kind == "relu":
                x = tf.nn.relu(x)
            elif kind == "pool":
                x = tf.nn.max_pool2d(x, ksize=config, strides=config, padding="VALID")
            elif kind == "flatten":
                x = tf.reshape(x, [tf.shape(x)[0], -1])
            elif kind == "linear":
                x = tf.nn.bias_add(tf.matmul(x, v[ids[0]]), v[ids[1]])
        return x


def mean_cross_entropy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


# --------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------

def make_train_step(model: Model, learning_rate: float = 0.01, momentum: float = 0.9):
    """One SGD-with-momentum step, PyTorch's rule v <- mu v + g, theta <- theta - lr v
    (the first step has v = g, as with PyTorch's lazily created buffer)."""
    velocities = [tf.Variable(tf.zeros_like(p)) for p in model.parameters]
    started = tf.Variable(0.0)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = mean_cross_entropy(model(x), y)
        gradients = tape.gradient(loss, model.parameters)
        mu = momentum * started
        for p, v, g in zip(model.parameters, velocities, gradients):
            v.assign(mu * v + g)
            p.assign_sub(learning_rate * v)
        started.assign(1.0)
        return loss
    return step


def input_gradient(model: Model, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = mean_cross_entropy(model(x), y)
    return tape.gradient(loss, x)


def make_fgsm(model: Model, eps: float):
    @tf.function
    def fgsm(x, y):
        return tf.clip_by_value(x + eps * tf.sign(input_gradient(model, x, y)), 0.0, 1.0)
    return fgsm


def make_pgd(model: Model, eps: float, alpha: float, steps: int, generator: tf.random.Generator):
    @tf.function
    def pgd(x, y):
        adv = tf.clip_by_value(x + generator.uniform(tf.shape(x), -eps, eps), 0.0, 1.0)
        for _ in range(steps):  # unrolled in the graph
            adv = adv + alpha * tf.sign(input_gradient(model, adv, y))
            adv = tf.clip_by_value(x + tf.clip_by_value(adv - x, -eps, eps), 0.0, 1.0)
        return adv
    return pgd


def median_seconds(body, repetitions: int, warmup: int) -> float:
    """`warmup` untimed runs, then the median of `repetitions` (the upper median
    for an even count, as bulwark-bench takes it). `body` must block until its
    result is computed (it calls .numpy())."""
    for _ in range(warmup):
        body()
    times = []
    for _ in range(max(repetitions, 1)):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def run(args: argparse.Namespace) -> list[dict]:
    selected = {w.strip().lower() for w in args.workloads.split(",") if w.strip()}
    skipped = selected - set(WORKLOAD_NAMES)
    if skipped:
        print(f"tf_reference runs W1-W4 only; ignoring {', '.join(sorted(skipped))}", file=sys.stderr)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in models:
        if name not in ARCHITECTURES:
            raise SystemExit(f"unknown model {name!r}; choose from {', '.join(ARCHITECTURES)}")

    try:
        images, labels = first_training_images(args.data_dir)
    except FileNotFoundError:
        print(f"no Fashion-MNIST in {args.data_dir}: using uniform noise", file=sys.stderr)
        rng = np.random.default_rng(0)
        images = rng.uniform(0, 1, size=(256, *INPUT_SHAPE)).astype(np.float32)
        labels = np.arange(256, dtype=np.int64) % 10
    # NCHW -> NHWC once, outside every timed region.
    x256 = tf.constant(np.ascontiguousarray(images.transpose(0, 2, 3, 1)))
    y256 = tf.constant(labels)
    x128, y128 = x256[:128], y256[:128]

    print(f"tensorflow {tf.__version__}, intra-op threads "
          f"{tf.config.threading.get_intra_op_parallelism_threads()}, inter-op threads "
          f"{tf.config.threading.get_inter_op_parallelism_threads() or 'default'}, "
          f"jit_compile={args.jit_compile}, oneDNN opts "
          f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}", flush=True)

    results: list[dict] = []

    def report(entry: dict) -> None:
        results.append(entry)
        print(f"{entry['workload']:<4} {entry['model']:<9} {entry['images_per_second']:10.0f} img/s  "
              f"median {entry['median_seconds']:.4f} s", flush=True)

    def timed(function, *inputs):
        # One untimed call traces the graph and lets TensorFlow optimize it
        # (Grappler, oneDNN primitives), a one-time cost of graph mode; then
        # --warmup more untimed calls and the timed ones, each waiting for its
        # result.
        function(*inputs).numpy()
        return median_seconds(lambda: function(*inputs).numpy(), args.repetitions, args.warmup)

    for name in models:
        state = (dict(np.load(args.weights)) if args.weights else torch_style_parameters(name, seed=0))
        jit = args.jit_compile or None

        if "w1" in selected:
            model = Model(name, state)
            forward = tf.function(lambda x: model(x), jit_compile=jit)
            seconds = timed(forward, x256)
            report({"workload": "W1", "model": name, "images_per_second": 256 / seconds,
                    "median_seconds": seconds})

        if "w2" in selected:
            model = Model(name, state)
            step = make_train_step(model)
            if jit:
                step = tf.function(step.python_function, jit_compile=True)
            seconds = timed(step, x128, y128)
            report({"workload": "W2", "model": name, "images_per_second": 128 / seconds,
                    "median_seconds": seconds})

        if "w3" in selected:
            model = Model(name, state)
            fgsm = make_fgsm(model, BENCH_EPS)
            if jit:
                fgsm = tf.function(fgsm.python_function, jit_compile=True)
            seconds = timed(fgsm, x256, y256)
            report({"workload": "W3", "model": name, "images_per_second": 256 / seconds,
                    "median_seconds": seconds, "attack_library": "hand-written (tf.GradientTape)"})

        if "w4" in selected:
            model = Model(name, state)
            pgd = make_pgd(model, BENCH_EPS, 0.01, 10, tf.random.Generator.from_seed(1))
            if jit:
                pgd = tf.function(pgd.python_function, jit_compile=True)
            seconds = timed(pgd, x256, y256)
            report({"workload": "W4", "model": name, "images_per_second": 256 / seconds,
                    "median_seconds": seconds, "attack_library": "hand-written (tf.GradientTape)"})

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, sort_keys=True)
            f.write("\n")
    return results


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="w1,w2,w3,w4", help="comma-separated, of w1..w4")
    p.add_argument("--models", default="mlp,lenet,smallcnn", help="comma-separated model names")
    p.add_argument("--repetitions", type=int, default=5, help="timed repetitions; the median is reported")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs after tracing")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--inter-op-threads", type=int, default=None,
                   help="TensorFlow's inter-op pool (default: TensorFlow's own choice)")
    p.add_argument("--jit-compile", action="store_true",
                   help="compile each tf.function with XLA (off by default: plain graph mode)")
    p.add_argument("--weights", metavar="NPZ",
                   help="PyTorch-layout parameters ({'<index>.weight': array, ...}) instead of "
                        "the seeded PyTorch-style initialization (one model only)")
    p.add_argument("--json", metavar="FILE", help="write the results as bulwark-bench's JSON list")
    return p.parse_args(argv)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    tf.config.threading.set_intra_op_parallelism_threads(INTRA_OP_THREADS)
    if args.inter_op_threads is not None:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    return run(args)


if __name__ == "__main__":
    main()
