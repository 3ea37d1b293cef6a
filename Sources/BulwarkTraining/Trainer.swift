import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN
import Foundation

/// Why training stopped early.
public enum TrainingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The loss became NaN or infinite; the weights were not updated with it.
    case nonFiniteLoss(epoch: Int, batch: Int, lastGoodCheckpoint: String?)
    /// A file of the run could not be written.
    case cannotWrite(path: String, reason: String)
    /// The configuration cannot run (for example more validation examples than data).
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(epoch, batch, checkpoint):
            let kept = checkpoint.map { " The last good model (end of the previous epoch) is kept at \($0)." } ?? ""
            return "Training loss became NaN or infinite at epoch \(epoch), batch \(batch). Lower --learning-rate, check the inputs are in [0, 1], or use a smaller --epsilon.\(kept)"
        case let .cannotWrite(path, reason):
            return "Cannot write '\(path)': \(reason). Check that --out names a writable directory with free space."
        case let .invalidConfiguration(message):
            return message
        }
    }
}

/// What one epoch of training measured.
public struct EpochMetrics: Sendable, Codable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    /// Mean training loss over the epoch's batches.
    public var trainLoss: Float
    /// Training accuracy on the inputs trained on.
    public var trainAccuracy: Float
    /// Clean accuracy on the held-out validation slice.
    public var validationCleanAccuracy: Float?
    /// Accuracy under the validation attack on the held-out slice.
    public var validationRobustAccuracy: Float?
    /// The learning rate at the end of the epoch.
    public var learningRate: Float
    /// The fraction of ε used at the end of the epoch under ε warm-up; `nil` without warm-up.
    public var epsilonScale: Float?
    /// Seconds spent training (validation excluded).
    public var trainSeconds: Double
    /// Seconds spent on validation.
    public var validationSeconds: Double
    /// Training examples per second.
    public var imagesPerSecond: Double
}

/// Progress the trainer reports while it runs.
public enum TrainingEvent: Sendable {
    /// An epoch (1-based) of `batches` batches is starting.
    case epochStarted(epoch: Int, batches: Int)
    /// A batch finished: epoch (1-based), batch (1-based), batches per epoch, running loss and
    /// accuracy of the epoch so far, and examples per second.
    case batch(epoch: Int, batch: Int, of: Int, loss: Float, accuracy: Float, imagesPerSecond: Double)
    /// Validation is running: examples done of total (first with 0 done, as it starts).
    case validating(epoch: Int, done: Int, of: Int)
    /// An epoch finished.
    case epoch(EpochMetrics)
    /// The overfitting guard detected catastrophic overfitting; the trainer restored the best
    /// model and stops.
    case catastrophicOverfitting(OverfittingReport)
}

/// The training loop: epochs of shuffled batches through a ``TrainingMethod``, a per-batch
/// learning-rate schedule, per-epoch clean and robust accuracy on a held-out slice, metrics as
/// JSON lines and the last and best checkpoints.
///
/// Files written to ``outputDirectory`` (when set): `model.safetensors` after every epoch
/// (atomically), `best.safetensors` whenever validation robust accuracy (clean accuracy when
/// there is no validation attack) improves, and `metrics.jsonl`, one ``EpochMetrics`` object
/// per line.
public struct Trainer<Method: TrainingMethod, Opt: Optimizer>: Sendable {
    /// The method applied to every batch.
    public var method: Method
    /// The optimizer.
    public var optimizer: Opt
    /// The learning rate over training.
    public var schedule: LearningRateSchedule
    /// The number of passes over the training data.
    public var epochs: Int
    /// Examples per batch.
    public var batchSize: Int
    /// The attack for per-epoch robust validation, or `nil` for clean validation only.
    public var validationAttack: (any Attack)?
    /// Where checkpoints and metrics go, or `nil` to write nothing.
    public var outputDirectory: String?
    /// The architecture name recorded in checkpoints.
    public var architectureName: String
    /// Extra metadata recorded in checkpoints (configuration, seed, versions).
    public var metadata: [String: String]
    /// The length of the ε warm-up in epochs (fractions allowed), 0 for none: the method's ε
    /// and step sizes (``TrainingMethod/budgetScale``) ramp linearly, per batch, from
    /// 1/(warm-up batches) of their configured values to all of them at the end of the
    /// warm-up's last batch, and stay there. Needs a method whose budget scales.
    public var epsilonWarmupEpochs: Double
    /// The catastrophic-overfitting check, or `nil` for none.
    public var overfittingGuard: CatastrophicOverfittingGuard?
    /// What the overfitting guard found if it stopped the last ``fit(_:on:validation:using:observer:)``.
    public private(set) var overfitting: OverfittingReport?

    /// Creates a trainer.
    public init(
        method: Method, optimizer: Opt, schedule: LearningRateSchedule, epochs: Int, batchSize: Int,
        validationAttack: (any Attack)? = nil, outputDirectory: String? = nil,
        architectureName: String = "custom", metadata: [String: String] = [:], epsilonWarmupEpochs: Double = 0,
        overfittingGuard: CatastrophicOverfittingGuard? = nil
    ) {
        self.epsilonWarmupEpochs = epsilonWarmupEpochs
        self.overfittingGuard = overfittingGuard
        self.method = method
        self.optimizer = optimizer
        self.schedule = schedule
        self.epochs = epochs
        self.batchSize = batchSize
        self.validationAttack = validationAttack
        self.outputDirectory = outputDirectory
        self.architectureName = architectureName
        self.metadata = metadata
    }

    /// Trains `model` on `training`, validating on `validation` after each epoch.
    ///
    /// With an ``overfittingGuard`` that detects catastrophic overfitting, `model` is set back
    /// to the most robust checked state, written to `model.safetensors`, ``overfitting``
    /// describes the detection, and the metrics of the epochs completed before it are returned.
    ///
    /// - Throws: ``TrainingError/nonFiniteLoss(epoch:batch:lastGoodCheckpoint:)`` as soon as a
    ///   batch's loss is not finite (the model keeps its last finite weights), and
    ///   ``TrainingError/cannotWrite(path:reason:)`` for output errors, and
    ///   ``TrainingError/invalidConfiguration(_:)`` for no epochs, batches or data, or an ε
    ///   warm-up that is negative, not finite, or asked of a method without a budget to scale.
    public mutating func fit<Model: Layer, G: RandomNumberGenerator>(
        _ model: inout Model, on training: ImageDataset, validation: ImageDataset?,
        using generator: inout G, observer: (TrainingEvent) -> Void = { _ in }
    ) throws -> [EpochMetrics] {
        guard epochs >= 1, batchSize >= 1, training.count >= 1 else {
            throw TrainingError.invalidConfiguration("Training needs at least one epoch, a batch size of at least 1 and some training data.")
        }
        guard epsilonWarmupEpochs >= 0, epsilonWarmupEpochs.isFinite else {
            throw TrainingError.invalidConfiguration("The ε warm-up must be a finite, non-negative number of epochs, got \(epsilonWarmupEpochs).")
        }
        let warmsUp = epsilonWarmupEpochs > 0
        if warmsUp, method.budgetScale == nil {
            throw TrainingError.invalidConfiguration("ε warm-up needs a method with a perturbation budget it can scale; '\(method.name)' has none.")
        }
        if let outputDirectory { try createDirectory(outputDirectory) }
        model.mode = .training
        overfitting = nil
        // The held-out batch of the overfitting check, and the most robust model it has seen.
        let checkSource = validation.flatMap { $0.count > 0 ? $0 : nil } ?? training
        let checkData = overfittingGuard.map { checkSource.prefix(Swift.min($0.count, checkSource.count)) }
        var best: (model: Model, pgd: Float, fgsm: Float, epoch: Int, batch: Int)?
        var history = [EpochMetrics]()
        var bestScore = -Float.infinity
        let batchesPerEpoch = (training.count + batchSize - 1) / batchSize
        for epoch in 1...epochs {
            observer(.epochStarted(epoch: epoch, batches: batchesPerEpoch))
            let start = Date()
            let batches = training.batches(ofSize: batchSize, shuffledUsing: &generator)
            var (lossSum, correct, seen) = (0.0, 0.0, 0)
            for (index, batch) in batches.enumerated() {
                optimizer.learningRate = schedule.learningRate(
                    atEpoch: Double(epoch - 1) + Double(index) / Double(batchesPerEpoch), of: epochs)
                if warmsUp {
                    // Progress at the end of this batch, so the first batch already has some ε.
                    let progress = Double(epoch - 1) + Double(index + 1) / Double(batchesPerEpoch)
                    method.budgetScale = Float(Swift.min(1, progress / epsilonWarmupEpochs))
                }
                method.completedEpochs = epoch - 1
                let metrics = method.step(&model, optimizer: &optimizer, on: batch, using: &generator)
                guard metrics.loss.isFinite else {
                    let last = outputDirectory.map { path(in: $0, "model.safetensors") }
                    let kept = last.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
                    throw TrainingError.nonFiniteLoss(epoch: epoch, batch: index + 1, lastGoodCheckpoint: kept)
                }
                lossSum += Double(metrics.loss) * Double(metrics.count)
                correct += Double(metrics.accuracy) * Double(metrics.count)
                seen += metrics.count
                observer(.batch(
                    epoch: epoch, batch: index + 1, of: batchesPerEpoch, loss: Float(lossSum / Double(seen)),
                    accuracy: Float(correct / Double(seen)), imagesPerSecond: Double(seen) / Date().timeIntervalSince(start)))
                if let overfittingGuard, let checkData,
                   index + 1 == batchesPerEpoch || (overfittingGuard.interval.map { (index + 1) % $0 == 0 } ?? false) {
                    let (fgsm, pgd) = overfittingGuard.measure(model, inputs: checkData.images, labels: checkData.labels)
                    if let best, overfittingGuard.isCatastrophicOverfitting(pgdAccuracy: pgd, fgsmAccuracy: fgsm, bestPGDAccuracy: best.pgd) {
                        let report = OverfittingReport(
                            epoch: epoch, batch: index + 1, pgdAccuracy: pgd, fgsmAccuracy: fgsm,
                            bestPGDAccuracy: best.pgd, bestEpoch: best.epoch, bestBatch: best.batch)
                        model = best.model
                        overfitting = report
                        if let outputDirectory {
                            var rollbackMetadata = metadata
                            rollbackMetadata["epoch"] = String(best.epoch)
                            rollbackMetadata["catastrophic_overfitting"] = encode(report)
                            try save(model, to: path(in: outputDirectory, "model.safetensors"), metadata: rollbackMetadata)
                        }
                        observer(.catastrophicOverfitting(report))
                        return history
                    }
                    // Ties move the best forward: the latest of equally robust models is kept.
                    if pgd >= (best?.pgd ?? -.infinity) { best = (model, pgd, fgsm, epoch, index + 1) }
                }
            }
            let trainSeconds = Date().timeIntervalSince(start)
            let validationStart = Date()
            var clean: Float?, robust: Float?
            if let validation, validation.count > 0 {
                let threatModel = validationAttack?.threatModel ?? .lInfinity(epsilon: 0)
                var validationGenerator = SplitMix64(seed: 0x5EED_0000 &+ UInt64(epoch))
                observer(.validating(epoch: epoch, done: 0, of: validation.count))
                let report = evaluateRobustness(
                    model, inputs: validation.images, labels: validation.labels,
                    attacks: validationAttack.map { [$0] } ?? [], threatModel: threatModel,
                    batchSize: 256, using: &validationGenerator
                ) { _, done, total in observer(.validating(epoch: epoch, done: done, of: total)) }
                clean = report.cleanAccuracy
                robust = report.attacks.first?.robustAccuracy
            }
            let metrics = EpochMetrics(
                epoch: epoch, trainLoss: Float(lossSum / Double(Swift.max(seen, 1))),
                trainAccuracy: Float(correct / Double(Swift.max(seen, 1))),
                validationCleanAccuracy: clean, validationRobustAccuracy: robust,
                learningRate: optimizer.learningRate, epsilonScale: warmsUp ? method.budgetScale : nil, trainSeconds: trainSeconds,
                validationSeconds: Date().timeIntervalSince(validationStart),
                imagesPerSecond: Double(seen) / trainSeconds)
            history.append(metrics)
            if let outputDirectory {
                var epochMetadata = metadata
                epochMetadata["epoch"] = String(epoch)
                try save(model, to: path(in: outputDirectory, "model.safetensors"), metadata: epochMetadata)
                // Without validation the newest model counts as the best.
                let score = robust ?? clean ?? Float(epoch)
                if score > bestScore {
                    bestScore = score
                    try save(model, to: path(in: outputDirectory, "best.safetensors"), metadata: epochMetadata)
                }
                try appendLine(encode(metrics), to: path(in: outputDirectory, "metrics.jsonl"), truncate: epoch == 1)
            }
            observer(.epoch(metrics))
        }
        return history
    }

    private func save<Model: Layer>(_ model: Model, to file: String, metadata: [String: String]) throws {
        do {
            try Checkpoint.save(model, architecture: architectureName, metadata: metadata, to: file)
        } catch {
            throw TrainingError.cannotWrite(path: file, reason: error.description)
        }
    }
}

/// JSON text of `value` on one line, keys sorted and in snake_case.
package func encode<Value: Encodable>(_ value: Value) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    guard let data = try? encoder.encode(value) else { return "{}" }
    return String(decoding: data, as: UTF8.self)
}

package func path(in directory: String, _ name: String) -> String {
    URL(fileURLWithPath: directory).appendingPathComponent(name).path
}

package func createDirectory(_ directory: String) throws {
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
        throw TrainingError.cannotWrite(path: directory, reason: error.localizedDescription)
    }
}

package func appendLine(_ line: String, to file: String, truncate: Bool) throws {
    let data = Data((line + "\n").utf8)
    if truncate || !FileManager.default.fileExists(atPath: file) {
        guard FileManager.default.createFile(atPath: file, contents: data) else {
            throw TrainingError.cannotWrite(path: file, reason: "the file could not be created")
        }
        return
    }
    do {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
    } catch {
        throw TrainingError.cannotWrite(path: file, reason: error.localizedDescription)
    }
}
