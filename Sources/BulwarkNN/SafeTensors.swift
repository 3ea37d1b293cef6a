import BulwarkCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - File

/// A set of named tensors and string metadata in the safetensors format, as written by
/// Hugging Face's `safetensors` library (`safetensors.torch.save_file`, `save_model`) and read
/// by PyTorch, JAX and MLX.
///
/// ## Layout
///
/// A safetensors file is an 8-byte little-endian unsigned length `N`, then `N` bytes of
/// UTF-8 JSON (the header), then a byte buffer. The header maps each tensor's name to its
/// `dtype`, `shape` and `data_offsets` (`[begin, end)`, relative to the start of the buffer);
/// the optional key `__metadata__` maps strings to strings. Scalars are little-endian and
/// row-major. The tensors' byte ranges must tile the buffer exactly: no overlaps, no gaps,
/// no trailing bytes.
///
/// ## Writing
///
/// ``serialized()`` and ``write(to:)`` produce the same bytes as the reference
/// implementation: every tensor as `F32`, tensors ordered by name (byte-wise, as Rust orders
/// strings), compact JSON with `__metadata__` first and metadata keys sorted (the reference
/// orders them by hash, so its output varies from run to run; ours is deterministic), and the
/// header padded with spaces to a multiple of 8 bytes so that every tensor's data is aligned.
/// A file with one metadata key or none is byte-identical to `safetensors.torch.save_file`'s.
/// Empty metadata writes no `__metadata__` key, as `save_file(..., metadata=None)` does.
///
/// ## Reading
///
/// `F32` loads as is. `F64`, `F16` and `BF16` are converted to the nearest `Float`
/// (`F64` beyond `Float`'s range becomes infinite). The integer types `I64`, `I32` and `U8`
/// are also loaded as `Float`, because PyTorch `state_dict`s hold small integer counters
/// among the parameters (batch normalization's `num_batches_tracked` is `I64`); integers of
/// magnitude above 2^24 are rounded to the nearest representable `Float`. Any other `dtype`
/// (`BOOL`, `I8`, `I16`, `U16`, `U32`, `U64`, the 8-bit floats, …) is rejected with
/// ``CheckpointError/unsupportedDataType(path:tensor:dataType:)``. Metadata values must be
/// strings. Every malformed input throws a ``CheckpointError``; none traps.
public struct SafeTensorsFile: Sendable, Equatable {
    /// The tensors, keyed by name (for a model, its dotted parameter path such as
    /// `conv1.weight`).
    ///
    /// The name `__metadata__` is reserved by the format and cannot be written.
    public var tensors: [String: Tensor]

    /// Free-form string metadata, stored in the header's `__metadata__` object (Bulwark keeps
    /// the architecture, training configuration and seed there).
    public var metadata: [String: String]

    /// The tensors written as `I64` rather than `F32`: labels, class indices and counts, which
    /// readers expect as integers. Their values must be whole numbers; reading gives them back
    /// as `Float` tensors (and this set empty).
    public var integerTensorNames: Set<String>

    /// Creates a file from tensors and metadata.
    ///
    /// - Parameters:
    ///   - tensors: The tensors, keyed by name.
    ///   - metadata: String metadata; empty writes no `__metadata__` key.
    ///   - integerTensorNames: The tensors to write as `I64`.
    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:], integerTensorNames: Set<String> = []) {
        self.tensors = tensors
        self.metadata = metadata
        self.integerTensorNames = integerTensorNames
    }

    /// The header key that holds the metadata rather than a tensor.
    public static let metadataKey = "__metadata__"

    /// The tensor names in the order they are written: the `I64` tensors, then the `F32` ones,
    /// each sorted by their UTF-8 bytes, the order the reference implementation uses (larger
    /// `dtype`s first, so every tensor's data stays aligned).
    public var orderedTensorNames: [String] {
        tensors.keys.sorted { first, second in
            let (firstIsInteger, secondIsInteger) = (integerTensorNames.contains(first), integerTensorNames.contains(second))
            if firstIsInteger != secondIsInteger { return firstIsInteger }
            return first.utf8.lexicographicallyPrecedes(second.utf8)
        }
    }

    /// `tensor`'s scalars as little-endian `I64` bytes.
    ///
    /// - Precondition: every scalar is a whole number within `Int64`'s range.
    private static func integerBytes(_ tensor: Tensor) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(8 * tensor.scalarCount)
        for scalar in tensor.array {
            precondition(scalar.isFinite && scalar.rounded() == scalar && Swift.abs(scalar) < 9.2e18, "an I64 tensor holds \(scalar)")
            withUnsafeBytes(of: Int64(scalar).littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }
}

// MARK: - Errors

/// Why a safetensors checkpoint could not be read or written.
///
/// Every case names the file (or the in-memory source), what is wrong, and its
/// ``description`` says how to fix it.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or read.
    case unreadable(path: String, reason: String)
    /// The file could not be written, synced or moved into place; `operation` names the step.
    case unwritable(path: String, operation: String, reason: String)
    /// The file is shorter than the 8-byte header length that starts every safetensors file.
    case fileTooShort(path: String, byteCount: Int)
    /// The header length in the first 8 bytes exceeds the bytes that follow it.
    case headerLengthExceedsFile(path: String, headerByteCount: UInt64, availableByteCount: Int)
    /// The header is not valid UTF-8 JSON; `reason` says where parsing stopped.
    case headerNotJSON(path: String, reason: String)
    /// The header is valid JSON but not an object.
    case headerNotObject(path: String)
    /// A tensor entry lacks a required field (`dtype`, `shape` or `data_offsets`).
    case missingField(path: String, tensor: String, field: String)
    /// A tensor entry has a field of the wrong form (for example a negative extent, or
    /// `data_offsets` that are not two ascending non-negative integers).
    case invalidField(path: String, tensor: String, field: String, reason: String)
    /// A tensor's `dtype` is not one Bulwark can load.
    case unsupportedDataType(path: String, tensor: String, dataType: String)
    /// A tensor's `data_offsets` reach past the end of the byte buffer.
    case offsetsOutOfRange(path: String, tensor: String, begin: UInt64, end: UInt64, bufferByteCount: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingTensors(path: String, tensor: String, otherTensor: String)
    /// Bytes `begin..<end` of the buffer belong to no tensor.
    case gapInBuffer(path: String, begin: Int, end: Int)
    /// A tensor's byte range does not hold exactly its shape's element count times its
    /// `dtype`'s size.
    case byteCountMismatch(path: String, tensor: String, dataType: String, shape: [Int], expectedByteCount: Int, actualByteCount: Int)
    /// The `__metadata__` entry is not an object, or one of its values is not a string.
    case invalidMetadata(path: String, key: String, reason: String)
    /// A tensor is named `__metadata__`, which the format reserves.
    case reservedTensorName(path: String)

    /// A message naming the file, the problem and the fix.
    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "Cannot read checkpoint '\(path)': \(reason). Check that the path is right and the file is readable."
        case let .unwritable(path, operation, reason):
            return "Cannot write checkpoint '\(path)' (\(operation) failed: \(reason)). Check that the directory exists, is writable and has free space; the previous file, if any, is unchanged."
        case let .fileTooShort(path, byteCount):
            return "'\(path)' is not a safetensors file: it is \(byteCount) bytes long, shorter than the 8-byte header length every safetensors file starts with. The file is truncated or empty; save it again."
        case let .headerLengthExceedsFile(path, headerByteCount, availableByteCount):
            return "'\(path)' is not a valid safetensors file: its first 8 bytes declare a \(headerByteCount)-byte JSON header but only \(availableByteCount) bytes follow. The file is truncated, or is another format (a PyTorch .pt/.bin pickle?); convert it with safetensors.torch.save_file."
        case let .headerNotJSON(path, reason):
            return "'\(path)' has a corrupt safetensors header: it is not valid UTF-8 JSON (\(reason)). The file is damaged or not a safetensors file; save it again."
        case let .headerNotObject(path):
            return "'\(path)' has a corrupt safetensors header: it is JSON but not an object mapping tensor names to entries. Save the file again with safetensors or Bulwark."
        case let .missingField(path, tensor, field):
            return "'\(path)': tensor '\(tensor)' has no \"\(field)\" in the header; every entry needs \"dtype\", \"shape\" and \"data_offsets\". Save the file again with safetensors or Bulwark."
        case let .invalidField(path, tensor, field, reason):
            return "'\(path)': tensor '\(tensor)' has an invalid \"\(field)\": \(reason). Save the file again with safetensors or Bulwark."
        case let .unsupportedDataType(path, tensor, dataType):
            return "'\(path)': tensor '\(tensor)' has dtype \(dataType), which Bulwark cannot load (it reads F32, F64, F16, BF16, I64, I32 and U8). Convert it before saving, for example with tensor.float() in PyTorch."
        case let .offsetsOutOfRange(path, tensor, begin, end, bufferByteCount):
            return "'\(path)': tensor '\(tensor)' has data_offsets [\(begin), \(end)] but the data buffer holds only \(bufferByteCount) bytes. The file is truncated; save it again."
        case let .overlappingTensors(path, tensor, otherTensor):
            return "'\(path)': the data of tensors '\(otherTensor)' and '\(tensor)' overlap, which the format forbids. Save the file again with safetensors or Bulwark."
        case let .gapInBuffer(path, begin, end):
            return "'\(path)': bytes \(begin)..<\(end) of the data buffer belong to no tensor; the format requires the tensors to cover the buffer exactly. The file has trailing garbage or a missing header entry; save it again."
        case let .byteCountMismatch(path, tensor, dataType, shape, expectedByteCount, actualByteCount):
            return "'\(path)': tensor '\(tensor)' (\(dataType), shape \(shape)) needs \(expectedByteCount) bytes but its data_offsets span \(actualByteCount). Save the file again with safetensors or Bulwark."
        case let .invalidMetadata(path, key, reason):
            return "'\(path)': metadata entry '\(key)' is invalid: \(reason). Safetensors metadata maps strings to strings; store numbers and structures as strings (for example JSON text)."
        case let .reservedTensorName(path):
            return "Cannot write checkpoint '\(path)': a tensor is named '__metadata__', which the safetensors format reserves for metadata. Rename the tensor."
        }
    }
}

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
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(CheckpointError) in try Self.parse(buffer, source: source) }
        }
        self = try result.get()
    }

    /// Parses a whole safetensors file held in `buffer`.
    private static func parse(_ buffer: UnsafeRawBufferPointer, source: String) throws(CheckpointError) -> SafeTensorsFile {
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
        return SafeTensorsFile(tensors: tensors, metadata: metadata)
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

// MARK: - Writing

extension SafeTensorsFile {
    /// The file's bytes: header length, header and `F32` data, exactly as the reference
    /// implementation lays them out (see the type's documentation).
    ///
    /// - Precondition: no tensor is named `__metadata__`.
    /// - Complexity: O(total scalars + header size).
    public func serialized() -> [UInt8] {
        precondition(tensors[Self.metadataKey] == nil, "A tensor named '__metadata__' cannot be written: the format reserves that name")
        let names = orderedTensorNames
        let header = headerBytes(orderedNames: names)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.count + names.reduce(0) { $0 + 8 * (tensors[$1]?.scalarCount ?? 0) })
        bytes.append(contentsOf: header)
        for name in names {
            guard let tensor = tensors[name] else { continue }
            if integerTensorNames.contains(name) {
                bytes.append(contentsOf: Self.integerBytes(tensor))
                continue
            }
            Self.appendLittleEndian(tensor.array, to: &bytes)
        }
        return bytes
    }

    /// Writes the file to `path` through ``OutputFile``: atomically to a regular file (readers
    /// see the old file or the complete new one, never a partial write), straight through to
    /// `-`, a device or a pipe.
    ///
    /// The bytes go to a temporary file in the same directory (`.NAME.tmp-<pid>-<random>`),
    /// which is flushed to disk with `fsync` and then renamed over `path` (the target of a
    /// symbolic link); the directory is synced so the rename survives a crash. On failure the
    /// temporary file is removed and any existing file at `path` is left unchanged.
    ///
    /// - Parameter path: The destination; its directory must exist.
    /// - Throws: ``CheckpointError/reservedTensorName(path:)`` if a tensor is named
    ///   `__metadata__`, ``CheckpointError/unwritable(path:operation:reason:)`` if the path
    ///   cannot be written or a system call fails.
    public func write(to path: String) throws(CheckpointError) {
        guard tensors[Self.metadataKey] == nil else { throw .reservedTensorName(path: path) }
        let names = orderedTensorNames
        let header = headerBytes(orderedNames: names)
        do {
            try OutputFile.write(to: path) { (writer: OutputFile.Writer) throws(OutputFileError) in
                try writer.write(header)
                for name in names {
                    guard let tensor = tensors[name] else { continue }
                    if integerTensorNames.contains(name) {
                        try writer.write(Self.integerBytes(tensor))
                        continue
                    }
                    let scalars = tensor.array
                    #if _endian(little)
                    let result = scalars.withUnsafeBytes { buffer in
                        Result { () throws(OutputFileError) in try writer.write(buffer) }
                    }
                    try result.get()
                    #else
                    // Convert in bounded chunks so a big-endian host never holds a second full copy.
                    var chunk: [UInt8] = []
                    var start = 0
                    while start < scalars.count {
                        let stop = min(scalars.count, start + (1 << 18))
                        chunk.removeAll(keepingCapacity: true)
                        Self.appendLittleEndian(scalars[start..<stop], to: &chunk)
                        try writer.write(chunk)
                        start = stop
                    }
                    #endif
                }
            }
        } catch {
            throw .unwritable(path: path, operation: Self.operation(of: error), reason: Self.reason(of: error))
        }
    }

    /// The step of a failed write, for ``CheckpointError/unwritable(path:operation:reason:)``.
    private static func operation(of error: OutputFileError) -> String {
        if case let .failed(_, operation, _) = error { return operation }
        return "checking the destination"
    }

    /// Why a write failed, for ``CheckpointError/unwritable(path:operation:reason:)``.
    private static func reason(of error: OutputFileError) -> String {
        switch error {
        case .failed(_, _, let reason), .notWritable(_, let reason): return reason
        case .isDirectory: return "it is a directory"
        case .missingDirectory(_, let directory): return "the directory '\(directory)' does not exist"
        case .unsupportedFileType(_, let type): return "it is a \(type)"
        }
    }

    /// The 8-byte length followed by the space-padded JSON header.
    private func headerBytes(orderedNames names: [String]) -> [UInt8] {
        var json: [UInt8] = []
        json.append(UInt8(ascii: "{"))
        var needsComma = false
        if !metadata.isEmpty {
            Self.appendJSONString(Self.metadataKey, to: &json)
            json.append(contentsOf: Array(":{".utf8))
            let keys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (index, key) in keys.enumerated() {
                if index > 0 { json.append(UInt8(ascii: ",")) }
                Self.appendJSONString(key, to: &json)
                json.append(UInt8(ascii: ":"))
                Self.appendJSONString(metadata[key] ?? "", to: &json)
            }
            json.append(UInt8(ascii: "}"))
            needsComma = true
        }
        var offset = 0
        for name in names {
            guard let tensor = tensors[name] else { continue }
            if needsComma { json.append(UInt8(ascii: ",")) }
            needsComma = true
            let isInteger = integerTensorNames.contains(name)
            let byteCount = (isInteger ? 8 : 4) * tensor.scalarCount
            Self.appendJSONString(name, to: &json)
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            json.append(contentsOf: Array(":{\"dtype\":\"\(isInteger ? "I64" : "F32")\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + byteCount)]}".utf8))
            offset += byteCount
        }
        json.append(UInt8(ascii: "}"))
        // Pad with spaces so the data starts 8-byte aligned, as the reference does.
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }

        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + json.count)
        let length = UInt64(json.count)
        for index in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(index)))) }
        bytes.append(contentsOf: json)
        return bytes
    }

    /// Appends `text` as a JSON string escaped as `serde_json` escapes it (the reference's
    /// serializer): `"`, `\` and control characters only, with lowercase `\u00xx`.
    private static func appendJSONString(_ text: String, to json: inout [UInt8]) {
        let hexDigits = Array("0123456789abcdef".utf8)
        json.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): json.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): json.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: json.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: json.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: json.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: json.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: json.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x00..<0x20:
                json.append(contentsOf: Array("\\u00".utf8))
                json.append(hexDigits[Int(byte >> 4)])
                json.append(hexDigits[Int(byte & 0x0F)])
            default: json.append(byte)
            }
        }
        json.append(UInt8(ascii: "\""))
    }

    /// Appends each scalar's IEEE-754 bits in little-endian order.
    private static func appendLittleEndian<Scalars: Collection>(_ scalars: Scalars, to bytes: inout [UInt8]) where Scalars.Element == Float {
        #if _endian(little)
        if let contiguous = scalars as? [Float] {
            contiguous.withUnsafeBytes { bytes.append(contentsOf: $0) }
            return
        }
        #endif
        for scalar in scalars {
            let bits = scalar.bitPattern
            bytes.append(UInt8(truncatingIfNeeded: bits))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 8))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 16))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 24))
        }
    }
}

/// The description of the current `errno`.
private func systemErrorDescription() -> String {
    let code = errno
    guard let message = strerror(code) else { return "error \(code)" }
    return String(cString: message) + " (errno \(code))"
}

// MARK: - Data types

extension SafeTensorsFile {
    /// The `dtype`s Bulwark reads, with their element sizes and conversions to `Float`.
    private enum DataType: String {
        case float32 = "F32"
        case float64 = "F64"
        case float16 = "F16"
        case bfloat16 = "BF16"
        case int64 = "I64"
        case int32 = "I32"
        case uint8 = "U8"

        /// Bytes per element.
        var byteWidth: Int {
            switch self {
            case .uint8: return 1
            case .float16, .bfloat16: return 2
            case .float32, .int32: return 4
            case .float64, .int64: return 8
            }
        }

        /// Converts `count` little-endian elements in `bytes` to `Float`.
        ///
        /// - Precondition: `bytes.count == count * byteWidth` (checked by the caller).
        func decode(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Float] {
            switch self {
            case .float32:
                #if _endian(little)
                return [Float](unsafeUninitializedCapacity: count) { destination, initialized in
                    if count > 0, let base = destination.baseAddress {
                        UnsafeMutableRawPointer(base).copyMemory(from: bytes.baseAddress ?? UnsafeRawPointer(base), byteCount: 4 * count)
                    }
                    initialized = count
                }
                #else
                return Self.map(bytes, count: count, as: UInt32.self) { Float(bitPattern: UInt32(littleEndian: $0)) }
                #endif
            case .float64:
                return Self.map(bytes, count: count, as: UInt64.self) { Float(Double(bitPattern: UInt64(littleEndian: $0))) }
            case .float16:
                return Self.map(bytes, count: count, as: UInt16.self) { halfToFloat(UInt16(littleEndian: $0)) }
            case .bfloat16:
                return Self.map(bytes, count: count, as: UInt16.self) { Float(bitPattern: UInt32(UInt16(littleEndian: $0)) << 16) }
            case .int64:
                return Self.map(bytes, count: count, as: Int64.self) { Float(Int64(littleEndian: $0)) }
            case .int32:
                return Self.map(bytes, count: count, as: Int32.self) { Float(Int32(littleEndian: $0)) }
            case .uint8:
                return Self.map(bytes, count: count, as: UInt8.self) { Float($0) }
            }
        }

        private static func map<Element: FixedWidthInteger>(
            _ bytes: UnsafeRawBufferPointer, count: Int, as type: Element.Type, _ convert: (Element) -> Float
        ) -> [Float] {
            let width = MemoryLayout<Element>.size
            return [Float](unsafeUninitializedCapacity: count) { destination, initialized in
                for index in 0..<count {
                    destination[index] = convert(bytes.loadUnaligned(fromByteOffset: index * width, as: Element.self))
                }
                initialized = count
            }
        }
    }
}

/// Converts IEEE-754 binary16 bits to `Float` exactly (every half value is a `Float`).
///
/// Written out rather than using `Float16`, which is unavailable on macOS on Intel.
private func halfToFloat(_ bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int((bits >> 10) & 0x1F)
    let fraction = UInt32(bits & 0x3FF)
    switch exponent {
    case 0:
        // Zero or subnormal: fraction × 2^-24.
        return sign * Float(fraction) * Float(sign: .plus, exponent: -24, significand: 1)
    case 0x1F:
        // Infinity or NaN; keep the NaN payload in the high fraction bits.
        let signBit = UInt32(bits & 0x8000) << 16
        return Float(bitPattern: signBit | 0x7F80_0000 | (fraction << 13))
    default:
        let signBit = UInt32(bits & 0x8000) << 16
        return Float(bitPattern: signBit | (UInt32(exponent + 112) << 23) | (fraction << 13))
    }
}

// MARK: - JSON

extension SafeTensorsFile {
    /// A parsed JSON value. Numbers keep their text so integers are read exactly, and objects
    /// keep their members in document order (so errors are deterministic).
    fileprivate enum JSONValue {
        case object([(key: String, value: JSONValue)])
        case array([JSONValue])
        case string(String)
        case number(String)
        case bool(Bool)
        case null

        var kindDescription: String {
            switch self {
            case .object: return "an object"
            case .array: return "an array"
            case .string: return "a string"
            case .number(let text): return "the number \(text)"
            case .bool(let value): return "the boolean \(value)"
            case .null: return "null"
            }
        }

        var compactDescription: String {
            switch self {
            case .number(let text): return text
            case .string(let text): return "\"\(text)\""
            default: return kindDescription
            }
        }
    }

    /// Why the header is not JSON.
    fileprivate struct JSONError: Error {
        var reason: String
    }

    /// A strict RFC 8259 parser over UTF-8 bytes, with a nesting limit so hostile headers
    /// cannot exhaust the stack, and rejection of duplicate keys.
    fileprivate struct JSONParser {
        private let bytes: UnsafeRawBufferPointer
        private var position = 0
        private var depth = 0
        private static let maximumDepth = 128

        init(_ bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        /// Parses one value surrounded by optional whitespace (the reference pads with spaces).
        mutating func parseDocument() throws(JSONError) -> JSONValue {
            // Validate UTF-8 once, up front; string contents can then be decoded directly.
            let text = String(decoding: bytes, as: UTF8.self)
            guard text.utf8.elementsEqual(bytes) else { throw JSONError(reason: "the header is not valid UTF-8") }
            skipWhitespace()
            guard position < bytes.count else { throw JSONError(reason: "the header is empty") }
            let value = try parseValue()
            skipWhitespace()
            guard position == bytes.count else { throw fail("unexpected text after the JSON value") }
            return value
        }

        private func fail(_ message: String) -> JSONError {
            JSONError(reason: "\(message) at byte \(position) of the header")
        }

        private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        private mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                position += 1
            }
        }

        private mutating func expect(_ literal: String) throws(JSONError) {
            for expected in literal.utf8 {
                guard current == expected else { throw fail("invalid literal, expected '\(literal)'") }
                position += 1
            }
        }

        private mutating func parseValue() throws(JSONError) -> JSONValue {
            guard let byte = current else { throw fail("unexpected end of header") }
            switch byte {
            case UInt8(ascii: "{"): return try parseObject()
            case UInt8(ascii: "["): return try parseArray()
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw fail("unexpected character '\(Unicode.Scalar(byte))'")
            }
        }

        private mutating func enter() throws(JSONError) {
            depth += 1
            guard depth <= Self.maximumDepth else { throw fail("nesting deeper than \(Self.maximumDepth) levels") }
        }

        private mutating func parseObject() throws(JSONError) -> JSONValue {
            try enter()
            defer { depth -= 1 }
            position += 1  // {
            var members: [(key: String, value: JSONValue)] = []
            var seen: Set<String> = []
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try parseString()
                guard seen.insert(key).inserted else { throw fail("duplicate key \"\(key)\"") }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw fail("expected ':'") }
                position += 1
                skipWhitespace()
                let value = try parseValue()
                members.append((key: key, value: value))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"): position += 1; return .object(members)
                default: throw fail("expected ',' or '}'")
                }
            }
        }

        private mutating func parseArray() throws(JSONError) -> JSONValue {
            try enter()
            defer { depth -= 1 }
            position += 1  // [
            var elements: [JSONValue] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try parseValue())
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"): position += 1; return .array(elements)
                default: throw fail("expected ',' or ']'")
                }
            }
        }

        private mutating func parseNumber() throws(JSONError) -> String {
            let start = position
            func isDigit(_ byte: UInt8?) -> Bool { byte.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
            if current == UInt8(ascii: "-") { position += 1 }
            if current == UInt8(ascii: "0") {
                position += 1
            } else if isDigit(current) {
                while isDigit(current) { position += 1 }
            } else {
                throw fail("invalid number")
            }
            if current == UInt8(ascii: ".") {
                position += 1
                guard isDigit(current) else { throw fail("invalid number") }
                while isDigit(current) { position += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                guard isDigit(current) else { throw fail("invalid number") }
                while isDigit(current) { position += 1 }
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        }

        private mutating func parseHexQuad() throws(JSONError) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let byte = current else { throw fail("unterminated \\u escape") }
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw fail("invalid \\u escape")
                }
                value = value << 4 | digit
                position += 1
            }
            return value
        }

        private mutating func parseString() throws(JSONError) -> String {
            position += 1  // opening quote
            var utf8: [UInt8] = []
            while true {
                guard let byte = current else { throw fail("unterminated string") }
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(decoding: utf8, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { throw fail("unterminated escape") }
                    position += 1
                    switch escaped {
                    case UInt8(ascii: "\""): utf8.append(0x22)
                    case UInt8(ascii: "\\"): utf8.append(0x5C)
                    case UInt8(ascii: "/"): utf8.append(0x2F)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try parseHexQuad()
                        if (0xD800...0xDBFF).contains(code) {
                            guard current == UInt8(ascii: "\\") else { throw fail("unpaired surrogate in \\u escape") }
                            position += 1
                            guard current == UInt8(ascii: "u") else { throw fail("unpaired surrogate in \\u escape") }
                            position += 1
                            let low = try parseHexQuad()
                            guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate in \\u escape") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(code) {
                            throw fail("unpaired surrogate in \\u escape")
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape") }
                        UTF8.encode(scalar) { utf8.append($0) }
                    default:
                        throw fail("invalid escape '\\\(Unicode.Scalar(escaped))'")
                    }
                case 0x00..<0x20:
                    throw fail("unescaped control character in string")
                default:
                    utf8.append(byte)
                }
            }
        }
    }
}
