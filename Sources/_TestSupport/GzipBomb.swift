import CZlib

/// Why ``gzipOfZeros(after:zeroCount:)`` could not compress.
public struct DeflateFailure: Error {
    /// zlib's status.
    public var status: Int32
}

/// `header` followed by `zeroCount` zero bytes as one gzip member, compressed in chunks so the
/// zeros are never held in memory: a small file that inflates to far more (deflate packs
/// zeros about 1,000 : 1).
public func gzipOfZeros(after header: [UInt8], zeroCount: Int) throws -> [UInt8] {
    var stream = z_stream()
    let initStatus = deflateInit2_(
        &stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY,
        zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard initStatus == Z_OK else { throw DeflateFailure(status: initStatus) }
    defer { deflateEnd(&stream) }
    var result = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    func feed(_ chunk: [UInt8], flush: Int32) throws {
        var input = chunk
        try input.withUnsafeMutableBufferPointer { inputBuffer in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = UInt32(inputBuffer.count)
            while true {
                let (status, produced) = buffer.withUnsafeMutableBufferPointer { outputBuffer in
                    stream.next_out = outputBuffer.baseAddress
                    stream.avail_out = UInt32(outputBuffer.count)
                    let status = deflate(&stream, flush)
                    return (status, outputBuffer.count - Int(stream.avail_out))
                }
                guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                    throw DeflateFailure(status: status)
                }
                result += buffer.prefix(produced)
                if flush == Z_FINISH ? status == Z_STREAM_END : stream.avail_out > 0 { break }
            }
        }
    }
    try feed(header, flush: Z_NO_FLUSH)
    let zeros = [UInt8](repeating: 0, count: 1 << 20)
    var remaining = zeroCount
    while remaining > 0 {
        let chunk = min(remaining, zeros.count)
        try feed(chunk == zeros.count ? zeros : Array(zeros.prefix(chunk)), flush: Z_NO_FLUSH)
        remaining -= chunk
    }
    try feed([], flush: Z_FINISH)
    return result
}
