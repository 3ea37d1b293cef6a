import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN
import BulwarkTraining
import Foundation

/// The encoded examples and the vocabulary of a text run.
public struct TextTrainingData: Sendable {
    /// The vocabulary built from the training split.
    public var vocabulary: Vocabulary
    /// The class names of the training split.
    public var classNames: [String]
    /// The examples trained on.
    public var training: EncodedTextDataset
    /// The evaluation split's examples.
    public var evaluation: EncodedTextDataset
}

/// How a text training job ended.
public struct TextTrainingOutcome {
    /// The manifest's entries as text (what checkpoints record).
    public var manifest: [String: String]
    /// The metrics of every epoch, restored ones first.
    public var history: [EpochMetrics]
    /// The epoch whose model `best.safetensors` holds.
    public var bestEpoch: Int?
}

/// A text training run: loads the data and builds the vocabulary, records the manifest
/// (`run.json`) and the vocabulary (`vocabulary.txt`), and trains (or resumes).
public struct TextTrainingJob: Sendable {
    /// The configuration, resolved.
    public let configuration: TextTrainingConfiguration
    /// The run directory.
    public var outputDirectory: String
    /// The command that repeats the run, recorded for people.
    public var command: String
    /// Whether the job continues the run in ``outputDirectory``.
    public var resuming: Bool
    /// Stop after this epoch although the schedule goes on (continue later by resuming).
    public var stopAfterEpoch: Int?
    /// The processes that train the run together (see ``DataParallelOptimizer``); a single
    /// process by default. Only rank 0 writes the run's files; the run's manifest records the
    /// number of processes (`processes`) when there are several.
    public var communicator: any Communicator

    /// The job for `configuration`.
    ///
    /// - Throws: ``ConfigurationError`` when the configuration or `stopAfterEpoch` is invalid.
    public init(
        configuration: TextTrainingConfiguration, outputDirectory: String, command: String, resuming: Bool = false, stopAfterEpoch: Int? = nil,
        communicator: any Communicator = SingleProcessCommunicator()
    ) throws(ConfigurationError) {
        self.communicator = communicator
        self.configuration = try configuration.validatedForJob(stoppingAfter: stopAfterEpoch)
        (self.outputDirectory, self.command, self.resuming, self.stopAfterEpoch) = (outputDirectory, command, resuming, stopAfterEpoch)
    }

    /// The last epoch `outcome` trained when the run stopped before its schedule's end
    /// (``stopAfterEpoch``), to continue from; `nil` when it trained every epoch.
    public func stoppedEpoch(of outcome: TextTrainingOutcome) -> Int? {
        outcome.history.last.map(\.epoch).flatMap { $0 < configuration.epochs ? $0 : nil }
    }

    /// The training and evaluation splits, encoded with the vocabulary built from the first.
    ///
    /// - Throws: the dataset's error when it cannot be loaded.
    public func loadData() throws -> TextTrainingData {
        let c = configuration
        var (training, evaluation) = try c.dataset.load(
            directory: c.dataDirectory, textColumn: c.textColumn ?? "text", labelColumn: c.labelColumn ?? "label", splitSeed: c.splitSeed ?? 0)
        if let trainCount = c.trainCount { training = training.prefix(trainCount) }
        let tokenizer = WordTokenizer()
        let vocabulary = Vocabulary(counting: training.texts.map(tokenizer.tokenize), minimumFrequency: c.minimumFrequency, maximumSize: c.maximumVocabulary)
        return TextTrainingData(
            vocabulary: vocabulary, classNames: training.classNames,
            training: EncodedTextDataset(training, vocabulary: vocabulary, tokenizer: tokenizer, maximumLength: c.maximumLength),
            evaluation: EncodedTextDataset(evaluation, vocabulary: vocabulary, tokenizer: tokenizer, maximumLength: c.maximumLength))
    }

    /// Records the manifest and vocabulary (a new run) or checks them (a resumed run), and trains.
    ///
    /// - Throws: ``ConfigurationError`` for a run that cannot be continued or recorded,
    ///   ``TrainingError`` from the trainer.
    public func run(on data: TextTrainingData, observer: (TrainingJobEvent) -> Void) throws -> TextTrainingOutcome {
        let c = configuration
        try RankAgreement.checkConfiguration(c, data: [("the training texts", RankAgreement.fingerprint(of: data.training)),
                                                       ("the evaluation texts", RankAgreement.fingerprint(of: data.evaluation))], over: communicator)
        let manifest = try TrainingManifest.record(resuming ? nil : c, in: outputDirectory, command: command, writes: communicator.isWriter) {
            var facts = [
                "task": "text", "optimizer": "adam", "train_count": String(data.training.count), "evaluation_count": String(data.evaluation.count),
                "vocabulary_size": String(data.vocabulary.count), "class_names": BulwarkTraining.encode(data.classNames),
                "model_configuration": BulwarkTraining.encode(c.modelConfiguration),
            ]
            if communicator.size > 1 { facts["processes"] = String(communicator.size) }
            return facts
        }
        let vocabularyFile = path(in: outputDirectory, "vocabulary.txt")
        let vocabularyText = data.vocabulary.tokens.joined(separator: "\n") + "\n"
        // A run killed before it wrote its vocabulary writes it on resuming.
        if resuming, FileManager.default.fileExists(atPath: vocabularyFile) {
            guard (try? String(contentsOfFile: vocabularyFile, encoding: .utf8)) == vocabularyText else {
                throw ConfigurationError("""
                    The vocabulary built from \(field: "dataDirectory") \(c.dataDirectory) differs from the run's \(vocabularyFile): \
                    the training data is not the data the run started on. Resume with that data, or start a new run with another \(field: "outputDirectory").
                    """)
            }
        } else if communicator.isWriter {
            do { try OutputFile.write(vocabularyText, to: vocabularyFile) } catch { throw ConfigurationError("\(error.description)") }
        }
        observer(.started)
        var generator = SplitMix64(seed: c.seed)
        let network = c.architecture.makeModel(vocabularySize: data.vocabulary.count, classCount: data.classNames.count,
                                               configuration: c.modelConfiguration, using: &generator)
        var resumeCheckpoint: String? = resuming ? path(in: outputDirectory, RunFile.resume) : nil
        // A run killed before its first epoch ended wrote no checkpoint: it starts over, as it began.
        if let checkpoint = resumeCheckpoint, !FileManager.default.fileExists(atPath: checkpoint) {
            observer(.restarting)
            resumeCheckpoint = nil
        }
        var outcome = TextTrainingOutcome(manifest: manifest, history: [])
        outcome.history = try fit(network, c.method.recipe, data, &generator, resumeCheckpoint,
                                  TrainingManifest.checkpointMetadata(entries: manifest, seed: c.seed), &outcome, observer)
        return outcome
    }

    private func fit<Model: TextClassifier, Recipe: TextTrainingRecipe>(
        _ network: Model, _ recipe: Recipe.Type, _ data: TextTrainingData, _ generator: inout SplitMix64, _ resumeCheckpoint: String?,
        _ metadata: [String: String], _ outcome: inout TextTrainingOutcome, _ observer: (TrainingJobEvent) -> Void
    ) throws -> [EpochMetrics] {
        let c = configuration
        let learningRate = c.learningRate ?? 2e-3
        var network = network
        var trainer = TextTrainer(
            method: Recipe.method(for: c), optimizer: Adam(learningRate: learningRate), schedule: .constant(learningRate), epochs: c.epochs,
            batchSize: c.batchSize, cleanWarmupEpochs: c.cleanWarmupEpochs, minimumLength: c.widths?.max() ?? 1, bucketed: c.bucketing,
            validationAttack: c.validationAttack, outputDirectory: outputDirectory, architectureName: "text-" + c.architecture.rawValue,
            metadata: metadata, communicator: communicator)
        trainer.stopAfterEpoch = stopAfterEpoch
        defer { outcome.bestEpoch = trainer.bestEpoch }
        let manifest = outcome.manifest
        return try trainer.fit(&network, on: data.training, validation: data.evaluation, using: &generator, resumingFrom: resumeCheckpoint) { event in
            if case .resumed(let completed) = event, communicator.isWriter {
                TrainingManifest.noteResumption(after: completed, entries: manifest, in: outputDirectory)
            }
            observer(.training(event))
        }
    }
}
