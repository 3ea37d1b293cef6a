import BulwarkData
import Foundation

/// An independent PNG reader for the tests: checks the signature and every chunk's CRC-32
/// (a bitwise implementation of the polynomial, not zlib's table), inflates IDAT with zlib and
/// undoes all five filter types. Reads 8-bit grayscale, RGB and RGBA (Chromium's screenshots),
/// without interlacing.
struct ReferencePNGDecoder {
    struct Chunk {
        var type: String
        var data: [UInt8]
        var storedCRC: UInt32
        var computedCRC: UInt32
    }

    enum DecodingError: Error, CustomStringConvertible {
        case badSignature, truncated, badCRC(String), unsupported(String), badFilter(UInt8), sizeMismatch

        var description: String {
            switch self {
            case .badSignature: "not a PNG signature"
            case .truncated: "the file ends inside a chunk"
            case .badCRC(let type): "chunk \(type) has a wrong CRC"
            case .unsupported(let what): "unsupported: \(what)"
            case .badFilter(let filter): "unknown filter type \(filter)"
            case .sizeMismatch: "the inflated data does not match the image size"
            }
        }
    }

    var width = 0
    var height = 0
    var colorType: UInt8 = 0
    var channels = 0
    var pixels = [UInt8]()
    var chunks = [Chunk]()

    init(_ bytes: [UInt8]) throws {
        guard bytes.count >= 8, Array(bytes[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else {
            throw DecodingError.badSignature
        }
        func bigEndian(_ offset: Int) -> UInt32 {
            bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
        }
        var offset = 8
        var compressed = [UInt8]()
        while offset < bytes.count {
            guard offset + 12 <= bytes.count else { throw DecodingError.truncated }
            let length = Int(bigEndian(offset))
            guard offset + 12 + length <= bytes.count else { throw DecodingError.truncated }
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let data = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            let chunk = Chunk(type: type, data: data, storedCRC: bigEndian(offset + 8 + length),
                              computedCRC: Self.crc32(Array(bytes[(offset + 4)..<(offset + 8 + length)])))
            guard chunk.storedCRC == chunk.computedCRC else { throw DecodingError.badCRC(type) }
            chunks.append(chunk)
            offset += 12 + length
            switch type {
            case "IHDR":
                width = Int(data[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                height = Int(data[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                guard data[8] == 8 else { throw DecodingError.unsupported("bit depth \(data[8])") }
                guard data[12] == 0 else { throw DecodingError.unsupported("interlacing") }
                colorType = data[9]
                switch colorType {
                case 0: channels = 1
                case 2: channels = 3
                case 4: channels = 2
                case 6: channels = 4
                default: throw DecodingError.unsupported("colour type \(colorType)")
                }
            case "IDAT": compressed += data
            default: break
            }
        }
        let raw = try gunzip(compressed)
        let stride = width * channels
        guard raw.count == (stride + 1) * height else { throw DecodingError.sizeMismatch }
        var output = [UInt8](repeating: 0, count: stride * height)
        for row in 0..<height {
            let filter = raw[row * (stride + 1)]
            for index in 0..<stride {
                let value = raw[row * (stride + 1) + 1 + index]
                let left = index >= channels ? Int(output[row * stride + index - channels]) : 0
                let up = row > 0 ? Int(output[(row - 1) * stride + index]) : 0
                let upLeft = row > 0 && index >= channels ? Int(output[(row - 1) * stride + index - channels]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = left
                case 2: predictor = up
                case 3: predictor = (left + up) / 2
                case 4:
                    let estimate = left + up - upLeft
                    let (a, b, c) = (abs(estimate - left), abs(estimate - up), abs(estimate - upLeft))
                    predictor = a <= b && a <= c ? left : b <= c ? up : upLeft
                default: throw DecodingError.badFilter(filter)
                }
                output[row * stride + index] = UInt8((Int(value) + predictor) & 0xFF)
            }
        }
        pixels = output
    }

    /// CRC-32 bit by bit (reflected polynomial 0xEDB88320), as in the PNG specification's annex.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
