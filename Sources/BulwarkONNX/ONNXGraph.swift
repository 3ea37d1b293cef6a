import BulwarkCore
import BulwarkNN
import Foundation

/// A validated graph: nodes in topological order, folded constants, and which initializers
/// are parameters and which are state.
struct ONNXGraph: Sendable {
    var nodes: [ONNXNode]
    /// Values known at load: non-trainable initializers, `Constant` nodes and folded nodes.
    var constants: [String: ONNXValue]
    var parameterNames: [String]
    var stateNames: [String]
    var inputName: String
    var outputName: String
    var opset: Int

    struct Loaded {
        var graph: ONNXGraph
        var parameters: [Tensor]
        var state: [Tensor]
        var contract: ONNXInputContract
        var droppedFinalSoftmax: Bool
    }

    /// The opset versions whose operators this implementation follows.
    static let supportedOpsets = 7...22

    /// The pieces every use of a model needs: its opset, decoded initializers and checked nodes.
    static func parse(_ model: Onnx_ModelProto, directory: URL?) throws -> (opset: Int, initializers: [(String, ONNXValue)], nodes: [ONNXNode]) {
        guard model.hasGraph else { throw ONNXError.invalidModel("it has no graph") }
        guard let opsetImport = model.opsetImport.first(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" }) else {
            throw ONNXError.invalidModel("it imports no version of the default operator set")
        }
        let opset = Int(opsetImport.version)
        guard supportedOpsets.contains(opset) else {
            throw ONNXError.invalidModel("opset \(opset) is outside the supported \(supportedOpsets.lowerBound)–\(supportedOpsets.upperBound); re-export with opset 17")
        }
        var initializers = [(String, ONNXValue)]()
        for tensor in model.graph.initializer { initializers.append((tensor.name, try ONNXValue(tensor, directory: directory))) }
        let nodes = try model.graph.node.enumerated().map { try ONNXNode($1, index: $0, directory: directory) }
        for node in nodes where !(node.domain.isEmpty || node.domain == "ai.onnx") || !ONNXNode.supportedOperators.contains(node.opType) {
            throw ONNXError.unsupportedOperator(node: node.name, opType: node.opType, domain: node.domain, opset: opset)
        }
        let available = Set(initializers.map(\.0)).union(model.graph.input.map(\.name))
        return (opset, initializers, try topologicallySorted(nodes, available: available))
    }

    /// Runs `nodes` in order, reading and adding to `values`.
    static func execute(_ nodes: [ONNXNode], values: inout [String: ONNXValue], execution: inout ONNXExecution) throws {
        for node in nodes {
            let inputs = try node.inputs.map { name -> ONNXValue? in
                guard !name.isEmpty else { return nil }
                guard let value = values[name] else { throw ONNXError.undefinedValue(node: node.name, value: name) }
                return value
            }
            let outputs = try node.run(inputs, &execution)
            for (name, value) in zip(node.outputs, outputs) where !name.isEmpty { values[name] = value }
        }
    }

    static func load(_ model: Onnx_ModelProto, directory: URL?, contract: ONNXInputContract) throws -> Loaded {
        let (opset, initializers, parsedNodes) = try parse(model, directory: directory)
        var nodes = parsedNodes
        let proto = model.graph
        guard let output = proto.output.first else { throw ONNXError.invalidModel("its graph has no output") }
        let initializerNames = Set(initializers.map(\.0))

        // The input, its type and shape.
        let graphInputs = proto.input.filter { !initializerNames.contains($0.name) }
        let input: Onnx_ValueInfoProto
        if let name = contract.inputName {
            guard let named = graphInputs.first(where: { $0.name == name }) else {
                throw ONNXError.invalidContract("the graph has no input '\(name)'; its inputs are \(graphInputs.map(\.name))")
            }
            input = named
        } else {
            guard graphInputs.count == 1 else {
                throw ONNXError.invalidContract("the graph has \(graphInputs.count) inputs \(graphInputs.map(\.name)); name the image input in inputName")
            }
            input = graphInputs[0]
        }
        var resolved = contract
        resolved.inputName = input.name
        resolved.layout = try layout(of: input, contract: contract, metadata: model.metadataProps)
        resolved.exampleShape = try exampleShape(of: input, contract: resolved)
        try resolveNormalization(&resolved, metadata: model.metadataProps)

        // Drop a final Softmax: attacks and losses want logits.
        var outputName = output.name
        var droppedFinalSoftmax = false
        if let last = nodes.lastIndex(where: { $0.outputs.contains(outputName) }), nodes[last].opType == "Softmax",
           let logits = nodes[last].input(0),
           !nodes.contains(where: { $0.inputs.contains(outputName) }) {
            nodes.remove(at: last)
            outputName = logits
            droppedFinalSoftmax = true
        }

        // Initializers the forward pass reads as data are parameters (or, for batch
        // normalization's running statistics, state); the rest only configure operators.
        var dataUses = Set<String>(), stateUses = Set<String>()
        for node in nodes {
            for (position, name) in node.inputs.enumerated() where !name.isEmpty {
                if node.opType == "BatchNormalization" && (position == 3 || position == 4) {
                    stateUses.insert(name)
                } else if !node.configurationInputs.contains(position) {
                    dataUses.insert(name)
                }
            }
        }
        var constants = [String: ONNXValue]()
        var parameterNames = [String](), parameters = [Tensor]()
        var stateNames = [String](), state = [Tensor]()
        for (name, value) in initializers {
            if case .float(let tensor) = value, stateUses.contains(name) {
                stateNames.append(name)
                state.append(tensor)
            } else if case .float(let tensor) = value, dataUses.contains(name) {
                parameterNames.append(name)
                parameters.append(tensor)
            } else {
                constants[name] = value
            }
        }

        // Fold every node whose inputs are all known now.
        var remaining = [ONNXNode]()
        var execution = ONNXExecution(mode: .inference, opset: opset, generator: SplitMix64(seed: 0))
        for node in nodes {
            let foldable = !["BatchNormalization", "Dropout"].contains(node.opType)
                && node.inputs.allSatisfy { $0.isEmpty || constants[$0] != nil }
            guard foldable else {
                remaining.append(node)
                continue
            }
            let outputs = try node.run(node.inputs.map { $0.isEmpty ? nil : constants[$0] }, &execution)
            for (name, value) in zip(node.outputs, outputs) where !name.isEmpty { constants[name] = value }
        }
        let graph = ONNXGraph(
            nodes: fusingRectifiers(remaining, keeping: outputName), constants: constants, parameterNames: parameterNames, stateNames: stateNames,
            inputName: input.name, outputName: outputName, opset: opset)
        return Loaded(graph: graph, parameters: parameters, state: state, contract: resolved, droppedFinalSoftmax: droppedFinalSoftmax)
    }

    /// Each `Relu` read only by a `MaxPool` runs inside it, as the built-in `Sequential` runs
    /// ReLU then max pooling: one pass with the same values and gradients, without the
    /// full-size rectified tensor.
    private static func fusingRectifiers(_ nodes: [ONNXNode], keeping output: String) -> [ONNXNode] {
        var readers = [String: [Int]]()
        for (index, node) in nodes.enumerated() {
            for input in Set(node.inputs) where !input.isEmpty { readers[input, default: []].append(index) }
        }
        var fused = nodes
        var removed = Set<Int>()
        for (index, node) in nodes.enumerated() where node.opType == "Relu" && node.outputs.count == 1 && node.outputs[0] != output {
            guard let reader = readers[node.outputs[0]], reader.count == 1, nodes[reader[0]].opType == "MaxPool",
                  nodes[reader[0]].inputs.firstIndex(of: node.outputs[0]) == 0, let source = node.input(0) else { continue }
            fused[reader[0]].inputs[0] = source
            fused[reader[0]].rectifiesInput = true
            removed.insert(index)
        }
        return fused.indices.filter { !removed.contains($0) }.map { fused[$0] }
    }

    /// Kahn's algorithm, keeping the file's order among ready nodes; names a node that reads
    /// a value nothing defines.
    private static func topologicallySorted(_ nodes: [ONNXNode], available: Set<String>) throws -> [ONNXNode] {
        var producer = [String: Int]()
        for (index, node) in nodes.enumerated() {
            for output in node.outputs where !output.isEmpty { producer[output] = index }
        }
        for node in nodes {
            for input in node.inputs where !input.isEmpty && !available.contains(input) && producer[input] == nil {
                throw ONNXError.undefinedValue(node: node.name, value: input)
            }
        }
        var defined = available
        var placed = [Bool](repeating: false, count: nodes.count)
        var sorted = [ONNXNode]()
        var progress = true
        while sorted.count < nodes.count && progress {
            progress = false
            for (index, node) in nodes.enumerated() where !placed[index] {
                guard node.inputs.allSatisfy({ $0.isEmpty || defined.contains($0) }) else { continue }
                placed[index] = true
                sorted.append(node)
                defined.formUnion(node.outputs)
                progress = true
            }
        }
        guard sorted.count == nodes.count else { throw ONNXError.invalidModel("its graph has a cycle") }
        return sorted
    }

    /// The input's layout: the contract's, else the metadata's `bulwark.layout`, else
    /// inferred from the input's shape (channels-first when the model gives no rank-4 shape).
    private static func layout(
        of input: Onnx_ValueInfoProto, contract: ONNXInputContract, metadata: [Onnx_StringStringEntryProto]
    ) throws -> ONNXInputContract.Layout {
        if let layout = contract.layout { return layout }
        if let text = metadata.first(where: { $0.key == "bulwark.layout" })?.value {
            guard let layout = ONNXInputContract.Layout(rawValue: text.lowercased()) else {
                throw ONNXError.invalidModel("metadata bulwark.layout must be nchw or nhwc, got '\(text)'")
            }
            return layout
        }
        guard case .tensorType(let type)? = input.type.value, type.hasShape, type.shape.dim.count == 4 else { return .nchw }
        return try .inferred(fromInputShape: type.shape.dim.map { dimension in
            if case .dimValue(let value)? = dimension.value, value > 0 { return Int(value) }
            return nil
        }, input: input.name)
    }

    /// The per-example `[C, H, W]` shape Bulwark feeds, from the contract or the model.
    private static func exampleShape(of input: Onnx_ValueInfoProto, contract: ONNXInputContract) throws -> [Int] {
        guard case .tensorType(let type)? = input.type.value else {
            throw ONNXError.nonFloatInput(name: input.name, elementType: "a value that is not a tensor")
        }
        guard Int(type.elemType) == ONNXElementType.float else {
            throw ONNXError.nonFloatInput(name: input.name, elementType: ONNXElementType.name(Int(type.elemType)))
        }
        // The model's dimensions; `nil` where symbolic.
        let dimensions: [Int?]? = type.hasShape ? type.shape.dim.map { dimension in
            if case .dimValue(let value)? = dimension.value, value > 0 { return Int(value) }
            return nil
        } : nil
        let symbol = { (axis: Int) -> String in
            if case .dimParam(let name)? = type.shape.dim[axis].value, !name.isEmpty { return name }
            return "?"
        }
        // Model axes in Bulwark's NCHW order.
        let order = contract.layout == .nhwc ? [0, 3, 1, 2] : [0, 1, 2, 3]
        if let given = contract.exampleShape {
            guard given.count == 3, given.allSatisfy({ $0 > 0 }) else {
                throw ONNXError.invalidContract("exampleShape must be [channels, height, width] with positive extents, got \(given)")
            }
            if let dimensions {
                guard dimensions.count == 4 else {
                    throw ONNXError.invalidContract("input '\(input.name)' has rank \(dimensions.count); only rank-4 image inputs are supported")
                }
                for (position, extent) in given.enumerated() {
                    if let fixed = dimensions[order[position + 1]], fixed != extent {
                        throw ONNXError.invalidContract("exampleShape \(given) disagrees with the model's input shape \(dimensions.map { $0 ?? -1 })")
                    }
                }
            }
            return given
        }
        guard let dimensions else {
            throw ONNXError.dynamicDimension(input: input.name, axis: 1, name: "?")
        }
        guard dimensions.count == 4 else {
            throw ONNXError.invalidContract("input '\(input.name)' has rank \(dimensions.count); only rank-4 image inputs are supported")
        }
        return try (1...3).map { position in
            let axis = order[position]
            guard let extent = dimensions[axis] else { throw ONNXError.dynamicDimension(input: input.name, axis: axis, name: symbol(axis)) }
            return extent
        }
    }

    /// Fills mean and standard deviation from the model's metadata when the contract leaves
    /// them out, and checks them against the channel count.
    private static func resolveNormalization(_ contract: inout ONNXInputContract, metadata: [Onnx_StringStringEntryProto]) throws {
        func numbers(_ key: String) throws -> [Float]? {
            guard let text = metadata.first(where: { $0.key == key })?.value else { return nil }
            let parts = text.split(whereSeparator: { "[], ".contains($0) })
            let values = parts.compactMap { Float($0) }
            guard !values.isEmpty, values.count == parts.count else {
                throw ONNXError.invalidModel("metadata \(key) must be a list of numbers, got '\(text)'")
            }
            return values
        }
        if contract.mean == nil { contract.mean = try numbers("bulwark.mean") }
        if contract.standardDeviation == nil { contract.standardDeviation = try numbers("bulwark.std") }
        let channels = contract.exampleShape?.first ?? 1
        switch (contract.mean, contract.standardDeviation) {
        case (nil, nil):
            return
        case (var mean?, var deviation?):
            if mean.count == 1 { mean = [Float](repeating: mean[0], count: channels) }
            if deviation.count == 1 { deviation = [Float](repeating: deviation[0], count: channels) }
            guard mean.count == channels, deviation.count == channels else {
                throw ONNXError.invalidContract("mean and standardDeviation need one value (or \(channels)) each, got \(mean.count) and \(deviation.count)")
            }
            guard deviation.allSatisfy({ $0 > 0 && $0.isFinite }), mean.allSatisfy(\.isFinite) else {
                throw ONNXError.invalidContract("standardDeviation must be positive and mean finite")
            }
            (contract.mean, contract.standardDeviation) = (mean, deviation)
        default:
            throw ONNXError.invalidContract("give both mean and standardDeviation, or neither")
        }
    }
}

/// Runs a serialized model's graph on `inputs`, fed in order to the graph inputs that are not
/// initializers (integer-typed ones receive the values truncated), and returns the graph's
/// outputs as floats. Every initializer is a constant. For checking operators against
/// reference outputs; the traced inputs' gradients flow as through ``ONNXModel``.
package func evaluateONNXModel(_ data: Data, inputs: [Tensor], mode: LayerMode = .inference) throws -> [Tensor] {
    let model: Onnx_ModelProto
    do {
        model = try Onnx_ModelProto(serializedBytes: data)
    } catch {
        throw ONNXError.corruptModel("\(error)")
    }
    let (opset, initializers, nodes) = try ONNXGraph.parse(model, directory: nil)
    var values = [String: ONNXValue]()
    for (name, value) in initializers { values[name] = value }
    let graphInputs = model.graph.input.filter { values[$0.name] == nil }
    guard graphInputs.count == inputs.count else {
        throw ONNXError.invalidContract("the graph has \(graphInputs.count) inputs, \(inputs.count) were given")
    }
    for (info, tensor) in zip(graphInputs, inputs) {
        if case .tensorType(let type)? = info.type.value, Int(type.elemType) != ONNXElementType.float {
            values[info.name] = .integer(IntegerTensor(shape: tensor.shape, values: tensor.scalars.map { Int($0) }))
        } else {
            values[info.name] = .float(tensor)
        }
    }
    var execution = ONNXExecution(mode: mode, opset: opset, generator: SplitMix64(seed: 0))
    try ONNXGraph.execute(nodes, values: &values, execution: &execution)
    return try model.graph.output.map { output in
        guard let value = values[output.name] else { throw ONNXError.undefinedValue(node: "graph output", value: output.name) }
        return value.floatTensor
    }
}
