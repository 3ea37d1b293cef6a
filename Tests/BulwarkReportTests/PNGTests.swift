import BulwarkReport
import Foundation
import Testing

/// The PNG encoder against an independent decoder (and Python's zlib when available).
@Suite struct PNGTests {
    /// Seeded pixel patterns that exercise every filter: noise, smooth gradients, flat areas.
    static func pixels(count: Int, pattern: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { index in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            switch pattern {
            case 0: return UInt8(truncatingIfNeeded: state >> 56)
            case 1: return UInt8(truncatingIfNeeded: index * 7 / 3)
            default: return index % 97 < 50 ? 255 : UInt8(truncatingIfNeeded: (state >> 60) + 100)
            }
        }
    }

    @Test(arguments: [
        (PNGImage.ColorType.grayscale, 1, 1), (.grayscale, 28, 28), (.grayscale, 61, 17),
        (.rgb, 1, 5), (.rgb, 28, 28), (.rgb, 33, 40),
    ])
    func decodesBitExactlyWithCorrectChunks(colorType: PNGImage.ColorType, width: Int, height: Int) throws {
        for pattern in 0..<3 {
            let pixels = Self.pixels(count: width * height * colorType.channels, pattern: pattern, seed: UInt64(width * 31 + height))
            let image = try PNGImage(width: width, height: height, colorType: colorType, pixels: pixels)
            let decoded = try ReferencePNGDecoder(try image.encoded())
            #expect(decoded.width == width && decoded.height == height)
            #expect(decoded.colorType == colorType.rawValue)
            #expect(decoded.pixels == pixels, "pattern \(pattern) did not survive the round trip")
            #expect(decoded.chunks.map(\.type) == ["IHDR", "IDAT", "IEND"])
            #expect(decoded.chunks.allSatisfy { $0.storedCRC == $0.computedCRC })
        }
    }

    @Test func chunkChecksumsMatchTheSpecificationsCRC() throws {
        let bytes = try PNGImage(width: 2, height: 1, colorType: .grayscale, pixels: [0, 255]).encoded()
        // IEND has no data, so its CRC is the well-known constant AE 42 60 82.
        #expect(Array(bytes.suffix(12)) == [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82])
        // The CRC of "123456789" is the standard check value of CRC-32.
        #expect(ReferencePNGDecoder.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        // IHDR: width 2, height 1, depth 8, grayscale, no interlace, and its CRC.
        let header = try ReferencePNGDecoder(bytes).chunks[0]
        #expect(header.data == [0, 0, 0, 2, 0, 0, 0, 1, 8, 0, 0, 0, 0])
        #expect(header.storedCRC == ReferencePNGDecoder.crc32(Array("IHDR".utf8) + header.data))
    }

    @Test func corruptedChunkIsDetectedByTheReferenceDecoder() throws {
        var bytes = try PNGImage(width: 4, height: 4, colorType: .grayscale, pixels: Array(0..<16)).encoded()
        bytes[20] ^= 0x01  // inside IHDR's data
        #expect(throws: ReferencePNGDecoder.DecodingError.self) { try ReferencePNGDecoder(bytes) }
    }

    /// python3 on the PATH, if any.
    static let python: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin")
        .split(separator: ":").map { "\($0)/python3" }.first(where: FileManager.default.isExecutableFile)

    @Test(.enabled(if: python != nil, "python3 is not installed; the Swift reference decoder still checks the encoder"))
    func pythonZlibDecoderReadsItBack() throws {
        let python = try #require(Self.python)
        let width = 37, height = 23
        let pixels = Self.pixels(count: width * height * 3, pattern: 0, seed: 9)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-png-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(try PNGImage(width: width, height: height, colorType: .rgb, pixels: pixels).encoded()).write(to: file)
        let script = """
            import sys, zlib, struct
            data = open(sys.argv[1], 'rb').read()
            assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
            pos, idat = 8, b''
            while pos < len(data):
                length, kind = struct.unpack('>I4s', data[pos:pos + 8])
                body = data[pos + 8:pos + 8 + length]
                assert zlib.crc32(kind + body) == struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])[0], kind
                if kind == b'IHDR': w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
                if kind == b'IDAT': idat += body
                pos += 12 + length
            ch = {0: 1, 2: 3}[ctype]; raw = zlib.decompress(idat); stride = w * ch
            out = bytearray(); prev = bytearray(stride)
            for y in range(h):
                f = raw[y * (stride + 1)]; line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
                for i in range(stride):
                    a = line[i - ch] if i >= ch else 0; b = prev[i]; c = prev[i - ch] if i >= ch else 0
                    p = a + b - c
                    pred = [0, a, b, (a + b) // 2, a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c][f]
                    line[i] = (line[i] + pred) & 255
                out += line; prev = line
            sys.stdout.write(out.hex())
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, file.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let expected = pixels.map { String(format: "%02x", $0) }.joined()
        #expect(String(decoding: data, as: UTF8.self) == expected)
    }

    @Test func rejectsImpossibleImages() {
        #expect(throws: PNGError.invalidDimensions(width: 0, height: 3)) {
            try PNGImage(width: 0, height: 3, colorType: .grayscale, pixels: [])
        }
        #expect(throws: PNGError.pixelCountMismatch(expected: 12, actual: 4)) {
            try PNGImage(width: 2, height: 2, colorType: .rgb, pixels: [0, 0, 0, 0])
        }
        #expect(throws: PNGError.unsupportedChannels(2)) {
            try PNGImage(intensities: [0, 0][...], channels: 2, height: 1, width: 1)
        }
    }

    @Test func scalingRepeatsPixelsAndConcatenationPlacesImages() throws {
        let image = try PNGImage(width: 2, height: 1, colorType: .grayscale, pixels: [10, 200])
        #expect(image.scaled(by: 2).pixels == [10, 10, 200, 200, 10, 10, 200, 200])
        let color = try PNGImage(width: 1, height: 1, colorType: .rgb, pixels: [1, 2, 3])
        let row = PNGImage.horizontalConcatenation([image, color], gap: 1, background: 255)
        #expect(row.width == 4 && row.height == 1 && row.colorType == .rgb)
        #expect(row.pixels == [10, 10, 10, 200, 200, 200, 255, 255, 255, 1, 2, 3])
        let column = PNGImage.verticalConcatenation([image, image], gap: 0)
        #expect(column.width == 2 && column.height == 2 && column.pixels == [10, 200, 10, 200])
    }

    @Test func intensitiesAreClampedAndRounded() throws {
        let image = try PNGImage(intensities: [-0.5, 0, 0.5, 1, 2, .nan][...], channels: 1, height: 2, width: 3)
        #expect(image.pixels == [0, 0, 128, 255, 255, 0])
        let rgb = try PNGImage(intensities: [1, 0, 0, 1, 0, 0][...], channels: 3, height: 1, width: 2)
        #expect(rgb.pixels == [255, 0, 0, 0, 255, 0])
    }
}
