/// An array read from an IDX file, the format of MNIST and its relatives.
///
/// An IDX file is a big-endian header — the magic number `0x0000_TTDD`, where `TT` is the
/// element type code and `DD` the number of dimensions, then one UInt32 extent per
/// dimension — followed by the elements in row-major order. Only unsigned-byte elements
/// (type code `0x08`) are supported. The file may be gzipped (detected from its content).
package struct IDXArray: Sendable {
    /// The file read, for error messages.
    package var path: String
    /// The extent of each dimension, outermost first (`[count, rows, columns]` for images).
    package var dimensions: [Int]
    /// The file's bytes after decompression: header, then elements.
    package var storage: [UInt8]
    /// Where the elements start in ``storage``.
    package var elementOffset: Int

    /// The number of elements held: the product of ``dimensions``, or of ``loadedCount`` and
    /// the inner dimensions when a limit was given.
    package var elementCount: Int { storage.count - elementOffset }

    /// How many entries of the outermost dimension are held: `dimensions[0]`, or fewer when
    /// a limit was given.
    package var loadedCount: Int

    /// Reads and validates the IDX file at `path`.
    ///
    /// - Parameters:
    ///   - path: The file, raw or gzipped.
    ///   - rank: The number of dimensions the file must have (3 for images, 1 for labels).
    ///   - limit: Read only the first `limit` entries of the outermost dimension (images or
    ///     labels); a gzipped file is then decompressed no further than they end, and what
    ///     follows is not checked. `nil` reads them all and checks that nothing follows.
    /// - Throws: The file errors of ``contentsOfFile(atPath:)`` and the format errors of
    ///   ``init(reading:rank:limit:)``.
    package init(contentsOfFile path: String, rank: Int, limit: Int? = nil) throws(DatasetError) {
        try self.init(reading: FileBytes(contentsOfFile: path), rank: rank, limit: limit)
    }

    /// Validates decompressed IDX bytes.
    ///
    /// - Parameters:
    ///   - bytes: The whole (decompressed) file.
    ///   - path: The file the bytes came from, for error messages.
    ///   - rank: The number of dimensions the file must have.
    /// - Throws: The format errors of ``init(reading:rank:limit:)``.
    package init(decoding bytes: [UInt8], path: String, rank: Int) throws(DatasetError) {
        try self.init(reading: FileBytes(fileContents: bytes, path: path), rank: rank, limit: nil)
    }

    /// Reads and validates an IDX file, decompressing no more than its header declares.
    ///
    /// - Parameters:
    ///   - file: The file, positioned at its start.
    ///   - rank: The number of dimensions the file must have.
    ///   - limit: As for ``init(contentsOfFile:rank:limit:)``; at least 0.
    /// - Throws: ``DatasetError/notIDX(path:magic:)`` if the first two bytes are not zero or the
    ///   type code is unknown; ``DatasetError/unsupportedElementType(path:typeCode:)`` for a
    ///   known type other than uint8; ``DatasetError/unexpectedRank(path:expected:found:)``;
    ///   ``DatasetError/emptyDimension(path:dimensions:)``; ``DatasetError/truncated(path:expectedBytes:actualBytes:)``
    ///   if the header or elements are cut short; ``DatasetError/unaddressableSize(path:dimensions:)``;
    ///   ``DatasetError/trailingBytes(path:expectedBytes:actualBytes:)`` if bytes follow the
    ///   last element (checked only when reading them all); ``DatasetError/corruptCompression(path:reason:)``.
    package init(reading file: FileBytes, rank: Int, limit: Int? = nil) throws(DatasetError) {
        precondition(limit.map { $0 >= 0 } ?? true, "IDX limit must not be negative")
        let path = file.path
        var bytes = [UInt8]()
        try file.read(upTo: 4, into: &bytes)
        guard bytes.count >= 4 else {
            var magic: UInt32 = 0
            for byte in bytes { magic = magic << 8 | UInt32(byte) }
            if bytes.contains(where: { $0 != 0 }) {
                throw .notIDX(path: path, magic: magic << (8 * UInt32(4 - bytes.count)))
            }
            throw .truncated(path: path, expectedBytes: 4, actualBytes: bytes.count)
        }
        let magic = Self.bigEndianUInt32(bytes, at: 0)
        let typeCode = bytes[2]
        let declaredRank = Int(bytes[3])
        guard bytes[0] == 0, bytes[1] == 0, [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E].contains(typeCode) else {
            throw .notIDX(path: path, magic: magic)
        }
        guard typeCode == 0x08 else { throw .unsupportedElementType(path: path, typeCode: typeCode) }
        guard declaredRank == rank else {
            throw .unexpectedRank(path: path, expected: rank, found: declaredRank)
        }

        let headerSize = 4 + 4 * declaredRank
        try file.read(upTo: headerSize - 4, into: &bytes)
        guard bytes.count >= headerSize else {
            throw .truncated(path: path, expectedBytes: headerSize, actualBytes: bytes.count)
        }
        let dimensions = (0..<declaredRank).map { Int(Self.bigEndianUInt32(bytes, at: 4 + 4 * $0)) }
        guard !dimensions.contains(0) else {
            throw .emptyDimension(path: path, dimensions: dimensions)
        }

        let product = dimensions.reduce((value: 1, overflow: false)) { partial, extent in
            guard !partial.overflow else { return partial }
            let next = partial.value.multipliedReportingOverflow(by: extent)
            return (next.partialValue, next.overflow)
        }
        let total = product.value.addingReportingOverflow(headerSize)
        guard !product.overflow, !total.overflow else {
            throw .unaddressableSize(path: path, dimensions: dimensions)
        }
        let expectedSize = total.partialValue
        // Neither overflows: both are at most the product.
        let entrySize = dimensions.dropFirst().reduce(1, *)
        let loadedCount = min(dimensions[0], limit ?? dimensions[0])
        let elementBytes = loadedCount * entrySize
        try file.read(upTo: elementBytes, into: &bytes)
        guard bytes.count == headerSize + elementBytes else {
            throw .truncated(path: path, expectedBytes: expectedSize, actualBytes: bytes.count)
        }
        if limit == nil {
            // Count trailing bytes only so far: a stream may inflate far beyond its header.
            let countedLimit = 1 << 24
            let extra = try file.remainingCount(upTo: countedLimit + 1)
            guard extra == 0 else {
                let actual = extra > countedLimit ? Int.max : expectedSize + extra
                throw .trailingBytes(path: path, expectedBytes: expectedSize, actualBytes: actual)
            }
        }

        self.path = path
        self.dimensions = dimensions
        self.storage = bytes
        self.elementOffset = headerSize
        self.loadedCount = loadedCount
    }

    /// Calls `body` with the elements, without copying them.
    package func withUnsafeElements<Result, Failure: Error>(
        _ body: (UnsafeBufferPointer<UInt8>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try storage.withUnsafeBufferPointer { buffer throws(Failure) -> Result in
            try body(UnsafeBufferPointer(rebasing: buffer[elementOffset...]))
        }
    }

    private static func bigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }
}
