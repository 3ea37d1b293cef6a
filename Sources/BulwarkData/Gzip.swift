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
/// - Complexity: O(*n*) in the decompressed size; the output grows geometrically.
package func gunzip(_ data: [UInt8]) throws(GzipError) -> [UInt8] {
    let stream = try GzipStream(data)
    var output = [UInt8]()
    while try stream.read(upTo: Int.max, into: &output) > 0 {}
    return output
}

/// An incremental gzip (or zlib) decompressor: decompresses only as many bytes as are asked
/// for, so a reader can stop early and a small file that would inflate to gigabytes costs
/// only what is read.
///
/// Concatenated gzip members are read as one stream, as by ``gunzip(_:)``.
package final class GzipStream {
    /// zlib's state; on the heap because zlib keeps a pointer to it.
    private let stream: UnsafeMutablePointer<z_stream>
    /// A copy of the compressed bytes, at a stable address for `next_in`.
    private let input: UnsafeMutablePointer<UInt8>
    private let inputCount: Int
    /// Whether the last member has ended with the input.
    private var finished = false
    /// Whether the input is a bare deflate stream (a zip member) rather than gzip or zlib.
    private let isRawDeflate: Bool

    /// Starts decompressing `data`: gzip or zlib, or with `rawDeflate` a bare deflate stream
    /// with no header or trailer (how a zip archive stores a member), which must end exactly
    /// where `data` does.
    ///
    /// - Throws: ``GzipError/empty`` for no bytes, `.outOfMemory` or `.corrupt` if zlib cannot start.
    package init(_ data: [UInt8], rawDeflate: Bool = false) throws(GzipError) {
        isRawDeflate = rawDeflate
        guard !data.isEmpty else { throw .empty }
        inputCount = data.count
        let input = UnsafeMutablePointer<UInt8>.allocate(capacity: data.count)
        data.withUnsafeBufferPointer { bytes in
            if let base = bytes.baseAddress { input.initialize(from: base, count: data.count) }
        }
        self.input = input
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        self.stream = stream
        stream.initialize(to: z_stream())
        let status = inflateInit2_(stream, rawDeflate ? -15 : 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deallocate()
            input.deallocate()
            throw status == Z_MEM_ERROR ? .outOfMemory : .corrupt(reason: "inflateInit2 failed (\(status))")
        }
        stream.pointee.next_in = input
        stream.pointee.avail_in = UInt32(min(inputCount, Int(UInt32.max)))
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
    }

    /// Appends up to `count` decompressed bytes to `output`, fewer only at the end of the stream.
    ///
    /// The output grows with what is produced, never by `count` at once, so asking for more
    /// than the stream holds allocates only what it holds.
    ///
    /// - Returns: The number of bytes appended; 0 once the stream has ended.
    /// - Throws: ``GzipError`` as ``gunzip(_:)``.
    @discardableResult
    package func read(upTo count: Int, into output: inout [UInt8]) throws(GzipError) -> Int {
        var total = 0
        while total < count && !finished {
            let chunk = min(count - total, max(1 << 16, min(output.count, 1 << 30)), Int(UInt32.max))
            let start = output.count
            output.append(contentsOf: repeatElement(0, count: chunk))
            var produced = 0
            let result: Result<Void, GzipError> = output.withUnsafeMutableBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return .failure(.outOfMemory) }
                do throws(GzipError) {
                    produced = try inflate(into: base + start, count: chunk)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            output.removeLast(chunk - produced)
            total += produced
            try result.get()
        }
        return total
    }

    /// Inflates into `count` bytes at `destination`, stopping early only at the end of the stream.
    private func inflate(into destination: UnsafeMutablePointer<UInt8>, count: Int) throws(GzipError) -> Int {
        stream.pointee.next_out = destination
        stream.pointee.avail_out = UInt32(count)
        defer { stream.pointee.next_out = nil }
        while stream.pointee.avail_out > 0 && !finished {
            let status = CZlib.inflate(stream, Z_NO_FLUSH)
            // Offer the rest of an input larger than 4 GiB.
            let consumed = input.distance(to: stream.pointee.next_in)
            var refilled = false
            if stream.pointee.avail_in == 0 && consumed < inputCount {
                stream.pointee.avail_in = UInt32(min(inputCount - consumed, Int(UInt32.max)))
                refilled = true
            }
            let inputExhausted = consumed == inputCount
            switch status {
            case Z_STREAM_END:
                if inputExhausted {
                    finished = true
                    break
                }
                guard !isRawDeflate, inputCount - consumed >= 2, input[consumed] == 0x1f, input[consumed + 1] == 0x8b else {
                    throw .trailingData(offset: consumed)
                }
                guard inflateReset(stream) == Z_OK else { throw .corrupt(reason: "inflateReset failed") }
            case Z_OK:
                // inflate stops early only when the output is full; output space left over with
                // no input left means the stream stopped in the middle of a member.
                if inputExhausted && stream.pointee.avail_out > 0 { throw .truncated }
            case Z_BUF_ERROR:
                if inputExhausted { throw .truncated }
                if !refilled { throw .corrupt(reason: "no progress possible") }
            case Z_MEM_ERROR:
                throw .outOfMemory
            case Z_NEED_DICT:
                throw .corrupt(reason: "the stream needs a preset dictionary")
            default:
                throw .corrupt(reason: stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)")
            }
        }
        return count - Int(stream.pointee.avail_out)
    }
}
