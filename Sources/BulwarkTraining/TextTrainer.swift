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
/// Files written to ``outputDirectory`` (when set) at the end of every epoch, as ``Trainer``
/// writes them (``RunFile``), the checkpoints atomically: `model.safetensors`,
/// `best.safetensors` whenever validation accuracy (robust when there is a validation attack)
/// improves, `metrics.jsonl`, one ``EpochMetrics`` per line (its `imagesPerSecond` counts
/// examples), and `resume.safetensors`, from which
/// ``fit(_:on:validation:using:resumingFrom:observer:)`` continues the run.
///
/// **Resume.** As for ``Trainer``, a run continued from the checkpoint of epoch k ends with the
/// same model, bit for bit, as the uninterrupted run with the same seed on the same build and
/// number of worker threads: the checkpoint holds the model's parameters, the random
/// generators it keeps inside itself (dropout's, ``Layer/visitGenerators(_:)``), the
/// optimizer's state, the method's carried state (``TextTrainingMethod/stateTensors``: SMART's
/// θ̃), the random generator's state (which draws the batches' order and the methods' random
/// starts), the metrics of the completed epochs and the best validation score. Clean warm-up
/// epochs (``cleanWarmupEpochs``) and the learning rate follow from the epoch. The generator
/// must be `Codable` (``SplitMix64`` is) for the checkpoint to be written.
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
    /// Stop after this epoch (1-based) although the schedule spans ``epochs``, or `nil` to run
    /// them all; a later fit resuming from the checkpoint continues the same run.
    public var stopAfterEpoch: Int?
    /// The epoch with the best validation score in the last
    /// ``fit(_:on:validation:using:resumingFrom:observer:)`` (the model of `best.safetensors`),
    /// counting epochs before a resume; `nil` before any epoch.
    public private(set) var bestEpoch: Int?

    /// The processes that train together (data parallelism, ``DataParallelOptimizer``): every
    /// rank draws the same shuffle and trains on its slice of every batch (rank r of N on
    /// examples [r·B/N, (r+1)·B/N)), they sum their weighted gradients once per update, each
    /// rank draws its method's random numbers from a generator seeded by a step seed from the
    /// shared generator and its rank, every rank validates the same model, and only rank 0
    /// writes files. ``batchSize`` must divide by the number of ranks. A single process by
    /// default, which trains exactly as without one.
    public var communicator: any Communicator = SingleProcessCommunicator()

    /// Creates a trainer.
    public init(
        method: Method, optimizer: Opt, schedule: LearningRateSchedule, epochs: Int, batchSize: Int,
        cleanWarmupEpochs: Int = 0, minimumLength: Int = 1, bucketed: Bool = false, validationAttack: EmbeddingPGD? = nil,
        outputDirectory: String? = nil, architectureName: String = "custom", metadata: [String: String] = [:],
        communicator: any Communicator = SingleProcessCommunicator()
    ) {
        self.communicator = communicator
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
    /// - Parameter checkpointPath: A resume checkpoint (``RunFile/resume``) of this run to
    ///   continue from: `model` (with the generators it keeps), ``optimizer``, ``method``'s
    ///   state and `generator` are overwritten with its state, training starts at the epoch
    ///   after it, the returned metrics begin with those of the epochs it completed, and
    ///   `metrics.jsonl` is rewritten to hold exactly those before new epochs are appended.
    ///   `nil` starts afresh.
    /// - Throws: ``TrainingError/nonFiniteLoss(epoch:batch:lastGoodCheckpoint:)`` as soon as a
    ///   batch's loss is not finite, ``TrainingError/cannotWrite(path:reason:)`` for output
    ///   errors, ``TrainingError/invalidConfiguration(_:)`` for no epochs, batches or data or a
    ///   ``stopAfterEpoch`` outside the run or already completed, and
    ///   ``TrainingError/cannotResume(path:reason:)`` when the checkpoint is missing, damaged,
    ///   of another run (epochs, method, optimizer, model), of a run already complete, or the
    ///   generator is not `Codable`.
    public mutating func fit<Model: TextClassifier, G: RandomNumberGenerator>(
        _ model: inout Model, on training: EncodedTextDataset, validation: EncodedTextDataset?,
        using generator: inout G, resumingFrom checkpointPath: String? = nil, observer: (TrainingEvent) -> Void = { _ in }
    ) throws -> [EpochMetrics] {
        var run = try TrainingRun(
            epochs: epochs, batchSize: batchSize, trainingCount: training.count, stopAfterEpoch: stopAfterEpoch,
            methodName: method.name, optimizerName: String(describing: Opt.self), outputDirectory: outputDirectory,
            architectureName: architectureName, metadata: metadata, writesFiles: communicator.isWriter)
        model.mode = .training
        bestEpoch = nil
        defer { bestEpoch = run.bestEpoch }
        if let checkpointPath {
            let checkpoint = try run.resume(from: checkpointPath, model: &model, generator: &generator)
            optimizer.loadStateTensors(checkpoint.optimizerState)
            method.loadStateTensors(checkpoint.methodState)
            observer(.resumed(epoch: checkpoint.epoch))
        }
        var optimizer = self.optimizer
        defer { self.optimizer = optimizer }
        try trainEpochs(
            &model, optimizer: &optimizer, run: &run, using: &generator, communicator: communicator, schedule: schedule, trainingCount: training.count,
            batchSize: batchSize, classCount: training.classNames.count, stopAfterEpoch: stopAfterEpoch, observer: observer,
            batches: { generator in
                training.batches(ofSize: batchSize, minimumLength: minimumLength, bucketed: bucketed, shuffledUsing: &generator)
            },
            step: { model, optimizer, batch, epoch, _, generator in
                epoch <= cleanWarmupEpochs
                    ? StandardTraining().step(&model, optimizer: &optimizer, on: batch, using: &generator)
                    : method.step(&model, optimizer: &optimizer, on: batch, using: &generator)
            },
            afterBatch: { _, _, _, _, _ in false },
            validate: { model, epoch in
                guard let validation, validation.count > 0 else { return (nil, nil) }
                observer(.validating(epoch: epoch, done: 0, of: validation.count))
                defer { observer(.validating(epoch: epoch, done: validation.count, of: validation.count)) }
                let batches = validation.batches(ofSize: 256, minimumLength: minimumLength).map { ($0.inputs, $0.labels) }
                guard let validationAttack else { return (textAccuracy(model, batches: batches), nil) }
                var validationGenerator = SplitMix64(seed: 0x5EED_0000 &+ UInt64(epoch))
                let report = evaluateEmbeddingRobustness(model, batches: batches, attack: validationAttack, using: &validationGenerator)
                return (report.cleanAccuracy, report.robustAccuracy)
            },
            epsilonScale: { nil },
            methodState: { method.stateTensors },
            guardBest: { nil })
        return run.history
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
