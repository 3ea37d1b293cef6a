import BulwarkCore
import BulwarkNN
import Foundation

/// Writes Bulwark models as ONNX (opset 17), so that other runtimes can run what Bulwark
/// trained, and an imported model's trained parameters back into its own graph.
public enum ONNXExport {
    /// The opset exported graphs import.
    public static let opset = 17

    /// A serialized `ModelProto` computing `model` on `[N] + exampleShape` inputs.
    ///
    /// The graph's input is `input` (float, `N × C × H × W` with a symbolic batch dimension)
    /// and its output `logits`; initializers carry the parameter and state paths as names, in
    /// the order ``Layer/visitParameters(_:)`` visits them, so that ``ONNXModel`` reads the
    /// parameters back under the same paths. Batch normalization is exported with its running
    /// statistics; its `momentum` becomes ONNX's `1 − momentum`.
    ///
    /// - Throws: ``ONNXError/unsupportedAttribute(node:opType:detail:)`` naming the path of a
    ///   layer other than `Sequential`, `Conv2D`, `Linear`, `ReLU`, `MaxPool2D`, `AvgPool2D`,
    ///   `Flatten`, `Dropout`, `BatchNorm2D`, `Normalize` and `PreActivationBlock`.
    public static func serializedModel(_ model: Sequential, exampleShape: [Int]) throws -> Data {
        var builder = GraphBuilder()
        let output = try builder.emit(model, path: "", input: "input")
        builder.nodes.append(node("Identity", [output], ["logits"]))
        var graph = Onnx_GraphProto()
        graph.name = "bulwark"
        graph.node = builder.nodes
        graph.initializer = builder.initializers
        graph.input = [valueInfo("input", shape: [nil] + exampleShape)]
        graph.output = [valueInfo("logits", shape: nil)]
        var proto = Onnx_ModelProto()
        proto.irVersion = 8
        proto.producerName = "bulwark"
        var opsetImport = Onnx_OperatorSetIdProto()
        opsetImport.version = Int64(opset)
        proto.opsetImport = [opsetImport]
        proto.graph = graph
        return try proto.serializedData()
    }

    static func tensorProto(_ name: String, _ tensor: Tensor) -> Onnx_TensorProto {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dims = tensor.shape.map { Int64($0) }
        proto.dataType = Int32(ONNXElementType.float)
        proto.rawData = tensor.scalars.withUnsafeBufferPointer { Data(buffer: $0) }
        return proto
    }

    static func node(_ opType: String, _ inputs: [String], _ outputs: [String], _ attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.input = inputs
        node.output = outputs
        node.name = outputs[0]
        node.attribute = attributes
        return node
    }

    static func attribute(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = values.map { Int64($0) }
        return attribute
    }

    static func attribute(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = Int64(value)
        return attribute
    }

    static func attribute(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .float
        attribute.f = value
        return attribute
    }

    static func attribute(_ name: String, _ value: Tensor) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .tensor
        attribute.t = tensorProto("", value)
        return attribute
    }

    /// A float tensor value; `nil` extents are symbolic (`batch`), a `nil` shape is unknown.
    static func valueInfo(_ name: String, shape: [Int?]?) -> Onnx_ValueInfoProto {
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(ONNXElementType.float)
        if let shape {
            var shapeProto = Onnx_TensorShapeProto()
            shapeProto.dim = shape.map { extent in
                var dimension = Onnx_TensorShapeProto.Dimension()
                if let extent { dimension.dimValue = Int64(extent) } else { dimension.dimParam = "batch" }
                return dimension
            }
            tensorType.shape = shapeProto
        }
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensorType
        return info
    }
}

/// Nodes and initializers as a model is walked.
private struct GraphBuilder {
    var nodes = [Onnx_NodeProto]()
    var initializers = [Onnx_TensorProto]()

    /// The parameters and state of `layer` under `path`, in visiting order.
    mutating func addInitializers(of layer: some Layer, path: String) {
        var copy = layer
        copy.visitParameters { name, tensor in initializers.append(ONNXExport.tensorProto(path + name, tensor)) }
        copy.visitState { name, tensor in
            guard !name.hasSuffix("num_batches_tracked") else { return }
            initializers.append(ONNXExport.tensorProto(path + name, tensor))
        }
    }

    /// A fresh value name under `path`.
    func value(_ path: String, _ suffix: String) -> String {
        let base = path.isEmpty ? suffix : path + suffix
        return nodes.contains(where: { $0.output.contains(base) }) ? "\(base)_\(nodes.count)" : base
    }

    /// Emits `layer` reading `input` and returns its output's name.
    mutating func emit(_ layer: any Layer, path: String, input: String) throws -> String {
        switch layer {
        case let sequential as Sequential:
            var current = input
            for (name, child) in zip(sequential.names, sequential.layers) {
                current = try emit(child, path: "\(path)\(name).", input: current)
            }
            return current
        case let convolution as Conv2D:
            addInitializers(of: convolution, path: path)
            return convolutionNode(convolution, path: path, input: input)
        case let linear as Linear:
            addInitializers(of: linear, path: path)
            let inputs = [input, path + "weight"] + (linear.bias == nil ? [] : [path + "bias"])
            return append("Gemm", inputs, value(path, "gemm"), [ONNXExport.attribute("transB", 1)])
        case is ReLU:
            return append("Relu", [input], value(path, "relu"))
        case is Flatten:
            return append("Flatten", [input], value(path, "flatten"), [ONNXExport.attribute("axis", 1)])
        case let pool as MaxPool2D:
            return append("MaxPool", [input], value(path, "maxpool"), poolingAttributes(pool.kernelSize, pool.stride, pool.padding))
        case let pool as AvgPool2D:
            return append("AveragePool", [input], value(path, "avgpool"),
                          poolingAttributes(pool.kernelSize, pool.stride, pool.padding) + [ONNXExport.attribute("count_include_pad", 1)])
        case let dropout as Dropout:
            let ratio = append("Constant", [], value(path, "ratio"), [ONNXExport.attribute("value", Tensor(dropout.probability))])
            return append("Dropout", [input, ratio], value(path, "dropout"))
        case let normalization as BatchNorm2D:
            addInitializers(of: normalization, path: path)
            return batchNormalizationNode(normalization, path: path, input: input)
        case let normalize as Normalize:
            let shape = [1, normalize.mean.count, 1, 1]
            let mean = append("Constant", [], value(path, "mean"), [ONNXExport.attribute("value", Tensor(shape: shape, scalars: normalize.mean))])
            let deviation = append("Constant", [], value(path, "std"),
                                   [ONNXExport.attribute("value", Tensor(shape: shape, scalars: normalize.standardDeviation))])
            return append("Div", [append("Sub", [input, mean], value(path, "centered")), deviation], value(path, "normalized"))
        case let block as PreActivationBlock:
            addInitializers(of: block, path: path)
            let activated = append("Relu", [batchNormalizationNode(block.firstNormalization, path: path + "bn1.", input: input)], value(path, "relu1"))
            let shortcut = block.projection.map { convolutionNode($0, path: path + "shortcut.0.", input: activated) } ?? input
            let hidden = convolutionNode(block.firstConvolution, path: path + "conv1.", input: activated)
            let activatedHidden = append("Relu", [batchNormalizationNode(block.secondNormalization, path: path + "bn2.", input: hidden)], value(path, "relu2"))
            let residual = convolutionNode(block.secondConvolution, path: path + "conv2.", input: activatedHidden)
            return append("Add", [residual, shortcut], value(path, "add"))
        default:
            throw ONNXError.unsupportedAttribute(
                node: path.isEmpty ? "model" : String(path.dropLast()), opType: "\(type(of: layer))",
                detail: "this layer has no ONNX export")
        }
    }

    mutating func append(_ opType: String, _ inputs: [String], _ output: String, _ attributes: [Onnx_AttributeProto] = []) -> String {
        nodes.append(ONNXExport.node(opType, inputs, [output], attributes))
        return output
    }

    mutating func convolutionNode(_ convolution: Conv2D, path: String, input: String) -> String {
        let (kernelHeight, kernelWidth) = (convolution.weight.shape[2], convolution.weight.shape[3])
        let inputs = [input, path + "weight"] + (convolution.bias == nil ? [] : [path + "bias"])
        return append("Conv", inputs, value(path, "conv"), [
            ONNXExport.attribute("kernel_shape", [kernelHeight, kernelWidth]),
            ONNXExport.attribute("strides", [convolution.stride, convolution.stride]),
            ONNXExport.attribute("pads", [Int](repeating: convolution.padding, count: 4)),
        ])
    }

    mutating func batchNormalizationNode(_ normalization: BatchNorm2D, path: String, input: String) -> String {
        append("BatchNormalization", [input] + ["weight", "bias", "running_mean", "running_var"].map { path + $0 }, value(path, "batchnorm"), [
            ONNXExport.attribute("epsilon", normalization.epsilon),
            ONNXExport.attribute("momentum", 1 - normalization.momentum),
        ])
    }

    func poolingAttributes(_ kernelSize: Int, _ stride: Int, _ padding: Int) -> [Onnx_AttributeProto] {
        [
            ONNXExport.attribute("kernel_shape", [kernelSize, kernelSize]),
            ONNXExport.attribute("strides", [stride, stride]),
            ONNXExport.attribute("pads", [Int](repeating: padding, count: 4)),
        ]
    }
}

extension ONNXModel {
    /// The model's own graph with its current parameters and running statistics written into
    /// the initializers (inline, also for those that were external), for fine-tuning an
    /// imported model and exporting it again. The standardization the layer applies is
    /// recorded in the metadata keys `bulwark.mean` and `bulwark.std`, and the input's layout in
    /// `bulwark.layout`, so that the file reads back under the same contract without options.
    public func serializedModel() throws -> Data {
        var proto = source
        let entries = [("bulwark.mean", contract.mean.map { $0.map { "\($0)" }.joined(separator: ",") }),
                       ("bulwark.std", contract.standardDeviation.map { $0.map { "\($0)" }.joined(separator: ",") }),
                       ("bulwark.layout", contract.layout?.rawValue)]
        for (key, value) in entries {
            proto.metadataProps.removeAll { $0.key == key }
            guard let value else { continue }
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            proto.metadataProps.append(entry)
        }
        var current = [String: Tensor]()
        for (name, value) in zip(graph.parameterNames, parameterValues) { current[name] = value }
        for (name, value) in zip(graph.stateNames, stateValues) { current[name] = value }
        proto.graph.initializer = proto.graph.initializer.map { initializer in
            guard let value = current[initializer.name] else { return initializer }
            return ONNXExport.tensorProto(initializer.name, value)
        }
        return try proto.serializedData()
    }
}
