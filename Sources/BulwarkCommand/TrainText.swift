import ArgumentParser
import Bulwark
import Foundation

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
    public init?(argument: String) { self.init(rawValue: argument) }
    public static var allValueStrings: [String] { all.map(\.rawValue) }
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
    static let requiredOptions = [(option: "--dataset", key: "dataset"), (option: "--data-dir", key: "data_dir")]

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
    @Option(help: "Embedding dimension.") var embeddingDimension: Int = 128
    @Option(help: "TextCNN filters per width.") var filters: Int = 100
    @Option(help: "TextCNN filter widths, comma-separated.") var widths: String = "3,4,5"
    @Option(help: "BiLSTM hidden size per direction.") var hiddenSize: Int = 100
    @Option(help: "Transformer attention heads (they divide --embedding-dimension).") var heads: Int = 4
    @Option(help: "Transformer encoder layers.") var layers: Int = 2
    @Option(help: "Transformer feed-forward size.") var feedforwardSize: Int = 256
    @Option(help: "TextCNN, BiLSTM and Transformer dropout probability before the output layer.") var dropout: Float = 0.5
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
    @Option(help: "The output directory.") var out: String = "runs/text"
    @Flag(help: "Print only the final summary.") var quiet = false
    @Flag(help: "Replace the run already in --out (its model, checkpoints, metrics and manifest) instead of refusing.") var force = false
    @Option(help: ArgumentHelp(
        "Continue the run in this directory from its last completed epoch.",
        discussion: """
            The options come from DIR/run.json and need not be repeated; options given beside --resume must agree with the run's, except \
            --data-dir, --stop-after, --quiet and --json. The vocabulary built from the data must be the run's (DIR/vocabulary.txt).
            """,
        valueName: "dir"))
    var resume: String?
    @Option(help: ArgumentHelp("Stop after epoch N although the schedule spans --epochs; continue later with --resume OUT.", valueName: "n")) var stopAfter: Int?
    @Option(help: "Also write the run's summary as JSON to this file: configuration, model path, every epoch's metrics and the best epoch.") var json: String?

    func validate() throws {
        if let architecture, let deprecatedModel {
            try require(architecture == deprecatedModel,
                        "--architecture \(architecture.rawValue) and --model \(deprecatedModel.rawValue), its old spelling, disagree; give only --architecture")
        }
        // A resumed run's options are checked once the run's own are known.
        if resume == nil { _ = try job(configuration, resuming: false) }
    }

    /// The configuration the options give (defaults left to ``TextTrainingConfiguration/resolved()``).
    var configuration: TextTrainingConfiguration {
        var c = TextTrainingConfiguration(dataset: data.dataset, dataDirectory: absolutePath(data.dataDir))
        (c.textColumn, c.labelColumn, c.splitSeed, c.architecture, c.method) = (data.textColumn, data.labelColumn, data.splitSeed, model, method)
        (c.epsilon, c.steps, c.stepSize, c.perturbationSite, c.proximalWeight) = (epsilon, steps, stepSize, perturbationSite, proximalWeight)
        (c.proximalMomentum, c.powerIterations, c.cleanWarmupEpochs, c.initialMagnitude) = (proximalMomentum, powerIterations, cleanWarmupEpochs, initialMagnitude)
        (c.embeddingDimension, c.filters, c.hiddenSize, c.heads, c.layers) = (embeddingDimension, filters, hiddenSize, heads, layers)
        (c.feedforwardSize, c.dropout, c.minimumFrequency, c.maximumVocabulary) = (feedforwardSize, dropout, minimumFrequency, maximumVocabulary)
        (c.maximumLength, c.bucketing, c.epochs, c.batchSize, c.learningRate) = (maximumLength, bucketing, epochs, batchSize, learningRate)
        (c.validationSteps, c.trainCount, c.seed) = (validationSteps, trainCount, seed)
        // Widths that do not all read as integers are none, which the configuration refuses.
        let words = widths.split(separator: ",")
        let parsed = words.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        c.widths = parsed.count == words.count ? parsed : []
        return c
    }

    func job(_ configuration: TextTrainingConfiguration, resuming: Bool) throws -> TextTrainingJob {
        try flagged {
            try TextTrainingJob(configuration: configuration, outputDirectory: out, command: commandLine(configuration.resolved()),
                                resuming: resuming, stopAfterEpoch: stopAfter)
        }
    }

    func train(_ job: TextTrainingJob) throws {
        let (c, resuming) = (job.configuration, job.resuming)
        try checkRunOutputs()
        let progress = Progress(quiet: quiet)
        progress.line("Loading \(c.dataset.rawValue) from \(data.dataDir) …")
        let loaded = try flagged { try job.loadData() }
        try replaceForcedRun()
        let outcome = try flagged {
            try job.run(on: loaded) { event in
                if case .started = event {
                    progress.line((resuming ? "Resuming " : "Training ") + "\(c.architecture.rawValue) on \(loaded.training.count) examples (vocabulary \(loaded.vocabulary.count), \(loaded.classNames.count) classes), "
                        + "evaluating on \(loaded.evaluation.count), method \(c.method)" + (c.method == .standard ? "" : ", ε = \(c.epsilon)") + ", seed \(c.seed)")
                }
                report(event, epochs: c.epochs, progress: progress, text: true)
            }
        }
        let history = outcome.history
        if let json {
            try writeJSON(TrainingSummary(directory: out, manifest: outcome.manifest, history: history, bestEpoch: outcome.bestEpoch),
                          to: json, snakeCase: true)
        }
        output("model: \(path(in: out, RunFile.model))")
        if let last = history.last {
            output(String(format: "final epoch: train loss %.4f, evaluation accuracy %@%@, %.1f s/epoch",
                          last.trainLoss, last.validationCleanAccuracy.map(percent) ?? "-",
                          last.validationRobustAccuracy.map { ", embedding PGD-\(c.validationSteps) at ε = \(c.epsilon): " + percent($0) } ?? "",
                          history.map(\.trainSeconds).reduce(0, +) / Double(history.count)))
        }
        if let last = history.last?.epoch, last < c.epochs { output(stoppedNotice(after: last, of: c.epochs)) }
    }
}
