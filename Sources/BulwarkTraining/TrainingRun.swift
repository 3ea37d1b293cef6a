import BulwarkCore
import BulwarkNN
import Foundation

/// The bookkeeping that ``Trainer`` and ``TextTrainer`` share around their epochs: the checks
/// of the run's shape, its files in the output directory (``RunFile``), the metrics of the
/// completed epochs and the best validation score, and the resume checkpoint
/// (``TrainingCheckpoint``) that saves and restores them together with the model, the
/// optimizer, the method and the random generators.
struct TrainingRun {
    /// The run's total epochs (the schedule's length).
    let epochs: Int
    /// The method's name, which a resume checkpoint must match.
    let methodName: String
    /// The optimizer's type name, which a resume checkpoint must match.
    let optimizerName: String
    /// Where the files go (and a resume checkpoint is read from), or `nil` to write nothing.
    let outputDirectory: String?
    /// Whether this process writes the files (rank 0 of a data-parallel run; the others read
    /// the resume checkpoint only).
    let writesFiles: Bool
    /// The architecture name recorded in the model checkpoints.
    let architectureName: String
    /// Extra metadata recorded in the model checkpoints.
    let metadata: [String: String]
    /// The metrics of the completed epochs, restored ones first.
    private(set) var history = [EpochMetrics]()
    /// The best validation score so far (what `best.safetensors` holds) and its epoch.
    private(set) var bestScore = -Float.infinity
    private(set) var bestEpoch: Int?

    /// Checks the run's shape and creates the output directory.
    ///
    /// - Throws: ``TrainingError/invalidConfiguration(_:)`` for no epochs, batches or data or a
    ///   `stopAfterEpoch` outside the run; ``TrainingError/cannotWrite(path:reason:)`` when
    ///   the directory cannot be created.
    init(
        epochs: Int, batchSize: Int, trainingCount: Int, stopAfterEpoch: Int?, methodName: String, optimizerName: String,
        outputDirectory: String?, architectureName: String, metadata: [String: String], writesFiles: Bool = true
    ) throws {
        guard epochs >= 1, batchSize >= 1, trainingCount >= 1 else {
            throw TrainingError.invalidConfiguration("Training needs at least one epoch, a batch size of at least 1 and some training data.")
        }
        if let stopAfterEpoch, !(1...epochs).contains(stopAfterEpoch) {
            throw TrainingError.invalidConfiguration("Stopping after epoch \(stopAfterEpoch) needs an epoch from 1 to \(epochs).")
        }
        self.epochs = epochs
        self.methodName = methodName
        self.optimizerName = optimizerName
        self.outputDirectory = outputDirectory
        self.architectureName = architectureName
        self.metadata = metadata
        self.writesFiles = writesFiles
        if let outputDirectory, writesFiles { try createDirectory(outputDirectory) }
    }

    /// Continues the run from the resume checkpoint at `checkpointPath`: `model` (parameters, layer
    /// state and the generators it keeps) and `generator` take the checkpoint's state, the
    /// history and best score its, and `metrics.jsonl` is rewritten to hold exactly the
    /// checkpoint's epochs. The caller restores the optimizer's and the method's state from
    /// the returned checkpoint.
    ///
    /// - Throws: ``TrainingError/cannotResume(path:reason:)`` when the checkpoint is missing,
    ///   damaged, stopped for good, of another run (epochs, method, optimizer, model), of a
    ///   complete run, or the generator is not `Codable`.
    mutating func resume<Model: Layer, G: RandomNumberGenerator>(
        from checkpointPath: String, model: inout Model, generator: inout G
    ) throws -> TrainingCheckpoint {
        let checkpoint = try TrainingCheckpoint(contentsOf: checkpointPath)
        try check(checkpoint, at: checkpointPath)
        try assign(checkpoint.model, to: &model, from: checkpointPath)
        try assign(generators: checkpoint.modelGenerators, to: &model, from: checkpointPath)
        generator = try restoredGenerator(checkpoint.generator, as: G.self, from: checkpointPath)
        history = checkpoint.history
        bestScore = checkpoint.bestScore
        bestEpoch = checkpoint.bestEpoch
        if let outputDirectory, writesFiles {
            // Epochs after the checkpoint that reached the file before a kill are run again.
            try writeLines(history.map(encode), to: path(in: outputDirectory, RunFile.metrics))
        }
        return checkpoint
    }

    /// The epochs left to train: from the one after the last completed to `stopAfterEpoch`, or
    /// to the last.
    ///
    /// - Throws: ``TrainingError/invalidConfiguration(_:)`` when the run has already completed
    ///   `stopAfterEpoch`.
    func remainingEpochs(stoppingAfter stopAfterEpoch: Int?) throws -> ClosedRange<Int> {
        let first = history.count + 1
        if let stopAfterEpoch, stopAfterEpoch < first {
            throw TrainingError.invalidConfiguration("The run has already completed epoch \(first - 1); stopping after epoch \(stopAfterEpoch) would train nothing.")
        }
        return first...(stopAfterEpoch ?? epochs)
    }

    /// The error for a loss that is not finite at `batch` (1-based) of `epoch`, naming the last
    /// model written, if any.
    func nonFiniteLoss(epoch: Int, batch: Int) -> TrainingError {
        let last = outputDirectory.map { path(in: $0, RunFile.model) }
        let kept = last.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        return TrainingError.nonFiniteLoss(epoch: epoch, batch: batch, lastGoodCheckpoint: kept)
    }

    /// How many times the loss of a uniform prediction an epoch's mean training loss may reach
    /// before the run counts as diverged. Training starts near that loss and a working run
    /// stays below it; a learning rate far too large drives it to 10¹⁸ and more while it
    /// stays finite, with accuracy at chance.
    static let divergenceFactor: Float = 100

    /// Throws when the mean training loss `loss` of `epoch` diverged: above
    /// ``divergenceFactor`` times ln(`classCount`), the loss of a uniform prediction.
    func checkDivergence(epoch: Int, loss: Float, classCount: Int) throws {
        let uniformLoss = Float(log(Double(Swift.max(classCount, 2))))
        guard loss > Self.divergenceFactor * uniformLoss else { return }
        let last = outputDirectory.map { path(in: $0, RunFile.model) }
        let kept = last.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
        throw TrainingError.diverged(epoch: epoch, loss: loss, uniformLoss: uniformLoss, lastGoodCheckpoint: kept)
    }

    /// Records a completed epoch: appends `metrics` to the history, keeps `score` when it beats
    /// the best (ties keep the earlier epoch), and writes `model.safetensors`,
    /// `best.safetensors` when the score improved, the `metrics.jsonl` line and, last (so that
    /// every file a resume relies on is at least as new as it), the resume checkpoint when the
    /// generator is `Codable`.
    mutating func record<Model: Layer, G: RandomNumberGenerator>(
        _ metrics: EpochMetrics, score: Float, model: Model, generator: G, optimizerState: [String: Tensor],
        methodState: [String: Tensor], guardBest: TrainingCheckpoint.GuardBest? = nil
    ) throws {
        let epoch = metrics.epoch
        history.append(metrics)
        let improved = score > bestScore
        if improved {
            bestScore = score
            bestEpoch = epoch
        }
        guard let outputDirectory, writesFiles else { return }
        var epochMetadata = metadata
        epochMetadata["epoch"] = String(epoch)
        try save(model, as: RunFile.model, metadata: epochMetadata)
        if improved { try save(model, as: RunFile.best, metadata: epochMetadata) }
        try appendLine(encode(metrics), to: path(in: outputDirectory, RunFile.metrics), truncate: epoch == 1)
        guard let state = generatorState(generator) else { return }
        try TrainingCheckpoint(
            epoch: epoch, epochs: epochs, method: methodName, optimizer: optimizerName, model: model.parametersAndState,
            modelGenerators: model.generators.mapValues(\.state), optimizerState: optimizerState, methodState: methodState,
            generator: state, history: history, bestScore: bestScore, bestEpoch: bestEpoch, guardBest: guardBest
        ).write(to: path(in: outputDirectory, RunFile.resume))
    }

    /// Writes `model` to the file `name` of the output directory, if there is one.
    func save<Model: Layer>(_ model: Model, as name: String, metadata: [String: String]) throws {
        guard let outputDirectory, writesFiles else { return }
        let file = path(in: outputDirectory, name)
        do {
            try Checkpoint.save(model, architecture: architectureName, metadata: metadata, to: file)
        } catch {
            throw TrainingError.cannotWrite(path: file, reason: error.description)
        }
    }

    /// Throws unless `checkpoint` belongs to a run like this one that has epochs left.
    private func check(_ checkpoint: TrainingCheckpoint, at path: String) throws {
        guard checkpoint.epochs == epochs else {
            throw TrainingError.cannotResume(path: path, reason: "it is from a run of \(checkpoint.epochs) epochs, not \(epochs); the learning-rate schedule spans the run, so the number of epochs cannot change")
        }
        guard checkpoint.method == methodName else {
            throw TrainingError.cannotResume(path: path, reason: "it is from a run of method '\(checkpoint.method)', not '\(methodName)'")
        }
        guard checkpoint.optimizer == optimizerName else {
            throw TrainingError.cannotResume(path: path, reason: "it is from a run with optimizer \(checkpoint.optimizer), not \(optimizerName)")
        }
        guard checkpoint.epoch < epochs else {
            throw TrainingError.cannotResume(path: path, reason: "the run already completed all \(epochs) epochs; there is nothing to continue")
        }
    }

    /// Copies a checkpoint's model tensors into `model`, with an error that names the mismatch.
    func assign<Model: Layer>(_ tensors: [String: Tensor], to model: inout Model, from path: String) throws {
        do {
            try Checkpoint.assign(tensors, to: &model, path: path, architecture: architectureName)
        } catch {
            if case .nonFiniteValue = error {
                throw TrainingError.cannotResume(path: path, reason: "the checkpoint is damaged: " + error.description.trimmingCharacters(in: CharacterSet(charactersIn: ".")))
            }
            let detail = switch error {
            case let .missingTensor(_, name, _): "it has no tensor '\(name)'"
            case let .shapeMismatch(_, name, expected, found, _): "its '\(name)' has shape \(found), this model's \(expected)"
            case let .unexpectedTensors(_, names, _): "it has tensors this model does not: \(names.sorted().prefix(5).joined(separator: ", "))"
            default: error.description
            }
            throw TrainingError.cannotResume(path: path, reason: "its model is not this run's model (\(detail))")
        }
    }

    /// Sets the generators `model` keeps inside itself to the checkpoint's `states`, which must
    /// hold exactly the model's generators.
    private func assign<Model: Layer>(generators states: [String: UInt64], to model: inout Model, from path: String) throws {
        let expected = Set(model.generators.keys)
        if let missing = expected.subtracting(states.keys).sorted().first {
            throw TrainingError.cannotResume(path: path, reason: "it holds no state for the model's random generator '\(missing)' (its dropout masks), so the run cannot continue as it would have; it was written by a Bulwark that did not save it. Start the run again from its first epoch instead of resuming it")
        }
        if let extra = Set(states.keys).subtracting(expected).sorted().first {
            throw TrainingError.cannotResume(path: path, reason: "its model is not this run's model (it has a random generator '\(extra)' this model does not)")
        }
        model.visitGenerators { name, generator in
            if let state = states[name] { generator.state = state }
        }
    }
}

/// The running totals of an epoch's batches: loss and accuracy weighted by their examples.
struct EpochTally {
    /// When the epoch's training started.
    let start = Date()
    var lossSum = 0.0
    var correct = 0.0
    /// The examples trained on so far.
    var seen = 0

    /// Adds one batch's metrics.
    mutating func add(_ metrics: StepMetrics) {
        lossSum += Double(metrics.loss) * Double(metrics.count)
        correct += Double(metrics.accuracy) * Double(metrics.count)
        seen += metrics.count
    }

    /// The mean loss of the batches so far.
    var loss: Float { Float(lossSum / Double(Swift.max(seen, 1))) }
    /// The accuracy over the batches so far.
    var accuracy: Float { Float(correct / Double(Swift.max(seen, 1))) }

    /// The progress event after `batch` (1-based) of `batches` in `epoch`.
    func batchEvent(epoch: Int, batch: Int, of batches: Int) -> TrainingEvent {
        .batch(epoch: epoch, batch: batch, of: batches, loss: loss, accuracy: accuracy,
               imagesPerSecond: Double(seen) / Date().timeIntervalSince(start))
    }

    /// The epoch's metrics, training having ended after `trainSeconds` and validation begun
    /// at `validationStart`.
    func metrics(
        epoch: Int, validationCleanAccuracy: Float?, validationRobustAccuracy: Float?, learningRate: Float, epsilonScale: Float? = nil,
        trainSeconds: Double, validationStart: Date
    ) -> EpochMetrics {
        EpochMetrics(
            epoch: epoch, trainLoss: loss, trainAccuracy: accuracy, validationCleanAccuracy: validationCleanAccuracy,
            validationRobustAccuracy: validationRobustAccuracy, learningRate: learningRate, epsilonScale: epsilonScale,
            trainSeconds: trainSeconds, validationSeconds: Date().timeIntervalSince(validationStart),
            imagesPerSecond: Double(seen) / trainSeconds)
    }
}

/// The state of `generator` as JSON, or `nil` when it is not `Encodable`.
private func generatorState<G: RandomNumberGenerator>(_ generator: G) -> String? {
    guard let encodable = generator as? any Encodable, let data = try? JSONEncoder().encode(encodable) else { return nil }
    return String(decoding: data, as: UTF8.self)
}

/// A generator of type `G` in the state `json` saved by ``generatorState(_:)``.
private func restoredGenerator<G: RandomNumberGenerator>(_ json: String, as type: G.Type, from path: String) throws -> G {
    guard let decodable = G.self as? any Decodable.Type else {
        throw TrainingError.cannotResume(path: path, reason: "the random generator \(G.self) is not Codable, so its state cannot be restored; use SplitMix64")
    }
    guard let decoded = try? JSONDecoder().decode(decodable, from: Data(json.utf8)), let generator = decoded as? G else {
        throw TrainingError.cannotResume(path: path, reason: "its random generator state does not read as \(G.self) (the file is damaged or from another generator)")
    }
    return generator
}
