import Foundation

extension JSONOutput {
    /// `value` as Bulwark's JSON files hold it: pretty-printed, keys sorted, slashes unescaped,
    /// non-finite numbers `null`; `snakeCase` converts Swift's property names (as
    /// `metrics.jsonl` does).
    package static func pretty<Value: Encodable>(_ value: Value, snakeCase: Bool = false) throws -> Data {
        try encode(value) { encoder in
            if snakeCase { encoder.keyEncodingStrategy = .convertToSnakeCase }
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        }
    }
}
