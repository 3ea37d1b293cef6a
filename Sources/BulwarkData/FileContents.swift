import Foundation

/// Whether `bytes` start with the gzip magic bytes `1f 8b`.
package func hasGzipMagic(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// The bytes of the file at `path`, decompressed when the file is gzipped.
///
/// Compression is detected from the content (the gzip magic bytes `1f 8b`), not from the
/// extension, so a gzipped file without `.gz` and a raw file with `.gz` both read correctly.
///
/// - Throws: ``DatasetError/fileNotFound(path:)``, ``DatasetError/notAFile(path:)``,
///   ``DatasetError/unreadableFile(path:reason:)`` or
///   ``DatasetError/corruptCompression(path:reason:)``.
package func contentsOfFile(atPath path: String, detectsGzip: Bool = true) throws(DatasetError) -> [UInt8] {
    try FileBytes(contentsOfFile: path, detectsGzip: detectsGzip).readAll()
}

/// The (decompressed) bytes of a file, read front to back on demand.
///
/// A gzipped file is decompressed only as far as it is read, so a reader that needs the
/// first bytes, or checks a header before reading on, never inflates more than it asks for.
package final class FileBytes {
    /// The file, for error messages.
    package let path: String
    /// A raw file's bytes, or the compressed bytes of a gzipped one.
    private let bytes: [UInt8]
    /// How far a raw file has been read.
    private var offset = 0
    /// The decompressor of a gzipped file.
    private let gzip: GzipStream?

    /// Opens the file at `path`; compression is detected from the content (unless
    /// `detectsGzip` is `false`).
    ///
    /// - Throws: ``DatasetError/fileNotFound(path:)``, ``DatasetError/notAFile(path:)``,
    ///   ``DatasetError/unreadableFile(path:reason:)``.
    package convenience init(contentsOfFile path: String, detectsGzip: Bool = true) throws(DatasetError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .fileNotFound(path: path)
        }
        guard !isDirectory.boolValue else { throw .notAFile(path: path) }
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .unreadableFile(path: path, reason: error.localizedDescription)
        }
        try self.init(fileContents: bytes, path: path, detectsGzip: detectsGzip)
    }

    /// Reads a file's bytes held in memory, decompressing them when they start with the gzip
    /// magic bytes (unless `detectsGzip` is `false`: a zip archive's stored member is read as is).
    ///
    /// - Throws: ``DatasetError/corruptCompression(path:reason:)`` if zlib cannot start.
    package init(fileContents bytes: [UInt8], path: String, detectsGzip: Bool = true) throws(DatasetError) {
        self.path = path
        if detectsGzip && hasGzipMagic(bytes) {
            do {
                gzip = try GzipStream(bytes)
            } catch {
                throw .corruptCompression(path: path, reason: error.description)
            }
            self.bytes = []
        } else {
            gzip = nil
            self.bytes = bytes
        }
    }

    /// Reads a zip member's bare deflate stream `bytes` (its compressed data, no header),
    /// decompressing only as far as it is read.
    ///
    /// - Throws: ``DatasetError/corruptCompression(path:reason:)`` if zlib cannot start.
    package init(deflated bytes: [UInt8], path: String) throws(DatasetError) {
        self.path = path
        do {
            gzip = try GzipStream(bytes, rawDeflate: true)
        } catch {
            throw .corruptCompression(path: path, reason: error.description)
        }
        self.bytes = []
    }

    /// Appends up to `count` bytes to `output`, fewer only at the end of the file.
    ///
    /// - Returns: The number of bytes appended.
    /// - Throws: ``DatasetError/corruptCompression(path:reason:)``.
    @discardableResult
    package func read(upTo count: Int, into output: inout [UInt8]) throws(DatasetError) -> Int {
        guard count > 0 else { return 0 }
        guard let gzip else {
            let end = offset + min(count, bytes.count - offset)
            output.append(contentsOf: bytes[offset..<end])
            defer { offset = end }
            return end - offset
        }
        do {
            return try gzip.read(upTo: count, into: &output)
        } catch {
            throw .corruptCompression(path: path, reason: error.description)
        }
    }

    /// The rest of the file.
    package func readAll() throws(DatasetError) -> [UInt8] {
        var output = [UInt8]()
        try read(upTo: Int.max, into: &output)
        return output
    }

    /// The number of bytes left, up to `limit`: more are neither read nor counted, so
    /// damaged data that would inflate to gigabytes costs only `limit` bytes of work.
    /// Constant memory.
    package func remainingCount(upTo limit: Int) throws(DatasetError) -> Int {
        guard gzip != nil else { return min(bytes.count - offset, limit) }
        var total = 0
        var scratch = [UInt8]()
        scratch.reserveCapacity(1 << 20)
        while total < limit {
            scratch.removeAll(keepingCapacity: true)
            let read = try read(upTo: min(1 << 20, limit - total), into: &scratch)
            guard read > 0 else { break }
            total += read
        }
        return total
    }
}
