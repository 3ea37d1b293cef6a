import BulwarkCore
import BulwarkData
import Testing

@Suite("gunzip")
struct GzipTests {
    /// Mixed content: compressible runs and pseudo-random bytes.
    static func sampleBytes(count: Int, seed: UInt64) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { index in
            index % 3 == 0 ? UInt8(truncatingIfNeeded: generator.next()) : UInt8(index / 100 % 256)
        }
    }

    @Test func roundTripsOneMember() throws {
        let original = Self.sampleBytes(count: 100_000, seed: 1)
        #expect(try gunzip(gzip(original)) == original)
    }

    @Test func concatenatesMultipleMembers() throws {
        let first = Self.sampleBytes(count: 5_000, seed: 2)
        let second = Self.sampleBytes(count: 7_000, seed: 3)
        let third: [UInt8] = []
        let stream = try gzip(first) + gzip(second) + gzip(third)
        #expect(try gunzip(stream) == first + second)
    }

    @Test func growsOutputBeyondTheSizeHint() throws {
        // Zeros compress about 1000:1, far beyond the 16× cap on the trailer's size hint.
        let original = [UInt8](repeating: 0, count: 8_000_000) + [1, 2, 3]
        let compressed = try gzip(original)
        #expect(compressed.count * 16 < original.count)
        #expect(try gunzip(compressed) == original)
    }

    @Test func rejectsEmptyInput() {
        #expect(throws: GzipError.empty) { try gunzip([]) }
    }

    @Test(arguments: [1, 8, 100])
    func rejectsTruncatedStream(droppedBytes: Int) throws {
        let compressed = try gzip(Self.sampleBytes(count: 50_000, seed: 4))
        #expect(throws: GzipError.truncated) { try gunzip(Array(compressed.dropLast(droppedBytes))) }
    }

    @Test func rejectsCorruptData() throws {
        var compressed = try gzip(Self.sampleBytes(count: 50_000, seed: 5))
        for offset in stride(from: 20, to: compressed.count - 8, by: 97) { compressed[offset] ^= 0x5A }
        let error = #expect(throws: GzipError.self) { try gunzip(compressed) }
        guard case .corrupt = error else {
            Issue.record("expected .corrupt, got \(String(describing: error))")
            return
        }
    }

    @Test func rejectsBadChecksum() throws {
        var compressed = try gzip(Self.sampleBytes(count: 1_000, seed: 6))
        compressed[compressed.count - 8] ^= 0xFF  // first byte of the CRC-32 trailer
        #expect(throws: GzipError.corrupt(reason: "incorrect data check")) { try gunzip(compressed) }
    }

    @Test func rejectsDataThatIsNotGzip() {
        let text = Array("<html>not found</html>".utf8)
        let error = #expect(throws: GzipError.self) { try gunzip(text) }
        #expect(error == .corrupt(reason: "incorrect header check"))
    }

    @Test func rejectsTrailingGarbage() throws {
        let compressed = try gzip(Self.sampleBytes(count: 1_000, seed: 7))
        #expect(throws: GzipError.trailingData(offset: compressed.count)) {
            try gunzip(compressed + [0, 0, 0, 0])
        }
    }
}
