#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - JSON

extension SafeTensorsFile {
    /// A parsed JSON value. Numbers keep their text so integers are read exactly, and objects
    /// keep their members in document order (so errors are deterministic).
    enum JSONValue {
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
    struct JSONError: Error {
        var reason: String
    }

    /// A strict RFC 8259 parser over UTF-8 bytes, with a nesting limit so hostile headers
    /// cannot exhaust the stack, and rejection of duplicate keys.
    ///
    /// Foundation's parsers would lose checks: `JSONSerialization` keeps the last of duplicate
    /// keys and `JSONDecoder` the first, and `JSONDecoder` reads `1.0` and `1e2` as integers.
    /// They are also slower: on a 42 MB header of 515,000 tensors, reading the whole file with
    /// this parser took 4.6 s, `JSONSerialization` 6.6 to 19 s and `JSONDecoder` 7.6 to 13 s
    /// for the header alone.
    struct JSONParser {
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
            var members: [(key: String, value: JSONValue)] = []
            var seen: Set<String> = []
            try parseElements(closedBy: UInt8(ascii: "}")) { parser throws(JSONError) in
                guard parser.current == UInt8(ascii: "\"") else { throw parser.fail("expected a string key") }
                let key = try parser.parseString()
                guard seen.insert(key).inserted else { throw parser.fail("duplicate key \"\(key)\"") }
                parser.skipWhitespace()
                guard parser.current == UInt8(ascii: ":") else { throw parser.fail("expected ':'") }
                parser.position += 1
                parser.skipWhitespace()
                let value = try parser.parseValue()
                members.append((key: key, value: value))
            }
            return .object(members)
        }

        private mutating func parseArray() throws(JSONError) -> JSONValue {
            var elements: [JSONValue] = []
            try parseElements(closedBy: UInt8(ascii: "]")) { parser throws(JSONError) in elements.append(try parser.parseValue()) }
            return .array(elements)
        }

        /// Reads the comma-separated elements of the object or array that starts at
        /// `position`, up to its `closing` bracket, `element` reading each (from its first
        /// character).
        private mutating func parseElements(
            closedBy closing: UInt8, _ element: (inout JSONParser) throws(JSONError) -> Void
        ) throws(JSONError) {
            try enter()
            defer { depth -= 1 }
            position += 1  // { or [
            skipWhitespace()
            if current == closing {
                position += 1
                return
            }
            while true {
                skipWhitespace()
                try element(&self)
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case closing: position += 1; return
                default: throw fail("expected ',' or '\(Unicode.Scalar(closing))'")
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
