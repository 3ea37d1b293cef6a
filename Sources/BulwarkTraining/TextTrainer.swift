import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN
import Foundation

/// The training loop for text classifiers: epochs of shuffled (optionally length-bucketed)
/// padded batches through a ``TextTrainingMethod``, a per-batch learning-rate schedule, and
/// after each epoch clean (and, with ``validationAttack``, embedding-PGD) accuracy on a
/// validation set.
///
/// Files written to ``outputDirectory`` (when set), as ``Trainer`` does: `model.safetensors`
/// after every epoch, `best.safetensors` whenever validation accuracy (robust when there is a
/// validation attack) improves, and `metrics.jsonl`, one ``EpochMetrics`` per line (its
/// `imagesPerSecond` counts examples).
public struct TextTrainer<Method: TextTrainingMethod, Opt: Optimizer>: Sendable {
    /// The method applied to every batch.
    public var method: Method
    /// The optimizer.
    public var optimizer: Opt
    /// The learning rate over training.
    public var schedule: LearningRateSchedule
    /// The number of passes over the training data.
    public var epochs: Int
    /// The first epochs train with ``StandardTraining`` before ``method`` takes over (clean
    /// warm-up, so that gradients at the embeddings mean something before they are used).
    public var cleanWarmupEpochs: Int
    /// Examples per batch.
    public var batchSize: Int
    /// Every batch is padded to at least this many tokens (a TextCNN's widest filter).
    public var minimumLength: Int
    /// Whether batches group sequences of similar length (see
    /// ``EncodedTextDataset/batches(ofSize:minimumLength:bucketed:shuffledUsing:)``).
    public var bucketed: Bool
    /// The attack for per-epoch robust validation, or `nil` for clean validation only.
    public var validationAttack: EmbeddingPGD?
    /// Where checkpoints and metrics go, or `nil` to write nothing.
    public var outputDirectory: String?
    /// The architecture name recorded in checkpoints.
    public var architectureName: String
    /// Extra metadata recorded in checkpoints.
    public var metadata: [String: String]

    /// Creates a trainer.
    public init(
        method: Method, optimizer: Opt, schedule: LearningRateSchedule, epochs: Int, batchSize: Int,
        cleanWarmupEpochs: Int = 0, minimumLength: Int = 1, bucketed: Bool = false, validationAttack: EmbeddingPGD? = nil,
        outputDirectory: String? = nil, architectureName: String = "custom", metadata: [String: String] = [:]
    ) {
        self.method = method
        self.optimizer = optimizer
        self.schedule = schedule
        self.epochs = epochs
        self.cleanWarmupEpochs = cleanWarmupEpochs
        self.batchSize = batchSize
        self.minimumLength = minimumLength
        self.bucketed = bucketed
        self.validationAttack = validationAttack
        self.outputDirectory = outputDirectory
        self.architectureName = architectureName
        self.metadata = metadata
    }

    /// Trains `model` on `training`, validating on `validation` after each epoch.
    ///
    /// - Throws: ``TrainingError`` as ``Trainer/fit(_:on:validation:using:observer:)`` does.
    public mutating func fit<Model: TextClassifier, G: RandomNumberGenerator>(
        _ model: inout Model, on training: EncodedTextDataset, validation: EncodedTextDataset?,
        using generator: inout G, observer: (TrainingEvent) -> Void = { _ in }
    ) throws -> [EpochMetrics] {
        guard epochs >= 1, batchSize >= 1, training.count >= 1 else {
            throw TrainingError.invalidConfiguration("Training needs at least one epoch, a batch size of at least 1 and some training data.")
        }
        if let outputDirectory { try createDirectory(outputDirectory) }
        model.mode = .training
        var history = [EpochMetrics]()
        var bestScore = -Float.infinity
        let batchesPerEpoch = (training.count + batchSize - 1) / batchSize
        for epoch in 1...epochs {
            observer(.epochStarted(epoch: epoch, batches: batchesPerEpoch))
            let start = Date()
            let batches = training.batches(ofSize: batchSize, minimumLength: minimumLength, bucketed: bucketed, shuffledUsing: &generator)
            var (lossSum, correct, seen) = (0.0, 0.0, 0)
            for (index, batch) in batches.enumerated() {
                optimizer.learningRate = schedule.learningRate(
                    atEpoch: Double(epoch - 1) + Double(index) / Double(batchesPerEpoch), of: epochs)
                let metrics = epoch <= cleanWarmupEpochs
                    ? StandardTraining().step(&model, optimizer: &optimizer, on: batch, using: &generator)
                    : method.step(&model, optimizer: &optimizer, on: batch, using: &generator)
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
            }
            let trainSeconds = Date().timeIntervalSince(start)
            let validationStart = Date()
            var clean: Float?, robust: Float?
            if let validation, validation.count > 0 {
                observer(.validating(epoch: epoch, done: 0, of: validation.count))
                let batches = validation.batches(ofSize: 256, minimumLength: minimumLength).map { ($0.inputs, $0.labels) }
                if let validationAttack {
                    var validationGenerator = SplitMix64(seed: 0x5EED_0000 &+ UInt64(epoch))
                    let report = evaluateEmbeddingRobustness(model, batches: batches, attack: validationAttack, using: &validationGenerator)
                    (clean, robust) = (report.cleanAccuracy, report.robustAccuracy)
                } else {
                    clean = textAccuracy(model, batches: batches)
                }
                observer(.validating(epoch: epoch, done: validation.count, of: validation.count))
            }
            let metrics = EpochMetrics(
                epoch: epoch, trainLoss: Float(lossSum / Double(Swift.max(seen, 1))),
                trainAccuracy: Float(correct / Double(Swift.max(seen, 1))),
                validationCleanAccuracy: clean, validationRobustAccuracy: robust,
                learningRate: optimizer.learningRate, trainSeconds: trainSeconds,
                validationSeconds: Date().timeIntervalSince(validationStart),
                imagesPerSecond: Double(seen) / trainSeconds)
            history.append(metrics)
            if let outputDirectory {
                var epochMetadata = metadata
                epochMetadata["epoch"] = String(epoch)
                try save(model, to: path(in: outputDirectory, "model.safetensors"), metadata: epochMetadata)
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

/// The fraction of examples in `batches` that `model` classifies correctly in inference mode.
public func textAccuracy<Model: TextClassifier>(_ model: Model, batches: [(tokens: Tensor, labels: [Int32])]) -> Float {
    var copy = model.with(mode: .inference)
    var (correct, total) = (0, 0)
    for (tokens, labels) in batches {
        correct += zip(predictions(copy(tokens)), labels).filter { $0 == $1 }.count
        total += labels.count
    }
    return Float(correct) / Float(Swift.max(total, 1))
}
