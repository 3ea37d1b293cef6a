/// A configuration that cannot run, with a message that names its fields in backquotes
/// (`` `stepSize` ``), so that a front end can name them its own way (the command line
/// writes `--step-size`; see ``message(namingFields:)``).
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong and how to fix it, naming fields as `` `field` ``.
    public var message: String

    /// An error with `message`, naming fields as `` `field` ``.
    public init(_ message: String) { self.message = message }

    public var description: String { message }

    /// The message with every `` `field` `` replaced by `name(field)`.
    public func message(namingFields name: (String) -> String) -> String {
        var result = ""
        var rest = message[...]
        while let open = rest.firstIndex(of: "`"), let close = rest[rest.index(after: open)...].firstIndex(of: "`") {
            result += rest[..<open]
            result += name(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }
}

/// Throws a ``ConfigurationError`` with `message` unless `condition` holds.
package func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(ConfigurationError) {
    if !condition { throw ConfigurationError(message()) }
}
