#!/usr/bin/env python3
"""Writes Tests/BulwarkONNXTests/Fixtures/models/keras_cnn: a small Keras CNN with a
channels-last input exported by tf2onnx, with an input batch (channels-first, as Bulwark feeds
it) and TensorFlow's logits in ONNX's test-data layout.

The graph is what tf2onnx writes for Keras (opset 17): a dynamic batch dimension, an input of
shape [N, 12, 12, 1], Transposes around the convolutions, batch normalization folded into them,
and a Flatten in channels-last order followed by MatMul and Add. The same model is also
written at opset 11 (keras_cnn_opset11); tf2onnx 1.17 writes opsets up to 18.

Run in a virtual environment with tensorflow-cpu, tf2onnx, onnx and numpy from PyPI:

    python3 -m venv /tmp/tf-venv
    /tmp/tf-venv/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx onnxruntime
    /tmp/tf-venv/bin/python scripts/make-onnx-keras-fixture.py
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tf2onnx
from onnx import numpy_helper

DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BulwarkONNXTests", "Fixtures", "models", "keras_cnn")


def build():
    keras = tf.keras
    return keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Conv2D(4, 3, padding="same"),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10),
    ])


def save(proto, directory, pixels, logits):
    """The model and one test case; checks the model against TensorFlow with onnxruntime."""
    os.makedirs(os.path.join(directory, "test_data_set_0"), exist_ok=True)
    with open(os.path.join(directory, "model.onnx"), "wb") as f:
        f.write(proto.SerializeToString())
    for name, array in [("input_0.pb", pixels), ("output_0.pb", logits)]:
        with open(os.path.join(directory, "test_data_set_0", name), "wb") as f:
            f.write(numpy_helper.from_array(array.astype(np.float32)).SerializeToString())
    try:
        import onnxruntime
        session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        ort = session.run(None, {session.get_inputs()[0].name: pixels.transpose(0, 2, 3, 1)})[0]
        print(os.path.basename(directory), "onnxruntime max |difference|:", float(np.abs(ort - logits).max()))
    except ImportError:
        pass
    print("operators:", [node.op_type for node in proto.graph.node])


def main():
    tf.keras.utils.set_random_seed(0)
    model = build()
    rng = np.random.default_rng(0)
    # Biases away from Keras's zeros, so that the graph keeps its additions.
    for layer in model.layers:
        if getattr(layer, "use_bias", False):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.uniform(-0.2, 0.2, bias.shape)])
    # Moving statistics away from their initial values, so that inference mode is exercised.
    norm = model.layers[1]
    gamma, beta, mean, variance = norm.get_weights()
    norm.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.uniform(-0.2, 0.2, beta.shape),
                      rng.uniform(-0.2, 0.2, mean.shape), rng.uniform(0.5, 1.5, variance.shape)])
    pixels = rng.uniform(0, 1, (2, 1, 12, 12)).astype(np.float32)
    logits = model(pixels.transpose(0, 2, 3, 1), training=False).numpy()

    signature = [tf.TensorSpec([None, 12, 12, 1], tf.float32, name="input")]
    function = tf.function(lambda x: model(x, training=False), input_signature=signature)
    for opset, directory in [(17, DIRECTORY), (11, DIRECTORY + "_opset11")]:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=opset)
        save(proto, directory, pixels, logits)


if __name__ == "__main__":
    main()
