import BulwarkCore
import BulwarkNN
import Foundation
import Testing

// MARK: - Helpers

/// Builds a safetensors file by hand, following the format's specification: the header's
/// byte length as a little-endian u64, the header, then the data buffer.
private func handMadeFile(header: String, data: [UInt8] = []) -> [UInt8] {
    let json = Array(header.utf8)
    let length = UInt64(json.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) } + json + data
}

/// Little-endian bytes of Float32 values.
private func float32Bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * UInt32($0))) } }
}

/// Little-endian bytes of 16-bit patterns.
private func uint16Bytes(_ values: [UInt16]) -> [UInt8] {
    values.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
}

/// Little-endian bytes of 64-bit patterns.
private func uint64Bytes(_ values: [UInt64]) -> [UInt8] {
    values.flatMap { value in (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) } }
}

/// A fresh empty directory, removed by the caller.
private func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("bulwark-safetensors-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

private let source = SafeTensorsFile.inMemorySource

private func sampleFile() -> SafeTensorsFile {
    SafeTensorsFile(
        tensors: [
            "conv1.weight": Tensor(shape: [2, 1, 2, 2], scalars: (0..<8).map { Float($0) * 0.25 - 1 }),
            "conv1.bias": Tensor(shape: [2], scalars: [0.5, -0.5]),
            "scale": Tensor(3.25),
            "empty": Tensor(shape: [0, 3], scalars: []),
            "extremes": Tensor(shape: [5], scalars: [.infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -0.0]),
        ],
        metadata: [
            "architecture": "MLP(784, 100, 10)",
            "seed": "42",
            "escapes": "quote \" backslash \\ newline \n tab \t bell \u{07} é 日本 🙂 /",
        ])
}

// MARK: - Round trip

@Suite("SafeTensors")
struct SafeTensorsTests {
    @Test("Round trip in memory keeps every tensor, shape, scalar and metadata value")
    func roundTripInMemory() throws {
        let original = sampleFile()
        let bytes = original.serialized()
        let loaded = try SafeTensorsFile(bytes: bytes)
        #expect(loaded == original)
        #expect(loaded.tensors["scale"]?.shape == [])
        #expect(loaded.tensors["empty"]?.shape == [0, 3])
        #expect(loaded.tensors["extremes"]?.array[4].sign == .minus)
        #expect(loaded.metadata["escapes"] == original.metadata["escapes"])
        // Serialization is deterministic.
        #expect(loaded.serialized() == bytes)
    }

    @Test("Round trip through a file")
    func roundTripThroughFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.safetensors").path
        let original = sampleFile()
        try original.write(to: path)
        let loaded = try SafeTensorsFile(contentsOf: path)
        #expect(loaded == original)
        let onDisk = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(onDisk == original.serialized())
    }

    @Test("NaN scalars keep their bits")
    func nanRoundTrip() throws {
        let payload = Float(bitPattern: 0x7FC0_1234)
        let original = SafeTensorsFile(tensors: ["x": Tensor([payload, .nan])])
        let loaded = try SafeTensorsFile(bytes: original.serialized())
        #expect(loaded.tensors["x"]?.array.map(\.bitPattern) == [0x7FC0_1234, Float.nan.bitPattern])
    }

    // MARK: - Byte-exact layout

    @Test("One tensor, no metadata: identical to the reference implementation's bytes")
    func byteExactSingleTensor() {
        // The reference library's own test vector for "attn0" (F32, shape [1, 1, 2, 3], 0...5):
        // a 65-byte header padded with 7 spaces to 72 bytes.
        let header = #"{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}"# + "       "
        let expected = handMadeFile(header: header, data: [
            0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
        ])
        #expect(expected.prefix(8) == [72, 0, 0, 0, 0, 0, 0, 0])
        let file = SafeTensorsFile(tensors: ["attn0": Tensor(shape: [1, 1, 2, 3], scalars: [0, 1, 2, 3, 4, 5])])
        #expect(file.serialized() == expected)
    }

    @Test("Metadata first, tensors sorted by name with contiguous offsets, rank 0 and empty tensors")
    func byteExactWithMetadata() {
        let header = #"{"__metadata__":{"format":"pt"},"#
            + #""B":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"#
            + #""a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        let padding = String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        let expected = handMadeFile(header: header + padding, data: float32Bytes([1.5, -2, 0.25]))
        let file = SafeTensorsFile(
            tensors: [
                "b": Tensor([-2, 0.25]),
                "a": Tensor(1.5),
                "B": Tensor(shape: [0, 3], scalars: []),
            ],
            metadata: ["format": "pt"])
        #expect(file.serialized() == expected)
    }

    @Test("An empty file matches the reference's bytes")
    func byteExactEmpty() throws {
        let expected: [UInt8] = [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]
        #expect(SafeTensorsFile().serialized() == expected)
        let loaded = try SafeTensorsFile(bytes: expected)
        #expect(loaded.tensors.isEmpty && loaded.metadata.isEmpty)
    }

    @Test("Metadata keys are sorted and strings escaped as serde_json does")
    func metadataEscapingAndOrder() {
        let file = SafeTensorsFile(metadata: ["z": "1", "a": "q\"b\\n\nc\u{01}é/"])
        let bytes = file.serialized()
        let header = String(decoding: bytes[8...], as: UTF8.self)
        #expect(header.hasPrefix(#"{"__metadata__":{"a":"q\"b\\n\nc\u0001é/","z":"1"}}"#))
    }

    @Test("Header is space-padded to a multiple of 8 bytes for every name length", arguments: 1...17)
    func headerAlignment(nameLength: Int) throws {
        let name = String(repeating: "w", count: nameLength)
        let file = SafeTensorsFile(tensors: [name: Tensor([1, 2, 3])], metadata: ["k": String(repeating: "v", count: nameLength % 5)])
        let bytes = file.serialized()
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(headerLength % 8 == 0)
        let header = bytes[8..<(8 + headerLength)]
        let closing = try #require(header.lastIndex(of: UInt8(ascii: "}")))
        let padding = header[(closing + 1)...]
        #expect(padding.count < 8)
        #expect(padding.allSatisfy { $0 == UInt8(ascii: " ") })
        #expect(bytes.count == 8 + headerLength + 12)
        #expect(try SafeTensorsFile(bytes: bytes) == file)
    }

    @Test("Files written in any tensor order, with whitespace, are read")
    func readsUnsortedPrettyHeaders() throws {
        let header = """
            { "b" : { "data_offsets" : [ 4 , 8 ] , "shape" : [ 1 ] , "dtype" : "F32" } ,
              "a" : { "dtype" : "F32", "shape" : [1], "data_offsets" : [0, 4] },
              "__metadata__": {"note": "\\u00e9\\ud83d\\ude42"} }\t\r\n
            """
        let file = try SafeTensorsFile(bytes: handMadeFile(header: header, data: float32Bytes([7, 9])))
        #expect(file.tensors["a"]?.array == [7])
        #expect(file.tensors["b"]?.array == [9])
        #expect(file.metadata["note"] == "é🙂")
    }

    // MARK: - Conversions

    @Test("F16 converts to Float exactly, including subnormals, infinities and NaN")
    func float16Conversion() throws {
        let patterns: [UInt16] = [0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x8000, 0x7C00, 0xFC00, 0x3555]
        let expected: [Float] = [
            1, -2, 0.5, 65504, 0x1p-24, 0x1.ff8p-15, 0x1p-14, -0.0, .infinity, -.infinity, 0x1.554p-2,
        ]
        let header = #"{"h":{"dtype":"F16","shape":[11],"data_offsets":[0,22]},"n":{"dtype":"F16","shape":[],"data_offsets":[22,24]}}"#
        let file = try SafeTensorsFile(bytes: handMadeFile(header: header, data: uint16Bytes(patterns + [0x7E00])))
        let values = try #require(file.tensors["h"]).array
        #expect(values == expected)
        #expect(values[7].sign == .minus)
        #expect(try #require(file.tensors["n"]).scalar.isNaN)
    }

    @Test("BF16 converts to Float exactly")
    func bfloat16Conversion() throws {
        let header = #"{"w":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}"#
        let file = try SafeTensorsFile(bytes: handMadeFile(header: header, data: uint16Bytes([0x3F80, 0xC000, 0x4049, 0x7F80])))
        let weight = try #require(file.tensors["w"])
        #expect(weight.shape == [2, 2])
        #expect(weight.array == [1, -2, 3.140625, .infinity])
    }

    @Test("F64 rounds to the nearest Float")
    func float64Conversion() throws {
        let values: [Double] = [0.1, -1.5, 1e300, 1e-300, 123456789.0]
        let header = #"{"d":{"dtype":"F64","shape":[5],"data_offsets":[0,40]}}"#
        let file = try SafeTensorsFile(bytes: handMadeFile(header: header, data: uint64Bytes(values.map(\.bitPattern))))
        #expect(file.tensors["d"]?.array == [Float(0.1), -1.5, .infinity, 0, 123456792])
    }

    @Test("Integer tensors (I64, I32, U8) load as Float, as batch-norm counters need")
    func integerConversion() throws {
        let header = #"{"bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"#
            + #""i":{"dtype":"I32","shape":[2],"data_offsets":[8,16]},"#
            + #""u":{"dtype":"U8","shape":[3],"data_offsets":[16,19]}}"#
        let data = uint64Bytes([12345]) + [0xFD, 0xFF, 0xFF, 0xFF, 7, 0, 0, 0] + [0, 128, 255]
        let file = try SafeTensorsFile(bytes: handMadeFile(header: header, data: data))
        #expect(file.tensors["bn.num_batches_tracked"] == Tensor(12345))
        #expect(file.tensors["i"]?.array == [-3, 7])
        #expect(file.tensors["u"]?.array == [0, 128, 255])
        let negative = try SafeTensorsFile(bytes: handMadeFile(
            header: #"{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: uint64Bytes([UInt64(bitPattern: -9)])))
        #expect(negative.tensors["n"]?.array == [-9])
    }

    // MARK: - Malformed input

    @Test("A file shorter than 8 bytes is rejected")
    func fileTooShort() {
        #expect(throws: CheckpointError.fileTooShort(path: source, byteCount: 3)) {
            try SafeTensorsFile(bytes: [1, 2, 3])
        }
        #expect(throws: CheckpointError.fileTooShort(path: source, byteCount: 0)) {
            try SafeTensorsFile(bytes: [])
        }
    }

    @Test("A header length beyond the file, even one that would overflow, is rejected")
    func headerLengthExceedsFile() {
        #expect(throws: CheckpointError.headerLengthExceedsFile(path: source, headerByteCount: 100, availableByteCount: 2)) {
            try SafeTensorsFile(bytes: [100, 0, 0, 0, 0, 0, 0, 0, 123, 125])
        }
        #expect(throws: CheckpointError.headerLengthExceedsFile(path: source, headerByteCount: .max, availableByteCount: 2)) {
            try SafeTensorsFile(bytes: [UInt8](repeating: 0xFF, count: 8) + [123, 125])
        }
        #expect(throws: CheckpointError.headerLengthExceedsFile(path: source, headerByteCount: 1 << 63, availableByteCount: 0)) {
            try SafeTensorsFile(bytes: [0, 0, 0, 0, 0, 0, 0, 0x80])
        }
    }

    @Test("Headers that are not JSON are rejected", arguments: [
        "{abc}", "", "   ", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":tru}", "{}x", "{\"a\":\"\\q\"}",
        "{\"a\":\"\\ud800\"}", "{\"a\":01}", "{\"a\":\"tab\there\"}", "{\"a\":1,\"a\":2}",
        "{\"a\":[1,2}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":\"unterminated}",
    ])
    func headerNotJSON(header: String) throws {
        let error = try #require(throws: CheckpointError.self) {
            try SafeTensorsFile(bytes: handMadeFile(header: header))
        }
        guard case .headerNotJSON(let path, _) = error else {
            Issue.record("expected headerNotJSON, got \(error)")
            return
        }
        #expect(path == source)
    }

    @Test("Invalid UTF-8 and hostile nesting are rejected without crashing")
    func headerNotJSONHostile() throws {
        let json: [UInt8] = Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        let invalidUTF8 = uint64Bytes([UInt64(json.count)]) + json
        let utf8Error = try #require(throws: CheckpointError.self) { try SafeTensorsFile(bytes: invalidUTF8) }
        #expect(utf8Error == .headerNotJSON(path: source, reason: "the header is not valid UTF-8"))

        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let deepError = try #require(throws: CheckpointError.self) { try SafeTensorsFile(bytes: handMadeFile(header: deep)) }
        guard case .headerNotJSON(_, let reason) = deepError else {
            Issue.record("expected headerNotJSON, got \(deepError)")
            return
        }
        #expect(reason.contains("nesting"))
    }

    @Test("A header that is JSON but not an object is rejected", arguments: ["[1,2]", "\"text\"", "3", "null"])
    func headerNotObject(header: String) {
        #expect(throws: CheckpointError.headerNotObject(path: source)) {
            try SafeTensorsFile(bytes: handMadeFile(header: header))
        }
    }

    @Test("A tensor entry without dtype, shape or data_offsets is rejected", arguments: ["dtype", "shape", "data_offsets"])
    func missingField(field: String) {
        let fields = [
            "dtype": #""dtype":"F32""#, "shape": #""shape":[1]"#, "data_offsets": #""data_offsets":[0,4]"#,
        ]
        let entry = fields.filter { $0.key != field }.map(\.value).sorted().joined(separator: ",")
        #expect(throws: CheckpointError.missingField(path: source, tensor: "t", field: field)) {
            try SafeTensorsFile(bytes: handMadeFile(header: "{\"t\":{\(entry)}}", data: float32Bytes([1])))
        }
    }

    @Test("Malformed fields are rejected", arguments: [
        (#"{"t":[1]}"#, "entry"),
        (#"{"t":{"dtype":5,"shape":[1],"data_offsets":[0,4]}}"#, "dtype"),
        (#"{"t":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}"#, "shape"),
        (#"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, "shape"),
        (#"{"t":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, "shape"),
        (#"{"t":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}"#, "shape"),
        (#"{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, "shape"),
        (#"{"t":{"dtype":"F32","shape":[2305843009213693952],"data_offsets":[0,4]}}"#, "shape"),
        (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, "data_offsets"),
        (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#, "data_offsets"),
        (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[-4,4]}}"#, "data_offsets"),
        (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, "data_offsets"),
        (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":{"begin":0}}}"#, "data_offsets"),
    ])
    func invalidField(header: String, field: String) throws {
        let error = try #require(throws: CheckpointError.self) {
            try SafeTensorsFile(bytes: handMadeFile(header: header, data: float32Bytes([1])))
        }
        guard case .invalidField(let path, let tensor, let reportedField, _) = error else {
            Issue.record("expected invalidField(\(field)), got \(error)")
            return
        }
        #expect(path == source && tensor == "t" && reportedField == field)
    }

    @Test("Unsupported dtypes are rejected", arguments: ["BOOL", "F8_E4M3", "U64", "I8", "float32", ""])
    func unsupportedDataType(dataType: String) {
        let header = "{\"t\":{\"dtype\":\"\(dataType)\",\"shape\":[4],\"data_offsets\":[0,4]}}"
        #expect(throws: CheckpointError.unsupportedDataType(path: source, tensor: "t", dataType: dataType)) {
            try SafeTensorsFile(bytes: handMadeFile(header: header, data: [1, 0, 1, 0]))
        }
    }

    @Test("Offsets past the end of the buffer are rejected")
    func offsetsOutOfRange() {
        let header = #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(throws: CheckpointError.offsetsOutOfRange(path: source, tensor: "t", begin: 0, end: 8, bufferByteCount: 4)) {
            try SafeTensorsFile(bytes: handMadeFile(header: header, data: float32Bytes([1])))
        }
        let huge = #"{"t":{"dtype":"U8","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615]}}"#
        #expect(throws: CheckpointError.offsetsOutOfRange(path: source, tensor: "t", begin: .max, end: .max, bufferByteCount: 0)) {
            try SafeTensorsFile(bytes: handMadeFile(header: huge))
        }
    }

    @Test("Overlapping tensors are rejected")
    func overlappingTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        #expect(throws: CheckpointError.overlappingTensors(path: source, tensor: "b", otherTensor: "a")) {
            try SafeTensorsFile(bytes: handMadeFile(header: header, data: float32Bytes([1, 2])))
        }
        let aliased = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        #expect(throws: CheckpointError.overlappingTensors(path: source, tensor: "b", otherTensor: "a")) {
            try SafeTensorsFile(bytes: handMadeFile(header: aliased, data: float32Bytes([1])))
        }
    }

    @Test("Gaps between tensors, before the first, and trailing bytes are rejected")
    func gapsInBuffer() {
        let middle = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        #expect(throws: CheckpointError.gapInBuffer(path: source, begin: 4, end: 8)) {
            try SafeTensorsFile(bytes: handMadeFile(header: middle, data: float32Bytes([1, 2, 3])))
        }
        let leading = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        #expect(throws: CheckpointError.gapInBuffer(path: source, begin: 0, end: 4)) {
            try SafeTensorsFile(bytes: handMadeFile(header: leading, data: float32Bytes([1, 2])))
        }
        let trailing = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        #expect(throws: CheckpointError.gapInBuffer(path: source, begin: 4, end: 5)) {
            try SafeTensorsFile(bytes: handMadeFile(header: trailing, data: float32Bytes([1]) + [0]))
        }
        #expect(throws: CheckpointError.gapInBuffer(path: source, begin: 0, end: 1)) {
            try SafeTensorsFile(bytes: handMadeFile(header: "{}", data: [0]))
        }
    }

    @Test("A byte range that does not match shape × dtype size is rejected")
    func byteCountMismatch() {
        let header = #"{"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#
        #expect(throws: CheckpointError.byteCountMismatch(
            path: source, tensor: "t", dataType: "F32", shape: [2, 2], expectedByteCount: 16, actualByteCount: 12)
        ) {
            try SafeTensorsFile(bytes: handMadeFile(header: header, data: float32Bytes([1, 2, 3])))
        }
        let half = #"{"t":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}"#
        #expect(throws: CheckpointError.byteCountMismatch(
            path: source, tensor: "t", dataType: "F16", shape: [3], expectedByteCount: 6, actualByteCount: 4)
        ) {
            try SafeTensorsFile(bytes: handMadeFile(header: half, data: [0, 0, 0, 0]))
        }
    }

    @Test("Metadata that is not an object of strings is rejected")
    func invalidMetadata() throws {
        #expect(throws: CheckpointError.invalidMetadata(path: source, key: "epochs", reason: "its value is the number 10, not a string")) {
            try SafeTensorsFile(bytes: handMadeFile(header: #"{"__metadata__":{"name":"x","epochs":10}}"#))
        }
        let nested = try #require(throws: CheckpointError.self) {
            try SafeTensorsFile(bytes: handMadeFile(header: #"{"__metadata__":{"config":{"a":"b"}}}"#))
        }
        #expect(nested == .invalidMetadata(path: source, key: "config", reason: "its value is an object, not a string"))
        let notObject = try #require(throws: CheckpointError.self) {
            try SafeTensorsFile(bytes: handMadeFile(header: #"{"__metadata__":["a"]}"#))
        }
        guard case .invalidMetadata(_, "__metadata__", _) = notObject else {
            Issue.record("expected invalidMetadata(__metadata__), got \(notObject)")
            return
        }
    }

    @Test("Every truncation and many corruptions of a valid file throw or load, never trap")
    func corruptedFilesNeverTrap() throws {
        let bytes = sampleFile().serialized()
        for length in 0..<bytes.count {
            #expect(throws: CheckpointError.self) { try SafeTensorsFile(bytes: Array(bytes.prefix(length))) }
        }
        var generator = SplitMix64(seed: 20_240_601)
        var loadedCount = 0
        for _ in 0..<3000 {
            var corrupted = bytes
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let index = Int.random(in: 0..<corrupted.count, using: &generator)
                corrupted[index] = UInt8.random(in: 0...255, using: &generator)
            }
            if (try? SafeTensorsFile(bytes: corrupted)) != nil { loadedCount += 1 }
        }
        // Flipping data bytes yields valid files, flipping header bytes mostly does not.
        #expect(loadedCount > 0 && loadedCount < 3000)
    }

    @Test("Error messages name the file, the problem and a fix")
    func errorDescriptions() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("broken.safetensors").path
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: CheckpointError.self) { try SafeTensorsFile(contentsOf: path) }
        #expect(error == .fileTooShort(path: path, byteCount: 3))
        #expect(error.description.contains(path))
        #expect(error.description.contains("8-byte"))
        #expect(error.description.contains("save it again"))

        let missing = directory.appendingPathComponent("missing.safetensors").path
        let unreadable = try #require(throws: CheckpointError.self) { try SafeTensorsFile(contentsOf: missing) }
        guard case .unreadable(missing, let reason) = unreadable else {
            Issue.record("expected unreadable, got \(unreadable)")
            return
        }
        #expect(reason.contains("No such file"))
        #expect(unreadable.description.contains(missing))

        let unsupported = CheckpointError.unsupportedDataType(path: "m.safetensors", tensor: "mask", dataType: "BOOL")
        #expect(unsupported.description.contains("m.safetensors") && unsupported.description.contains("mask")
            && unsupported.description.contains("BOOL") && unsupported.description.contains("float()"))
    }

    // MARK: - Atomic write

    @Test("Writing replaces an existing file and leaves no temporary file behind")
    func atomicWriteReplaces() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("checkpoint.safetensors").path
        try Data("old contents that are not safetensors".utf8).write(to: URL(fileURLWithPath: path))

        let first = SafeTensorsFile(tensors: ["w": Tensor([1, 2, 3])], metadata: ["epoch": "1"])
        try first.write(to: path)
        #expect(try SafeTensorsFile(contentsOf: path) == first)

        let second = SafeTensorsFile(tensors: ["w": Tensor([4])], metadata: ["epoch": "2"])
        try second.write(to: path)
        #expect(try SafeTensorsFile(contentsOf: path) == second)

        let entries = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(entries == ["checkpoint.safetensors"])
    }

    @Test("A failed write throws, leaves the old file and no temporary file")
    func atomicWriteFailure() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missingDirectory = directory.appendingPathComponent("no-such-directory/model.safetensors").path
        let file = SafeTensorsFile(tensors: ["w": Tensor([1])])
        let error = try #require(throws: CheckpointError.self) { try file.write(to: missingDirectory) }
        guard case .unwritable(missingDirectory, _, _) = error else {
            Issue.record("expected unwritable, got \(error)")
            return
        }
        #expect(error.description.contains(missingDirectory))

        // A directory is refused before anything is written: no temporary file is left.
        let blocker = directory.appendingPathComponent("occupied")
        try FileManager.default.createDirectory(at: blocker.appendingPathComponent("child"), withIntermediateDirectories: true)
        let renameError = try #require(throws: CheckpointError.self) { try file.write(to: blocker.path) }
        guard case .unwritable(_, _, let reason) = renameError else {
            Issue.record("expected unwritable, got \(renameError)")
            return
        }
        #expect(reason.contains("directory"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["occupied"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: blocker.path) == ["child"])
    }

    @Test("A tensor named __metadata__ cannot be written")
    func reservedTensorName() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bad.safetensors").path
        let file = SafeTensorsFile(tensors: ["__metadata__": Tensor([1])])
        #expect(throws: CheckpointError.reservedTensorName(path: path)) { try file.write(to: path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }
}
