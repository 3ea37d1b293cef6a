import Foundation

/// JSON for Bulwark's output files. JSON has no NaN or infinity, and a string such as `"nan"`
/// in place of a number breaks every reader that expects one, so a non-finite number is
/// written as `null`: present, and plainly not a measurement.
package enum JSONOutput {
    /// A marker no encoded string holds (JSON escapes the control character U+0001), swapped
    /// for `null` after encoding.
    private static let marker = "\u{1}non-finite"

    /// `value` as JSON, with every NaN or infinite number written as `null`.
    ///
    /// - Parameter configure: Sets the encoder's formatting and key strategy.
    package static func encode<Value: Encodable>(_ value: Value, configure: (JSONEncoder) -> Void = { _ in }) throws -> Data {
        let encoder = JSONEncoder()
        configure(encoder)
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: marker, negativeInfinity: marker, nan: marker)
        let encoded = try encoder.encode(value)
        let quotedMarker = Data("\"\\u0001non-finite\"".utf8)
        guard encoded.range(of: quotedMarker) != nil else { return encoded }
        var result = Data()
        var rest = encoded[...]
        while let range = rest.range(of: quotedMarker) {
            result.append(rest[rest.startIndex..<range.lowerBound])
            result.append(Data("null".utf8))
            rest = rest[range.upperBound...]
        }
        result.append(rest)
        return result
    }
}
