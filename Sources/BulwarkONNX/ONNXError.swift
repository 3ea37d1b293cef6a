/// Why an ONNX model could not be read into an ``ONNXModel``; each message names what to change.
public enum ONNXError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes are not a readable `ModelProto` (truncated or corrupt protobuf).
    case corruptModel(String)
    /// The model is a well-formed protobuf but not a usable graph (no graph, no output, …).
    case invalidModel(String)
    /// A node's operator is not implemented (or is from a domain other than the default one).
    case unsupportedOperator(node: String, opType: String, domain: String, opset: Int)
    /// An operator is implemented but not with these attributes or input shapes.
    case unsupportedAttribute(node: String, opType: String, detail: String)
    /// A dimension of the input other than the batch dimension is symbolic and no shape was given.
    case dynamicDimension(input: String, axis: Int, name: String)
    /// The graph's input holds something other than 32-bit floats.
    case nonFloatInput(name: String, elementType: String)
    /// A tensor stored as external data whose file is missing or too short.
    case missingExternalData(tensor: String, path: String)
    /// A node reads a value that no initializer, graph input or earlier node defines.
    case undefinedValue(node: String, value: String)
    /// The input contract does not fit the model.
    case invalidContract(String)
    /// Running the graph on an example of the contract's shape failed at a node.
    case shapeMismatch(node: String, opType: String, detail: String)

    public var description: String {
        switch self {
        case .corruptModel(let detail):
            return "the file is not a readable ONNX model (truncated or corrupt protobuf: \(detail)); re-export or re-download it"
        case .invalidModel(let detail):
            return "the ONNX model is not usable: \(detail)"
        case .unsupportedOperator(let node, let opType, let domain, let opset):
            let qualified = domain.isEmpty || domain == "ai.onnx" ? opType : "\(domain).\(opType)"
            return "node '\(node)': operator \(qualified) (opset \(opset)) is not supported; re-export the model without it or with supported operators"
        case .unsupportedAttribute(let node, let opType, let detail):
            return "node '\(node)' (\(opType)): \(detail)"
        case .dynamicDimension(let input, let axis, let name):
            return "input '\(input)' has a dynamic dimension '\(name)' at axis \(axis); give the per-example shape in the input contract's exampleShape, or export with a fixed shape"
        case .nonFloatInput(let name, let elementType):
            return "input '\(name)' holds \(elementType), but only float32 image inputs are supported; export the model with a float input"
        case .missingExternalData(let tensor, let path):
            return "tensor '\(tensor)' is stored as external data in '\(path)', which is missing or too short; keep the data file next to the model"
        case .undefinedValue(let node, let value):
            return "node '\(node)' reads '\(value)', which no initializer, graph input or earlier node defines"
        case .invalidContract(let detail):
            return "the input contract does not fit the model: \(detail)"
        case .shapeMismatch(let node, let opType, let detail):
            return "node '\(node)' (\(opType)) cannot run on the contract's input shape: \(detail)"
        }
    }
}
