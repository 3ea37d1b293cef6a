import CZlib

/// The members of a zip archive (the container of NumPy's `.npz`), read from its central
/// directory (PKWARE's APPNOTE, sections 4.3.7, 4.3.12 and 4.3.16), stored or deflated, with
/// ZIP64 sizes.
///
/// Hand-written over zlib rather than through a zip package: the one available on Linux
/// (ZIPFoundation) brings its own `CZLib` module, which clashes with Bulwark's `CZlib`, and a
/// member here is inflated incrementally, so a zip bomb costs no more than the bytes the
/// reader asks for.
package struct ZipArchive {
    /// One file in the archive.
    package struct Member: Equatable {
        /// The member's name (its path inside the archive).
        package var name: String
        /// 0 for stored, 8 for deflated.
        package var method: Int
        /// The CRC-32 of the uncompressed bytes.
        package var checksum: UInt32
        /// The bytes of compressed data.
        package var compressedSize: Int
        /// The bytes the member holds uncompressed.
        package var uncompressedSize: Int
        /// Where the member's local header starts.
        package var localHeaderOffset: Int
    }

    /// The archive's path, for messages.
    package let path: String
    /// The members, in the central directory's order.
    package let members: [Member]
    private let bytes: [UInt8]

    /// The most one deflated byte can inflate to: deflate's limit is about 1032 to 1, so a
    /// member declaring more is damaged or crafted, and is refused before it is inflated.
    static let maximumCompressionRatio = 1032

    /// Reads the central directory of the archive in `bytes`.
    ///
    /// - Throws: ``DatasetError/invalidFile(path:problem:)`` when the bytes are not a zip
    ///   archive, the archive is truncated, or a member lies outside it.
    package init(bytes: [UInt8], path: String) throws(DatasetError) {
        self.path = path
        self.bytes = bytes
        func invalid(_ problem: String) -> DatasetError {
            .invalidFile(path: path, problem: problem + "; save the archive again (numpy.savez or numpy.savez_compressed)")
        }
        // The end-of-central-directory record: 22 bytes and a comment of up to 65,535.
        guard bytes.count >= 22 else { throw invalid("it holds \(bytes.count) bytes, too few for a zip archive") }
        var end = -1
        for offset in stride(from: bytes.count - 22, through: max(0, bytes.count - 22 - 65_535), by: -1)
        where Self.uint32(bytes, offset) == 0x0605_4B50 {
            end = offset
            break
        }
        guard end >= 0 else {
            throw invalid(Self.uint32(bytes, 0) == 0x0403_4B50
                ? "it starts like a zip archive but has no end of central directory (it is truncated)"
                : "it is not a zip archive (a .npz file is one)")
        }
        var entryCount = Int(Self.uint16(bytes, end + 10))
        var directorySize = Int(Self.uint32(bytes, end + 12))
        var directoryOffset = Int(Self.uint32(bytes, end + 16))
        // ZIP64: the locator just before the record points at a record with 64-bit fields.
        if (entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF),
           end >= 20, Self.uint32(bytes, end - 20) == 0x0706_4B50
        {
            let record = Self.uint64(bytes, end - 12)
            guard bytes.count >= 56, record <= UInt64(bytes.count - 56), Self.uint32(bytes, Int(record)) == 0x0606_4B50 else {
                throw invalid("its ZIP64 end of central directory lies outside the file")
            }
            entryCount = Self.clamped(Self.uint64(bytes, Int(record) + 32))
            directorySize = Self.clamped(Self.uint64(bytes, Int(record) + 40))
            directoryOffset = Self.clamped(Self.uint64(bytes, Int(record) + 48))
        }
        guard directoryOffset <= bytes.count, directorySize <= bytes.count - directoryOffset else {
            throw invalid("its central directory lies outside the file (it is truncated)")
        }
        var members = [Member]()
        var offset = directoryOffset
        for _ in 0..<min(entryCount, directorySize / 46) {
            guard offset <= bytes.count - 46, Self.uint32(bytes, offset) == 0x0201_4B50 else {
                throw invalid("its central directory is damaged")
            }
            let flags = Self.uint16(bytes, offset + 8)
            let nameLength = Int(Self.uint16(bytes, offset + 28)), extraLength = Int(Self.uint16(bytes, offset + 30))
            let commentLength = Int(Self.uint16(bytes, offset + 32))
            guard offset + 46 + nameLength + extraLength + commentLength <= bytes.count else {
                throw invalid("its central directory is damaged")
            }
            guard flags & 1 == 0 else { throw invalid("it is encrypted") }
            var member = Member(
                name: String(decoding: bytes[(offset + 46)..<(offset + 46 + nameLength)], as: UTF8.self),
                method: Int(Self.uint16(bytes, offset + 10)), checksum: Self.uint32(bytes, offset + 16),
                compressedSize: Int(Self.uint32(bytes, offset + 20)), uncompressedSize: Int(Self.uint32(bytes, offset + 24)),
                localHeaderOffset: Int(Self.uint32(bytes, offset + 42)))
            Self.applyZIP64(bytes[(offset + 46 + nameLength)..<(offset + 46 + nameLength + extraLength)], to: &member)
            members.append(member)
            offset += 46 + nameLength + extraLength + commentLength
        }
        guard members.count == entryCount else { throw invalid("its central directory is damaged") }
        self.members = members
    }

    /// The uncompressed bytes of `member`, inflated on demand: only as far as the reader
    /// reads, so a reader that stops where its header says the data ends never inflates a
    /// bomb.
    ///
    /// - Throws: ``DatasetError/invalidFile(path:problem:)`` for a member outside the archive,
    ///   a compression method other than stored or deflated, or a declared size deflate cannot
    ///   reach.
    package func contents(of member: Member) throws(DatasetError) -> FileBytes {
        let source = "\(path) (member \(member.name))"
        func invalid(_ problem: String) -> DatasetError {
            .invalidFile(path: source, problem: problem + "; save the archive again (numpy.savez or numpy.savez_compressed)")
        }
        let header = member.localHeaderOffset
        guard header <= bytes.count - 30, Self.uint32(bytes, header) == 0x0403_4B50 else {
            throw invalid("its local header lies outside the archive or is damaged")
        }
        let start = header + 30 + Int(Self.uint16(bytes, header + 26)) + Int(Self.uint16(bytes, header + 28))
        guard start <= bytes.count, member.compressedSize <= bytes.count - start else {
            throw invalid("its data reaches past the end of the archive (it is truncated)")
        }
        let data = Array(bytes[start..<(start + member.compressedSize)])
        switch member.method {
        case 0:
            guard member.compressedSize == member.uncompressedSize else {
                throw invalid("it is stored uncompressed, but declares \(member.compressedSize) bytes stored and \(member.uncompressedSize) uncompressed")
            }
            return try FileBytes(fileContents: data, path: source, detectsGzip: false)
        case 8:
            let (limit, overflow) = member.compressedSize.multipliedReportingOverflow(by: Self.maximumCompressionRatio)
            guard !overflow, member.uncompressedSize <= limit + 1024 else {
                throw invalid("it declares \(member.uncompressedSize) bytes from \(member.compressedSize) compressed, more than deflate can produce")
            }
            guard !data.isEmpty else { throw invalid("it has no compressed data") }
            return try FileBytes(deflated: data, path: source)
        default:
            throw invalid("it is compressed with method \(member.method); only stored (0) and deflated (8) members are read")
        }
    }

    /// The CRC-32 of `bytes`, as zip records it, continuing the checksum `initial` of the
    /// bytes before them.
    package static func checksum(_ bytes: [UInt8], continuing initial: UInt32 = 0) -> UInt32 {
        var crc = UInt(initial)
        var offset = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, 1 << 30)
            crc = bytes.withUnsafeBufferPointer { buffer in
                CZlib.crc32(crc, buffer.baseAddress! + offset, UInt32(chunk))
            }
            offset += chunk
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// Replaces sizes and offset saturated at `0xFFFFFFFF` with the 64-bit values of the
    /// ZIP64 extra field (tag 1), which lists only the saturated ones, in this order.
    private static func applyZIP64(_ extra: ArraySlice<UInt8>, to member: inout Member) {
        let extra = Array(extra)
        var offset = 0
        while offset + 4 <= extra.count {
            let tag = uint16(extra, offset), size = Int(uint16(extra, offset + 2))
            guard offset + 4 + size <= extra.count else { return }
            if tag == 1 {
                var field = offset + 4
                func next() -> Int? {
                    guard field + 8 <= offset + 4 + size else { return nil }
                    defer { field += 8 }
                    return clamped(uint64(extra, field))
                }
                if member.uncompressedSize == 0xFFFF_FFFF, let value = next() { member.uncompressedSize = value }
                if member.compressedSize == 0xFFFF_FFFF, let value = next() { member.compressedSize = value }
                if member.localHeaderOffset == 0xFFFF_FFFF, let value = next() { member.localHeaderOffset = value }
                return
            }
            offset += 4 + size
        }
    }

    private static func uint16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        guard offset >= 0, offset + 2 <= bytes.count else { return 0 }
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    private static func uint32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        guard offset >= 0, offset + 4 <= bytes.count else { return 0 }
        return (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    private static func uint64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        guard offset >= 0, offset + 8 <= bytes.count else { return 0 }
        return (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }

    /// `value` as an `Int`, saturated so that a crafted size fails the range checks instead of trapping.
    private static func clamped(_ value: UInt64) -> Int { value > UInt64(Int.max / 2) ? Int.max / 2 : Int(value) }
}
