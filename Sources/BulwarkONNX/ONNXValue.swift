import BulwarkCore
import Foundation

/// Integers that describe shapes (ONNX's int64 and int32 tensors): a graph computes them from
/// `Shape` and constants and feeds them to `Reshape`, `Slice` and the like. They never carry
/// gradients.
struct IntegerTensor: Sendable, Equatable {
    var shape: [Int]
    var values: [Int]

    init(shape: [Int], values: [Int]) {
        self.shape = shape
        self.values = values
    }

    init(_ values: [Int]) {
        self.init(shape: [values.count], values: values)
    }
}

/// A value flowing along a graph edge: float data (differentiable) or integers (shapes, indices).
enum ONNXValue: Sendable {
    case float(Tensor)
    case integer(IntegerTensor)

    var shape: [Int] {
        switch self {
        case .float(let tensor): tensor.shape
        case .integer(let integers): integers.shape
        }
    }

    /// The values as floats (integers converted), for operators that take either.
    var floatTensor: Tensor {
        switch self {
        case .float(let tensor): tensor
        case .integer(let integers): Tensor(shape: integers.shape, scalars: integers.values.map { Float($0) })
        }
    }
}

/// ONNX's element types by their `TensorProto.DataType` number, for messages and conversion.
enum ONNXElementType {
    static let float = 1, uint8 = 2, int8 = 3, int32 = 6, int64 = 7, bool = 9, float16 = 10, double = 11

    static func name(_ type: Int) -> String {
        switch type {
        case 1: "float32"
        case 2: "uint8"
        case 3: "int8"
        case 4: "uint16"
        case 5: "int16"
        case 6: "int32"
        case 7: "int64"
        case 8: "string"
        case 9: "bool"
        case 10: "float16"
        case 11: "float64"
        case 16: "bfloat16"
        default: "element type \(type)"
        }
    }
}

/// The most elements one tensor of an imported model may have: far beyond any image
/// classifier, and small enough that no product of extents below it overflows.
let maximumONNXElementCount = 1 << 32

/// The element count of `shape`, refusing negative extents and counts beyond
/// ``maximumONNXElementCount`` (a corrupt or hostile file) with `error`.
func elementCount(of shape: [Int], orThrow error: @autoclosure () -> ONNXError) throws -> Int {
    var count = 1
    for extent in shape {
        guard extent >= 0 else { throw error() }
        let (product, overflow) = count.multipliedReportingOverflow(by: extent)
        guard !overflow, product <= maximumONNXElementCount else { throw error() }
        count = product
    }
    return count
}

extension ONNXValue {
    /// Reads a `TensorProto`, following external data relative to `directory`.
    init(_ proto: Onnx_TensorProto, directory: URL?) throws {
        let shape = proto.dims.map { Int($0) }
        let count = try elementCount(
            of: shape, orThrow: .invalidModel("tensor '\(proto.name)' has shape \(shape): a negative or too large dimension"))
        let raw = try ONNXValue.rawData(of: proto, directory: directory)
        let type = Int(proto.dataType)
        func checked<T>(_ values: [T]) throws -> [T] {
            guard values.count == count else {
                throw ONNXError.invalidModel("tensor '\(proto.name)' of shape \(shape) holds \(values.count) values")
            }
            return values
        }
        switch type {
        case ONNXElementType.float:
            let values: [Float] = raw.map { ONNXValue.decode($0, as: Float.self) } ?? proto.floatData
            self = .float(Tensor(shape: shape, scalars: try checked(values)))
        case ONNXElementType.double:
            let values: [Double] = raw.map { ONNXValue.decode($0, as: Double.self) } ?? proto.doubleData
            self = .float(Tensor(shape: shape, scalars: try checked(values).map { Float($0) }))
        case ONNXElementType.float16:
            let bits: [UInt16] = raw.map { ONNXValue.decode($0, as: UInt16.self) } ?? proto.int32Data.map { UInt16(truncatingIfNeeded: $0) }
            self = .float(Tensor(shape: shape, scalars: try checked(bits).map { ONNXValue.halfToFloat($0) }))
        case ONNXElementType.int64:
            let values: [Int64] = raw.map { ONNXValue.decode($0, as: Int64.self) } ?? proto.int64Data
            self = .integer(IntegerTensor(shape: shape, values: try checked(values).map { Int($0) }))
        case ONNXElementType.int32:
            let values: [Int32] = raw.map { ONNXValue.decode($0, as: Int32.self) } ?? proto.int32Data
            self = .integer(IntegerTensor(shape: shape, values: try checked(values).map { Int($0) }))
        case ONNXElementType.uint8, ONNXElementType.bool:
            let values: [Int] = raw.map { $0.map { Int($0) } } ?? proto.int32Data.map { Int($0) }
            self = .integer(IntegerTensor(shape: shape, values: try checked(values)))
        case ONNXElementType.int8:
            let values: [Int] = raw.map { $0.map { Int(Int8(bitPattern: $0)) } } ?? proto.int32Data.map { Int($0) }
            self = .integer(IntegerTensor(shape: shape, values: try checked(values)))
        default:
            throw ONNXError.invalidModel("tensor '\(proto.name)' holds \(ONNXElementType.name(type)), which is not supported")
        }
    }

    /// The tensor's bytes when it stores them raw or externally; `nil` when it uses typed fields.
    private static func rawData(of proto: Onnx_TensorProto, directory: URL?) throws -> Data? {
        guard proto.dataLocation == .external else { return proto.hasRawData ? proto.rawData : nil }
        var entries = [String: String]()
        for entry in proto.externalData { entries[entry.key] = entry.value }
        guard let location = entries["location"] else {
            throw ONNXError.invalidModel("tensor '\(proto.name)' is external but names no location")
        }
        guard let directory else { throw ONNXError.missingExternalData(tensor: proto.name, path: location) }
        // The location is relative to the model's folder and stays inside it.
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw ONNXError.invalidModel("tensor '\(proto.name)' names external data outside the model's folder: '\(location)'")
        }
        let url = directory.appendingPathComponent(location)
        guard let data = try? Data(contentsOf: url) else {
            throw ONNXError.missingExternalData(tensor: proto.name, path: url.path)
        }
        let offset = Int(entries["offset"] ?? "0") ?? 0
        let length = entries["length"].flatMap { Int($0) } ?? (data.count - offset)
        guard offset >= 0, length >= 0, offset <= data.count, length <= data.count - offset else {
            throw ONNXError.missingExternalData(tensor: proto.name, path: url.path)
        }
        return data.subdata(in: (data.startIndex + offset)..<(data.startIndex + offset + length))
    }

    /// Little-endian values of a fixed-width type packed in `data` (ONNX's raw_data layout).
    private static func decode<T: FixedWidthInteger>(_ data: Data, as type: T.Type) -> [T] {
        let count = data.count / MemoryLayout<T>.size
        var values = [T](repeating: 0, count: count)
        _ = values.withUnsafeMutableBytes { data.copyBytes(to: $0) }
        return values.map { T(littleEndian: $0) }
    }

    private static func decode(_ data: Data, as type: Float.Type) -> [Float] {
        decode(data, as: UInt32.self).map { Float(bitPattern: $0) }
    }

    private static func decode(_ data: Data, as type: Double.Type) -> [Double] {
        decode(data, as: UInt64.self).map { Double(bitPattern: $0) }
    }

    /// IEEE half precision to single, exactly.
    private static func halfToFloat(_ bits: UInt16) -> Float {
        let sign = UInt32(bits >> 15) << 31
        let exponent = Int((bits >> 10) & 0x1F)
        let fraction = UInt32(bits & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(fraction) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (fraction << 13)) }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (fraction << 13))
    }
}

/// Reads a tensor stored in ONNX's test-data format (a serialized `TensorProto`, as in ONNX's
/// backend test data sets) as a float tensor; integer tensors are converted.
package func readONNXTensor(_ data: Data) throws -> Tensor {
    let proto: Onnx_TensorProto
    do {
        proto = try Onnx_TensorProto(serializedBytes: data)
    } catch {
        throw ONNXError.corruptModel("\(error)")
    }
    return try ONNXValue(proto, directory: nil).floatTensor
}
