import BulwarkCore
import Foundation

/// Writing NumPy `.npy` files (format version 1.0), so Python users can `numpy.load` what
/// Bulwark produces without any extra package.
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
