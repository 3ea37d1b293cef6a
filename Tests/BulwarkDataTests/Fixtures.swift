import CZlib
import Foundation
import Testing

/// The bytes of an IDX file: magic `0x0000_TTDD`, big-endian extents, then `elements`.
func idxBytes(typeCode: UInt8 = 0x08, dimensions: [Int], elements: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, typeCode, UInt8(dimensions.count)]
    for extent in dimensions {
        let value = UInt32(extent)
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
    return bytes + elements
}

/// A small image set: `count` images of `rows` × `columns` pixels whose bytes are
/// `(image * 7 + pixel) % 256`, and labels `image % classCount`.
struct SyntheticIDX {
    var count: Int
    var rows: Int
    var columns: Int
    var classCount = 10

    var pixelBytes: [UInt8] {
        let pixels = rows * columns
        return (0..<(count * pixels)).map { UInt8(($0 / pixels * 7 + $0 % pixels) % 256) }
    }
    var labelBytes: [UInt8] { (0..<count).map { UInt8($0 % classCount) } }
    var imagesFile: [UInt8] { idxBytes(dimensions: [count, rows, columns], elements: pixelBytes) }
    var labelsFile: [UInt8] { idxBytes(dimensions: [count], elements: labelBytes) }
}

/// Compresses `bytes` into one gzip member with zlib (`deflateInit2`, windowBits 15 + 16).
func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
    var stream = z_stream()
    let initStatus = deflateInit2_(
        &stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY,
        zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    try #require(initStatus == Z_OK)
    defer { deflateEnd(&stream) }
    var input = bytes
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 32)
    let status = input.withUnsafeMutableBufferPointer { inputBuffer in
        output.withUnsafeMutableBufferPointer { outputBuffer in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = UInt32(inputBuffer.count)
            stream.next_out = outputBuffer.baseAddress
            stream.avail_out = UInt32(outputBuffer.count)
            return deflate(&stream, Z_FINISH)
        }
    }
    try #require(status == Z_STREAM_END)
    return Array(output.prefix(Int(stream.total_out)))
}
