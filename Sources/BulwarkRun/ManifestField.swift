/// One field of a training configuration as `run.json` records it: its name, how a manifest
/// is read into it, and how it is written, so that a configuration's coding is one table of
/// its fields (see ``ManifestKey`` for the keys).
struct ManifestField<Configuration>: Sendable {
    /// The field's Swift name; its key is ``ManifestKey/key(of:)`` of it.
    let name: String
    /// Sets the field from a manifest.
    let read: @Sendable (KeyedDecodingContainer<ManifestKey>, inout Configuration) throws -> Void
    /// Writes the field, or nothing where manifests leave it out.
    let write: @Sendable (Configuration, inout KeyedEncodingContainer<ManifestKey>) throws -> Void
    /// Sets an optional field to nil and tells whether it is set (see ``optional(_:_:)``);
    /// `nil` for the others.
    let optionalProperty: OptionalProperty<Configuration>?

    /// A field read and written by the closures given.
    init(
        _ name: String, read: @escaping @Sendable (KeyedDecodingContainer<ManifestKey>, inout Configuration) throws -> Void,
        write: @escaping @Sendable (Configuration, inout KeyedEncodingContainer<ManifestKey>) throws -> Void,
        optionalProperty: OptionalProperty<Configuration>? = nil
    ) {
        self.name = name
        self.read = read
        self.write = write
        self.optionalProperty = optionalProperty
    }
}

extension ManifestField {
    /// An optional field, left out of the manifest when nil.
    static func optional<Value: Codable & LosslessStringConvertible & Sendable>(
        _ name: String, _ path: WritableKeyPath<Configuration, Value?> & Sendable
    ) -> Self {
        let key = ManifestKey(stringLiteral: name)
        return Self(name, read: { container, configuration in configuration[keyPath: path] = try container.field(key) },
                    write: { configuration, container in try container.encodeIfPresent(configuration[keyPath: path], forKey: key) },
                    optionalProperty: OptionalProperty(path))
    }

    /// An optional field named by its raw value, left out of the manifest when nil.
    static func optional<Value: RawRepresentable & Sendable>(
        _ name: String, _ path: WritableKeyPath<Configuration, Value?> & Sendable
    ) -> Self where Value.RawValue == String {
        let key = ManifestKey(stringLiteral: name)
        return Self(name, read: { container, configuration in configuration[keyPath: path] = try container.field(key) },
                    write: { configuration, container in try container.field(configuration[keyPath: path], key) },
                    optionalProperty: OptionalProperty(path))
    }

    /// A field every manifest holds or, given a `defaultValue`, that manifests lacking it read
    /// as that value; left out of the manifest when it is the default and `omittedAtDefault`.
    static func value<Value: Codable & LosslessStringConvertible & Equatable & Sendable>(
        _ name: String, _ path: WritableKeyPath<Configuration, Value> & Sendable, default defaultValue: Value? = nil,
        omittedAtDefault: Bool = false
    ) -> Self {
        let key = ManifestKey(stringLiteral: name)
        return Self(name, read: { container, configuration in
            configuration[keyPath: path] = try container.required(container.field(key) ?? defaultValue, key)
        }, write: { configuration, container in
            let value = configuration[keyPath: path]
            if !omittedAtDefault || value != defaultValue { try container.encode(value, forKey: key) }
        })
    }

    /// A field named by its raw value that every manifest holds or, given a `defaultValue`,
    /// that manifests lacking it read as that value.
    static func value<Value: RawRepresentable & Sendable>(
        _ name: String, _ path: WritableKeyPath<Configuration, Value> & Sendable, default defaultValue: Value? = nil
    ) -> Self where Value.RawValue == String {
        let key = ManifestKey(stringLiteral: name)
        return Self(name, read: { container, configuration in
            configuration[keyPath: path] = try container.required(container.field(key) ?? defaultValue, key)
        }, write: { configuration, container in try container.field(configuration[keyPath: path], key) })
    }

    /// A field named by its raw value that a run setting the optional field `replacement`
    /// records instead: a manifest holding `replacement` leaves it as it is, every other one
    /// holds it (earlier ones as `formerName`), and it is written only while `replacement` is
    /// nil.
    static func value<Value: RawRepresentable & Sendable>(
        _ name: String, _ path: WritableKeyPath<Configuration, Value> & Sendable,
        unless replacement: String, _ replacementPath: KeyPath<Configuration, String?> & Sendable, formerName: String? = nil
    ) -> Self where Value.RawValue == String {
        let (key, replacementKey) = (ManifestKey(stringLiteral: name), ManifestKey(stringLiteral: replacement))
        let formerKey = formerName.map(ManifestKey.init(stringLiteral:))
        return Self(name, read: { container, configuration in
            guard !container.contains(replacementKey) else { return }
            let former = { () throws -> Value? in try formerKey.flatMap { try container.field($0) } }
            configuration[keyPath: path] = try container.required(container.field(key) ?? former(), key)
        }, write: { configuration, container in
            if configuration[keyPath: replacementPath] == nil { try container.field(configuration[keyPath: path], key) }
        })
    }
}

/// A configuration coded in `run.json` by a table of its fields.
protocol ManifestCoded {
    /// Every field, in the order a command line lists them.
    static var manifestFields: [ManifestField<Self>] { get }
}

extension ManifestCoded {
    /// Sets every field of `self` from `container`, in table order.
    mutating func read(_ container: KeyedDecodingContainer<ManifestKey>) throws {
        for field in Self.manifestFields { try field.read(container, &self) }
    }

    /// Writes every field to `encoder`.
    func writeFields(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: ManifestKey.self)
        for field in Self.manifestFields { try field.write(self, &container) }
    }

    /// The optional field named `name` (a method-specific field, which methods that do not
    /// use it leave nil).
    static func optionalProperty(named name: String) -> OptionalProperty<Self> {
        guard let property = manifestFields.first(where: { $0.name == name })?.optionalProperty else {
            preconditionFailure("\(Self.self) has no optional field named '\(name)'")
        }
        return property
    }
}

/// An optional property of a configuration, to clear or test.
struct OptionalProperty<Configuration>: Sendable {
    /// Sets the property to nil.
    let clear: @Sendable (inout Configuration) -> Void
    /// Whether the property is set.
    let isSet: @Sendable (Configuration) -> Bool

    init<Value>(_ path: WritableKeyPath<Configuration, Value?> & Sendable) {
        clear = { $0[keyPath: path] = nil }
        isSet = { $0[keyPath: path] != nil }
    }
}
