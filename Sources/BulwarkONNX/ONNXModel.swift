import BulwarkCore
import BulwarkNN
import Foundation

/// An ONNX image classifier as a Bulwark ``Layer``, so that every attack and training method
/// runs on it.
///
/// Loading decodes the `ModelProto`, checks every node's operator, orders the nodes
/// topologically, folds the nodes that depend only on constants, and runs the graph on zero
/// batches of the contract's shape (in both modes) so that a model that cannot run fails at load with an
/// ``ONNXError`` rather than later. The forward pass runs the nodes with Bulwark's
/// differentiable tensor operations (convolutions on oneDNN, `Gemm` and `MatMul` through the
/// BLAS), so gradients with respect to the input and to every parameter come from the tape.
///
/// Float initializers are the trainable parameters, visited under their ONNX names in the
/// graph's initializer order; the running mean and variance that `BatchNormalization` nodes
/// read are state. In ``LayerMode/inference`` mode batch normalization uses the running
/// statistics and dropout is the identity; in ``LayerMode/training`` mode batch normalization
/// normalizes with the batch's statistics and updates the running ones (PyTorch's convention),
/// and dropout draws its masks from the layer's own generator.
///
/// The layer takes `[N, C, H, W]` pixels in `[0, 1]` (see ``ONNXInputContract``). When the
/// graph ends in `Softmax` the layer returns the logits before it and sets
/// ``droppedFinalSoftmax``.
public struct ONNXModel: Layer {
    /// The contract with every field resolved (input name, shape, normalization).
    public let contract: ONNXInputContract
    /// Whether the graph's final `Softmax` was left out so that the layer returns logits.
    public let droppedFinalSoftmax: Bool
    /// The default operator set version the model imports.
    public let opset: Int
    public var mode: LayerMode = .training

    var graph: ONNXGraph
    var parameterValues: [Tensor]
    var stateValues: [Tensor]
    /// Dropout masks' source.
    var generator: SplitMix64
    /// The model as read, for writing trained parameters back into it.
    let source: Onnx_ModelProto

    /// Reads the model in `url`; external data files are looked up beside it.
    public init(contentsOf url: URL, contract: ONNXInputContract = ONNXInputContract(), seed: UInt64 = 0) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ONNXError.invalidModel("cannot read '\(url.path)': \(error.localizedDescription)")
        }
        try self.init(serializedData: data, directory: url.deletingLastPathComponent(), contract: contract, seed: seed)
    }

    /// Reads a serialized `ModelProto`; `directory` is where external data files are looked up.
    ///
    /// - Parameter seed: seeds the generator of dropout masks in training mode.
    public init(serializedData data: Data, directory: URL? = nil, contract: ONNXInputContract = ONNXInputContract(), seed: UInt64 = 0) throws {
        let proto: Onnx_ModelProto
        do {
            proto = try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw ONNXError.corruptModel("\(error)")
        }
        let loaded = try ONNXGraph.load(proto, directory: directory, contract: contract)
        source = proto
        graph = loaded.graph
        parameterValues = loaded.parameters
        stateValues = loaded.state
        self.contract = loaded.contract
        droppedFinalSoftmax = loaded.droppedFinalSoftmax
        opset = graph.opset
        generator = SplitMix64(seed: seed)
        try foldShapeArithmetic()
        try validateByRunning()
    }

    /// The operator types left to run per call, in order (after folding), for tests.
    package var runtimeOperatorTypes: [String] { graph.nodes.map(\.opType) }

    /// Folds the arithmetic that starts from `Shape` where it does not depend on the batch
    /// size: run on batches of 2 and 3, a node computed only from shapes and constants whose
    /// outputs agree becomes a constant, and nodes nothing reads any more are
    /// dropped. What depends on the batch size (the flatten `torch.onnx.export` writes reads it)
    /// stays and runs per call on small integer arrays.
    private mutating func foldShapeArithmetic() throws {
        guard graph.nodes.contains(where: { $0.opType == "Shape" }) else { return }
        let runs = try [2, 3].map { batch in
            var probe = self.with(mode: .inference)
            return try probe.values(for: Tensor(zeros: [batch] + (contract.exampleShape ?? [])))
        }
        var shapeOnly = Set(graph.constants.keys)
        var kept = [ONNXNode]()
        for node in graph.nodes {
            guard node.opType == "Shape" || node.inputs.allSatisfy({ $0.isEmpty || shapeOnly.contains($0) }) else {
                kept.append(node)
                continue
            }
            shapeOnly.formUnion(node.outputs)
            let agreeing = node.outputs.allSatisfy { name in
                switch (runs[0][name], runs[1][name]) {
                case (.integer(let first)?, .integer(let second)?): return first == second
                case (.float(let first)?, .float(let second)?): return first == second
                default: return false
                }
            }
            guard agreeing else {
                kept.append(node)
                continue
            }
            for name in node.outputs { graph.constants[name] = runs[0][name] }
        }
        // Drop what nothing reads any more, last readers first.
        var read: Set<String> = [graph.outputName]
        var live = [ONNXNode]()
        for node in kept.reversed() where node.outputs.contains(where: read.contains) || node.opType == "BatchNormalization" {
            live.append(node)
            read.formUnion(node.inputs)
        }
        graph.nodes = live.reversed()
    }

    /// The operators of the default domain a model may use (see the README's list).
    public static var supportedOperators: Set<String> { ONNXNode.supportedOperators }

    /// The names of the trainable parameters, in visiting order.
    public var parameterNames: [String] { graph.parameterNames }

    /// Runs the graph once on zeros in both modes, so that a model that cannot run on the
    /// contract's shape fails here; two examples expose a batch size fixed in the graph.
    private mutating func validateByRunning() throws {
        let shape = [2] + (contract.exampleShape ?? [])
        for mode in [LayerMode.inference, .training] {
            var copy = self
            copy.mode = mode
            let output = try copy.forward(Tensor(zeros: shape))
            guard output.rank >= 1, output.shape[0] == 2 else {
                throw ONNXError.invalidModel("for a batch of 2 the output has shape \(output.shape); export the model with a dynamic batch dimension")
            }
        }
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        do {
            return try forward(input)
        } catch {
            preconditionFailure("ONNXModel: \(error)")
        }
    }

    /// The forward pass, throwing instead of trapping when the input does not fit.
    public mutating func output(for input: Tensor) throws -> Tensor {
        try forward(input)
    }

    private mutating func forward(_ input: Tensor) throws -> Tensor {
        let values = try values(for: input)
        guard case .float(let output)? = values[graph.outputName] else {
            throw ONNXError.invalidModel("the graph's output '\(graph.outputName)' is not a float tensor")
        }
        return output
    }

    /// Every value of the graph run on `input`.
    private mutating func values(for input: Tensor) throws -> [String: ONNXValue] {
        let example = contract.exampleShape ?? []
        guard input.rank == example.count + 1, Array(input.shape.dropFirst()) == example else {
            throw ONNXError.invalidContract("the layer takes [N] + \(example), got \(input.shape)")
        }
        var x = input
        if let mean = contract.mean, let deviation = contract.standardDeviation {
            let perChannel = [1, mean.count] + [Int](repeating: 1, count: Swift.max(0, input.rank - 2))
            x = (x - Tensor(shape: perChannel, scalars: mean)) / Tensor(shape: perChannel, scalars: deviation)
        }
        if contract.layout == .nhwc { x = x.transposed(permutation: [0, 2, 3, 1]) }

        var values = graph.constants
        for (name, value) in zip(graph.parameterNames, parameterValues) { values[name] = .float(value) }
        for (name, value) in zip(graph.stateNames, stateValues) { values[name] = .float(value) }
        values[graph.inputName] = .float(x)
        var execution = ONNXExecution(mode: mode, opset: graph.opset, generator: generator)
        try ONNXGraph.execute(graph.nodes, values: &values, execution: &execution)
        generator = execution.generator
        for (index, name) in graph.stateNames.enumerated() {
            if let updated = execution.updatedState[name] { stateValues[index] = updated }
        }
        return values
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        for index in parameterValues.indices { visitor(graph.parameterNames[index], &parameterValues[index]) }
    }

    public mutating func visitState(_ visitor: (String, inout Tensor) -> Void) {
        for index in stateValues.indices { visitor(graph.stateNames[index], &stateValues[index]) }
    }

    public mutating func visitGenerators(_ visitor: (String, inout SplitMix64) -> Void) {
        visitor("generator", &generator)
    }
}

/// What the operators see while a graph runs: the mode and what they change.
struct ONNXExecution {
    var mode: LayerMode
    let opset: Int
    var generator: SplitMix64
    /// New running statistics of batch normalization in training mode, by initializer name.
    var updatedState: [String: Tensor] = [:]
}
