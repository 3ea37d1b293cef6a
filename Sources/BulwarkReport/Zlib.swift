import CZlib

/// Why zlib could not compress data.
public enum CompressionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input is larger than zlib can take in one call (4 GiB).
    case inputTooLarge(byteCount: Int)
    /// zlib reported an error; `status` is its return code.
    case zlibFailed(status: Int32)

    /// A sentence describing the problem.
    public var description: String {
        switch self {
        case .inputTooLarge(let byteCount):
            return "\(byteCount) bytes are too many to compress in one piece (at most 4 GiB)"
        case .zlibFailed(let status):
            return "zlib failed to compress (status \(status))"
        }
    }
}

/// Compresses `bytes` into a zlib stream (RFC 1950: header, deflate data, Adler-32), as PNG's
/// IDAT data requires.
///
/// - Parameters:
///   - bytes: The data to compress.
///   - level: zlib's compression level, 0 (store) to 9 (smallest); 6 is zlib's default.
/// - Throws: ``CompressionError`` if the input exceeds 4 GiB or zlib fails.
/// - Complexity: O(*n*).
package func zlibCompress(_ bytes: [UInt8], level: Int32 = 6) throws(CompressionError) -> [UInt8] {
    guard bytes.count <= Int(UInt32.max) else { throw .inputTooLarge(byteCount: bytes.count) }
    var capacity = compressBound(uLong(bytes.count))
    var output = [UInt8](repeating: 0, count: Int(capacity))
    let status = output.withUnsafeMutableBufferPointer { destination in
        bytes.withUnsafeBufferPointer { source in
            compress2(destination.baseAddress, &capacity, source.baseAddress, uLong(source.count), level)
        }
    }
    guard status == Z_OK else { throw .zlibFailed(status: status) }
    output.removeLast(output.count - Int(capacity))
    return output
}

/// The CRC-32 (ISO 3309, the polynomial PNG and gzip use) of `bytes`, continuing from `crc`.
///
/// - Complexity: O(*n*).
package func crc32Checksum<Bytes: Collection>(_ bytes: Bytes, continuing crc: UInt32 = 0) -> UInt32
where Bytes.Element == UInt8 {
    let result = bytes.withContiguousStorageIfAvailable { buffer in
        crc32(uLong(crc), buffer.baseAddress, uInt(buffer.count))
    } ?? Array(bytes).withUnsafeBufferPointer { buffer in
        crc32(uLong(crc), buffer.baseAddress, uInt(buffer.count))
    }
    return UInt32(truncatingIfNeeded: result)
}
