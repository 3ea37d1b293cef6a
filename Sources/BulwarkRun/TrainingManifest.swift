import BulwarkCore
import BulwarkReport
import BulwarkTraining
import Foundation

/// The run manifest, `OUT/run.json`: the encoding of the run's resolved configuration
/// (``ImageTrainingConfiguration`` or ``TextTrainingConfiguration``), with facts the data
/// settled (the counts trained on, a text run's vocabulary and classes), the environment
/// (``runEnvironment()``), the command that repeats the run, and the epochs after which it
/// was resumed. Numbers are JSON numbers and flags booleans.
public enum TrainingManifest {
    /// The value after `flag` in `command`, a command line as run manifests of earlier versions
    /// recorded it (words quoted for a POSIX shell with single quotes); `nil` when absent.
    static func legacyValue(of flag: String, in command: String) -> String? {
        var words = [String](), current = "", inWord = false, quoted = false, escaped = false
        for character in command {
            if escaped {
                current.append(character)
                escaped = false
            } else if quoted {
                if character == "'" { quoted = false } else { current.append(character) }
            } else if character == "'" || character == "\\" {
                (quoted, escaped, inWord) = (character == "'", character == "\\", true)
            } else if character == " " {
                if inWord { words.append(current) }
                (current, inWord) = ("", false)
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        guard let index = words.firstIndex(of: flag), index + 1 < words.count else { return nil }
        return words[index + 1]
    }

    /// The manifest's file name in the run directory.
    public static let fileName = "run.json"
    /// The key listing the epochs after which the run was resumed.
    public static let resumedAfterEpochsKey = "resumed_after_epochs"

    /// The manifest's bytes: `configuration`'s encoding with `facts`, the environment and
    /// `command` (as ``RunManifest`` types text values: numbers, booleans).
    public static func encode<Configuration: Encodable>(_ configuration: Configuration, facts: [String: String], command: String) throws -> Data {
        var extras = facts.merging(runEnvironment()) { fact, _ in fact }
        extras["command"] = command
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(Encoding(configuration: configuration, extras: extras.reduce(into: [:]) { result, entry in
            result[entry.key] = RunManifest.value(entry.value, forKey: entry.key)
        }))
    }

    /// The manifest in `directory`'s `run.json`.
    ///
    /// - Throws: ``ConfigurationError`` when there is none or it cannot be read.
    public static func read(in directory: String) throws(ConfigurationError) -> Data {
        let file = path(in: directory, fileName)
        guard FileManager.default.fileExists(atPath: file) else {
            throw ConfigurationError("'\(directory)' has no run.json: it is not a run directory written by bulwark train. Check the path given to \(field: "resume").")
        }
        do { return try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
            throw ConfigurationError("'\(file)' cannot be read (\(error.localizedDescription)); it cannot be resumed.")
        }
    }

    /// Every entry of the manifest `data` as text (as checkpoints' metadata records it).
    ///
    /// - Throws: ``ConfigurationError`` when `data` is not a JSON object of strings,
    ///   numbers, booleans and lists of them.
    public static func entries(of data: Data, in directory: String) throws(ConfigurationError) -> [String: String] {
        do { return try RunManifest.decode(data) } catch {
            throw ConfigurationError("'\(path(in: directory, fileName))' is not a run manifest written by bulwark train (\(error.localizedDescription)); it cannot be resumed.")
        }
    }

    /// Whether the manifest's entries are of a text run (`bulwark train --task text`).
    public static func isTextRun(_ entries: [String: String]) -> Bool { entries["task"] == "text" }

    /// The configuration the manifest `data` in `directory` records.
    ///
    /// - Throws: ``ConfigurationError`` when a field is missing or of the wrong type.
    public static func configuration<Configuration: Decodable>(_ type: Configuration.Type, from data: Data, in directory: String) throws(ConfigurationError) -> Configuration {
        do { return try JSONDecoder().decode(type, from: data) } catch {
            let detail = switch error {
            case DecodingError.keyNotFound(let key, _): "it lacks \(key.stringValue)"
            case DecodingError.dataCorrupted(let context), DecodingError.typeMismatch(_, let context): "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
            default: "\(error)"
            }
            throw ConfigurationError("run.json in '\(directory)' does not hold a configuration this version can resume (\(detail)); start the run again.")
        }
    }

    /// The entries of the manifest of the run in `directory`: for a new run of `configuration`,
    /// written with the `facts` the data settled and `command` (the directory created); for a
    /// resumed run (`configuration` `nil`), read.
    static func record<Configuration: Encodable>(
        _ configuration: Configuration?, in directory: String, command: String, writes: Bool = true, facts: () -> [String: String]
    ) throws -> [String: String] {
        guard let configuration else { return try entries(of: read(in: directory), in: directory) }
        let data = try encode(configuration, facts: facts(), command: command)
        guard writes else { return try entries(of: data, in: directory) }
        try createDirectory(directory)
        do { try OutputFile.write(Array(data), to: path(in: directory, fileName)) } catch {
            throw ConfigurationError("\(error.description)")
        }
        return try entries(of: data, in: directory)
    }

    /// Notes in `run.json` (`resumed_after_epochs`, a list) that the run in `directory`, whose
    /// manifest has `entries`, continued after `completed` epochs; the run goes on if the note
    /// cannot be written.
    static func noteResumption(after completed: Int, entries: [String: String], in directory: String) {
        var noted = entries
        noted[resumedAfterEpochsKey] = (noted[resumedAfterEpochsKey].map { $0 + "," } ?? "") + String(completed)
        if let data = try? RunManifest.encode(noted) { try? OutputFile.write(Array(data), to: path(in: directory, fileName)) }
    }

    /// The metadata of the run's checkpoints: the manifest's entries (without the note of
    /// resumptions, so that a resumed run writes the same files as an uninterrupted one) and
    /// the seed.
    static func checkpointMetadata(entries: [String: String], seed: UInt64) -> [String: String] {
        var configuration = entries
        configuration[resumedAfterEpochsKey] = nil
        return ["configuration": BulwarkTraining.encode(configuration), "seed": String(seed)]
    }

    /// The configuration's keys and the manifest's other entries in one JSON object.
    private struct Encoding<Configuration: Encodable>: Encodable {
        var configuration: Configuration
        var extras: [String: RunManifest.Value]

        func encode(to encoder: any Encoder) throws {
            try configuration.encode(to: encoder)
            var container = encoder.container(keyedBy: ManifestKey.self)
            for (key, value) in extras { try container.encode(value, forKey: ManifestKey(stringValue: key)) }
        }
    }
}

/// A field whose values differ between two configurations, each value as the manifest's
/// text (`nil` when the field is unset).
public struct ConfigurationDifference: Equatable, Sendable {
    /// The field, by its Swift name.
    public var field: String
    /// Its value in the configuration compared, as `run.json` writes it (`nil` unset).
    public var value: String?
    /// Its value in the configuration compared with.
    public var otherValue: String?

    /// The difference of `field`: `value` against `otherValue`.
    public init(field: String, value: String?, otherValue: String?) {
        (self.field, self.value, self.otherValue) = (field, value, otherValue)
    }
}

/// A configuration recorded in run manifests, whose fields can be compared and taken from
/// another configuration by name.
public protocol RecordedConfiguration: Codable {
    /// The fields, in the order a command line lists them.
    static var fields: [String] { get }
    /// Passes over the training data.
    var epochs: Int { get }
    /// The configuration with every default filled in and every unused field cleared.
    func resolved() -> Self
    /// Throws unless the configuration describes a run that can train.
    func validate() throws(ConfigurationError)
}

extension ImageTrainingConfiguration: RecordedConfiguration {}

extension RecordedConfiguration {
    /// The configuration resolved, once it and `stopAfterEpoch` (an epoch of the run, if
    /// given) are checked.
    func validatedForJob(stoppingAfter stopAfterEpoch: Int?) throws(ConfigurationError) -> Self {
        try validate()
        let resolved = resolved()
        if let stopAfterEpoch {
            try check((1...resolved.epochs).contains(stopAfterEpoch),
                      "\(field: "stopAfterEpoch") must be an epoch from 1 to \(field: "epochs") \(resolved.epochs), got \(stopAfterEpoch)")
        }
        return resolved
    }

    /// The fields as the manifest's text (those unset left out), keyed by field name.
    public func fieldValues() throws -> [String: String] {
        let entries = try RunManifest.decode(JSONEncoder().encode(self))
        return Self.fields.reduce(into: [:]) { result, field in result[field] = entries[ManifestKey.key(of: field)] }
    }

    /// The fields whose values differ from `other`'s, in ``fields`` order, except `ignoring`.
    public func differences(from other: Self, ignoring: Set<String> = []) throws -> [ConfigurationDifference] {
        let (mine, theirs) = (try fieldValues(), try other.fieldValues())
        return Self.fields.filter { !ignoring.contains($0) && mine[$0] != theirs[$0] }.map {
            ConfigurationDifference(field: $0, value: mine[$0], otherValue: theirs[$0])
        }
    }

    /// This configuration with the values of `fields` taken from `other` (unset where
    /// `other` leaves them unset).
    public func replacing(_ fields: Set<String>, from other: Self) throws -> Self {
        let decoder = JSONDecoder()
        var mine = try decoder.decode([String: RunManifest.Value].self, from: JSONEncoder().encode(self))
        let theirs = try decoder.decode([String: RunManifest.Value].self, from: JSONEncoder().encode(other))
        for field in fields {
            let key = ManifestKey.key(of: field)
            mine[key] = theirs[key]
            if field == "augment" { mine["augmentation"] = theirs["augmentation"] }
        }
        return try decoder.decode(Self.self, from: JSONEncoder().encode(mine))
    }
}
