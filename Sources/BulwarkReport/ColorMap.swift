/// A diverging colour map for signed values: dark blue for −1, white for 0, dark red for +1
/// (ColorBrewer's RdBu, reversed so that red means "added brightness"). Readable by people
/// with red–green colour blindness, since it runs blue–white–red.
public struct DivergingColorMap: Sendable {
    /// The 11 stops of RdBu from −1 to +1.
    static let stops: [(UInt8, UInt8, UInt8)] = [
        (0x05, 0x30, 0x61), (0x21, 0x66, 0xAC), (0x43, 0x93, 0xC3), (0x92, 0xC5, 0xDE), (0xD1, 0xE5, 0xF0),
        (0xF7, 0xF7, 0xF7),
        (0xFD, 0xDB, 0xC7), (0xF4, 0xA5, 0x82), (0xD6, 0x60, 0x4D), (0xB2, 0x18, 0x2B), (0x67, 0x00, 0x1F),
    ]

    /// Creates the colour map.
    public init() {}

    /// The colour of `value`, clamped to −1…1 (NaN maps to white).
    public func color(_ value: Double) -> (red: UInt8, green: UInt8, blue: UInt8) {
        let clamped = value.isNaN ? 0 : Swift.min(Swift.max(value, -1), 1)
        let position = (clamped + 1) / 2 * Double(Self.stops.count - 1)
        let lower = Swift.min(Int(position), Self.stops.count - 2)
        let fraction = position - Double(lower)
        let (a, b) = (Self.stops[lower], Self.stops[lower + 1])
        func mix(_ x: UInt8, _ y: UInt8) -> UInt8 { UInt8((Double(x) + (Double(y) - Double(x)) * fraction).rounded()) }
        return (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// The colour as CSS hexadecimal (`#f7f7f7`).
    public func hexColor(_ value: Double) -> String {
        let (red, green, blue) = color(value)
        return "#" + [red, green, blue].map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
    }
}

extension PNGImage {
    /// An image from pixel values in [0, 1] (clamped), laid out as one CHW tensor slice with 1
    /// (grayscale) or 3 (RGB) channels.
    ///
    /// - Throws: ``PNGError/unsupportedChannels(_:)``, or the errors of
    ///   ``init(width:height:colorType:pixels:)``.
    public init(intensities values: ArraySlice<Float>, channels: Int, height: Int, width: Int) throws(PNGError) {
        guard channels == 1 || channels == 3 else { throw .unsupportedChannels(channels) }
        let plane = height * width
        guard values.count == plane * channels else {
            throw .pixelCountMismatch(expected: plane * channels, actual: values.count)
        }
        var pixels = [UInt8](repeating: 0, count: plane * channels)
        let base = values.startIndex
        for channel in 0..<channels {
            for position in 0..<plane {
                let value = values[base + channel * plane + position]
                let clamped = value.isNaN ? 0 : Swift.min(Swift.max(value, 0), 1)
                pixels[position * channels + channel] = UInt8((clamped * 255).rounded())
            }
        }
        try self.init(width: width, height: height, colorType: channels == 1 ? .grayscale : .rgb, pixels: pixels)
    }

    /// A perturbation (adversarial − clean, CHW) as an RGB image in the diverging colour map:
    /// each pixel's channel mean divided by `scale`, so ±`scale` are the map's ends.
    ///
    /// - Precondition: `scale > 0`.
    public init(perturbation values: ArraySlice<Float>, channels: Int, height: Int, width: Int, scale: Float) throws(PNGError) {
        precondition(scale > 0, "the perturbation scale must be positive")
        guard channels >= 1 else { throw .unsupportedChannels(channels) }
        let plane = height * width
        guard values.count == plane * channels else {
            throw .pixelCountMismatch(expected: plane * channels, actual: values.count)
        }
        let map = DivergingColorMap()
        var pixels = [UInt8](repeating: 0, count: plane * 3)
        let base = values.startIndex
        for position in 0..<plane {
            var sum: Float = 0
            for channel in 0..<channels { sum += values[base + channel * plane + position] }
            let (red, green, blue) = map.color(Double(sum / Float(channels) / scale))
            pixels[position * 3] = red
            pixels[position * 3 + 1] = green
            pixels[position * 3 + 2] = blue
        }
        try self.init(width: width, height: height, colorType: .rgb, pixels: pixels)
    }
}
