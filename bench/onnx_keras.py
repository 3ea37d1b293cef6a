#!/usr/bin/env python3
"""A Keras model exported by tf2onnx, for checking Bulwark's import of channels-last graphs.

Trains a small Keras CNN (channels-last input [N, 28, 28, 1], pixels in [0, 1]) on
Fashion-MNIST for a few epochs, exports it with tf2onnx, and records what Bulwark must
reproduce from the ONNX file alone: TensorFlow's clean accuracy on the 10,000 test images,
onnxruntime's on the same images, the first 8 images' logits, and the versions.

Writes OUT/model.onnx and OUT/reference.json.

    python bench/onnx_keras.py --out bench/results/onnx-keras

Needs tensorflow-cpu, tf2onnx, onnx, onnxruntime and numpy (see README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnx
import onnxruntime
import tensorflow as tf
import tf2onnx

from idx import read_idx

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"


def load(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images as float32 [N, 28, 28, 1] in [0, 1] and labels as int64."""
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(data_dir / f"{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255
    labels = read_idx(data_dir / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    return images[..., None], labels


def build() -> tf.keras.Model:
    """Two convolution blocks (the second with batch normalization) and two dense layers."""
    keras = tf.keras
    return keras.Sequential([
        keras.Input((28, 28, 1), name="pixels"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, padding="same"),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(10),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)

    tf.keras.utils.set_random_seed(arguments.seed)
    train_images, train_labels = load(arguments.data_dir, "train")
    test_images, test_labels = load(arguments.data_dir, "test")
    model = build()
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    started = time.time()
    model.fit(train_images, train_labels, batch_size=arguments.batch_size, epochs=arguments.epochs, verbose=2)
    training_seconds = time.time() - started

    logits = model.predict(test_images, batch_size=500, verbose=0)
    tensorflow_accuracy = float((logits.argmax(1) == test_labels).mean())

    signature = [tf.TensorSpec([None, 28, 28, 1], tf.float32, name="pixels")]
    function = tf.function(lambda x: model(x, training=False), input_signature=signature)
    proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=arguments.opset)
    path = arguments.out / "model.onnx"
    path.write_bytes(proto.SerializeToString())

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    runtime_logits = np.concatenate([session.run(None, {input_name: test_images[start:start + 500]})[0]
                                     for start in range(0, len(test_images), 500)])
    runtime_accuracy = float((runtime_logits.argmax(1) == test_labels).mean())

    reference = {
        "model": "keras-cnn (conv32-pool-conv64-bn-pool-dense128-dense10, channels-last)",
        "epochs": arguments.epochs,
        "seed": arguments.seed,
        "opset": arguments.opset,
        "input": {"name": input_name, "shape": [d.dim_value or d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]},
        "operators": sorted({node.op_type for node in proto.graph.node}),
        "training_seconds": round(training_seconds, 1),
        "clean_accuracy_tensorflow": tensorflow_accuracy,
        "clean_accuracy_onnxruntime": runtime_accuracy,
        "predictions_differing": int((runtime_logits.argmax(1) != logits.argmax(1)).sum()),
        "max_logit_difference": float(np.abs(runtime_logits - logits).max()),
        "first_logits": logits[:8].tolist(),
        "versions": {
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": tf.keras.__version__,
            "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__,
        },
    }
    (arguments.out / "reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    print(json.dumps({key: reference[key] for key in ("clean_accuracy_tensorflow", "clean_accuracy_onnxruntime", "operators")}))


if __name__ == "__main__":
    main()
