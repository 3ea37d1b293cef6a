import BulwarkCore
import BulwarkNN
import Foundation

/// Everything ``Trainer`` and ``TextTrainer`` need to continue a run after a completed epoch
/// exactly as if it had not stopped, stored as one safetensors file (``RunFile/resume``).
///
/// Tensors are grouped by name prefix: `model.` (parameters and layer state such as batch
/// normalization's running statistics), `optimizer.` (``Optimizer/stateTensors``: momentum
/// buffers, Adam's moments and step count), `method.` (``TrainingMethod/stateTensors`` and
/// ``TextTrainingMethod/stateTensors``: Free-AT's δ, SMART's θ̃) and `guard.` (the overfitting
/// guard's most robust model). Scalars go into the header's metadata as text that reads back
/// bit for bit: the epoch, the random generator's state as JSON, the states of the generators
/// the model keeps inside itself (``Layer/visitGenerators(_:)``, dropout's) as a JSON object
/// of decimal strings, the best validation score and the guard's best check (floats as their
/// IEEE bit patterns), and the metrics of every completed epoch. The learning rate and the ε
/// warm-up are functions of the position in training, so the epoch restores them.
struct TrainingCheckpoint {
    /// Marks a file as a resume checkpoint and names its layout's version.
    static let formatKey = "bulwark.resume"
    static let formatVersion = "1"

    /// The guard's most robust check.
    struct GuardBest {
        var model: [String: Tensor]
        var pgdAccuracy: Float
        var fgsmAccuracy: Float
        var epoch: Int
        var batch: Int
    }

    /// Completed epochs.
    var epoch: Int
    /// The run's total epochs (the schedule's length).
    var epochs: Int
    /// ``TrainingMethod/name`` of the run's method.
    var method: String
    /// The optimizer's type name.
    var optimizer: String
    /// The model's parameters and layer state.
    var model: [String: Tensor]
    /// The states of the random generators the model keeps inside itself, keyed by path.
    var modelGenerators: [String: UInt64]
    var optimizerState: [String: Tensor]
    var methodState: [String: Tensor]
    /// The training generator's state as JSON.
    var generator: String
    /// The metrics of the completed epochs.
    var history: [EpochMetrics]
    /// The best validation score so far and its epoch (what `best.safetensors` holds).
    var bestScore: Float
    var bestEpoch: Int?
    var guardBest: GuardBest?
    /// Why the run stopped for good (the overfitting guard's report), or `nil`; a stopped
    /// run's checkpoint does not read back.
    var stopped: String?

    var file: SafeTensorsFile {
        var tensors = [String: Tensor]()
        for (name, tensor) in model { tensors["model." + name] = tensor }
        for (name, tensor) in optimizerState { tensors["optimizer." + name] = tensor }
        for (name, tensor) in methodState { tensors["method." + name] = tensor }
        var metadata = [
            Self.formatKey: Self.formatVersion, "epoch": String(epoch), "epochs": String(epochs), "method": method,
            "optimizer": optimizer, "generator": generator, "history": "[" + history.map(encode).joined(separator: ",") + "]",
            "best_score": String(bestScore.bitPattern),
        ]
        if let bestEpoch { metadata["best_epoch"] = String(bestEpoch) }
        metadata["model_generators"] = Self.text(of: modelGenerators)
        if let guardBest {
            for (name, tensor) in guardBest.model { tensors["guard." + name] = tensor }
            metadata["guard_pgd_accuracy"] = String(guardBest.pgdAccuracy.bitPattern)
            metadata["guard_fgsm_accuracy"] = String(guardBest.fgsmAccuracy.bitPattern)
            metadata["guard_epoch"] = String(guardBest.epoch)
            metadata["guard_batch"] = String(guardBest.batch)
        }
        if let stopped { metadata["stopped"] = stopped }
        return SafeTensorsFile(tensors: tensors.mapValues(\.detached), metadata: metadata)
    }

    /// Marks the checkpoint at `path` (or, when the run wrote none yet, a new file) as a run
    /// that stopped for good, so that resuming it fails with `reason`.
    static func markStopped(at path: String, reason: String) throws {
        var file = (try? SafeTensorsFile(contentsOf: path)) ?? SafeTensorsFile(metadata: [formatKey: formatVersion])
        file.metadata["stopped"] = reason
        do { try file.write(to: path) } catch {
            throw TrainingError.cannotWrite(path: path, reason: error.description)
        }
    }

    /// Writes the checkpoint to `path` atomically (a kill mid-write leaves the previous one).
    func write(to path: String) throws {
        do { try file.write(to: path) } catch {
            throw TrainingError.cannotWrite(path: path, reason: error.description)
        }
    }

    /// Reads the checkpoint at `path`.
    ///
    /// - Throws: ``TrainingError/cannotResume(path:reason:)`` when the file is missing,
    ///   damaged or not a resume checkpoint.
    init(contentsOf path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw TrainingError.cannotResume(path: path, reason: "the file does not exist: the run wrote none (it stopped before its first epoch ended, or had no output directory). Start the run again from its first epoch instead of resuming it")
        }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(contentsOf: path) } catch {
            let detail = switch error {
            case let .unreadable(_, reason): "it cannot be read: \(reason)"
            default: "it is not a complete safetensors file"
            }
            throw TrainingError.cannotResume(path: path, reason: "the file is damaged (\(detail)). Start the run again from its first epoch, in a new `outputDirectory`, instead of resuming it")
        }
        guard let format = file.metadata[Self.formatKey] else {
            throw TrainingError.cannotResume(path: path, reason: "it is not a resume checkpoint written by bulwark train")
        }
        guard format == Self.formatVersion else {
            throw TrainingError.cannotResume(path: path, reason: "it has resume format \(format); this Bulwark reads format \(Self.formatVersion)")
        }
        if let stopped = file.metadata["stopped"] {
            throw TrainingError.cannotResume(path: path, reason: "the run stopped for good: \(stopped). There is nothing to continue; start a new run in another `outputDirectory` to train again")
        }
        func value(_ key: String) throws -> String {
            guard let text = file.metadata[key] else {
                throw TrainingError.cannotResume(path: path, reason: "the file is damaged: its metadata has no '\(key)'")
            }
            return text
        }
        func integer(_ key: String) throws -> Int {
            guard let number = Int(try value(key)) else {
                throw TrainingError.cannotResume(path: path, reason: "the file is damaged: '\(key)' is not an integer")
            }
            return number
        }
        func float(_ key: String) throws -> Float {
            guard let bits = UInt32(try value(key)) else {
                throw TrainingError.cannotResume(path: path, reason: "the file is damaged: '\(key)' is not a float's bit pattern")
            }
            return Float(bitPattern: bits)
        }
        func tensors(_ prefix: String) -> [String: Tensor] {
            var result = [String: Tensor]()
            for (name, tensor) in file.tensors where name.hasPrefix(prefix) { result[String(name.dropFirst(prefix.count))] = tensor }
            return result
        }
        epoch = try integer("epoch")
        epochs = try integer("epochs")
        method = try value("method")
        optimizer = try value("optimizer")
        generator = try value("generator")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { history = try decoder.decode([EpochMetrics].self, from: Data(try value("history").utf8)) } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError.cannotResume(path: path, reason: "the file is damaged: its epoch history does not read (\(error))")
        }
        bestScore = try float("best_score")
        bestEpoch = file.metadata["best_epoch"] != nil ? try integer("best_epoch") : nil
        stopped = nil
        model = tensors("model.")
        // Absent from checkpoints written before models' own generators were saved.
        let generatorText = file.metadata["model_generators"] ?? "{}"
        guard let generatorStates = Self.generatorStates(from: generatorText) else {
            throw TrainingError.cannotResume(path: path, reason: "the file is damaged: its 'model_generators' is not an object of generator states")
        }
        modelGenerators = generatorStates
        optimizerState = tensors("optimizer.")
        methodState = tensors("method.")
        if file.metadata["guard_epoch"] != nil {
            guardBest = GuardBest(
                model: tensors("guard."), pgdAccuracy: try float("guard_pgd_accuracy"), fgsmAccuracy: try float("guard_fgsm_accuracy"),
                epoch: try integer("guard_epoch"), batch: try integer("guard_batch"))
        } else {
            guardBest = nil
        }
        guard epoch >= 1, epoch <= epochs, history.count == epoch else {
            throw TrainingError.cannotResume(path: path, reason: "the file is damaged: it records epoch \(epoch) of \(epochs) with \(history.count) epochs of metrics")
        }
    }

    /// `states` as a JSON object of decimal strings (exact, unlike JSON numbers past 2⁵³).
    private static func text(of states: [String: UInt64]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(states.mapValues(String.init)) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The generator states in `text` written by ``text(of:)``, or `nil` when it does not read.
    private static func generatorStates(from text: String) -> [String: UInt64]? {
        guard let strings = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)) else { return nil }
        let states = strings.compactMapValues(UInt64.init)
        return states.count == strings.count ? states : nil
    }

    init(
        epoch: Int, epochs: Int, method: String, optimizer: String, model: [String: Tensor], modelGenerators: [String: UInt64],
        optimizerState: [String: Tensor], methodState: [String: Tensor], generator: String, history: [EpochMetrics], bestScore: Float,
        bestEpoch: Int?, guardBest: GuardBest?, stopped: String? = nil
    ) {
        self.epoch = epoch
        self.epochs = epochs
        self.method = method
        self.optimizer = optimizer
        self.model = model
        self.modelGenerators = modelGenerators
        self.optimizerState = optimizerState
        self.methodState = methodState
        self.generator = generator
        self.history = history
        self.bestScore = bestScore
        self.bestEpoch = bestEpoch
        self.guardBest = guardBest
        self.stopped = stopped
    }
}

extension Layer {
    /// Parameters and layer state keyed by path (what a checkpoint holds).
    var parametersAndState: [String: Tensor] {
        var tensors = parameters
        for (name, tensor) in state { tensors[name] = tensor }
        return tensors
    }
}

/// How far a run got, as its resume checkpoint (``RunFile/resume``) records it.
public struct TrainingProgress: Sendable, Equatable {
    /// The completed epochs.
    public var completedEpochs: Int
    /// The run's total epochs.
    public var epochs: Int
    /// The metrics of the completed epochs.
    public var history: [EpochMetrics]
    /// The epoch whose model `best.safetensors` holds, if any.
    public var bestEpoch: Int?

    /// Whether every epoch of the run is complete.
    public var isComplete: Bool { completedEpochs >= epochs }

    /// Reads the progress recorded in the resume checkpoint at `path`.
    ///
    /// - Throws: ``TrainingError/cannotResume(path:reason:)`` when the file is missing,
    ///   damaged, not a resume checkpoint, or of a run stopped for good.
    public init(checkpointAt path: String) throws {
        let checkpoint = try TrainingCheckpoint(contentsOf: path)
        completedEpochs = checkpoint.epoch
        epochs = checkpoint.epochs
        history = checkpoint.history
        bestEpoch = checkpoint.bestEpoch
    }
}
