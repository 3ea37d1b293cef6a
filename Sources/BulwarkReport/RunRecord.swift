import BulwarkCore
import BulwarkNN
import BulwarkTraining
import Foundation

/// Everything a run directory holds that a report shows: the configuration (`run.json`), the
/// per-epoch metrics (`metrics.jsonl`), evaluations and robustness curves (`*.json` written by
/// `bulwark eval --json`, text evaluations by `bulwark eval --task text --json`), adversarial examples (`*.safetensors` written by `bulwark attack`),
/// word-substitution pairs (`*.tsv` written by `bulwark eval --task text --pairs`), and the
/// metadata of `model.safetensors`.
public struct RunRecord: Sendable {
    /// The directory.
    public var directory: String
    /// `run.json`: the training configuration, empty when absent.
    public var configuration: [String: String]
    /// `metrics.jsonl`, one entry per epoch, empty when absent.
    public var epochs: [EpochMetrics]
    /// Single-ε evaluations with their file names, sorted by name.
    public var evaluations: [(file: String, record: EvaluationRecord)]
    /// Robustness curves with their file names, sorted by name.
    public var curves: [(file: String, record: CurveRecord)]
    /// Text evaluations (clean, embedding PGD, PWWS) with their file names, sorted by name.
    public var textEvaluations: [(file: String, record: TextEvaluationRecord)]
    /// Adversarial example files with their names, sorted by name.
    public var exampleFiles: [(file: String, examples: AdversarialExampleFile)]
    /// Text adversarial examples (original and substituted sentences) with their file names,
    /// sorted by name.
    public var textExampleFiles: [(file: String, examples: TextExampleFile)]
    /// The metadata of `model.safetensors` (architecture, configuration, seed, epoch), empty
    /// when absent.
    public var modelMetadata: [String: String]
    /// Files that looked like Bulwark output but could not be read, with the reason.
    public var skipped: [(file: String, reason: String)]

    /// The epoch whose model `best.safetensors` holds: the first with the highest validation
    /// robust accuracy (clean accuracy when the run had no validation attack), as the
    /// ``Trainer`` chooses it; `nil` without validation metrics.
    public var bestEpoch: EpochMetrics? {
        let scored = epochs.compactMap { metrics in (metrics.validationRobustAccuracy ?? metrics.validationCleanAccuracy).map { (metrics, $0) } }
        return scored.reduce(nil as (EpochMetrics, Float)?) { best, next in
            best.map { $0.1 >= next.1 ? $0 : next } ?? next
        }?.0
    }

    /// The directory's last path component, which names the run in titles and legends.
    public var name: String { URL(fileURLWithPath: directory).lastPathComponent }

    /// The checkpoint whose examples and confidences the report shows, if the run has one.
    public var modelPath: String? {
        let candidate = URL(fileURLWithPath: directory).appendingPathComponent("model.safetensors").path
        return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
    }

    /// Reads the run directory at `directory`.
    ///
    /// Unreadable evaluation or example files are listed in ``skipped`` instead of failing the
    /// whole report; an unreadable `metrics.jsonl` or `run.json` throws.
    ///
    /// - Throws: ``ReportError``: not a directory, nothing to report, or an unreadable
    ///   `metrics.jsonl` / `run.json`.
    public init(directory: String) throws(ReportError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .notARunDirectory(path: directory)
        }
        self.directory = directory
        let base = URL(fileURLWithPath: directory)
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted() } catch {
            throw .unreadable(path: directory, reason: error.localizedDescription)
        }
        func read(_ name: String) throws(ReportError) -> Data {
            let file = base.appendingPathComponent(name).path
            do { return try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw .unreadable(path: file, reason: error.localizedDescription)
            }
        }
        let decoder = bulwarkJSONDecoder()

        configuration = [:]
        if names.contains("run.json") {
            do { configuration = try RunManifest.decode(try read("run.json")) } catch let error as ReportError {
                throw error
            } catch {
                throw .unreadable(path: base.appendingPathComponent("run.json").path, reason: "not a JSON object of strings, numbers and booleans (\(error))")
            }
        }

        epochs = []
        if names.contains("metrics.jsonl") {
            let lineDecoder = bulwarkJSONDecoder()
            lineDecoder.keyDecodingStrategy = .convertFromSnakeCase
            let text = String(decoding: try read("metrics.jsonl"), as: UTF8.self)
            for (number, line) in text.split(separator: "\n").enumerated() where !line.allSatisfy(\.isWhitespace) {
                do { epochs.append(try lineDecoder.decode(EpochMetrics.self, from: Data(line.utf8))) } catch {
                    throw .unreadable(path: base.appendingPathComponent("metrics.jsonl").path,
                                      reason: "line \(number + 1) is not an epoch's metrics (\(error))")
                }
            }
        }

        evaluations = []
        curves = []
        textEvaluations = []
        exampleFiles = []
        skipped = []
        for name in names where name.hasSuffix(".json") && name != "run.json" {
            guard let data = try? read(name),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { continue }
            do {
                if TextEvaluationRecord.matches(object) {
                    textEvaluations.append((name, try TextEvaluationRecord(json: data)))
                } else if object["epsilons"] != nil {
                    curves.append((name, try decoder.decode(CurveRecord.self, from: data)))
                } else if object["attacks"] != nil && object["clean_accuracy"] != nil {
                    evaluations.append((name, try decoder.decode(EvaluationRecord.self, from: data)))
                }
            } catch {
                skipped.append((name, "not an evaluation written by bulwark eval --json (\(error))"))
            }
        }
        let checkpoints: Set<String> = [RunFile.model, RunFile.best, RunFile.resume]
        for name in names where name.hasSuffix(".safetensors") && !checkpoints.contains(name) {
            do {
                exampleFiles.append((name, try AdversarialExampleFile(contentsOf: base.appendingPathComponent(name).path)))
            } catch {
                skipped.append((name, String(describing: error)))
            }
        }
        textExampleFiles = []
        for name in names where name.hasSuffix(".tsv") {
            let path = base.appendingPathComponent(name).path
            guard let data = try? read(name),
                  TextExampleFile.isHeader(String(decoding: data.prefix(64), as: UTF8.self)[...]) else { continue }
            do {
                textExampleFiles.append((name, try TextExampleFile(text: String(decoding: data, as: UTF8.self), path: path)))
            } catch {
                skipped.append((name, error.description))
            }
        }
        modelMetadata = [:]
        if names.contains("model.safetensors"),
           let file = try? SafeTensorsFile(contentsOf: base.appendingPathComponent("model.safetensors").path) {
            modelMetadata = file.metadata
        }
        if configuration.isEmpty && epochs.isEmpty && evaluations.isEmpty && curves.isEmpty && exampleFiles.isEmpty
            && textExampleFiles.isEmpty && textEvaluations.isEmpty {
            throw .emptyRun(path: directory)
        }
    }
}

/// The run manifest, `run.json`: the options and environment of a training run.
///
/// In memory a manifest is a dictionary of strings (as the checkpoints' metadata records
/// it). On disk, values that read as numbers are JSON numbers, `true` and `false` booleans,
/// and `resumed_after_epochs` (comma-separated epochs) an array of numbers; manifests of
/// earlier versions, all strings, read the same.
package enum RunManifest {
    /// The key whose comma-separated epochs are stored as an array of numbers.
    package static let listKeys: Set<String> = ["resumed_after_epochs"]

    /// `configuration` as pretty JSON with typed values, keys sorted.
    package static func encode(_ configuration: [String: String]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(configuration.reduce(into: [String: Value]()) { result, entry in
            result[entry.key] = value(entry.value, forKey: entry.key)
        })
    }

    /// `text`, the manifest's value for `key`, as it is stored in the file: text for the keys
    /// of paths, versions and descriptions, a list for ``listKeys``, else typed.
    package static func value(_ text: String, forKey key: String) -> Value {
        isTextKey(key) ? .text(text)
            : listKeys.contains(key) ? .list(text.split(separator: ",").map { typed(String($0)) })
            : typed(text)
    }

    /// `configuration` as it reads back from `run.json`: whole numbers lose a trailing `.0`
    /// (`3.0` becomes `3`). A new run keeps this form in memory, so that it records the same
    /// values in its checkpoints as a resumption of it, which reads them from the file.
    package static func canonical(_ configuration: [String: String]) -> [String: String] {
        guard let data = try? encode(configuration), let decoded = try? decode(data) else { return configuration }
        return decoded
    }

    /// The manifest in `data`, every value as text (numbers as written, booleans as `true`
    /// or `false`, lists joined by commas).
    ///
    /// - Throws: `DecodingError` when `data` is not a JSON object of strings, numbers,
    ///   booleans and lists of them.
    package static func decode(_ data: Data) throws -> [String: String] {
        try JSONDecoder().decode([String: Value].self, from: data).mapValues(\.text)
    }

    /// A manifest value as JSON: a number, a boolean, text, or a list.
    package enum Value: Codable, Sendable {
        case integer(Int64), unsigned(UInt64), real(Double), boolean(Bool), text(String)
        indirect case list([Value])

        package init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Bool.self) { self = .boolean(value) }
            else if let value = try? container.decode(Int64.self) { self = .integer(value) }
            else if let value = try? container.decode(UInt64.self) { self = .unsigned(value) }
            else if let value = try? container.decode(Double.self) { self = .real(value) }
            else if let value = try? container.decode(String.self) { self = .text(value) }
            else { self = .list(try container.decode([Value].self)) }
        }

        package func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .integer(let value): try container.encode(value)
            case .unsigned(let value): try container.encode(value)
            case .real(let value): try container.encode(value)
            case .boolean(let value): try container.encode(value)
            case .text(let value): try container.encode(value)
            case .list(let values): try container.encode(values)
            }
        }

        /// The value as the manifest's text.
        package var text: String {
            switch self {
            case .integer(let value): String(value)
            case .unsigned(let value): String(value)
            case .real(let value): String(value)
            case .boolean(let value): String(value)
            case .text(let value): value
            case .list(let values): values.map(\.text).joined(separator: ",")
            }
        }
    }

    /// Keys whose values are text even when they look like numbers: paths, versions (`6.10`
    /// is not `6.1`), the command line and descriptions of the machine.
    private static func isTextKey(_ key: String) -> Bool {
        key.hasSuffix("version") || key.hasSuffix("dir") || key.hasSuffix("path")
            || ["command", "os", "blas", "out", "json"].contains(key)
    }

    /// `text` as a number or boolean when it reads as one (finite, in decimal notation) and
    /// reads back the same, but for a whole number's `.0` (`0.10`, `007` and `1e3` stay text).
    private static func typed(_ text: String) -> Value {
        if text == "true" || text == "false" { return .boolean(text == "true") }
        if let value = Int64(text), String(value) == text { return .integer(value) }
        if let value = UInt64(text), String(value) == text { return .unsigned(value) }
        let numeric = !text.isEmpty && text.allSatisfy { "0123456789.eE+-".contains($0) } && text.first != "+"
        if numeric, let value = Double(text), value.isFinite {
            let written = Value.real(value).text
            if written == text || written + ".0" == text || written == text + ".0" { return .real(value) }
        }
        return .text(text)
    }
}
