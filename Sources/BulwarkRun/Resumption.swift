import BulwarkTraining
import Foundation

/// A training run continued from its directory: the manifest (`run.json`) the run recorded
/// there, which says the run's task and holds its configuration, and the checks that a resumed
/// run writes into that directory and trains as the run was configured.
public struct Resumption: Sendable {
    /// The run directory.
    public var directory: String
    /// The manifest's bytes.
    public var manifest: Data
    /// Every entry of the manifest as text.
    public var entries: [String: String]

    /// The run recorded in `directory`.
    ///
    /// - Throws: ``ConfigurationError`` naming `resume` when `directory` holds no run manifest,
    ///   or one that cannot be read.
    public init(directory: String) throws(ConfigurationError) {
        self.directory = directory
        manifest = try TrainingManifest.read(in: directory)
        entries = try TrainingManifest.entries(of: manifest, in: directory)
    }

    /// Whether the run trains a text classifier (``TextTrainingConfiguration``).
    public var isTextRun: Bool { TrainingManifest.isTextRun(entries) }

    /// The run's value of `field` as the manifest's text, or `nil` when it recorded none.
    public func recordedValue(of field: String) -> String? { entries[ManifestKey.key(of: field)] }

    /// Throws unless `outputDirectory`, when given, is the run's directory: a resumed run writes
    /// into its own directory.
    ///
    /// - Throws: ``ConfigurationError`` naming `outputDirectory` and `resume`.
    public func checkOutputDirectory(_ outputDirectory: String?) throws(ConfigurationError) {
        guard let outputDirectory, absolutePath(outputDirectory) != absolutePath(directory) else { return }
        throw ConfigurationError("""
            \(field: "outputDirectory") \(outputDirectory) differs from \(field: "resume") \(directory); a resumed run writes into \
            its own directory. Leave out \(field: "outputDirectory").
            """)
    }

    /// The configuration that continues the run: the run's own, with the values of the `given`
    /// fields taken from `options` (see
    /// ``RecordedConfiguration/resuming(recordedIn:in:replacing:from:)``).
    ///
    /// - Throws: ``ConfigurationError`` when the manifest holds no configuration of this type;
    ///   ``ResumptionConflict`` when a given field would change how the run trains.
    public func configuration<Configuration: RecordedConfiguration>(replacing given: Set<String>, from options: Configuration) throws -> Configuration {
        let (configuration, conflicts) = try Configuration.resuming(recordedIn: manifest, in: directory, replacing: given, from: options)
        guard conflicts.isEmpty else { throw ResumptionConflict(directory: directory, differences: conflicts) }
        return configuration
    }
}

/// Fields given to a resumed run whose values differ from the run's own where a resumed run
/// may not change them.
public struct ResumptionConflict: Error, Equatable, Sendable, CustomStringConvertible {
    /// The run directory.
    public var directory: String
    /// Each field at fault: its value given (``ConfigurationDifference/value``) against the
    /// run's (``ConfigurationDifference/otherValue``).
    public var differences: [ConfigurationDifference]

    /// The conflict of the fields `differences` with the run in `directory`.
    public init(directory: String, differences: [ConfigurationDifference]) {
        (self.directory, self.differences) = (directory, differences)
    }

    /// The message, naming each field by `name` and listing the differences in the order of
    /// their names, each value of a field written by `setting` (`nil` for an unset field).
    public func message(naming name: (String) -> String, setting: (_ field: String, _ value: String?) -> String) -> String {
        let described = differences.sorted { name($0.field) < name($1.field) }
            .map { "\(setting($0.field, $0.value)) (the run has \(setting($0.field, $0.otherValue)))" }
        return ConfigurationError("""
            Options given with \(field: "resume") conflict with the run in '\(directory)' (its run.json): \(described.joined(separator: "; ")). \
            Leave them out to continue the run as it was configured, or start a new run with another \(field: "outputDirectory").
            """).message(namingFields: name)
    }

    /// The message naming the fields in backquotes.
    public var description: String { message(naming: { "`\($0)`" }, setting: { "`\($0)` \($1 ?? "unset")" }) }
}

extension RecordedConfiguration {
    /// The configuration that continues the run whose manifest `data` in `directory` records:
    /// the run's own, with the values of the `given` fields taken from `options`; and the
    /// fields in which it then differs from the run's. A resumed run may change only where its
    /// data comes from (`dataDirectory`) and its final evaluation (`finalEvaluationCount`), so
    /// any other difference is a conflict to refuse.
    ///
    /// - Throws: ``ConfigurationError`` when the manifest holds no configuration of this type.
    public static func resuming(
        recordedIn data: Data, in directory: String, replacing given: Set<String>, from options: Self
    ) throws -> (configuration: Self, conflicts: [ConfigurationDifference]) {
        let recorded = try TrainingManifest.configuration(Self.self, from: data, in: directory)
        let configuration = try recorded.replacing(given, from: options)
        let conflicts = try configuration.resolved().differences(from: recorded.resolved(), ignoring: ["dataDirectory", "finalEvaluationCount"])
        return (configuration, conflicts)
    }
}
