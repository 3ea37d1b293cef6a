import Foundation

/// Writing NumPy `.npy` files (format version 1.0), so Python users can `numpy.load` what
/// Bulwark produces without any extra package, and reading them back.
///
/// Layout: the magic `\x93NUMPY`, version 1.0, a little-endian `UInt16` header length, then an
/// ASCII dictionary `{'descr': '<f4', 'fortran_order': False, 'shape': (…), }` padded with
/// spaces and a newline so the data starts at a multiple of 64 bytes, then the data in C
/// order.
public enum NumPyArray {
    /// The bytes of a `.npy` file holding `tensor` as little-endian float32.
    public static func float32Bytes(_ tensor: Tensor) -> [UInt8] {
        var bytes = header(descriptor: "<f4", shape: tensor.shape)
        bytes.reserveCapacity(bytes.count + tensor.scalarCount * 4)
        for value in tensor.array { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    /// The bytes of a `.npy` file holding `values` as a little-endian int64 vector.
    public static func int64Bytes(_ values: [Int]) -> [UInt8] {
        var bytes = header(descriptor: "<i8", shape: [values.count])
        for value in values { withUnsafeBytes(of: Int64(value).littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    private static func header(descriptor: String, shape: [Int]) -> [UInt8] {
        let dimensions = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dictionary = "{'descr': '\(descriptor)', 'fortran_order': False, 'shape': \(dimensions), }"
        // Magic (6) + version (2) + length (2) + dictionary + padding + newline ≡ 0 (mod 64).
        let unpadded = 10 + dictionary.utf8.count + 1
        dictionary += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let length = UInt16(dictionary.utf8.count)
        bytes += [UInt8(length & 0xFF), UInt8(length >> 8)]
        bytes += Array(dictionary.utf8)
        return bytes
    }
}

// MARK: - Reading

/// Why a `.npy` file could not be read.
package struct NumPyReadError: Error, Equatable {
    package var reason: String
}

/// The header of a `.npy` file: what its data holds and where the data starts.
package struct NumPyHeader: Equatable, Sendable {
    /// The element type, one of those ``NumPyArray`` reads.
    package enum ElementType: String, Sendable {
        case float32 = "<f4", float64 = "<f8", int64 = "<i8", int32 = "<i4", uint8 = "|u1"

        /// The bytes of one element.
        package var size: Int {
            switch self {
            case .float32, .int32: 4
            case .float64, .int64: 8
            case .uint8: 1
            }
        }

        /// The NumPy name, for messages.
        package var name: String {
            switch self {
            case .float32: "float32"
            case .float64: "float64"
            case .int64: "int64"
            case .int32: "int32"
            case .uint8: "uint8"
            }
        }

        /// Whether the type holds whole numbers.
        package var isInteger: Bool { self == .int64 || self == .int32 || self == .uint8 }
    }

    /// The element type.
    package var elementType: ElementType
    /// The extents, outermost first (C order).
    package var shape: [Int]
    /// The number of elements, the product of ``shape``.
    package var count: Int
    /// The offset of the first data byte in the file.
    package var dataOffset: Int

    /// The bytes of data the header declares.
    package var dataByteCount: Int { count * elementType.size }

    /// The largest header a `.npy` file may have: NumPy itself refuses headers over 10,000
    /// bytes by default, so a larger declared length marks a damaged file.
    package static let maximumHeaderLength = 1 << 16

    /// The header at the start of `bytes`, which must hold at least the whole header (the
    /// first 12 bytes tell how long it is: see ``requiredPrefixLength(_:)``).
    ///
    /// - Parameter dataByteLimit: The most data bytes the file can hold; a header declaring
    ///   more is refused before anything is allocated for it.
    /// - Throws: ``NumPyReadError`` naming what is wrong.
    package init(parsing bytes: [UInt8], dataByteLimit: Int) throws(NumPyReadError) {
        guard bytes.count >= 10 else { throw NumPyReadError(reason: "it is not a NumPy .npy file") }
        guard let prefix = try Self.requiredPrefixLength(bytes), bytes.count >= prefix else {
            throw NumPyReadError(reason: "the header is cut short")
        }
        let lengthSize = bytes[6] == 1 ? 2 : 4
        let header = String(decoding: bytes[(8 + lengthSize)..<prefix], as: UTF8.self)
        func value(of key: String) -> Substring? {
            guard let range = header.range(of: "'\(key)':") else { return nil }
            return header[range.upperBound...].drop { $0 == " " }
        }
        guard let descriptorText = value(of: "descr"), let shapeText = value(of: "shape"),
              let descriptor = descriptorText.dropFirst().split(separator: "'").first,
              shapeText.first == "(", let closing = shapeText.firstIndex(of: ")")
        else { throw NumPyReadError(reason: "the header lacks 'descr' or a 'shape' tuple") }
        if value(of: "fortran_order")?.hasPrefix("True") == true { throw NumPyReadError(reason: "Fortran-order arrays are not supported") }
        var shape = [Int]()
        for part in shapeText[shapeText.index(after: shapeText.startIndex)..<closing].split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let extent = Int(trimmed), extent >= 0 else { throw NumPyReadError(reason: "the shape \(shapeText[...closing]) is not a tuple of sizes") }
            shape.append(extent)
        }
        let elementType: ElementType
        switch descriptor {
        case "<f4": elementType = .float32
        case "<f8": elementType = .float64
        case "<i8": elementType = .int64
        case "<i4": elementType = .int32
        case "|u1", "<u1": elementType = .uint8
        default: throw NumPyReadError(reason: "dtype '\(descriptor)' is not one Bulwark reads (<f4, <f8, <i8, <i4, |u1)")
        }
        // A crafted header may declare sizes whose product overflows: refuse it rather than trap.
        var count = 1
        for extent in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= dataByteLimit else {
                throw NumPyReadError(reason: "the shape \(shape) declares more values than the file's \(dataByteLimit) bytes of data can hold")
            }
            count = product
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: elementType.size)
        guard !overflow, byteCount <= dataByteLimit else {
            throw NumPyReadError(reason: "the shape \(shape) of \(descriptor) needs \(overflow ? "more" : String(byteCount)) bytes of data, more than the file's \(dataByteLimit)")
        }
        self.elementType = elementType
        self.shape = shape
        self.count = count
        self.dataOffset = prefix
    }

    /// The length of the magic, version, length field and header of the `.npy` file starting
    /// with `bytes`, or `nil` when `bytes` are too few to tell (fewer than 12).
    ///
    /// - Throws: ``NumPyReadError`` when the bytes are not the start of a `.npy` file or declare
    ///   a header longer than ``maximumHeaderLength``.
    package static func requiredPrefixLength(_ bytes: [UInt8]) throws(NumPyReadError) -> Int? {
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard zip(bytes, magic).allSatisfy({ $0 == $1 }) else { throw NumPyReadError(reason: "it is not a NumPy .npy file") }
        guard bytes.count >= 12 else { return nil }
        let major = bytes[6]
        guard (1...3).contains(major) else { throw NumPyReadError(reason: "unsupported .npy version \(major)") }
        let lengthSize = major == 1 ? 2 : 4
        let headerLength = (0..<lengthSize).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        guard headerLength <= maximumHeaderLength else {
            throw NumPyReadError(reason: "its header declares \(headerLength) bytes, more than a .npy header holds")
        }
        return 8 + lengthSize + headerLength
    }

    /// The elements of `data` (``dataByteCount`` little-endian bytes of ``elementType``) as
    /// floats, exactly for integers up to 2^24 and float32, rounded for float64.
    package func scalars(_ data: ArraySlice<UInt8>) -> [Float] {
        precondition(data.count == dataByteCount, "NumPy data of \(data.count) bytes for \(dataByteCount) declared")
        let size = elementType.size
        return data.withUnsafeBytes { raw in
            (0..<count).map { index -> Float in
                let offset = index * size
                switch elementType {
                case .float32: return Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                case .float64: return Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))))
                case .int64: return Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
                case .int32: return Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
                case .uint8: return Float(raw[offset])
                }
            }
        }
    }
}

extension NumPyArray {
    /// The array in the bytes of a `.npy` file (versions 1 to 3; little-endian float32,
    /// float64, int64, int32 or uint8, C order) as a float tensor.
    package static func tensor(fromBytes bytes: [UInt8]) throws(NumPyReadError) -> Tensor {
        let header = try NumPyHeader(parsing: bytes, dataByteLimit: bytes.count)
        guard bytes.count - header.dataOffset == header.dataByteCount else {
            throw NumPyReadError(reason: "it holds \(bytes.count - header.dataOffset) bytes of data, but shape \(header.shape) of \(header.elementType.rawValue) needs \(header.dataByteCount)")
        }
        return Tensor(shape: header.shape, scalars: header.scalars(bytes[header.dataOffset...]))
    }
}
