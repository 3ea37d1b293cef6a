import ArgumentParser
import Bulwark
import Foundation

/// The text classifiers `bulwark train --task text` builds.
enum TextArchitecture: String, ExpressibleByArgument, CaseIterable {
    case bag, textcnn, bilstm, transformer

    /// A freshly initialized model of this architecture.
    func makeModel(vocabularySize: Int, classCount: Int, configuration: TextModelConfiguration, using generator: inout SplitMix64) -> any TextClassifier {
        switch self {
        case .bag:
            EmbeddingBagClassifier(vocabularySize: vocabularySize, dimension: configuration.dimension, classCount: classCount, using: &generator)
        case .textcnn:
            TextCNN(vocabularySize: vocabularySize, dimension: configuration.dimension, classCount: classCount,
                    widths: configuration.widths, filters: configuration.filters,
                    dropoutProbability: configuration.dropout, using: &generator)
        case .bilstm:
            BiLSTMClassifier(vocabularySize: vocabularySize, dimension: configuration.dimension, hiddenSize: configuration.hiddenSize ?? 100,
                             classCount: classCount, dropoutProbability: configuration.dropout, using: &generator)
        case .transformer:
            TransformerClassifier(vocabularySize: vocabularySize, dimension: configuration.dimension, heads: configuration.heads ?? 4,
                                  feedforwardSize: configuration.feedforwardSize ?? 256, layerCount: configuration.layerCount ?? 2,
                                  classCount: classCount, maximumLength: configuration.maximumLength ?? 128,
                                  dropoutProbability: configuration.dropout, using: &generator)
        }
    }
}

/// The sizes of a text model, recorded in its checkpoint so `eval` can rebuild it.
struct TextModelConfiguration: Codable {
    var dimension: Int
    var widths: [Int]
    var filters: Int
    var dropout: Float
    var hiddenSize: Int?
    var heads: Int?
    var layerCount: Int?
    var feedforwardSize: Int?
    /// Sequences are truncated to this many tokens (the Transformer's positions).
    var maximumLength: Int?
}

/// The text-data options shared by `train --task text` and `eval --task text`.
struct TextDataOptions: ParsableArguments {
    @Option(help: "sst2 (train.tsv, dev.tsv), mr (rt-polarity.pos/.neg, seeded 90/10 split), trec (train_5500.label, TREC_10.label), ag-news (train.csv, test.csv), or tsv, csv, jsonl (train.EXT and dev.EXT or test.EXT).")
    var dataset: TextDatasetName

    @Option(help: "The directory holding the dataset's files.")
    var dataDir: String

    @Option(help: "The text column (csv, tsv) or member (jsonl).")
    var textColumn: String = "text"

    @Option(help: "The label column (csv, tsv) or member (jsonl).")
    var labelColumn: String = "label"

    @Option(help: "The seed of MR's 90/10 split.")
    var splitSeed: UInt64 = 0

    func load() throws -> (training: TextDataset, evaluation: TextDataset) {
        try dataset.load(directory: dataDir, textColumn: textColumn, labelColumn: labelColumn, splitSeed: splitSeed)
    }
}

extension TextDatasetName: ExpressibleByArgument {}
extension PerturbationSite: ExpressibleByArgument {}

/// `bulwark train --task text`: trains a text classifier, optionally with embedding-space
/// adversarial training.
struct TrainText: ResumableTraining {
    static let configuration = CommandConfiguration(
        commandName: "bulwark train --task text",
        abstract: "Train a text classifier, standard or with embedding-space adversarial training (FGM, PGD, FreeLB, VAT, SMART).",
        discussion: """
            Builds the vocabulary from the training split, trains, and evaluates on the dataset's \
            evaluation split (SST-2 dev, the held-out 10% of MR, the TREC and AG News test files, \
            dev or test of generic files) after every epoch. Writes OUT/model.safetensors, \
            OUT/best.safetensors, OUT/metrics.jsonl, OUT/resume.safetensors (what --resume \
            continues from), OUT/vocabulary.txt and OUT/run.json (the resolved options, the command \
            that repeats the run, versions). ε is an \
            L2 radius per example over the embedded sequence (real tokens only), in embedding units; \
            with --perturbation-site matrix, over the whole embedding matrix (Frobenius norm).

            A killed or --stop-after run continues with bulwark train --task text --resume OUT \
            from its last completed epoch and ends with the same model, bit for bit, as if it had \
            not stopped (same machine and thread count): the checkpoint holds the optimizer's and \
            SMART's state and the generators of shuffling and dropout.
            Example:
              bulwark train --task text --dataset sst2 --data-dir data/sst2 --architecture textcnn --method fgm --epsilon 1 --epochs 2
            """)

    static let commandWords = ["bulwark", "train", "--task", "text"]
    static let manifestOptions: Set<String> = ["--data-dir"]

    enum Method: String, ExpressibleByArgument, CaseIterable {
        case standard, fgm, pgd, freelb, vat, smart
    }

    @OptionGroup var data: TextDataOptions

    @Option(help: "The architecture (default textcnn): bag (mean of embeddings, linear), textcnn (Kim 2014), bilstm (bidirectional LSTM, final states) or transformer (post-norm encoder, learned positions, masked mean).")
    var architecture: TextArchitecture?

    /// The old spelling of `--architecture` (`--model` names a checkpoint file in eval).
    @Option(name: .customLong("model"), help: .hidden)
    var deprecatedModel: TextArchitecture?

    /// The architecture to train.
    var model: TextArchitecture { architecture ?? deprecatedModel ?? .textcnn }

    @Option(help: "standard, fgm (Miyato et al. 2017: clean + adversarial loss), pgd (K steps on the embeddings, adversarial loss), freelb (Zhu et al. 2020: K ascent steps, parameter gradients averaged over them), vat (virtual adversarial training, Miyato et al. 2017: label-free KL term) or smart (Jiang et al. 2020: symmetric-KL smoothness regularizer at a K-step ascent point, optimized with the momentum Bregman proximal point method).")
    var method: Method = .standard

    @Option(name: [.customLong("epsilon"), .customLong("eps")], help: "The L2 radius ε of the perturbation of each example's embedded sequence (of the embedding matrix with --perturbation-site matrix).")
    var epsilon: Float = 1

    @Option(help: "PGD, FreeLB and SMART ascent steps K.")
    var steps: Int = 3

    @Option(name: [.customLong("step-size"), .customLong("alpha")], help: "PGD, FreeLB and SMART step size α; default 2.5ε/steps.")
    var stepSize: Float?

    @Option(help: "Where FGM, PGD and FreeLB add their perturbation: sequence (each example's embedded sequence, ε per example, as the papers) or matrix (the shared embedding matrix, ε over the whole matrix, as popular FGM/PGD helper classes).")
    var perturbationSite: PerturbationSite = .embeddedSequence

    @Option(help: "SMART's weight μ of the Bregman proximal term (symmetric KL to the predictions of the slowly moving weights θ̃); 0 turns the proximal point off.")
    var proximalWeight: Float = 1

    @Option(help: "SMART's momentum β of the proximal point: θ̃ ← (1 − β)θ + βθ̃ after every step.")
    var proximalMomentum: Float = 0.99

    @Option(help: "VAT power iterations.")
    var powerIterations: Int = 1

    @Option(help: "Epochs of standard training before the adversarial method starts.")
    var cleanWarmupEpochs: Int = 0

    @Option(help: "FreeLB's random start: δ₀ uniform in ±m/√(length·dimension) per example (0 starts at zero).")
    var initialMagnitude: Float = 0

    @Option(help: "Embedding dimension.")
    var embeddingDimension: Int = 128

    @Option(help: "TextCNN filters per width.")
    var filters: Int = 100

    @Option(help: "TextCNN filter widths, comma-separated.")
    var widths: String = "3,4,5"

    @Option(help: "BiLSTM hidden size per direction.")
    var hiddenSize: Int = 100

    @Option(help: "Transformer attention heads (they divide --embedding-dimension).")
    var heads: Int = 4

    @Option(help: "Transformer encoder layers.")
    var layers: Int = 2

    @Option(help: "Transformer feed-forward size.")
    var feedforwardSize: Int = 256

    @Option(help: "TextCNN, BiLSTM and Transformer dropout probability before the output layer.")
    var dropout: Float = 0.5

    @Option(help: "Words seen fewer times in the training split map to <unk>; 2 by default, so that <unk>, which every word unseen in training maps to, is itself trained.")
    var minimumFrequency: Int = 2

    @Option(help: "At most this many vocabulary entries (<pad> and <unk> included).")
    var maximumVocabulary: Int?

    @Option(help: "Truncate every sequence to this many tokens (the Transformer's learned positions; default 128 for it).")
    var maximumLength: Int?

    @Flag(inversion: .prefixedNo, help: "Group examples of similar length into batches (--no-bucketing: batch them in random order).")
    var bucketing = true

    @Option(help: "Passes over the training data.")
    var epochs: Int = 2

    @Option(help: "Examples per batch.")
    var batchSize: Int = 50

    @Option(help: "Adam's learning rate; default 2e-3 (1e-3 for transformer).")
    var learningRate: Float?

    var resolvedLearningRate: Float { learningRate ?? (model == .transformer ? 1e-3 : 2e-3) }

    @Option(help: "PGD steps of the per-epoch robust evaluation at ε (step 2.5ε/steps); 0 for clean only.")
    var validationSteps: Int = 0

    @Option(help: "Use only the first N training examples (for quick runs).")
    var trainCount: Int?

    @Option(help: "The seed of initialization, shuffling, dropout and attacks.")
    var seed: UInt64 = 0

    @Option(help: "The output directory.")
    var out: String = "runs/text"

    @Flag(help: "Print only the final summary.")
    var quiet = false

    @Flag(help: "Replace the run already in --out (its model, checkpoints, metrics and manifest) instead of refusing.")
    var force = false

    @Option(help: ArgumentHelp(
        "Continue the run in this directory from its last completed epoch.",
        discussion: """
            The options come from DIR/run.json and need not be repeated; options given beside \
            --resume must agree with the run's, except --data-dir, --stop-after, --quiet and --json. \
            The vocabulary built from the data must be the run's (DIR/vocabulary.txt).
            """,
        valueName: "dir"))
    var resume: String?

    @Option(help: ArgumentHelp("Stop after epoch N although the schedule spans --epochs; continue later with --resume OUT.", valueName: "n"))
    var stopAfter: Int?

    @Option(help: "Also write the run's summary as JSON to this file: configuration, model path, every epoch's metrics and the best epoch.")
    var json: String?

    var parsedWidths: [Int] { widths.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        if let architecture, let deprecatedModel {
            try require(architecture == deprecatedModel,
                        "--architecture \(architecture.rawValue) and --model \(deprecatedModel.rawValue), its old spelling, disagree; give only --architecture")
        }
        try require(epochs >= 1, "--epochs must be at least 1, got \(epochs)")
        try require(batchSize >= 1, "--batch-size must be at least 1, got \(batchSize)")
        try require(steps >= 1, "--steps must be at least 1, got \(steps)")
        if let learningRate { try require(learningRate > 0 && learningRate.isFinite, "--learning-rate must be a finite number > 0, got \(learningRate)") }
        try require(epsilon >= 0 && epsilon.isFinite, "--epsilon must be a finite number ≥ 0, got \(epsilon)")
        if let trainCount { try require(trainCount >= 1, "--train-count must be at least 1, got \(trainCount)") }
        try require(method == .standard || epsilon > 0, "--method \(method.rawValue) needs --epsilon > 0")
        try require(embeddingDimension >= 1 && filters >= 1 && hiddenSize >= 1, "--embedding-dimension, --filters and --hidden-size must be positive")
        let parsed = parsedWidths
        try require(!parsed.isEmpty && parsed.count == widths.split(separator: ",").count && parsed.allSatisfy { $0 >= 1 },
                    "--widths must be positive integers separated by commas, such as 3,4,5")
        try require(heads >= 1 && layers >= 1 && feedforwardSize >= 1, "--heads, --layers and --feedforward-size must be positive")
        try require(model != .transformer || embeddingDimension % heads == 0, "--embedding-dimension \(embeddingDimension) must be a multiple of --heads \(heads)")
        try require(dropout >= 0 && dropout < 1, "--dropout must be in [0, 1)")
        try require(minimumFrequency >= 1, "--minimum-frequency must be at least 1")
        if let maximumVocabulary { try require(maximumVocabulary >= 2, "--maximum-vocabulary must be at least 2") }
        if let maximumLength { try require(maximumLength >= 1, "--maximum-length must be at least 1") }
        if let stepSize { try require(stepSize > 0, "--step-size must be positive") }
        try require(powerIterations >= 1, "--power-iterations must be at least 1")
        try require(cleanWarmupEpochs >= 0 && cleanWarmupEpochs <= epochs, "--clean-warmup-epochs must be between 0 and --epochs")
        try require(perturbationSite == .embeddedSequence || [.fgm, .pgd, .freelb].contains(method),
                    "--perturbation-site matrix applies to --method fgm, pgd and freelb, not \(method.rawValue)")
        try require(proximalWeight >= 0 && proximalWeight.isFinite, "--proximal-weight must be non-negative")
        try require(proximalMomentum >= 0 && proximalMomentum < 1, "--proximal-momentum must be in [0, 1)")
        try require(initialMagnitude >= 0 && initialMagnitude.isFinite, "--initial-magnitude must be non-negative")
        try require(validationSteps >= 0, "--validation-steps must be non-negative")
        if let stopAfter { try require((1...epochs).contains(stopAfter), "--stop-after must be an epoch from 1 to --epochs \(epochs), got \(stopAfter)") }
    }

    // MARK: - Resolved options

    var resolvedStepSize: Float { stepSize ?? 2.5 * epsilon / Float(steps) }
    /// The length sequences are truncated to: --maximum-length, or 128 for the Transformer's positions.
    var resolvedTruncation: Int? { model == .transformer ? (maximumLength ?? 128) : maximumLength }

    /// Every option that shapes the trained model, with its resolved value (those that do not
    /// apply to the architecture, method or dataset left out), as command-line words: the part
    /// of `run.json`'s `command` that `--resume` compares.
    var trainingArguments: [(name: String, value: String?)] {
        var words: [(name: String, value: String?)] = [("--dataset", data.dataset.rawValue)]
        if [.csv, .tsv, .jsonl].contains(data.dataset) { words += [("--text-column", data.textColumn), ("--label-column", data.labelColumn)] }
        if data.dataset == .mr { words.append(("--split-seed", String(data.splitSeed))) }
        words += [("--architecture", model.rawValue), ("--method", method.rawValue), ("--epsilon", String(epsilon))]
        if [.pgd, .freelb, .smart].contains(method) { words += [("--steps", String(steps)), ("--step-size", String(resolvedStepSize))] }
        if [.fgm, .pgd, .freelb].contains(method) { words.append(("--perturbation-site", perturbationSite.rawValue)) }
        if method == .freelb { words.append(("--initial-magnitude", String(initialMagnitude))) }
        if method == .vat { words.append(("--power-iterations", String(powerIterations))) }
        if method == .smart { words += [("--proximal-weight", String(proximalWeight)), ("--proximal-momentum", String(proximalMomentum))] }
        words.append(("--clean-warmup-epochs", String(cleanWarmupEpochs)))
        words.append(("--embedding-dimension", String(embeddingDimension)))
        switch model {
        case .bag: break
        case .textcnn: words += [("--filters", String(filters)), ("--widths", parsedWidths.map(String.init).joined(separator: ","))]
        case .bilstm: words.append(("--hidden-size", String(hiddenSize)))
        case .transformer:
            words += [("--heads", String(heads)), ("--layers", String(layers)), ("--feedforward-size", String(feedforwardSize))]
        }
        if model != .bag { words.append(("--dropout", String(dropout))) }
        words.append(("--minimum-frequency", String(minimumFrequency)))
        if let maximumVocabulary { words.append(("--maximum-vocabulary", String(maximumVocabulary))) }
        if let resolvedTruncation { words.append(("--maximum-length", String(resolvedTruncation))) }
        words.append((bucketing ? "--bucketing" : "--no-bucketing", nil))
        words += [
            ("--epochs", String(epochs)), ("--batch-size", String(batchSize)), ("--learning-rate", String(resolvedLearningRate)),
            ("--validation-steps", String(validationSteps)),
        ]
        if let trainCount { words.append(("--train-count", String(trainCount))) }
        words.append(("--seed", String(seed)))
        return words
    }

    /// The command line that repeats this run: ``trainingArguments`` with the data directory
    /// (absolute) and the output directory.
    var commandLine: String {
        var words = trainingArguments
        words.insert(("--data-dir", absolutePath(data.dataDir)), at: 1)
        words.append(("--out", out))
        return Self.commandLine(words)
    }

    func run() throws {
        try checkRunOutputs()
        let progress = Progress(quiet: quiet)
        progress.line("Loading \(data.dataset.rawValue) from \(data.dataDir) …")
        var (trainingText, evaluationText) = try data.load()
        if let trainCount { trainingText = trainingText.prefix(trainCount) }
        try replaceForcedRun()
        let tokenizer = WordTokenizer()
        let vocabulary = Vocabulary(counting: trainingText.texts.map(tokenizer.tokenize),
                                    minimumFrequency: minimumFrequency, maximumSize: maximumVocabulary)
        let truncation = resolvedTruncation
        let training = EncodedTextDataset(trainingText, vocabulary: vocabulary, tokenizer: tokenizer, maximumLength: truncation)
        let evaluation = EncodedTextDataset(evaluationText, vocabulary: vocabulary, tokenizer: tokenizer, maximumLength: truncation)

        let modelConfiguration = TextModelConfiguration(
            dimension: embeddingDimension, widths: parsedWidths, filters: filters, dropout: dropout, hiddenSize: hiddenSize,
            heads: heads, layerCount: layers, feedforwardSize: feedforwardSize, maximumLength: truncation)
        var generator = SplitMix64(seed: seed)
        let network = model.makeModel(vocabularySize: vocabulary.count, classCount: trainingText.classCount,
                                      configuration: modelConfiguration, using: &generator)
        let threatModel = EmbeddingThreatModel(epsilon: epsilon)
        let resolvedStepSize = self.resolvedStepSize
        let validationAttack = epsilon > 0 && validationSteps > 0
            ? EmbeddingPGD(threatModel: threatModel, steps: validationSteps, stepSize: 2.5 * epsilon / Float(validationSteps)) : nil

        var configuration: [String: String] = [
            "task": "text", "dataset": data.dataset.rawValue, "architecture": model.rawValue, "method": method.rawValue,
            "epochs": String(epochs), "batch_size": String(batchSize), "optimizer": "adam", "learning_rate": String(resolvedLearningRate),
            "seed": String(seed), "train_count": String(training.count), "evaluation_count": String(evaluation.count),
            "vocabulary_size": String(vocabulary.count), "class_names": encode(trainingText.classNames),
            "model_configuration": encode(modelConfiguration), "bulwark_version": bulwarkVersion,
        ]
        if method != .standard { configuration["epsilon"] = String(epsilon) }
        if method == .pgd || method == .freelb || method == .smart { configuration["steps"] = String(steps); configuration["step_size"] = String(resolvedStepSize) }
        if method == .freelb { configuration["initial_magnitude"] = String(initialMagnitude) }
        if method == .vat { configuration["power_iterations"] = String(powerIterations) }
        if [.fgm, .pgd, .freelb].contains(method) { configuration["perturbation_site"] = perturbationSite.rawValue }
        if method == .smart { configuration["proximal_weight"] = String(proximalWeight); configuration["proximal_momentum"] = String(proximalMomentum) }
        if cleanWarmupEpochs > 0 { configuration["clean_warmup_epochs"] = String(cleanWarmupEpochs) }
        if data.dataset == .mr { configuration["split_seed"] = String(data.splitSeed) }
        configuration["validation_steps"] = String(validationSteps)
        configuration["bucketing"] = String(bucketing)
        configuration["minimum_frequency"] = String(minimumFrequency)
        if let maximumVocabulary { configuration["maximum_vocabulary"] = String(maximumVocabulary) }
        configuration["data_dir"] = absolutePath(data.dataDir)
        // A resumed run keeps its own manifest (which gains the epochs it was resumed after).
        configuration = try recordManifest(configuration)
        let vocabularyFile = path(in: out, "vocabulary.txt")
        let vocabularyText = vocabulary.tokens.joined(separator: "\n") + "\n"
        // A run killed before it wrote its vocabulary writes it on resuming.
        if resume != nil, FileManager.default.fileExists(atPath: vocabularyFile) {
            guard (try? String(contentsOfFile: vocabularyFile, encoding: .utf8)) == vocabularyText else {
                throw ValidationError("The vocabulary built from --data-dir \(data.dataDir) differs from the run's \(vocabularyFile): the training data is not the data the run started on. Resume with that data, or start a new run with another --out.")
            }
        } else {
            try writeOutput(Array(vocabularyText.utf8), to: vocabularyFile)
        }

        progress.line((resume == nil ? "Training " : "Resuming ") + "\(model.rawValue) on \(training.count) examples (vocabulary \(vocabulary.count), \(trainingText.classCount) classes), "
            + "evaluating on \(evaluation.count), method \(method.rawValue)" + (method == .standard ? "" : ", ε = \(epsilon)") + ", seed \(seed)")
        let metadata = Self.checkpointMetadata(manifest: configuration, seed: seed)
        let minimumLength = model == .textcnn ? (parsedWidths.max() ?? 1) : 1
        let optimizer = Adam(learningRate: resolvedLearningRate)
        var bestEpoch: Int?

        // A run killed before its first epoch ended wrote no checkpoint: it starts over, as it began.
        var resumeCheckpoint = resume == nil ? nil : path(in: out, RunFile.resume)
        if let checkpoint = resumeCheckpoint, !FileManager.default.fileExists(atPath: checkpoint) {
            progress.line("the run completed no epoch before it stopped; starting it from the beginning")
            resumeCheckpoint = nil
        }

        func fit<Model: TextClassifier, Method: TextTrainingMethod>(_ network: Model, _ trainingMethod: Method) throws -> [EpochMetrics] {
            var network = network
            var trainer = TextTrainer(
                method: trainingMethod, optimizer: optimizer, schedule: .constant(resolvedLearningRate), epochs: epochs,
                batchSize: batchSize, cleanWarmupEpochs: cleanWarmupEpochs, minimumLength: minimumLength, bucketed: bucketing,
                validationAttack: validationAttack, outputDirectory: out, architectureName: "text-" + model.rawValue, metadata: metadata)
            trainer.stopAfterEpoch = stopAfter
            defer { bestEpoch = trainer.bestEpoch }
            return try trainer.fit(
                &network, on: training, validation: evaluation, using: &generator,
                resumingFrom: resumeCheckpoint
            ) { event in
                switch event {
                case .resumed(let completed):
                    noteResumption(after: completed, of: epochs, manifest: configuration, progress: progress)
                case let .epochStarted(epoch, _):
                    progress.begin("epoch \(epoch)/\(epochs)")
                case let .batch(_, batch, batches, loss, accuracy, _):
                    progress.update(done: batch, total: batches, unit: "batches",
                                    detail: String(format: "loss %.4f acc %.2f%%", loss, accuracy * 100))
                case let .validating(epoch, done, _):
                    if done == 0 { progress.begin("evaluate \(epoch)") }
                case .epoch(let metrics):
                    progress.line(describe(metrics).replacingOccurrences(of: "img/s", with: "examples/s")
                        .replacingOccurrences(of: "val clean", with: "eval clean"))
                case .catastrophicOverfitting:
                    break  // the overfitting guard is for image training; the text trainer has none
                }
            }
        }
        func fit<Model: TextClassifier>(_ network: Model) throws -> [EpochMetrics] {
            switch method {
            case .standard: try fit(network, StandardTraining())
            case .fgm: try fit(network, EmbeddingFGM(threatModel: threatModel, site: perturbationSite))
            case .pgd: try fit(network, EmbeddingPGDTraining(attack: EmbeddingPGD(threatModel: threatModel, steps: steps, stepSize: resolvedStepSize),
                                                             site: perturbationSite))
            case .smart: try fit(network, SMART(threatModel: threatModel, steps: steps, stepSize: resolvedStepSize,
                                                proximalWeight: proximalWeight, momentum: proximalMomentum))
            case .vat: try fit(network, VirtualAdversarialTraining(threatModel: threatModel, powerIterations: powerIterations))
            case .freelb: try fit(network, FreeLB(steps: steps, stepSize: resolvedStepSize, initialMagnitude: initialMagnitude, maximumNorm: epsilon,
                                                  site: perturbationSite))
            }
        }
        let history = try fit(network)

        if let json {
            try writeJSON(TrainingSummaryJSON(
                configuration: configuration, model: path(in: out, RunFile.model), epochs: history, bestEpoch: bestEpoch,
                best: bestEpoch == nil ? nil : path(in: out, RunFile.best)), to: json, snakeCase: true)
        }
        output("model: \(path(in: out, RunFile.model))")
        if let last = history.last {
            output(String(format: "final epoch: train loss %.4f, evaluation accuracy %@%@, %.1f s/epoch",
                          last.trainLoss, last.validationCleanAccuracy.map(percent) ?? "-",
                          last.validationRobustAccuracy.map { ", embedding PGD-\(validationSteps) at ε = \(epsilon): " + percent($0) } ?? "",
                          history.map(\.trainSeconds).reduce(0, +) / Double(history.count)))
        }
        if let last = history.last?.epoch, last < epochs { output(stoppedNotice(after: last, of: epochs)) }
    }
}
