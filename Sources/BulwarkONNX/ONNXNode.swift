import BulwarkCore
import Foundation

/// One attribute of a node, decoded from its `AttributeProto`.
enum ONNXAttribute: Sendable {
    case float(Float)
    case integer(Int)
    case string(String)
    case tensor(ONNXValue)
    case floats([Float])
    case integers([Int])
    case strings([String])
    /// Graphs and other kinds no supported operator reads.
    case unsupported
}

/// One node of the graph, decoded from its `NodeProto`.
struct ONNXNode: Sendable {
    let name: String
    let opType: String
    let domain: String
    /// Value names; `""` marks an omitted optional input.
    var inputs: [String]
    let outputs: [String]
    let attributes: [String: ONNXAttribute]
    /// Set on a `MaxPool` that also applies the `Relu` it replaced (see
    /// `ONNXGraph.fusingRectifiers`).
    var rectifiesInput = false

    init(_ proto: Onnx_NodeProto, index: Int, directory: URL?) throws {
        name = proto.name.isEmpty ? "\(proto.opType)_\(index)" : proto.name
        opType = proto.opType
        domain = proto.domain
        inputs = proto.input
        outputs = proto.output
        var attributes = [String: ONNXAttribute]()
        for attribute in proto.attribute {
            switch attribute.type {
            case .float: attributes[attribute.name] = .float(attribute.f)
            case .int: attributes[attribute.name] = .integer(Int(attribute.i))
            case .string: attributes[attribute.name] = .string(String(decoding: attribute.s, as: UTF8.self))
            case .tensor: attributes[attribute.name] = .tensor(try ONNXValue(attribute.t, directory: directory))
            case .floats: attributes[attribute.name] = .floats(attribute.floats)
            case .ints: attributes[attribute.name] = .integers(attribute.ints.map { Int($0) })
            case .strings: attributes[attribute.name] = .strings(attribute.strings.map { String(decoding: $0, as: UTF8.self) })
            default: attributes[attribute.name] = .unsupported
            }
        }
        self.attributes = attributes
    }

    /// The named input at `position`, or `nil` when it is absent or omitted.
    func input(_ position: Int) -> String? {
        position < inputs.count && !inputs[position].isEmpty ? inputs[position] : nil
    }

    func integer(_ name: String, default value: Int) throws -> Int {
        switch attributes[name] {
        case nil: return value
        case .integer(let integer): return integer
        default: throw unsupported("attribute \(name) must be an integer")
        }
    }

    func float(_ name: String, default value: Float) throws -> Float {
        switch attributes[name] {
        case nil: return value
        case .float(let float): return float
        case .integer(let integer): return Float(integer)
        default: throw unsupported("attribute \(name) must be a float")
        }
    }

    func integers(_ name: String) throws -> [Int]? {
        switch attributes[name] {
        case nil: return nil
        case .integers(let integers): return integers
        case .integer(let integer): return [integer]
        default: throw unsupported("attribute \(name) must be a list of integers")
        }
    }

    func string(_ name: String, default value: String) throws -> String {
        switch attributes[name] {
        case nil: return value
        case .string(let string): return string
        default: throw unsupported("attribute \(name) must be a string")
        }
    }

    /// An error for attributes or inputs this implementation does not handle.
    func unsupported(_ detail: String) -> ONNXError {
        .unsupportedAttribute(node: name, opType: opType, detail: detail)
    }

    /// An error for inputs whose shapes the operator cannot take.
    func mismatch(_ detail: String) -> ONNXError {
        .shapeMismatch(node: name, opType: opType, detail: detail)
    }
}
