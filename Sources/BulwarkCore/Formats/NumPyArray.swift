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
package struct NumPyReadError: Error {
    package var reason: String
}

extension NumPyArray {
    /// The array in the bytes of a `.npy` file (versions 1 to 3; little-endian float32,
    /// float64, int64, int32 or uint8, C order) as a float tensor.
    package static func tensor(fromBytes bytes: [UInt8]) throws(NumPyReadError) -> Tensor {
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw NumPyReadError(reason: "it is not a NumPy .npy file")
        }
        let major = bytes[6]
        let lengthSize = major == 1 ? 2 : 4
        guard (1...3).contains(major), bytes.count >= 8 + lengthSize else { throw NumPyReadError(reason: "unsupported .npy version \(major)") }
        let headerLength = (0..<lengthSize).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        let dataStart = 8 + lengthSize + headerLength
        guard bytes.count >= dataStart else { throw NumPyReadError(reason: "the header is cut short") }
        let header = String(decoding: bytes[(8 + lengthSize)..<dataStart], as: UTF8.self)
        func value(of key: String) -> Substring? {
            guard let range = header.range(of: "'\(key)':") else { return nil }
            return header[range.upperBound...].drop { $0 == " " }
        }
        guard let descriptorText = value(of: "descr"), let shapeText = value(of: "shape"),
              let descriptor = descriptorText.dropFirst().split(separator: "'").first,
              let closing = shapeText.firstIndex(of: ")")
        else { throw NumPyReadError(reason: "the header lacks 'descr' or 'shape'") }
        if value(of: "fortran_order")?.hasPrefix("True") == true { throw NumPyReadError(reason: "Fortran-order arrays are not supported") }
        var shape = [Int]()
        for part in shapeText.dropFirst()[..<closing].split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let extent = Int(trimmed), extent >= 0 else { throw NumPyReadError(reason: "the shape \(shapeText[...closing]) is not a tuple of sizes") }
            shape.append(extent)
        }
        // A crafted header may declare sizes whose product overflows: refuse it rather than trap.
        var count = 1
        for extent in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= bytes.count else {
                throw NumPyReadError(reason: "the shape \(shape) declares more values than the file's \(bytes.count) bytes hold")
            }
            count = product
        }
        let size: Int
        let convert: (ArraySlice<UInt8>) -> Float
        func word(_ slice: ArraySlice<UInt8>) -> UInt64 { slice.reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        switch descriptor {
        case "<f4": size = 4; convert = { Float(bitPattern: UInt32(word($0))) }
        case "<f8": size = 8; convert = { Float(Double(bitPattern: word($0))) }
        case "<i8": size = 8; convert = { Float(Int64(bitPattern: word($0))) }
        case "<i4": size = 4; convert = { Float(Int32(bitPattern: UInt32(word($0)))) }
        case "|u1", "<u1": size = 1; convert = { Float($0.first ?? 0) }
        default: throw NumPyReadError(reason: "dtype '\(descriptor)' is not one Bulwark reads (<f4, <f8, <i8, <i4, |u1)")
        }
        guard bytes.count - dataStart == count * size else {
            throw NumPyReadError(reason: "it holds \(bytes.count - dataStart) bytes of data, but shape \(shape) of \(descriptor) needs \(count * size)")
        }
        let scalars = (0..<count).map { convert(bytes[(dataStart + $0 * size)..<(dataStart + ($0 + 1) * size)]) }
        return Tensor(shape: shape, scalars: scalars)
    }
}
