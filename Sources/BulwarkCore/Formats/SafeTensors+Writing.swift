#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
