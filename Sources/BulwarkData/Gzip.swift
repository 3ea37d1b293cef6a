import CZlib

/// Why a gzip stream could not be decompressed.
package enum GzipError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input holds no bytes at all.
    case empty
    /// The input ends before the end of a compressed member (an interrupted download or copy).
    case truncated
    /// The compressed data is damaged; `reason` is zlib's message (for example "incorrect data
    /// check" for a CRC mismatch, or "incorrect header check" for data that is not gzip).
    case corrupt(reason: String)
    /// A complete gzip member is followed by bytes that do not start another member.
    case trailingData(offset: Int)
    /// zlib could not allocate its working memory.
    case outOfMemory

    /// A sentence describing the problem.
    package var description: String {
        switch self {
        case .empty:
            return "the compressed data is empty"
        case .truncated:
            return "the compressed data ends before the end of the gzip stream (the file is truncated)"
        case .corrupt(let reason):
            return "the compressed data is corrupt (zlib: \(reason))"
        case .trailingData(let offset):
            return "a complete gzip stream is followed, at byte \(offset), by data that is not another gzip member"
        case .outOfMemory:
            return "zlib ran out of memory while decompressing"
        }
    }
}

/// The largest expansion we trust the gzip size trailer for when sizing the first output buffer;
/// beyond it the buffer grows geometrically, so a damaged trailer cannot force a huge allocation.
private let maximumHintedExpansion = 16

/// Decompresses gzip (or zlib) data, including streams of several concatenated gzip members.
///
/// The first member's format is detected from its header (zlib's `windowBits` 15 + 32); every
/// later member must start with the gzip magic bytes `1f 8b`. Each member's CRC-32 and length
/// are checked by zlib.
///
/// - Parameter data: The compressed bytes.
/// - Returns: The decompressed bytes of all members, in order.
/// - Throws: ``GzipError``: `.empty`, `.truncated` when the input stops mid-member, `.corrupt`
///   on damaged data or a failed check, `.trailingData` when a member is followed by bytes that
///   are not another gzip member, `.outOfMemory`.
/// - Complexity: O(*n*) in the decompressed size. The output buffer is sized from the gzip
///   size trailer (capped at 16 × the input) and doubles when full, so large files are
///   decompressed with a constant number of reallocations.
package func gunzip(_ data: [UInt8]) throws(GzipError) -> [UInt8] {
    guard !data.isEmpty else { throw .empty }
    return try data.withUnsafeBufferPointer { input throws(GzipError) -> [UInt8] in
        try inflateMembers(input)
    }
}

/// The size trailer of the last gzip member (uncompressed size modulo 2³²), if plausible.
private func sizeHint(for input: UnsafeBufferPointer<UInt8>) -> Int {
    let count = input.count
    guard count >= 18 else { return 4 * count }
    var size = 0
    for offset in 0..<4 { size |= Int(input[count - 4 + offset]) << (8 * offset) }
    let cap = count.multipliedReportingOverflow(by: maximumHintedExpansion)
    let limit = cap.overflow ? Int.max : cap.partialValue
    return max(min(size, limit), 1024)
}

private func inflateMembers(_ input: UnsafeBufferPointer<UInt8>) throws(GzipError) -> [UInt8] {
    guard let inputBase = input.baseAddress else { throw .empty }
    var stream = z_stream()
    let initStatus = inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard initStatus == Z_OK else {
        throw initStatus == Z_MEM_ERROR ? .outOfMemory : .corrupt(reason: "inflateInit2 failed (\(initStatus))")
    }
    defer { inflateEnd(&stream) }

    let maximumChunk = Int(UInt32.max)
    stream.next_in = UnsafeMutablePointer(mutating: inputBase)
    stream.avail_in = UInt32(min(input.count, maximumChunk))

    var output = [UInt8](repeating: 0, count: sizeHint(for: input))
    var produced = 0

    while true {
        if produced == output.count {
            // Geometric growth: amortized O(1) per byte.
            output.append(contentsOf: repeatElement(0, count: output.count))
        }
        let availableOutput = min(output.count - produced, maximumChunk)
        let status: Int32 = output.withUnsafeMutableBufferPointer { buffer in
            guard let outputBase = buffer.baseAddress else { return Z_MEM_ERROR }
            stream.next_out = outputBase + produced
            stream.avail_out = UInt32(availableOutput)
            let status = inflate(&stream, Z_NO_FLUSH)
            produced += availableOutput - Int(stream.avail_out)
            stream.next_out = nil
            return status
        }

        // Offer the rest of an input larger than 4 GiB.
        let consumed = inputBase.distance(to: UnsafePointer(stream.next_in))
        if stream.avail_in == 0 && consumed < input.count {
            stream.avail_in = UInt32(min(input.count - consumed, maximumChunk))
        }
        let inputExhausted = consumed == input.count

        switch status {
        case Z_STREAM_END:
            if inputExhausted {
                output.removeLast(output.count - produced)
                return output
            }
            let remaining = input.count - consumed
            guard remaining >= 2, inputBase[consumed] == 0x1f, inputBase[consumed + 1] == 0x8b else {
                throw .trailingData(offset: consumed)
            }
            guard inflateReset(&stream) == Z_OK else {
                throw .corrupt(reason: "inflateReset failed")
            }
        case Z_OK:
            // inflate stops early only when the output is full; output space left over with
            // no input left means the stream stopped in the middle of a member.
            if inputExhausted && stream.avail_out > 0 { throw .truncated }
        case Z_BUF_ERROR:
            if inputExhausted { throw .truncated }
        case Z_MEM_ERROR:
            throw .outOfMemory
        case Z_NEED_DICT:
            throw .corrupt(reason: "the stream needs a preset dictionary")
        default:
            throw .corrupt(reason: stream.msg.map { String(cString: $0) } ?? "error \(status)")
        }
    }
}
