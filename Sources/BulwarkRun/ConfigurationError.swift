import Foundation

/// A configuration that cannot run, or a run that cannot be carried out, with a message that
/// names the configuration fields it concerns (``ImageTrainingConfiguration/stepSize``, …), so
/// that a front end can name them as it spells them (the command line writes `--step-size`).
public struct ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A piece of the message.
    public enum Part: Equatable, Sendable {
        case text(String)
        /// A configuration field, by its Swift name.
        case field(String)
        /// A Boolean field, whichever value it has.
        case eitherValueOf(String)
    }

    /// The message, pieces of text and the fields it names (adjacent texts joined).
    public private(set) var parts: [Part]

    /// The error with `message`.
    public init(_ message: FieldMessage) { parts = Self.joiningTexts(message.parts) }

    /// The error with `message`, which names fields in backquotes (`` `stepSize` ``).
    public init(_ message: String) {
        var parts = [Part]()
        var rest = message[...]
        while let open = rest.firstIndex(of: "`"), let close = rest[rest.index(after: open)...].firstIndex(of: "`") {
            parts += [.text(String(rest[..<open])), .field(String(rest[rest.index(after: open)..<close]))]
            rest = rest[rest.index(after: close)...]
        }
        self.parts = Self.joiningTexts(parts + [.text(String(rest))])
    }

    private static func joiningTexts(_ parts: [Part]) -> [Part] {
        parts.reduce(into: []) { result, part in
            if case .text(let text) = part {
                if text.isEmpty { return }
                if case .text(let previous)? = result.last {
                    result[result.count - 1] = .text(previous + text)
                    return
                }
            }
            result.append(part)
        }
    }

    /// The fields the message names, in order.
    public var fields: [String] {
        parts.compactMap { part in
            switch part {
            case .text: nil
            case .field(let name), .eitherValueOf(let name): name
            }
        }
    }

    /// The message with each field spelled by `name` (a field as it is, or a flag), and each
    /// field of either value by `eitherValue`.
    public func message(naming name: (String) -> String, eitherValue: (String) -> String) -> String {
        parts.map { part in
            switch part {
            case .text(let text): text
            case .field(let field): name(field)
            case .eitherValueOf(let field): eitherValue(field)
            }
        }.joined()
    }

    /// The message with every field, of either value or not, spelled by `name`.
    public func message(namingFields name: (String) -> String) -> String { message(naming: name, eitherValue: name) }

    /// The message naming the fields in backquotes.
    public var description: String { message(naming: { "`\($0)`" }, eitherValue: { "`\($0)` (true or false)" }) }
}

/// Throws a ``ConfigurationError`` with `message`, naming fields in backquotes, unless
/// `condition` holds.
package func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(ConfigurationError) {
    if !condition { throw ConfigurationError(message()) }
}

/// A message that names configuration fields: `"\(field: "epochs") must be at least 1"`.
public struct FieldMessage: ExpressibleByStringInterpolation, Sendable {
    var parts: [ConfigurationError.Part] = []

    /// A message of text only.
    public init(stringLiteral value: String) { parts = [.text(value)] }

    /// The message the interpolation built.
    public init(stringInterpolation: Interpolation) { parts = stringInterpolation.parts }

    /// Builds a message from text, values and fields.
    public struct Interpolation: StringInterpolationProtocol {
        var parts: [ConfigurationError.Part] = []

        /// An empty message.
        public init(literalCapacity: Int, interpolationCount: Int) {}

        /// Appends text.
        public mutating func appendLiteral(_ literal: String) { parts.append(.text(literal)) }

        /// Appends a value as text.
        public mutating func appendInterpolation<Value>(_ value: Value) { parts.append(.text("\(value)")) }

        /// A configuration field, by its Swift name.
        public mutating func appendInterpolation(field: String) { parts.append(.field(field)) }

        /// A Boolean field, whichever value it has.
        public mutating func appendInterpolation(eitherValueOf field: String) { parts.append(.eitherValueOf(field)) }
    }
}

extension FieldMessage {
    /// "`fields` applies to method `methods`, not `method`" ("apply" for several fields).
    static func applicability(of fields: [String], methods: [String], not method: String) -> Self {
        var message: Self = ""
        message.parts = fields.indices.flatMap { index -> [ConfigurationError.Part] in
            (index == 0 ? [] : [.text(index == fields.count - 1 ? " and " : ", ")]) + [.field(fields[index])]
        }
        message.parts += [.text(fields.count == 1 ? " applies to " : " apply to "), .field("method"), .text(" \(methods.listed("and")), not \(method)")]
        return message
    }
}

extension [String] {
    /// The names as a sentence lists them: "a", "a and b", "a, b and c" (with `conjunction` "and").
    func listed(_ conjunction: String) -> String {
        count < 2 ? joined() : dropLast().joined(separator: ", ") + " \(conjunction) " + last!
    }
}

/// Throws a ``ConfigurationError`` with `message` unless `condition` holds.
func check(_ condition: Bool, _ message: @autoclosure () -> FieldMessage) throws(ConfigurationError) {
    if !condition { throw ConfigurationError(message()) }
}

/// A key of `run.json`: a configuration field's Swift name in snake case, or a key as it is.
struct ManifestKey: CodingKey, ExpressibleByStringLiteral {
    var stringValue: String
    var intValue: Int? { nil }

    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }

    /// The key of the field named `field` (`stepSize` → `step_size`), or of a few fields
    /// the key names otherwise, as run manifests always have.
    init(stringLiteral field: String) { stringValue = Self.key(of: field) }

    static func key(of field: String) -> String {
        switch field {
        case "dataDirectory": "data_dir"
        case "trainCount": "requested_train_count"
        case "finalEvaluationCount": "final_eval_count"
        default: field.reduce(into: "") { key, character in
            if character.isUppercase { key += "_" + character.lowercased() } else { key.append(character) }
        }
        }
    }
}

extension KeyedDecodingContainer where Key == ManifestKey {
    /// The value of `field`, as a JSON value of its type or, as manifests of earlier versions
    /// stored every value, as text.
    func field<Value: Decodable & LosslessStringConvertible>(_ field: ManifestKey) throws -> Value? {
        guard contains(field) else { return nil }
        if let value = try? decode(Value.self, forKey: field) { return value }
        let text = try decode(String.self, forKey: field)
        // Flags written as text by JSON tools that know no booleans read as 1 or 0.
        guard let value = Value(text) ?? (Value.self == Bool.self ? ["1": true, "0": false][text] as? Value : nil) else {
            throw DecodingError.dataCorruptedError(forKey: field, in: self, debugDescription: "'\(text)' is not a \(Value.self)")
        }
        return value
    }

    /// The value of `field`, named by its raw value.
    func field<Value: RawRepresentable>(_ field: ManifestKey) throws -> Value? where Value.RawValue == String {
        guard let text: String = try self.field(field) else { return nil }
        guard let value = Value(rawValue: text) else {
            throw DecodingError.dataCorruptedError(forKey: field, in: self, debugDescription: "'\(text)' is not a \(Value.self)")
        }
        return value
    }
}

extension KeyedDecodingContainer where Key == ManifestKey {
    /// The value of `field`, which every manifest holds (see ``field(_:)``).
    func requiredField<Value: Decodable & LosslessStringConvertible>(_ field: ManifestKey) throws -> Value {
        try required(self.field(field), field)
    }

    /// The value of `field`, named by its raw value, which every manifest holds.
    func requiredField<Value: RawRepresentable>(_ field: ManifestKey) throws -> Value where Value.RawValue == String {
        try required(self.field(field), field)
    }

    /// `value`, the field `key` as read (from `key`, or where earlier manifests kept it); a
    /// manifest that yields `nil` lacks `key`.
    func required<Value>(_ value: Value?, _ key: ManifestKey) throws -> Value {
        guard let value else { throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "run.json lacks \(key.stringValue)")) }
        return value
    }
}

extension KeyedEncodingContainer where Key == ManifestKey {
    mutating func field<Value: RawRepresentable>(_ value: Value?, _ field: ManifestKey) throws where Value.RawValue == String {
        try encodeIfPresent(value?.rawValue, forKey: field)
    }
}

/// The name of a training method, one of the ``names`` its configuration's registry holds;
/// it is written as the name in run manifests.
public protocol TrainingMethodName: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible where RawValue == String {
    /// The name of every registered method, in order.
    static var names: [String] { get }
    /// The method named `name`, which the registry must hold.
    init(unchecked name: String)
}

/// A method name whose methods a registry of recipes defines.
package protocol RegisteredMethodName: TrainingMethodName {
    /// What resolves, checks and builds a method (a recipe type).
    associatedtype Recipe
    /// Every method a configuration may name, in order.
    static var registry: [Recipe] { get }
    /// The name `recipe` is registered as.
    static func name(of recipe: Recipe) -> String
}

extension RegisteredMethodName {
    /// The names of the registered methods, in registry order.
    public static var names: [String] { registry.map(name(of:)) }

    /// What resolves, checks and builds the method.
    package var recipe: Recipe {
        guard let recipe = Self.registry.first(where: { Self.name(of: $0) == rawValue }) else {
            preconditionFailure("no training method is registered as '\(rawValue)'; validate() the configuration before using it")
        }
        return recipe
    }
}

extension TrainingMethodName {
    /// The method named `rawValue`, or `nil` when no registered method has that name.
    public init?(rawValue: String) {
        guard Self.names.contains(rawValue) else { return nil }
        self.init(unchecked: rawValue)
    }

    /// Every registered method, in order.
    public static var all: [Self] { names.map(Self.init(unchecked:)) }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let method = Self(rawValue: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "no training method is named '\(name)'"))
        }
        self = method
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
