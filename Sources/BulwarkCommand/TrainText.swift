import ArgumentParser
import Bulwark

/// The text-data options shared by `train --task text` and `eval --task text`.
struct TextDataOptions: ParsableArguments {
    @Option(help: "sst2 (train.tsv, dev.tsv), mr (rt-polarity.pos/.neg, seeded 90/10 split), trec (train_5500.label, TREC_10.label), ag-news (train.csv, test.csv), or tsv, csv, jsonl (train.EXT and dev.EXT or test.EXT).") var dataset: TextDatasetName
    @Option(help: "The directory holding the dataset's files.") var dataDir: String
    @Option(help: "The text column (csv, tsv) or member (jsonl).") var textColumn: String = "text"
    @Option(help: "The label column (csv, tsv) or member (jsonl).") var labelColumn: String = "label"
    @Option(help: "The seed of MR's 90/10 split.") var splitSeed: UInt64 = 0

    func load() throws -> (training: TextDataset, evaluation: TextDataset) {
        try dataset.load(directory: dataDir, textColumn: textColumn, labelColumn: labelColumn, splitSeed: splitSeed)
    }
}

extension TextDatasetName: ExpressibleByArgument {}
extension PerturbationSite: ExpressibleByArgument {}
extension TextArchitecture: ExpressibleByArgument {}
extension TextTrainingMethodName: ExpressibleByArgument {
    public static var allValueStrings: [String] { all.map(\.rawValue) }
}

/// The hyper-parameters of the text architectures.
struct TextModelOptions: ParsableArguments {
    @Option(help: "Embedding dimension.") var embeddingDimension: Int = 128
    @Option(help: "TextCNN filters per width.") var filters: Int = 100
    @Option(help: "TextCNN filter widths, comma-separated.") var widths: String = "3,4,5"
    @Option(help: "BiLSTM hidden size per direction.") var hiddenSize: Int = 100
    @Option(help: "Transformer attention heads (they divide --embedding-dimension).") var heads: Int = 4
    @Option(help: "Transformer encoder layers.") var layers: Int = 2
    @Option(help: "Transformer feed-forward size.") var feedforwardSize: Int = 256
    @Option(help: "TextCNN, BiLSTM and Transformer dropout probability before the output layer.") var dropout: Float = 0.5

    /// Gives `configuration` these hyper-parameters.
    func configure(_ c: inout TextTrainingConfiguration) {
        (c.embeddingDimension, c.filters, c.hiddenSize, c.heads, c.layers) = (embeddingDimension, filters, hiddenSize, heads, layers)
        (c.feedforwardSize, c.dropout, c.widths) = (feedforwardSize, dropout, TextTrainingConfiguration.widths(in: widths))
    }
}

/// `bulwark train --task text`: trains a text classifier, optionally with embedding-space
/// adversarial training.
struct TrainText: TrainingCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark train --task text",
        abstract: "Train a text classifier, standard or with embedding-space adversarial training (FGM, PGD, FreeLB, VAT, SMART).",
        discussion: """
            Builds the vocabulary from the training split, trains, and evaluates on the dataset's evaluation split (SST-2 dev, the held-out \
            10% of MR, the TREC and AG News test files, dev or test of generic files) after every epoch. Writes OUT/model.safetensors, \
            OUT/best.safetensors, OUT/metrics.jsonl, OUT/resume.safetensors (what --resume continues from), OUT/vocabulary.txt and \
            OUT/run.json (the resolved options, the command that repeats the run, versions). ε is an L2 radius per example over the embedded \
            sequence (real tokens only), in embedding units; with --perturbation-site matrix, over the whole embedding matrix (Frobenius \
            norm).

            A killed or --stop-after run continues with bulwark train --task text --resume OUT from its last completed epoch and ends with the \
            same model, bit for bit, as if it had not stopped (same machine and thread count): the checkpoint holds the optimizer's and \
            SMART's state and the generators of shuffling and dropout.
            Example:
              bulwark train --task text --dataset sst2 --data-dir data/sst2 --architecture textcnn --method fgm --epsilon 1 --epochs 2
            """)

    static let commandWords = ["bulwark", "train", "--task", "text"]
    static let defaultOutput = "runs/text"
    static let resumeDiscussion = """
        The options come from DIR/run.json and need not be repeated; options given beside --resume must agree with the run's, except \
        --data-dir, --stop-after, --quiet and --json. The vocabulary built from the data must be the run's (DIR/vocabulary.txt).
        """
    static let requiredFields = ["dataset", "dataDirectory"]

    @OptionGroup var data: TextDataOptions
    @Option(help: "The architecture (default textcnn): bag (mean of embeddings, linear), textcnn (Kim 2014), bilstm (bidirectional LSTM, final states) or transformer (post-norm encoder, learned positions, masked mean).") var architecture: TextArchitecture?
    /// The old spelling of `--architecture` (`--model` names a checkpoint file in eval).
    @Option(name: .customLong("model"), help: .hidden) var deprecatedModel: TextArchitecture?
    /// The architecture to train.
    var model: TextArchitecture { architecture ?? deprecatedModel ?? .textcnn }

    @Option(help: "standard, fgm (Miyato et al. 2017: clean + adversarial loss), pgd (K steps on the embeddings, adversarial loss), freelb (Zhu et al. 2020: K ascent steps, parameter gradients averaged over them), vat (virtual adversarial training, Miyato et al. 2017: label-free KL term) or smart (Jiang et al. 2020: symmetric-KL smoothness regularizer at a K-step ascent point, optimized with the momentum Bregman proximal point method).") var method: TextTrainingMethodName = .standard
    @Option(name: [.customLong("epsilon"), .customLong("eps")], help: "The L2 radius ε of the perturbation of each example's embedded sequence (of the embedding matrix with --perturbation-site matrix).") var epsilon: Float = 1
    @Option(help: "PGD, FreeLB and SMART ascent steps K.") var steps: Int = 3
    @Option(name: [.customLong("step-size"), .customLong("alpha")], help: "PGD, FreeLB and SMART step size α; default 2.5ε/steps.") var stepSize: Float?
    @Option(help: "Where FGM, PGD and FreeLB add their perturbation: sequence (each example's embedded sequence, ε per example, as the papers) or matrix (the shared embedding matrix, ε over the whole matrix, as popular FGM/PGD helper classes).") var perturbationSite: PerturbationSite = .embeddedSequence
    @Option(help: "SMART's weight μ of the Bregman proximal term (symmetric KL to the predictions of the slowly moving weights θ̃); 0 turns the proximal point off.") var proximalWeight: Float = 1
    @Option(help: "SMART's momentum β of the proximal point: θ̃ ← (1 − β)θ + βθ̃ after every step.") var proximalMomentum: Float = 0.99
    @Option(help: "VAT power iterations.") var powerIterations: Int = 1
    @Option(help: "Epochs of standard training before the adversarial method starts.") var cleanWarmupEpochs: Int = 0
    @Option(help: "FreeLB's random start: δ₀ uniform in ±m/√(length·dimension) per example (0 starts at zero).") var initialMagnitude: Float = 0
    @OptionGroup var modelOptions: TextModelOptions
    @Option(help: "Words seen fewer times in the training split map to <unk>; 2 by default, so that <unk>, which every word unseen in training maps to, is itself trained.") var minimumFrequency: Int = 2
    @Option(help: "At most this many vocabulary entries (<pad> and <unk> included).") var maximumVocabulary: Int?
    @Option(help: "Truncate every sequence to this many tokens (the Transformer's learned positions; default 128 for it).") var maximumLength: Int?
    @Flag(inversion: .prefixedNo, help: "Group examples of similar length into batches (--no-bucketing: batch them in random order).") var bucketing = true
    @Option(help: "Passes over the training data.") var epochs: Int = 2
    @Option(help: "Examples per batch.") var batchSize: Int = 50
    @Option(help: "Adam's learning rate; default 2e-3 (1e-3 for transformer).") var learningRate: Float?
    @Option(help: "PGD steps of the per-epoch robust evaluation at ε (step 2.5ε/steps); 0 for clean only.") var validationSteps: Int = 0
    @Option(help: "Use only the first N training examples (for quick runs).") var trainCount: Int?
    @Option(help: "The seed of initialization, shuffling, dropout and attacks.") var seed: UInt64 = 0
    @OptionGroup var runDirectory: RunDirectoryOptions<TrainText>
    @OptionGroup var threads: ThreadOptions
    @Option(help: "Also write the run's summary as JSON to this file: configuration, model path, every epoch's metrics and the best epoch.") var json: String?

    func validate() throws { try validateRun(architecture: architecture, deprecatedModel: deprecatedModel) }

    /// The configuration the options give (defaults left to ``TextTrainingConfiguration/resolved()``).
    var configuration: TextTrainingConfiguration {
        var c = TextTrainingConfiguration(dataset: data.dataset, dataDirectory: absolutePath(data.dataDir))
        (c.textColumn, c.labelColumn, c.splitSeed, c.architecture, c.method) = (data.textColumn, data.labelColumn, data.splitSeed, model, method)
        (c.epsilon, c.steps, c.stepSize, c.perturbationSite, c.proximalWeight) = (epsilon, steps, stepSize, perturbationSite, proximalWeight)
        (c.proximalMomentum, c.powerIterations, c.cleanWarmupEpochs, c.initialMagnitude) = (proximalMomentum, powerIterations, cleanWarmupEpochs, initialMagnitude)
        (c.minimumFrequency, c.maximumVocabulary) = (minimumFrequency, maximumVocabulary)
        (c.maximumLength, c.bucketing) = (maximumLength, bucketing)
        (c.epochs, c.batchSize, c.learningRate) = (epochs, batchSize, learningRate)
        (c.validationSteps, c.trainCount, c.seed) = (validationSteps, trainCount, seed)
        modelOptions.configure(&c)
        return c
    }

    func job(_ configuration: TextTrainingConfiguration, resuming: Bool) throws -> TextTrainingJob {
        try flagged {
            try TextTrainingJob(configuration: configuration, outputDirectory: runDirectory.out,
                                command: commandLine(configuration.resolved()), resuming: resuming,
                                stopAfterEpoch: runDirectory.stopAfter, communicator: worldCommunicator())
        }
    }

    func train(_ job: TextTrainingJob) throws {
        let outcome = try trainShowingProgress(job, loading: "\(job.configuration.dataset.rawValue) from \(data.dataDir)").outcome
        guard printsResults else { return }
        try writeJSON(job.summary(of: outcome), to: json, snakeCase: true)
        job.summaryLines(of: outcome).forEach(output)
        if let last = job.stoppedEpoch(of: outcome) { output(stoppedNotice(after: last, of: job.configuration.epochs)) }
    }
}
