import Foundation

/// Why an image could not be built or encoded as PNG.
public enum PNGError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Width or height is zero, negative or above PNG's limit of 2³¹ − 1.
    case invalidDimensions(width: Int, height: Int)
    /// The pixel buffer does not hold width × height × channels bytes.
    case pixelCountMismatch(expected: Int, actual: Int)
    /// The tensor is not an image of 1 (grayscale) or 3 (RGB) channels.
    case unsupportedChannels(Int)
    /// The compressed image data does not fit in one PNG chunk (2³¹ − 1 bytes).
    case tooLarge(byteCount: Int)
    /// zlib failed.
    case compression(CompressionError)

    /// A sentence describing the problem.
    public var description: String {
        switch self {
        case let .invalidDimensions(width, height):
            return "a PNG image must be between 1 and 2147483647 pixels wide and high, not \(width) × \(height)"
        case let .pixelCountMismatch(expected, actual):
            return "the pixel buffer holds \(actual) bytes, but the image needs \(expected)"
        case .unsupportedChannels(let channels):
            return "only images with 1 (grayscale) or 3 (RGB) channels can be written as PNG, not \(channels)"
        case .tooLarge(let byteCount):
            return "the compressed image (\(byteCount) bytes) does not fit in one PNG chunk"
        case .compression(let error):
            return error.description
        }
    }
}

/// An 8-bit grayscale or RGB image that encodes itself as a PNG file (ISO/IEC 15948).
///
/// Pixels are stored row by row from the top, channels interleaved (`r g b r g b …`).
/// ``encoded(compressionLevel:)`` writes the signature, `IHDR`, one `IDAT` chunk compressed by
/// the system's zlib, and `IEND`, each chunk with its CRC-32; every row picks the PNG filter
/// with the smallest sum of absolute differences, the heuristic the PNG specification
/// recommends.
public struct PNGImage: Sendable, Equatable {
    /// How pixels are stored; the raw values are PNG's colour type codes.
    public enum ColorType: UInt8, Sendable {
        /// One byte per pixel.
        case grayscale = 0
        /// Three bytes per pixel: red, green, blue.
        case rgb = 2

        /// Bytes per pixel.
        public var channels: Int { self == .grayscale ? 1 : 3 }
    }

    /// Pixels per row.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Grayscale or RGB.
    public let colorType: ColorType
    /// `width × height × colorType.channels` bytes, row-major from the top-left corner.
    public let pixels: [UInt8]

    /// The 8 bytes every PNG file starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Creates an image from its pixel bytes.
    ///
    /// - Throws: ``PNGError/invalidDimensions(width:height:)`` or
    ///   ``PNGError/pixelCountMismatch(expected:actual:)``.
    public init(width: Int, height: Int, colorType: ColorType, pixels: [UInt8]) throws(PNGError) {
        let limit = Int(Int32.max)
        guard (1...limit).contains(width), (1...limit).contains(height) else {
            throw .invalidDimensions(width: width, height: height)
        }
        let expected = width.multipliedReportingOverflow(by: height).partialValue * colorType.channels
        guard pixels.count == expected else { throw .pixelCountMismatch(expected: expected, actual: pixels.count) }
        self.width = width
        self.height = height
        self.colorType = colorType
        self.pixels = pixels
    }

    /// The image enlarged `factor` times in both directions by repeating pixels (nearest
    /// neighbour), so small images such as 28 × 28 digits stay sharp when viewed.
    ///
    /// - Precondition: `factor >= 1`.
    public func scaled(by factor: Int) -> PNGImage {
        precondition(factor >= 1, "the scale factor must be at least 1")
        guard factor > 1 else { return self }
        let channels = colorType.channels
        var output = [UInt8]()
        output.reserveCapacity(pixels.count * factor * factor)
        for row in 0..<height {
            var line = [UInt8]()
            line.reserveCapacity(width * factor * channels)
            for column in 0..<width {
                let start = (row * width + column) * channels
                for _ in 0..<factor { line.append(contentsOf: pixels[start..<(start + channels)]) }
            }
            for _ in 0..<factor { output.append(contentsOf: line) }
        }
        // The dimensions and the byte count follow from valid ones, so this cannot throw.
        return PNGImage(unchecked: width * factor, height: height * factor, colorType: colorType, pixels: output)
    }

    /// Images laid side by side from left to right, `gap` background pixels apart, each
    /// vertically centred; grayscale images are converted to RGB when any image is RGB.
    ///
    /// - Precondition: `images` is not empty.
    public static func horizontalConcatenation(_ images: [PNGImage], gap: Int = 0, background: UInt8 = 255) -> PNGImage {
        precondition(!images.isEmpty, "nothing to concatenate")
        let colorType: ColorType = images.contains { $0.colorType == .rgb } ? .rgb : .grayscale
        let channels = colorType.channels
        let width = images.map(\.width).reduce(0, +) + gap * (images.count - 1)
        let height = images.map(\.height).max() ?? 1
        var canvas = [UInt8](repeating: background, count: width * height * channels)
        var left = 0
        for image in images {
            let top = (height - image.height) / 2
            for row in 0..<image.height {
                for column in 0..<image.width {
                    let target = ((top + row) * width + left + column) * channels
                    let source = (row * image.width + column) * image.colorType.channels
                    for channel in 0..<channels {
                        canvas[target + channel] = image.pixels[source + (image.colorType == .rgb ? channel : 0)]
                    }
                }
            }
            left += image.width + gap
        }
        return PNGImage(unchecked: width, height: height, colorType: colorType, pixels: canvas)
    }

    /// Images stacked from top to bottom, `gap` background pixels apart, left-aligned.
    ///
    /// - Precondition: `images` is not empty.
    public static func verticalConcatenation(_ images: [PNGImage], gap: Int = 0, background: UInt8 = 255) -> PNGImage {
        precondition(!images.isEmpty, "nothing to concatenate")
        let colorType: ColorType = images.contains { $0.colorType == .rgb } ? .rgb : .grayscale
        let channels = colorType.channels
        let width = images.map(\.width).max() ?? 1
        let height = images.map(\.height).reduce(0, +) + gap * (images.count - 1)
        var canvas = [UInt8](repeating: background, count: width * height * channels)
        var top = 0
        for image in images {
            for row in 0..<image.height {
                for column in 0..<image.width {
                    let target = ((top + row) * width + column) * channels
                    let source = (row * image.width + column) * image.colorType.channels
                    for channel in 0..<channels {
                        canvas[target + channel] = image.pixels[source + (image.colorType == .rgb ? channel : 0)]
                    }
                }
            }
            top += image.height + gap
        }
        return PNGImage(unchecked: width, height: height, colorType: colorType, pixels: canvas)
    }

    private init(unchecked width: Int, height: Int, colorType: ColorType, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.colorType = colorType
        self.pixels = pixels
    }

    // MARK: - Encoding

    /// The PNG file's bytes.
    ///
    /// - Parameter compressionLevel: zlib's level, 0 to 9.
    /// - Throws: ``PNGError/compression(_:)`` or ``PNGError/tooLarge(byteCount:)``.
    /// - Complexity: O(width × height).
    public func encoded(compressionLevel: Int32 = 6) throws(PNGError) -> [UInt8] {
        var header = [UInt8]()
        appendBigEndian(UInt32(width), to: &header)
        appendBigEndian(UInt32(height), to: &header)
        // Bit depth 8, colour type, deflate compression, adaptive filtering, no interlace.
        header += [8, colorType.rawValue, 0, 0, 0]

        let compressed: [UInt8]
        do { compressed = try zlibCompress(filteredScanlines(), level: compressionLevel) } catch {
            throw .compression(error)
        }
        guard compressed.count <= Int(Int32.max) else { throw .tooLarge(byteCount: compressed.count) }

        var file = Self.signature
        file.reserveCapacity(compressed.count + 64)
        appendChunk("IHDR", header, to: &file)
        appendChunk("IDAT", compressed, to: &file)
        appendChunk("IEND", [], to: &file)
        return file
    }

    /// The PNG as a `data:` URI, for embedding in HTML without a separate file.
    ///
    /// - Throws: what ``encoded(compressionLevel:)`` throws.
    public func dataURI() throws(PNGError) -> String {
        "data:image/png;base64," + Data(try encoded()).base64EncodedString()
    }

    /// Each row prefixed by its filter type byte, filtered with the method that minimizes the
    /// sum of absolute values of the (signed) filtered bytes.
    private func filteredScanlines() -> [UInt8] {
        let bytesPerPixel = colorType.channels
        let stride = width * bytesPerPixel
        var output = [UInt8]()
        output.reserveCapacity((stride + 1) * height)
        var candidates = [[UInt8]](repeating: [UInt8](repeating: 0, count: stride), count: 5)
        // A row of zeros above the first row, as the PNG filters assume.
        let padded = [UInt8](repeating: 0, count: stride) + pixels
        padded.withUnsafeBufferPointer { all in
            for row in 0..<height {
                let previous = UnsafeBufferPointer(rebasing: all[(row * stride)..<((row + 1) * stride)])
                let current = UnsafeBufferPointer(rebasing: all[((row + 1) * stride)..<((row + 2) * stride)])
                var bestFilter = 0
                var bestCost = Int.max
                for filter in 0..<5 {
                    var cost = 0
                    for index in 0..<stride {
                        let left = index >= bytesPerPixel ? current[index - bytesPerPixel] : 0
                        let up = previous[index]
                        let upLeft = index >= bytesPerPixel ? previous[index - bytesPerPixel] : 0
                        let predictor: UInt8 = switch filter {
                        case 0: 0
                        case 1: left
                        case 2: up
                        case 3: UInt8((Int(left) + Int(up)) / 2)
                        default: paethPredictor(left, up, upLeft)
                        }
                        let value = current[index] &- predictor
                        candidates[filter][index] = value
                        cost += Int(Int8(bitPattern: value).magnitude)
                    }
                    if cost < bestCost { (bestCost, bestFilter) = (cost, filter) }
                }
                output.append(UInt8(bestFilter))
                output.append(contentsOf: candidates[bestFilter])
            }
        }
        return output
    }
}

/// PNG's Paeth predictor: whichever of left, up and upper-left is closest to left + up − upper-left.
private func paethPredictor(_ left: UInt8, _ up: UInt8, _ upLeft: UInt8) -> UInt8 {
    let estimate = Int(left) + Int(up) - Int(upLeft)
    let distanceLeft = abs(estimate - Int(left))
    let distanceUp = abs(estimate - Int(up))
    let distanceUpLeft = abs(estimate - Int(upLeft))
    if distanceLeft <= distanceUp && distanceLeft <= distanceUpLeft { return left }
    return distanceUp <= distanceUpLeft ? up : upLeft
}

private func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
    bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
}

/// Length, type, data and the CRC-32 of type and data.
private func appendChunk(_ type: String, _ data: [UInt8], to file: inout [UInt8]) {
    appendBigEndian(UInt32(data.count), to: &file)
    let typeBytes = Array(type.utf8)
    file += typeBytes
    file += data
    appendBigEndian(crc32Checksum(data, continuing: crc32Checksum(typeBytes)), to: &file)
}
