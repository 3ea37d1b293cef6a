#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Reading

extension SafeTensorsFile {
    /// The name used in errors for bytes that did not come from a file.
    public static let inMemorySource = "<in-memory safetensors>"

    /// Reads and validates the safetensors file at `path`.
    ///
    /// Non-`F32` tensors are converted as the type's documentation describes.
    ///
    /// - Parameter path: The file's path.
    /// - Throws: ``CheckpointError`` naming `path` if the file cannot be read or is malformed.
    /// - Complexity: O(file size).
    public init(contentsOf path: String) throws(CheckpointError) {
        let bytes = try Self.readAllBytes(atPath: path)
        try self.init(bytes: bytes, source: path)
    }

    /// Parses and validates the bytes of a safetensors file.
    ///
    /// - Parameters:
    ///   - bytes: The whole file's contents.
    ///   - source: The name errors use for these bytes, such as a file path or URL.
    /// - Throws: ``CheckpointError`` if the bytes are not a valid safetensors file.
    /// - Complexity: O(`bytes.count`).
    public init(bytes: [UInt8], source: String = SafeTensorsFile.inMemorySource) throws(CheckpointError) {
        self = try Self.parsedWithDataTypes(bytes: bytes, source: source).file
    }

    /// The file at `path` and each tensor's `dtype` as its header names it (`U8`, `F32`, …):
    /// reading converts every tensor to `Float`, but an image reader divides `U8` pixels by
    /// 255 and takes float pixels as they are.
    ///
    /// - Throws: ``CheckpointError`` as ``init(contentsOf:)``.
    package static func readWithDataTypes(contentsOf path: String) throws(CheckpointError) -> (file: SafeTensorsFile, dataTypes: [String: String]) {
        try parsedWithDataTypes(bytes: readAllBytes(atPath: path), source: path)
    }

    /// The file in `bytes` and each tensor's `dtype`, as ``readWithDataTypes(contentsOf:)``.
    package static func parsedWithDataTypes(bytes: [UInt8], source: String) throws(CheckpointError) -> (file: SafeTensorsFile, dataTypes: [String: String]) {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(CheckpointError) in try Self.parse(buffer, source: source) }
        }
        return try result.get()
    }

    /// Parses a whole safetensors file held in `buffer`, with each tensor's `dtype`.
    private static func parse(_ buffer: UnsafeRawBufferPointer, source: String) throws(CheckpointError) -> (file: SafeTensorsFile, dataTypes: [String: String]) {
        guard buffer.count >= 8 else { throw .fileTooShort(path: source, byteCount: buffer.count) }
        var declaredLength: UInt64 = 0
        for index in 0..<8 { declaredLength |= UInt64(buffer[index]) << (8 * UInt64(index)) }
        let available = buffer.count - 8
        // Compare in UInt64 so a huge declared length can neither overflow nor trap.
        guard declaredLength <= UInt64(available) else {
            throw .headerLengthExceedsFile(path: source, headerByteCount: declaredLength, availableByteCount: available)
        }
        let headerLength = Int(declaredLength)
        let header = UnsafeRawBufferPointer(rebasing: buffer[8..<(8 + headerLength)])
        let data = UnsafeRawBufferPointer(rebasing: buffer[(8 + headerLength)...])

        let root: JSONValue
        do {
            var parser = JSONParser(header)
            root = try parser.parseDocument()
        } catch {
            throw .headerNotJSON(path: source, reason: error.reason)
        }
        guard case .object(let members) = root else { throw .headerNotObject(path: source) }

        var metadata: [String: String] = [:]
        var entries: [TensorEntry] = []
        for (name, value) in members {
            if name == metadataKey {
                metadata = try parseMetadata(value, source: source)
            } else {
                entries.append(try parseEntry(name: name, value: value, bufferByteCount: data.count, source: source))
            }
        }
        try checkCoverage(entries, bufferByteCount: data.count, source: source)

        var tensors: [String: Tensor] = [:]
        tensors.reserveCapacity(entries.count)
        for entry in entries {
            let bytes = UnsafeRawBufferPointer(rebasing: data[entry.begin..<entry.end])
            tensors[entry.name] = Tensor(shape: entry.shape, scalars: entry.dataType.decode(bytes, count: entry.elementCount))
        }
        let dataTypes = Dictionary(entries.map { ($0.name, $0.dataType.rawValue) }, uniquingKeysWith: { first, _ in first })
        return (SafeTensorsFile(tensors: tensors, metadata: metadata), dataTypes)
    }

    /// One validated header entry.
    private struct TensorEntry {
        var name: String
        var dataType: DataType
        var shape: [Int]
        var elementCount: Int
        var begin: Int
        var end: Int
    }

    private static func parseMetadata(_ value: JSONValue, source: String) throws(CheckpointError) -> [String: String] {
        guard case .object(let members) = value else {
            throw .invalidMetadata(path: source, key: metadataKey, reason: "it is \(value.kindDescription), not an object of strings")
        }
        var metadata: [String: String] = [:]
        for (key, member) in members {
            guard case .string(let text) = member else {
                throw .invalidMetadata(path: source, key: key, reason: "its value is \(member.kindDescription), not a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    private static func parseEntry(
        name: String, value: JSONValue, bufferByteCount: Int, source: String
    ) throws(CheckpointError) -> TensorEntry {
        guard case .object(let members) = value else {
            throw .invalidField(path: source, tensor: name, field: "entry", reason: "it is \(value.kindDescription), not an object")
        }
        func field(_ key: String) throws(CheckpointError) -> JSONValue {
            guard let found = members.first(where: { $0.key == key }) else {
                throw .missingField(path: source, tensor: name, field: key)
            }
            return found.value
        }

        guard case .string(let dataTypeName) = try field("dtype") else {
            throw .invalidField(path: source, tensor: name, field: "dtype", reason: "it is not a string")
        }

        guard case .array(let extents) = try field("shape") else {
            throw .invalidField(path: source, tensor: name, field: "shape", reason: "it is not an array of integers")
        }
        var shape: [Int] = []
        shape.reserveCapacity(extents.count)
        for extent in extents {
            guard case .number(let text) = extent, let value = Int(text), value >= 0 else {
                throw .invalidField(path: source, tensor: name, field: "shape", reason: "extent \(extent.compactDescription) is not a non-negative integer")
            }
            shape.append(value)
        }

        guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2,
              case .number(let beginText) = offsets[0], case .number(let endText) = offsets[1],
              let begin = UInt64(beginText), let end = UInt64(endText)
        else {
            throw .invalidField(path: source, tensor: name, field: "data_offsets", reason: "it is not an array of two non-negative integers [begin, end]")
        }
        guard begin <= end else {
            throw .invalidField(path: source, tensor: name, field: "data_offsets", reason: "begin \(begin) is after end \(end)")
        }

        guard let dataType = DataType(rawValue: dataTypeName) else {
            throw .unsupportedDataType(path: source, tensor: name, dataType: dataTypeName)
        }

        // Reject shapes whose element count overflows in any order of multiplication, so that
        // no later `reduce(1, *)` over the shape can trap.
        var nonzeroProduct = 1
        for extent in shape where extent != 0 {
            let (product, overflow) = nonzeroProduct.multipliedReportingOverflow(by: extent)
            guard !overflow else {
                throw .invalidField(path: source, tensor: name, field: "shape", reason: "the element count of \(shape) overflows")
            }
            nonzeroProduct = product
        }
        let elementCount = shape.contains(0) ? 0 : nonzeroProduct
        let (expectedByteCount, overflow) = elementCount.multipliedReportingOverflow(by: dataType.byteWidth)
        guard !overflow else {
            throw .invalidField(path: source, tensor: name, field: "shape", reason: "the byte count of \(shape) overflows")
        }

        guard end <= UInt64(bufferByteCount) else {
            throw .offsetsOutOfRange(path: source, tensor: name, begin: begin, end: end, bufferByteCount: bufferByteCount)
        }
        let actualByteCount = Int(end - begin)
        guard actualByteCount == expectedByteCount else {
            throw .byteCountMismatch(
                path: source, tensor: name, dataType: dataTypeName, shape: shape,
                expectedByteCount: expectedByteCount, actualByteCount: actualByteCount)
        }
        return TensorEntry(
            name: name, dataType: dataType, shape: shape, elementCount: elementCount,
            begin: Int(begin), end: Int(end))
    }

    /// Checks that the entries' byte ranges tile `0..<bufferByteCount` exactly.
    private static func checkCoverage(_ entries: [TensorEntry], bufferByteCount: Int, source: String) throws(CheckpointError) {
        let ordered = entries.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        var previous: String?
        for entry in ordered {
            if entry.begin < cursor {
                throw .overlappingTensors(path: source, tensor: entry.name, otherTensor: previous ?? "")
            }
            if entry.begin > cursor {
                throw .gapInBuffer(path: source, begin: cursor, end: entry.begin)
            }
            cursor = entry.end
            previous = entry.name
        }
        if cursor < bufferByteCount {
            throw .gapInBuffer(path: source, begin: cursor, end: bufferByteCount)
        }
    }

    /// Reads a whole file with POSIX calls, so errors carry the system's reason.
    private static func readAllBytes(atPath path: String) throws(CheckpointError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .unreadable(path: path, reason: systemErrorDescription()) }
        defer { _ = close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .unreadable(path: path, reason: systemErrorDescription()) }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw .unreadable(path: path, reason: "it is not a regular file")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(0, Int(status.st_size)))
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: systemErrorDescription())
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }
}

/// The description of the current `errno`.
private func systemErrorDescription() -> String {
    let code = errno
    guard let message = strerror(code) else { return "error \(code)" }
    return String(cString: message) + " (errno \(code))"
}
