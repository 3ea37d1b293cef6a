import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN
import Foundation

/// Why training stopped early.
public enum TrainingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The loss became NaN or infinite; the weights were not updated with it.
    case nonFiniteLoss(epoch: Int, batch: Int, lastGoodCheckpoint: String?)
    /// Training diverged while the loss stayed finite: the mean training loss of `epoch` was
    /// `loss`, more than 100 times `uniformLoss`, the loss of a
    /// uniform prediction (ln of the class count). The epoch's model was not saved.
    case diverged(epoch: Int, loss: Float, uniformLoss: Float, lastGoodCheckpoint: String?)
    /// A file of the run could not be written.
    case cannotWrite(path: String, reason: String)
    /// The configuration cannot run (for example more validation examples than data).
    case invalidConfiguration(String)
    /// A run cannot continue from the resume checkpoint at `path`, for `reason`.
    case cannotResume(path: String, reason: String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(epoch, batch, checkpoint):
            let kept = checkpoint.map { " The last good model (end of the previous epoch) is kept at \($0)." } ?? ""
            return "Training loss became NaN or infinite at epoch \(epoch), batch \(batch). Lower `learningRate`, check the inputs are in [0, 1], or use a smaller `epsilon`.\(kept)"
        case let .diverged(epoch, loss, uniformLoss, checkpoint):
            let kept = checkpoint.map { " The last good model (end of the previous epoch) is kept at \($0)." } ?? ""
            return "Training diverged at epoch \(epoch): its mean loss was \(String(format: "%.3g", loss)), over 100 times \(String(format: "%.3g", uniformLoss)), the loss of a uniform guess; the epoch's model was not saved. Lower `learningRate` (by 10× or more).\(kept)"
        case let .cannotWrite(path, reason):
            return "Cannot write '\(path)': \(reason). Check that `outputDirectory` names a writable directory with free space."
        case let .invalidConfiguration(message):
            return message
        case let .cannotResume(path, reason):
            return "Cannot resume from '\(path)': \(reason)."
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
    /// Training continues from a resume checkpoint after `epoch` completed epochs, whose
    /// metrics the returned history includes.
    case resumed(epoch: Int)
    /// The overfitting guard detected catastrophic overfitting; the trainer restored the best
    /// model and stops.
    case catastrophicOverfitting(OverfittingReport)
}

/// The files a ``Trainer`` or ``TextTrainer`` writes into its output directory.
public enum RunFile {
    /// The model after the latest epoch (or the one the overfitting guard restored).
    public static let model = "model.safetensors"
    /// The model of the epoch with the best validation robust accuracy.
    public static let best = "best.safetensors"
    /// One ``EpochMetrics`` JSON object per line.
    public static let metrics = "metrics.jsonl"
    /// The resume checkpoint: model, optimizer, method and guard state, random generator and
    /// position after the latest epoch.
    public static let resume = "resume.safetensors"
}

/// The training loop: epochs of shuffled batches through a ``TrainingMethod``, a per-batch
/// learning-rate schedule, per-epoch clean and robust accuracy on a held-out slice, metrics as
/// JSON lines, the last and best checkpoints, and resume checkpoints.
///
/// Files written to ``outputDirectory`` (when set) at the end of every epoch, the checkpoints
/// atomically (a temporary file renamed over the old one, so a kill mid-write loses nothing):
/// - `model.safetensors`, the model;
/// - `best.safetensors` whenever validation robust accuracy improves (clean accuracy when
///   there is no validation attack, the latest epoch when there is no validation set): the
///   robust-overfitting guard of Rice, Wong and Kolter 2020, "Overfitting in adversarially
///   robust deep learning" (ICML), which keeps the epoch of best robust accuracy on held-out
///   data (``bestEpoch``) because robust test accuracy falls after its peak while training
///   continues;
/// - `metrics.jsonl`, one ``EpochMetrics`` object per line, appended (a resume rewrites it from
///   the checkpoint, dropping lines of epochs it does not hold);
/// - `resume.safetensors` (``RunFile/resume``), from which
///   ``fit(_:on:validation:using:resumingFrom:observer:)`` continues the run.
///
/// **Resume.** A run continued from the checkpoint of epoch k ends with the same model, bit
/// for bit, as the uninterrupted run with the same seed on the same build and number of
/// worker threads (the kernels split sums by worker): the checkpoint holds the model's
/// parameters and layer state (batch-norm running statistics), the random generators the model
/// keeps inside itself (``Dropout``'s, see ``Layer/visitGenerators(_:)``), the optimizer's
/// state (``Optimizer/stateTensors``), the method's carried state
/// (``TrainingMethod/stateTensors``), the random generator's state, the best validation score
/// and the overfitting guard's most robust model; the learning rate and ε warm-up are
/// functions of the epoch, and validation and guard checks draw from fixed seeds. The
/// generator must be `Codable` (``SplitMix64`` is) for the checkpoint to be written.
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
    /// Stop after this epoch (1-based) although the schedule spans ``epochs``, or `nil` to run
    /// them all; a later fit resuming from the checkpoint continues the same run.
    public var stopAfterEpoch: Int?
    /// The random crops and flips applied to every training batch (drawn from the generator
    /// passed to ``fit(_:on:validation:using:resumingFrom:observer:)``, after the epoch's
    /// shuffle), or `nil` for none. Validation and the overfitting check see unaugmented images.
    public var augmentation: ImageAugmentation?
    /// The processes that train together (data parallelism, ``DataParallelOptimizer``): every
    /// rank draws the same shuffle and trains on its slice of every batch (rank r of N on
    /// examples [r·B/N, (r+1)·B/N)), they sum their weighted gradients once per update, each
    /// rank draws its method's random numbers from a generator seeded by a step seed from the
    /// shared generator and its rank, every rank validates the same model, and only rank 0
    /// writes files. ``batchSize`` must divide by the number of ranks. A single process by
    /// default, which trains exactly as without one.
    public var communicator: any Communicator = SingleProcessCommunicator()
    /// What the overfitting guard found if it stopped the last ``fit(_:on:validation:using:resumingFrom:observer:)``.
    public private(set) var overfitting: OverfittingReport?
    /// The epoch with the best validation score in the last fit (the model of
    /// `best.safetensors`), counting epochs before a resume; `nil` before any epoch.
    public private(set) var bestEpoch: Int?

    /// Creates a trainer.
    public init(
        method: Method, optimizer: Opt, schedule: LearningRateSchedule, epochs: Int, batchSize: Int,
        validationAttack: (any Attack)? = nil, outputDirectory: String? = nil,
        architectureName: String = "custom", metadata: [String: String] = [:], epsilonWarmupEpochs: Double = 0,
        overfittingGuard: CatastrophicOverfittingGuard? = nil, augmentation: ImageAugmentation? = nil,
        communicator: any Communicator = SingleProcessCommunicator()
    ) {
        self.communicator = communicator
        self.augmentation = augmentation
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
    /// - Parameter checkpointPath: A resume checkpoint (``RunFile/resume``) of this run to
    ///   continue from: `model`, ``optimizer``, ``method``'s state and `generator` are
    ///   overwritten with its state, training starts at the epoch after it, the returned
    ///   metrics begin with those of the epochs it completed, and `metrics.jsonl` is rewritten
    ///   to hold exactly those before new epochs are appended. `nil` starts afresh.
    /// - Throws: ``TrainingError/nonFiniteLoss(epoch:batch:lastGoodCheckpoint:)`` as soon as a
    ///   batch's loss is not finite (the model keeps its last finite weights),
    ///   ``TrainingError/diverged(epoch:loss:uniformLoss:lastGoodCheckpoint:)`` after an epoch
    ///   whose mean loss diverged while staying finite (its model is not saved), and
    ///   ``TrainingError/cannotWrite(path:reason:)`` for output errors, and
    ///   ``TrainingError/invalidConfiguration(_:)`` for no epochs, batches or data, an ε
    ///   warm-up that is negative, not finite, or asked of a method without a budget to scale,
    ///   a ``stopAfterEpoch`` outside the run, or a ``batchSize`` that does not divide by the
    ///   number of ranks of ``communicator``; ``TrainingError/cannotResume(path:reason:)``
    ///   when the checkpoint is missing, damaged, of another run (epochs, method, optimizer,
    ///   model), of a run already complete or stopped by the overfitting guard, or the
    ///   generator is not `Codable`.
    public mutating func fit<Model: Layer, G: RandomNumberGenerator>(
        _ model: inout Model, on training: ImageDataset, validation: ImageDataset?,
        using generator: inout G, resumingFrom checkpointPath: String? = nil, observer: (TrainingEvent) -> Void = { _ in }
    ) throws -> [EpochMetrics] {
        guard epsilonWarmupEpochs >= 0, epsilonWarmupEpochs.isFinite else {
            throw TrainingError.invalidConfiguration("The ε warm-up must be a finite, non-negative number of epochs, got \(epsilonWarmupEpochs).")
        }
        let warmsUp = epsilonWarmupEpochs > 0
        if warmsUp, method.budgetScale == nil {
            throw TrainingError.invalidConfiguration("ε warm-up needs a method with a perturbation budget it can scale; '\(method.name)' has none.")
        }
        var run = try TrainingRun(
            epochs: epochs, batchSize: batchSize, trainingCount: training.count, stopAfterEpoch: stopAfterEpoch,
            methodName: method.name, optimizerName: String(describing: Opt.self), outputDirectory: outputDirectory,
            architectureName: architectureName, metadata: metadata, writesFiles: communicator.isWriter)
        model.mode = .training
        overfitting = nil
        bestEpoch = nil
        defer { bestEpoch = run.bestEpoch }
        // The held-out batch of the overfitting check, and the most robust model it has seen.
        let checkSource = validation.flatMap { $0.count > 0 ? $0 : nil } ?? training
        let checkData = overfittingGuard.map { checkSource.prefix(Swift.min($0.count, checkSource.count)) }
        var best: (model: Model, pgd: Float, fgsm: Float, epoch: Int, batch: Int)?
        if let checkpointPath {
            let checkpoint = try run.resume(from: checkpointPath, model: &model, generator: &generator)
            optimizer.loadStateTensors(checkpoint.optimizerState)
            method.loadStateTensors(checkpoint.methodState)
            if overfittingGuard != nil, let saved = checkpoint.guardBest {
                var bestModel = model
                try run.assign(saved.model, to: &bestModel, from: checkpointPath)
                best = (bestModel, saved.pgdAccuracy, saved.fgsmAccuracy, saved.epoch, saved.batch)
            }
            observer(.resumed(epoch: checkpoint.epoch))
        }
        var optimizer = self.optimizer
        defer { self.optimizer = optimizer }
        let batchesPerEpoch = (training.count + batchSize - 1) / batchSize
        try trainEpochs(
            &model, optimizer: &optimizer, run: &run, using: &generator, communicator: communicator, schedule: schedule, trainingCount: training.count,
            batchSize: batchSize, classCount: training.classCount, stopAfterEpoch: stopAfterEpoch, observer: observer,
            batches: { generator in training.batches(ofSize: batchSize, shuffledUsing: &generator) },
            step: { model, optimizer, unaugmented, epoch, index, generator in
                let batch = augmentation?.augmented(unaugmented, using: &generator) ?? unaugmented
                if warmsUp {
                    // Progress at the end of this batch, so the first batch already has some ε.
                    let progress = Double(epoch - 1) + Double(index + 1) / Double(batchesPerEpoch)
                    method.budgetScale = Float(Swift.min(1, progress / epsilonWarmupEpochs))
                }
                method.completedEpochs = epoch - 1
                return method.step(&model, optimizer: &optimizer, on: batch, using: &generator)
            },
            afterBatch: { model, run, epoch, index, batchesPerEpoch in
                guard let overfittingGuard, let checkData,
                      index + 1 == batchesPerEpoch || (overfittingGuard.interval.map { (index + 1) % $0 == 0 } ?? false) else { return false }
                var (fgsm, pgd) = overfittingGuard.measure(model, inputs: checkData.images, labels: checkData.labels)
                if communicator.size > 1 {
                    // Rank 0's measurement decides for all: on machines with other thread counts the
                    // ranks' figures may differ in the last bits, and a split decision would leave
                    // the ranks that go on waiting in a collective.
                    var shared: [Float] = communicator.isWriter ? [fgsm, pgd] : [0, 0]
                    try communicator.sumAcrossRanks(&shared)
                    (fgsm, pgd) = (shared[0], shared[1])
                }
                if let best, overfittingGuard.isCatastrophicOverfitting(pgdAccuracy: pgd, fgsmAccuracy: fgsm, bestPGDAccuracy: best.pgd) {
                    let report = OverfittingReport(
                        epoch: epoch, batch: index + 1, pgdAccuracy: pgd, fgsmAccuracy: fgsm,
                        bestPGDAccuracy: best.pgd, bestEpoch: best.epoch, bestBatch: best.batch)
                    model = best.model
                    overfitting = report
                    if let outputDirectory, communicator.isWriter {
                        var rollbackMetadata = metadata
                        rollbackMetadata["epoch"] = String(best.epoch)
                        rollbackMetadata["catastrophic_overfitting"] = encode(report)
                        try run.save(model, as: RunFile.model, metadata: rollbackMetadata)
                        try TrainingCheckpoint.markStopped(
                            at: path(in: outputDirectory, RunFile.resume),
                            reason: "the overfitting guard stopped it at epoch \(report.epoch), batch \(report.batch) and restored the model of epoch \(best.epoch), batch \(best.batch) into \(RunFile.model)")
                    }
                    observer(.catastrophicOverfitting(report))
                    return true
                }
                // Ties move the best forward: the latest of equally robust models is kept.
                if pgd >= (best?.pgd ?? -.infinity) { best = (model, pgd, fgsm, epoch, index + 1) }
                return false
            },
            validate: { model, epoch in
                guard let validation, validation.count > 0 else { return (nil, nil) }
                let threatModel = validationAttack?.threatModel ?? .lInfinity(epsilon: 0)
                var validationGenerator = SplitMix64(seed: 0x5EED_0000 &+ UInt64(epoch))
                observer(.validating(epoch: epoch, done: 0, of: validation.count))
                let report = evaluateRobustness(
                    model, inputs: validation.images, labels: validation.labels,
                    attacks: validationAttack.map { [$0] } ?? [], threatModel: threatModel,
                    batchSize: 256, using: &validationGenerator
                ) { _, done, total in observer(.validating(epoch: epoch, done: done, of: total)) }
                return (report.cleanAccuracy, report.attacks.first?.robustAccuracy)
            },
            epsilonScale: { warmsUp ? method.budgetScale : nil },
            methodState: { method.stateTensors },
            guardBest: { best.map { .init(model: $0.model.parametersAndState, pgdAccuracy: $0.pgd, fgsmAccuracy: $0.fgsm, epoch: $0.epoch, batch: $0.batch) } })
        return run.history
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

/// Replaces `file` atomically with `lines`, one per line (through ``OutputFile``).
package func writeLines(_ lines: [String], to file: String) throws {
    do {
        try OutputFile.write(lines.map { $0 + "\n" }.joined(), to: file)
    } catch {
        throw TrainingError.cannotWrite(path: file, reason: error.description)
    }
}

package func appendLine(_ line: String, to file: String, truncate: Bool) throws {
    let data = Data((line + "\n").utf8)
    if truncate || !FileManager.default.fileExists(atPath: file) {
        do { try OutputFile.write(line + "\n", to: file) } catch {
            throw TrainingError.cannotWrite(path: file, reason: error.description)
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
