#!/usr/bin/env python3
"""Writes the ONNX fixtures of Tests/BulwarkONNXTests/Fixtures.

Run in a virtual environment with `onnx` and `numpy` from PyPI:

    python3 -m venv /tmp/onnx-venv && /tmp/onnx-venv/bin/pip install onnx numpy
    /tmp/onnx-venv/bin/python scripts/make-onnx-fixtures.py

Each operator case is a directory with `model.onnx` and `test_data_set_0/input_N.pb` and
`output_0.pb` (serialized TensorProtos, the layout of ONNX's backend test data), the expected
output computed by `onnx.reference.ReferenceEvaluator`. Models under `models/` exercise the
whole layer (a small ResNet, NHWC input, final Softmax) and `errors/` holds the broken ones.
"""
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BulwarkONNXTests", "Fixtures")
rng = np.random.default_rng(20261207)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape).astype(np.float32)


def tensor_type(array):
    return helper.np_dtype_to_tensor_dtype(array.dtype)


def model(nodes, inputs, initializers, outputs, opset, name="fixture", metadata=None):
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, tensor_type(a), a.shape) for n, a in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
        [numpy_helper.from_array(a, n) for n, a in initializers])
    built = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    built.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = built.metadata_props.add()
        entry.key, entry.value = key, value

    return built


def save(directory, built, inputs, expected):
    path = os.path.join(ROOT, directory)
    os.makedirs(os.path.join(path, "test_data_set_0"), exist_ok=True)
    onnx.save(built, os.path.join(path, "model.onnx"))
    for index, (_, array) in enumerate(inputs):
        with open(os.path.join(path, "test_data_set_0", f"input_{index}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(array).SerializeToString())
    for index, array in enumerate(expected):
        with open(os.path.join(path, "test_data_set_0", f"output_{index}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(array, dtype=np.float32)).SerializeToString())


def case(name, op, inputs, initializers=(), opset=17, **attributes):
    """One node reading the graph inputs and initializers in order (`""` skips a slot)."""
    names = [n for n, _ in inputs]
    order = attributes.pop("order", None)
    node_inputs = order if order is not None else names + [n for n, _ in initializers]
    node = helper.make_node(op, node_inputs, ["y"], name=name, **attributes)
    built = model([node], inputs, list(initializers), ["y"], opset)
    expected = ReferenceEvaluator(built).run(None, dict(inputs))
    save(os.path.join("operators", name), built, inputs, [expected[0].astype(np.float32)])


def i64(*values):
    return np.array(values, dtype=np.int64)


def operators():
    x = randn(1, 2, 5, 5)
    case("conv_basic", "Conv", [("x", x), ("w", randn(3, 2, 3, 3))])
    case("conv_pads_strides_bias", "Conv", [("x", x), ("w", randn(3, 2, 3, 3)), ("b", randn(3))], pads=[1, 1, 1, 1], strides=[2, 2])
    case("conv_asymmetric", "Conv", [("x", x), ("w", randn(3, 2, 3, 2))], pads=[0, 1, 2, 1], strides=[1, 2])
    case("conv_dilations", "Conv", [("x", x), ("w", randn(2, 2, 2, 3))], pads=[2, 1, 2, 1], dilations=[2, 2])
    case("conv_group", "Conv", [("x", randn(1, 4, 5, 5)), ("w", randn(4, 2, 3, 3)), ("b", randn(4))], group=2, pads=[1, 1, 1, 1])
    case("conv_depthwise", "Conv", [("x", randn(2, 3, 5, 5)), ("w", randn(3, 1, 3, 3))], group=3, strides=[2, 2])
    case("conv_same_upper", "Conv", [("x", randn(1, 2, 6, 5)), ("w", randn(2, 2, 3, 3))], auto_pad="SAME_UPPER", strides=[2, 2])
    case("conv_same_lower", "Conv", [("x", randn(1, 2, 6, 5)), ("w", randn(2, 2, 4, 4))], auto_pad="SAME_LOWER")
    case("conv_valid", "Conv", [("x", x), ("w", randn(2, 2, 3, 3))], auto_pad="VALID")
    case("conv_1d", "Conv", [("x", randn(2, 2, 7)), ("w", randn(3, 2, 3))], pads=[1, 0])

    case("gemm_default", "Gemm", [("a", randn(3, 4)), ("b", randn(4, 5)), ("c", randn(5))])
    case("gemm_transb", "Gemm", [("a", randn(3, 4)), ("b", randn(5, 4)), ("c", randn(5))], transB=1)
    case("gemm_transa_alpha_beta", "Gemm", [("a", randn(4, 3)), ("b", randn(4, 5)), ("c", randn(3, 5))], transA=1, alpha=0.5, beta=2.0)
    case("gemm_no_c", "Gemm", [("a", randn(3, 4)), ("b", randn(5, 4))], transB=1, alpha=1.5)
    case("gemm_scalar_c", "Gemm", [("a", randn(3, 4)), ("b", randn(4, 2)), ("c", randn(1))])
    case("matmul_2d", "MatMul", [("a", randn(3, 4)), ("b", randn(4, 5))])
    case("matmul_3d_2d", "MatMul", [("a", randn(2, 3, 4)), ("b", randn(4, 5))])
    case("matmul_batched", "MatMul", [("a", randn(2, 3, 4)), ("b", randn(2, 4, 5))])
    case("matmul_vector", "MatMul", [("a", randn(4)), ("b", randn(4, 5))])

    case("add_same", "Add", [("a", randn(2, 3, 4)), ("b", randn(2, 3, 4))])
    case("add_channel", "Add", [("a", randn(2, 3, 4, 4)), ("b", randn(3, 1, 1))])
    case("sub_scalar", "Sub", [("a", randn(2, 3)), ("b", randn())])
    case("mul_both_ways", "Mul", [("a", randn(2, 1, 4)), ("b", randn(3, 1))])
    case("div_trailing", "Div", [("a", randn(2, 3, 4)), ("b", positive(4))])
    a = randn(2, 3, 4)
    for op in ["Relu", "Sigmoid", "Tanh", "Neg", "Abs", "Exp"]:
        case(op.lower(), op, [("x", a)])
    case("sqrt", "Sqrt", [("x", positive(2, 3))])
    case("log", "Log", [("x", positive(2, 3))])
    case("leakyrelu", "LeakyRelu", [("x", a)], alpha=0.1)
    case("prelu", "PRelu", [("x", randn(1, 3, 2, 2)), ("slope", randn(3, 1, 1))])
    case("elu", "Elu", [("x", a)], alpha=0.7)
    case("hardsigmoid", "HardSigmoid", [("x", 3 * a)], alpha=0.3, beta=0.4)
    case("hardswish", "HardSwish", [("x", 4 * a)])
    case("softmax", "Softmax", [("x", randn(2, 5))], opset=13)
    # Before opset 13 Softmax flattens the input to 2-D at `axis` and normalizes each row; the
    # reference evaluator normalizes along `axis` alone, so the expected output is computed here.
    x = randn(2, 3, 4)
    node = helper.make_node("Softmax", ["x"], ["y"], name="softmax_opset11", axis=1)
    rows = x.reshape(2, 12)
    rows = np.exp(rows - rows.max(axis=1, keepdims=True))
    save("operators/softmax_opset11", model([node], [("x", x)], [], ["y"], 11), [("x", x)],
         [(rows / rows.sum(axis=1, keepdims=True)).reshape(x.shape)])
    case("logsoftmax", "LogSoftmax", [("x", randn(2, 3, 4))], axis=1)
    case("clip", "Clip", [("x", a)], [("low", np.array(-0.5, np.float32)), ("high", np.array(0.7, np.float32))], opset=11)
    case("clip_min_only", "Clip", [("x", a)], [("low", np.array(0.1, np.float32))], opset=13)

    p = randn(2, 2, 6, 7)
    case("maxpool_2x2", "MaxPool", [("x", p)], kernel_shape=[2, 2], strides=[2, 2])
    case("maxpool_3x3_s2_p1", "MaxPool", [("x", p)], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    case("maxpool_rectangular", "MaxPool", [("x", p)], kernel_shape=[2, 3], strides=[1, 2])
    case("maxpool_asymmetric", "MaxPool", [("x", p)], kernel_shape=[3, 3], pads=[0, 1, 2, 1], strides=[2, 2])
    case("maxpool_ceil", "MaxPool", [("x", p)], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    case("maxpool_dilations", "MaxPool", [("x", p)], kernel_shape=[2, 2], dilations=[2, 2], opset=12)
    case("averagepool_2x2", "AveragePool", [("x", p)], kernel_shape=[2, 2], strides=[2, 2])
    case("averagepool_exclude_pad", "AveragePool", [("x", p)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    case("averagepool_include_pad", "AveragePool", [("x", p)], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2], count_include_pad=1)
    case("averagepool_ceil", "AveragePool", [("x", p)], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    case("averagepool_same_upper", "AveragePool", [("x", p)], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
    case("globalaveragepool", "GlobalAveragePool", [("x", p)])
    case("globalmaxpool", "GlobalMaxPool", [("x", p)])
    case("batchnormalization", "BatchNormalization",
         [("x", randn(2, 3, 4, 4)), ("scale", randn(3)), ("bias", randn(3)), ("mean", randn(3)), ("var", positive(3))],
         opset=15, epsilon=1e-3)
    case("dropout_inference", "Dropout", [("x", a)], [("ratio", np.array(0.3, np.float32))], opset=13)
    case("reducemean", "ReduceMean", [("x", p)], opset=13, axes=[2, 3])
    case("reducemean_opset18", "ReduceMean", [("x", p)], [("axes", i64(1))], opset=18, keepdims=0)
    case("reducesum", "ReduceSum", [("x", p)], [("axes", i64(-1, 0))], opset=13)

    case("flatten", "Flatten", [("x", p)])
    case("flatten_axis2", "Flatten", [("x", p)], axis=2)
    case("reshape", "Reshape", [("x", p)], [("shape", i64(0, -1, 7))])
    case("transpose", "Transpose", [("x", p)], perm=[0, 2, 3, 1])
    case("transpose_default", "Transpose", [("x", randn(2, 3, 4))])
    case("squeeze", "Squeeze", [("x", randn(2, 1, 3, 1))], [("axes", i64(1, -1))], opset=13)
    case("squeeze_opset11", "Squeeze", [("x", randn(2, 1, 3, 1))], opset=11, axes=[3])
    case("unsqueeze", "Unsqueeze", [("x", randn(2, 3))], [("axes", i64(0, -1))], opset=13)
    case("unsqueeze_opset11", "Unsqueeze", [("x", randn(2, 3))], opset=11, axes=[1])
    case("concat", "Concat", [("a", randn(2, 1, 3)), ("b", randn(2, 2, 3)), ("c", randn(2, 3, 3))], axis=1)
    case("pad_constant", "Pad", [("x", randn(1, 2, 3, 3))], [("pads", i64(0, 0, 1, 2, 0, 0, 2, 0)), ("value", np.array(0.5, np.float32))], opset=13)
    case("pad_reflect", "Pad", [("x", randn(1, 2, 3, 4))], [("pads", i64(0, 0, 2, 1, 0, 0, 1, 3))], opset=13, mode="reflect")
    case("pad_edge", "Pad", [("x", randn(1, 2, 3, 4))], [("pads", i64(0, 0, 2, 1, 0, 0, 1, 3))], opset=13, mode="edge")
    case("identity", "Identity", [("x", a)])
    case("gather", "Gather", [("x", randn(5, 4))], [("indices", i64(0, 2, 4, 1).reshape(2, 2))])
    case("gather_axis1", "Gather", [("x", randn(3, 5, 2))], [("indices", i64(-1, 0))], axis=1)
    case("slice", "Slice", [("x", randn(4, 6))], [("starts", i64(1, 0)), ("ends", i64(2**63 - 1, -1)), ("axes", i64(0, 1))])
    case("slice_steps", "Slice", [("x", randn(4, 6))], [("starts", i64(-1, 1)), ("ends", i64(-2**63, 6)), ("axes", i64(0, 1)), ("steps", i64(-2, 2))])
    case("expand", "Expand", [("x", randn(3, 1))], [("shape", i64(2, 3, 4))], opset=13)
    case("constantofshape", "ConstantOfShape", [], [("shape", i64(2, 3))],
         value=numpy_helper.from_array(np.array([1.5], np.float32)))
    case("range", "Range", [], [("start", np.array(0.5, np.float32)), ("limit", np.array(3, np.float32)), ("delta", np.array(0.7, np.float32))])

    # Constant and integer shape arithmetic (folded or computed from Shape).
    node = helper.make_node("Constant", [], ["y"], value=numpy_helper.from_array(randn(2, 3)))
    built = model([node], [], [], ["y"], 17)
    save("operators/constant", built, [], [ReferenceEvaluator(built).run(None, {})[0]])
    # The flatten torch.onnx.export emits: Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])).
    x = randn(2, 3, 2, 2)
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.int64))),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Cast", ["shape"], ["shape_float"], to=TensorProto.FLOAT),
        helper.make_node("Slice", ["shape_float", "one", "three"], ["tail"]),
        helper.make_node("ReduceSum", ["tail"], ["tail_sum"], keepdims=1),
        helper.make_node("Mul", ["flat", "tail_sum"], ["y"]),
    ]
    built = model(nodes, [("x", x)], [("axes", i64(0)), ("minus_one", i64(-1)), ("one", i64(1)), ("three", i64(3))], ["y"], 17)
    save("operators/shape_chain", built, [("x", x)], [ReferenceEvaluator(built).run(None, {"x": x})[0]])


def small_resnet(nhwc=False, softmax=False, metadata=None):
    """conv-bn-relu, a residual conv-bn block, global average pooling and a linear layer."""
    initializers = [
        ("stem.weight", randn(4, 3, 3, 3) * 0.5), ("stem.bias", randn(4) * 0.1),
        ("bn1.weight", positive(4)), ("bn1.bias", randn(4) * 0.1), ("bn1.running_mean", randn(4) * 0.1), ("bn1.running_var", positive(4)),
        ("block.weight", randn(4, 4, 3, 3) * 0.3),
        ("bn2.weight", positive(4)), ("bn2.bias", randn(4) * 0.1), ("bn2.running_mean", randn(4) * 0.1), ("bn2.running_var", positive(4)),
        ("fc.weight", randn(5, 4)), ("fc.bias", randn(5)),
    ]
    source = "x_nchw" if nhwc else "input"
    nodes = ([helper.make_node("Transpose", ["input"], ["x_nchw"], perm=[0, 3, 1, 2])] if nhwc else []) + [
        helper.make_node("Conv", [source, "stem.weight", "stem.bias"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"], ["b1"]),
        helper.make_node("Relu", ["b1"], ["r1"]),
        helper.make_node("Conv", ["r1", "block.weight"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c2", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"], ["b2"]),
        helper.make_node("Add", ["b2", "r1"], ["sum"]),
        helper.make_node("Relu", ["sum"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["features"]),
        helper.make_node("Gemm", ["features", "fc.weight", "fc.bias"], ["logits"], transB=1),
    ]
    outputs = ["logits"]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
        outputs = ["probabilities"]
    pixels = rng.uniform(0, 1, (2, 3, 6, 6)).astype(np.float32)
    shape = (2, 6, 6, 3) if nhwc else (2, 3, 6, 6)
    graph_input = np.zeros(shape, np.float32)
    built = model(nodes, [("input", graph_input)], initializers, outputs, 17, metadata=metadata)
    fed = pixels
    if metadata:
        mean = np.array([float(v) for v in metadata["bulwark.mean"].split(",")], np.float32).reshape(1, 3, 1, 1)
        std = np.array([float(v) for v in metadata["bulwark.std"].split(",")], np.float32).reshape(1, 3, 1, 1)
        fed = (pixels - mean) / std
    if nhwc:
        fed = fed.transpose(0, 2, 3, 1)
    # The expected logits, before any final Softmax.
    evaluator = ReferenceEvaluator(model(nodes[:len(nodes) - (1 if softmax else 0)], [("input", graph_input)], initializers, ["logits"], 17))
    logits = evaluator.run(None, {"input": fed})[0]
    return built, pixels, logits


def models():
    for name, arguments in [
        ("small_resnet", {}),
        ("small_resnet_nhwc", {"nhwc": True}),
        ("small_resnet_softmax", {"softmax": True}),
        ("small_resnet_normalized", {"metadata": {"bulwark.mean": "0.4,0.5,0.6", "bulwark.std": "0.2,0.25,0.3"}}),
    ]:
        built, pixels, logits = small_resnet(**arguments)
        save(os.path.join("models", name), built, [("input", pixels)], [logits])


def errors():
    path = os.path.join(ROOT, "errors")
    os.makedirs(path, exist_ok=True)
    image = np.zeros((1, 3, 4, 4), np.float32)
    weight = ("w", randn(2, 3, 3, 3))

    def conv_model(nodes, inputs, initializers=(weight,)):
        graph = helper.make_graph(nodes, "broken", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                                  [numpy_helper.from_array(a, n) for n, a in initializers])
        built = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        built.ir_version = 8
        return built

    image_input = helper.make_tensor_value_info("x", TensorProto.FLOAT, image.shape)
    onnx.save(conv_model([helper.make_node("LRN", ["x"], ["y"], name="mystery", size=3)], [image_input]),
              os.path.join(path, "unsupported_operator.onnx"))
    onnx.save(conv_model([helper.make_node("Conv", ["x", "w"], ["y"])],
                         [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "height", "width"])]),
              os.path.join(path, "dynamic_dimension.onnx"))
    onnx.save(conv_model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
                         [helper.make_tensor_value_info("x", TensorProto.INT64, image.shape)], []),
              os.path.join(path, "non_float_input.onnx"))
    onnx.save(conv_model([helper.make_node("Conv", ["x", "ghost"], ["y"], name="haunted")], [image_input]),
              os.path.join(path, "undefined_value.onnx"))
    # Weights in a file beside the model.
    external = os.path.join(path, "external")
    shutil.rmtree(external, ignore_errors=True)
    os.makedirs(external)
    built = conv_model([helper.make_node("Conv", ["x", "w"], ["y"])], [image_input])
    onnx.external_data_helper.convert_model_to_external_data(built, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    onnx.save(built, os.path.join(external, "model.onnx"))
    expected = ReferenceEvaluator(onnx.load(os.path.join(external, "model.onnx"))).run(None, {"x": np.ones_like(image)})[0]
    with open(os.path.join(external, "expected.pb"), "wb") as f:
        f.write(numpy_helper.from_array(expected).SerializeToString())


if __name__ == "__main__":
    shutil.rmtree(ROOT, ignore_errors=True)
    operators()
    models()
    errors()
    print("wrote fixtures under", os.path.normpath(ROOT), file=sys.stderr)
