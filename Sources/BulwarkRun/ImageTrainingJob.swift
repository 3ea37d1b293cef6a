import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN
import BulwarkONNX
import BulwarkTraining
import Foundation

/// What a training job reports while it runs, for a front end to show.
public enum TrainingJobEvent {
    /// The run starts training (or continues, when resuming); the manifest is recorded.
    case started
    /// A resumed run had completed no epoch: it starts from the beginning.
    case restarting
    /// A resumed run had completed every epoch; only the final evaluation (`evaluationDone`
    /// false) or the caller's summary is missing.
    case finishing(epochs: Int, evaluationDone: Bool)
    /// The trainer's report (``TrainingEvent/resumed(epoch:)`` after `run.json` noted it).
    case training(TrainingEvent)
    /// Progress of the final evaluation's `phase`.
    case finalEvaluation(phase: String, done: Int, total: Int)
}

/// The training and validation images of an image run.
public struct ImageTrainingData: Sendable {
    /// The images trained on.
    public var training: ImageDataset
    /// The held-out validation images (the last ``ImageTrainingConfiguration/validationCount``).
    public var validation: ImageDataset
}

/// How an image training job ended.
public struct ImageTrainingOutcome {
    /// The manifest's entries as text (what checkpoints record).
    public var manifest: [String: String]
    /// The metrics of every epoch, restored ones first.
    public var history: [EpochMetrics]
    /// The epoch whose model `best.safetensors` holds.
    public var bestEpoch: Int?
    /// What the overfitting guard found, if it stopped the run.
    public var overfitting: OverfittingReport?
    /// The final model.
    public var model: ImageClassifier
    /// Whether the run stopped before its last epoch (at ``ImageTrainingJob/stopAfterEpoch``).
    public var stoppedEarly: Bool
    /// The final evaluation on the test split, when it ran now.
    public var finalEvaluation: RobustnessReport?
    /// Why the final evaluation was skipped (the test split could not be loaded).
    public var finalEvaluationSkipped: String?
    /// The final evaluation an earlier, interrupted attempt of the run wrote, if any.
    public var existingFinalEvaluation: String?
}

/// An image training run: loads the data, records the manifest (`run.json`), trains (or
/// resumes), and evaluates the final model on the test split.
public struct ImageTrainingJob: Sendable {
    /// The configuration, resolved.
    public let configuration: ImageTrainingConfiguration
    /// The run directory.
    public var outputDirectory: String
    /// The command that repeats the run, recorded for people.
    public var command: String
    /// Whether the job continues the run in ``outputDirectory``.
    public var resuming: Bool
    /// Stop after this epoch although the schedule goes on (continue later by resuming).
    public var stopAfterEpoch: Int?
    /// Whether the caller writes a summary of the run, so that resuming a run whose final
    /// evaluation is done still has something to do.
    public var summaryRequested: Bool
    /// The processes that train the run together (see ``DataParallelOptimizer``); a single
    /// process by default. Only rank 0 writes the run's files and runs the final evaluation;
    /// the run's manifest records the number of processes (`processes`) when there are several.
    /// A run resumes on any number of processes that divides its batch size.
    public var communicator: any Communicator

    /// The job for `configuration`.
    ///
    /// - Throws: ``ConfigurationError`` when the configuration or `stopAfterEpoch` is invalid.
    public init(
        configuration: ImageTrainingConfiguration, outputDirectory: String, command: String, resuming: Bool = false,
        stopAfterEpoch: Int? = nil, summaryRequested: Bool = false, communicator: any Communicator = SingleProcessCommunicator()
    ) throws(ConfigurationError) {
        self.communicator = communicator
        self.configuration = try configuration.validatedForJob(stoppingAfter: stopAfterEpoch)
        (self.outputDirectory, self.command, self.resuming, self.stopAfterEpoch) = (outputDirectory, command, resuming, stopAfterEpoch)
        self.summaryRequested = summaryRequested
        try checkImportedModelIsKept()
    }

    /// The training images, less the held-out validation images, and those.
    ///
    /// - Throws: the dataset's error when it cannot be loaded; ``ConfigurationError`` when
    ///   the images do not fit the architecture or validation would leave none to train on.
    public func loadData() throws -> ImageTrainingData {
        let c = configuration
        var training = try c.dataSelection.load(.train)
        if c.modelPath == nil {
            try c.dataSelection.requireShape(of: training, fitting: c.architecture)
        } else {
            let imported = try importedModel()
            try c.dataSelection.requireShape(of: training, fitting: imported)
            try requireLabels(training.labels, fit: imported, inputShape: imported.inputShape, dataClassCount: training.classCount)
        }
        if let trainCount = c.trainCount { training = training.prefix(trainCount) }
        try check(training.count > c.validationCount,
                  "\(field: "validationCount") \(c.validationCount) leaves no training images out of \(training.count)")
        let validation = training.slice((training.count - c.validationCount)..<training.count)
        return ImageTrainingData(training: training.prefix(training.count - c.validationCount), validation: validation)
    }

    /// Records the manifest (a new run) or reads it (a resumed run), trains, and evaluates.
    ///
    /// - Throws: ``ConfigurationError`` for a run that cannot be continued or recorded,
    ///   ``TrainingError`` from the trainer.
    public func run(on data: ImageTrainingData, observer: (TrainingJobEvent) -> Void) throws -> ImageTrainingOutcome {
        let c = configuration
        try RankAgreement.checkConfiguration(c, data: [("the training images", RankAgreement.fingerprint(of: data.training)),
                                                       ("the validation images", RankAgreement.fingerprint(of: data.validation))], over: communicator)
        let manifest = try TrainingManifest.record(resuming ? nil : c, in: outputDirectory, command: command, writes: communicator.isWriter) {
            var facts = ["train_count": String(data.training.count), "validation_attack": c.validationAttack == nil ? "none (clean accuracy only)"
                : "pgd-\(c.validationSteps), step \(c.validationStepSize), random start"]
            if communicator.size > 1 { facts["processes"] = String(communicator.size) }
            return facts
        }
        observer(.started)
        var generator = SplitMix64(seed: c.seed)
        var network = try c.modelPath == nil
            ? ImageClassifier(c.architecture.makeModel(classCount: data.training.classCount, using: &generator), architecture: c.architecture)
            : importedModel()
        var outcome = ImageTrainingOutcome(manifest: manifest, history: [], model: network, stoppedEarly: false)
        let checkpoint = path(in: outputDirectory, RunFile.resume)
        var resumeCheckpoint: String? = resuming ? checkpoint : nil
        // A run killed before its first epoch ended wrote no checkpoint: it starts over, as it began.
        if resumeCheckpoint != nil, !FileManager.default.fileExists(atPath: checkpoint) {
            observer(.restarting)
            resumeCheckpoint = nil
        }
        // The checkpoints of an imported graph need the graph beside them from the first epoch on.
        if network.imported != nil, communicator.isWriter, !FileManager.default.fileExists(atPath: onnxModelFile) { try writeONNXModel(network) }
        let finalEvaluationFile = path(in: outputDirectory, "final-eval.json")
        var evaluationDone = false
        if resuming, let progress = try? TrainingProgress(checkpointAt: checkpoint), progress.isComplete {
            // Killed after its last epoch: the model is final, only the evaluation or the summary is missing.
            evaluationDone = c.finalEvaluationCount == 0 || FileManager.default.fileExists(atPath: finalEvaluationFile)
            guard !evaluationDone || summaryRequested else {
                throw ConfigurationError(
                    "\(TrainingError.cannotResume(path: checkpoint, reason: "the run already completed all \(progress.epochs) epochs and its final evaluation; there is nothing to continue"))")
            }
            observer(.finishing(epochs: c.epochs, evaluationDone: evaluationDone))
            do { network = try finalModel() } catch {
                throw ConfigurationError("Cannot finish the run in '\(outputDirectory)': \(error)")
            }
            outcome.history = progress.history
            outcome.bestEpoch = progress.bestEpoch
            if evaluationDone, FileManager.default.fileExists(atPath: finalEvaluationFile) { outcome.existingFinalEvaluation = finalEvaluationFile }
        } else {
            outcome.history = try c.method.recipe.train(self, &network, data, &generator, resumeCheckpoint,
                                                        TrainingManifest.checkpointMetadata(entries: manifest, seed: c.seed), &outcome, observer)
        }
        outcome.model = network
        if communicator.isWriter { try writeONNXModel(network) }
        outcome.stoppedEarly = outcome.overfitting == nil && (outcome.history.last?.epoch ?? 0) < c.epochs
        if !evaluationDone, !outcome.stoppedEarly, c.finalEvaluationCount != 0, communicator.isWriter {
            evaluate(network, &outcome, observer)
        }
        return outcome
    }

    /// Trains with `method` under the configured optimizer.
    fileprivate func train<Method: TrainingMethod>(
        _ method: Method, _ network: inout ImageClassifier, _ data: ImageTrainingData, _ generator: inout SplitMix64,
        _ resumeCheckpoint: String?, _ metadata: [String: String], _ outcome: inout ImageTrainingOutcome,
        _ observer: (TrainingJobEvent) -> Void
    ) throws -> [EpochMetrics] {
        let c = configuration
        var metadata = metadata
        if let modelPath = c.modelPath { metadata[Self.sourceModelKey] = modelPath }
        return switch c.optimizer {
        case .adam: try fit(method, Adam(learningRate: c.learningRate, weightDecay: c.weightDecay), &network, data, &generator, resumeCheckpoint, metadata, &outcome, observer)
        case .sgd: try fit(method, SGD(learningRate: c.learningRate, momentum: c.momentum ?? 0.9, weightDecay: c.weightDecay),
                           &network, data, &generator, resumeCheckpoint, metadata, &outcome, observer)
        }
    }

    private func fit<Method: TrainingMethod, Opt: Optimizer>(
        _ method: Method, _ optimizer: Opt, _ network: inout ImageClassifier, _ data: ImageTrainingData, _ generator: inout SplitMix64,
        _ resumeCheckpoint: String?, _ metadata: [String: String], _ outcome: inout ImageTrainingOutcome,
        _ observer: (TrainingJobEvent) -> Void
    ) throws -> [EpochMetrics] {
        let c = configuration
        var trainer = Trainer(
            method: method, optimizer: optimizer, schedule: c.learningRateSchedule, epochs: c.epochs,
            batchSize: c.batchSize, validationAttack: c.validationAttack, outputDirectory: outputDirectory,
            architectureName: c.modelName, metadata: metadata, epsilonWarmupEpochs: Double(c.epsilonWarmup),
            overfittingGuard: c.catastrophicOverfittingGuard, augmentation: c.augment == true ? .cifar10 : nil, communicator: communicator)
        trainer.stopAfterEpoch = stopAfterEpoch
        defer { outcome.bestEpoch = trainer.bestEpoch }
        let manifest = outcome.manifest
        return try trainer.fit(
            &network, on: data.training, validation: data.validation.count > 0 ? data.validation : nil, using: &generator,
            resumingFrom: resumeCheckpoint
        ) { event in
            if case .resumed(let completed) = event, communicator.isWriter {
                TrainingManifest.noteResumption(after: completed, entries: manifest, in: outputDirectory)
            }
            if case .catastrophicOverfitting(let report) = event { outcome.overfitting = report }
            observer(.training(event))
        }
    }

    /// Clean accuracy and accuracy under the validation attack of the final model on the
    /// first ``ImageTrainingConfiguration/finalEvaluationCount`` test images.
    private func evaluate(_ network: ImageClassifier, _ outcome: inout ImageTrainingOutcome, _ observer: (TrainingJobEvent) -> Void) {
        let c = configuration
        if c.dataSelection.testSplitIsTrainingData {
            outcome.finalEvaluationSkipped = "\(ConfigurationError("\(field: "dataPath") is one file, the images the run trains on, so it has no test split; give \(field: "testDataPath") to evaluate on held-out images"))"
            return
        }
        let test: ImageDataset
        do {
            // Checked like any evaluation: a separate test file may not fit the model.
            test = try c.dataSelection.evaluationData(
                .test, count: c.finalEvaluationCount ?? ImageTrainingConfiguration.defaultFinalEvaluationCount, for: network)
        } catch {
            outcome.finalEvaluationSkipped = "\(error)"
            return
        }
        let attack = c.validationAttack
        var generator = SplitMix64(seed: c.seed)
        outcome.finalEvaluation = evaluateRobustness(
            network, inputs: test.images, labels: test.labels, attacks: attack.map { [$0] } ?? [],
            threatModel: c.threatModel, sanityChecks: attack != nil, using: &generator
        ) { phase, done, total in observer(.finalEvaluation(phase: phase, done: done, total: total)) }
    }
}

extension ImageTrainingRecipe {
    /// Trains `job` with the method this recipe builds (the dispatch from a method's name to its type).
    static func train(
        _ job: ImageTrainingJob, _ network: inout ImageClassifier, _ data: ImageTrainingData, _ generator: inout SplitMix64,
        _ resumeCheckpoint: String?, _ metadata: [String: String], _ outcome: inout ImageTrainingOutcome,
        _ observer: (TrainingJobEvent) -> Void
    ) throws -> [EpochMetrics] {
        try job.train(method(for: job.configuration), &network, data, &generator, resumeCheckpoint, metadata, &outcome, observer)
    }
}
