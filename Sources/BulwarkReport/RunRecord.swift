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
            do { configuration = try decoder.decode([String: String].self, from: try read("run.json")) } catch let error as ReportError {
                throw error
            } catch {
                throw .unreadable(path: base.appendingPathComponent("run.json").path, reason: "not a JSON object of strings (\(error))")
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
