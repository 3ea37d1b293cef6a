import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN
import BulwarkTraining
import Foundation

/// Everything that shapes a text-classifier training run: the data and its vocabulary, the
/// model, the embedding-space method, Adam's learning rate, evaluation, and the seed.
///
/// Fields left `nil` take their default in ``resolved()``, which also clears the fields the
/// method, architecture or dataset does not use; a resolved configuration is what a run
/// records in `run.json` (its encoding, keys in snake case) and what `--resume` compares.
public struct TextTrainingConfiguration: Codable, Equatable, Sendable {
    /// The text dataset.
    public var dataset: TextDatasetName
    /// The directory holding the dataset's files.
    public var dataDirectory: String
    /// The text column (csv, tsv) or member (jsonl) of generic files.
    public var textColumn: String?
    /// The label column (csv, tsv) or member (jsonl) of generic files.
    public var labelColumn: String?
    /// The seed of MR's 90/10 split.
    public var splitSeed: UInt64?
    /// The model trained.
    public var architecture: TextArchitecture = .textcnn
    /// The training method (see ``TextTrainingMethodName``).
    public var method: TextTrainingMethodName = .standard
    /// The L2 radius ε of the perturbation, in embedding units.
    public var epsilon: Float = 1
    /// Ascent steps K of pgd, freelb and smart.
    public var steps: Int?
    /// Step size α of pgd, freelb and smart; default 2.5ε/steps.
    public var stepSize: Float?
    /// Where fgm, pgd and freelb perturb.
    public var perturbationSite: PerturbationSite?
    /// SMART's weight μ of the Bregman proximal term.
    public var proximalWeight: Float?
    /// SMART's momentum β of the proximal point.
    public var proximalMomentum: Float?
    /// VAT's power iterations.
    public var powerIterations: Int?
    /// Epochs of standard training before the method starts.
    public var cleanWarmupEpochs = 0
    /// FreeLB's random start magnitude.
    public var initialMagnitude: Float?
    /// The embedding dimension.
    public var embeddingDimension = 128
    /// TextCNN filters per width.
    public var filters: Int?
    /// TextCNN filter widths.
    public var widths: [Int]?
    /// BiLSTM hidden size per direction.
    public var hiddenSize: Int?
    /// Transformer attention heads.
    public var heads: Int?
    /// Transformer encoder layers.
    public var layers: Int?
    /// Transformer feed-forward size.
    public var feedforwardSize: Int?
    /// Dropout before the output layer (not of bag).
    public var dropout: Float?
    /// Words seen fewer times in training map to `<unk>`.
    public var minimumFrequency = 2
    /// At most this many vocabulary entries.
    public var maximumVocabulary: Int?
    /// Sequences are truncated to this many tokens; default 128 for the Transformer.
    public var maximumLength: Int?
    /// Whether batches group examples of similar length.
    public var bucketing = true
    /// Passes over the training data.
    public var epochs = 2
    /// Examples per batch.
    public var batchSize = 50
    /// Adam's learning rate; default 2e-3 (1e-3 for the Transformer).
    public var learningRate: Float?
    /// PGD steps of the per-epoch robust evaluation, 0 for clean accuracy only.
    public var validationSteps = 0
    /// Train on the first `trainCount` examples only.
    public var trainCount: Int?
    /// The seed of every random choice: initialization, shuffling, attacks.
    public var seed: UInt64 = 0

    /// The default configuration for `dataset` in `dataDirectory`.
    public init(dataset: TextDatasetName, dataDirectory: String) {
        self.dataset = dataset
        self.dataDirectory = dataDirectory
    }

    /// This configuration with every default filled in and every field its method,
    /// architecture or dataset does not use cleared.
    public func resolved() -> Self {
        var result = self
        let generic: Set<TextDatasetName> = [.csv, .tsv, .jsonl]
        result.textColumn = generic.contains(dataset) ? textColumn ?? "text" : nil
        result.labelColumn = generic.contains(dataset) ? labelColumn ?? "label" : nil
        result.splitSeed = dataset == .mr ? splitSeed ?? 0 : nil
        let recipe = method.recipe
        for field in TextMethodField.allCases where !recipe.fields.contains(field) { field.clear(in: &result) }
        recipe.resolve(&result)
        result.filters = architecture == .textcnn ? filters ?? 100 : nil
        result.widths = architecture == .textcnn ? widths ?? [3, 4, 5] : nil
        result.hiddenSize = architecture == .bilstm ? hiddenSize ?? 100 : nil
        result.heads = architecture == .transformer ? heads ?? 4 : nil
        result.layers = architecture == .transformer ? layers ?? 2 : nil
        result.feedforwardSize = architecture == .transformer ? feedforwardSize ?? 256 : nil
        result.dropout = architecture == .bag ? nil : dropout ?? 0.5
        result.maximumLength = architecture == .transformer ? maximumLength ?? 128 : maximumLength
        result.learningRate = learningRate ?? (architecture == .transformer ? 1e-3 : 2e-3)
        return result
    }

    /// Throws unless the configuration describes a run that can train.
    ///
    /// - Throws: ``ConfigurationError`` naming the fields at fault.
    public func validate() throws(ConfigurationError) {
        try check(type(of: method).names.contains(method.rawValue), "\(field: "method") \(method.rawValue) is not a registered training method")
        try check(epochs >= 1, "\(field: "epochs") must be at least 1, got \(epochs)")
        try check(batchSize >= 1, "\(field: "batchSize") must be at least 1, got \(batchSize)")
        if let steps { try check(steps >= 1, "\(field: "steps") must be at least 1, got \(steps)") }
        if let learningRate { try check(learningRate > 0 && learningRate.isFinite, "\(field: "learningRate") must be a finite number > 0, got \(learningRate)") }
        try check(epsilon >= 0 && epsilon.isFinite, "\(field: "epsilon") must be a finite number ≥ 0, got \(epsilon)")
        if let trainCount { try check(trainCount >= 1, "\(field: "trainCount") must be at least 1, got \(trainCount)") }
        try check(!method.recipe.attacks || epsilon > 0, "\(field: "method") \(method.rawValue) needs \(field: "epsilon") > 0")
        try check(embeddingDimension >= 1 && (filters ?? 1) >= 1 && (hiddenSize ?? 1) >= 1,
                  "\(field: "embeddingDimension"), \(field: "filters") and \(field: "hiddenSize") must be positive")
        if let widths {
            try check(!widths.isEmpty && widths.allSatisfy { $0 >= 1 }, "\(field: "widths") must be positive integers separated by commas, such as 3,4,5")
        }
        try check((heads ?? 1) >= 1 && (layers ?? 1) >= 1 && (feedforwardSize ?? 1) >= 1,
                  "\(field: "heads"), \(field: "layers") and \(field: "feedforwardSize") must be positive")
        let heads = heads ?? 4
        try check(architecture != .transformer || embeddingDimension % heads == 0,
                  "\(field: "embeddingDimension") \(embeddingDimension) must be a multiple of \(field: "heads") \(heads)")
        if let dropout { try check(dropout >= 0 && dropout < 1, "\(field: "dropout") must be in [0, 1)") }
        try check(minimumFrequency >= 1, "\(field: "minimumFrequency") must be at least 1")
        if let maximumVocabulary { try check(maximumVocabulary >= 2, "\(field: "maximumVocabulary") must be at least 2") }
        if let maximumLength { try check(maximumLength >= 1, "\(field: "maximumLength") must be at least 1") }
        if let stepSize { try check(stepSize > 0, "\(field: "stepSize") must be positive") }
        if let powerIterations { try check(powerIterations >= 1, "\(field: "powerIterations") must be at least 1") }
        try check(cleanWarmupEpochs >= 0 && cleanWarmupEpochs <= epochs, "\(field: "cleanWarmupEpochs") must be between 0 and \(field: "epochs")")
        try check(perturbationSite ?? .embeddedSequence == .embeddedSequence || method.recipe.fields.contains(.perturbationSite),
                  "\(field: "perturbationSite") matrix applies to \(field: "method") \(TextMethodField.perturbationSite.methods.listed("and")), not \(method.rawValue)")
        if let proximalWeight { try check(proximalWeight >= 0 && proximalWeight.isFinite, "\(field: "proximalWeight") must be non-negative") }
        if let proximalMomentum { try check(proximalMomentum >= 0 && proximalMomentum < 1, "\(field: "proximalMomentum") must be in [0, 1)") }
        if let initialMagnitude { try check(initialMagnitude >= 0 && initialMagnitude.isFinite, "\(field: "initialMagnitude") must be non-negative") }
        try check(validationSteps >= 0, "\(field: "validationSteps") must be non-negative")
    }

    /// The model's sizes, as its checkpoint records them (of a resolved configuration).
    public var modelConfiguration: TextModelConfiguration {
        TextModelConfiguration(
            dimension: embeddingDimension, widths: widths ?? [3, 4, 5], filters: filters ?? 100, dropout: dropout ?? 0.5,
            hiddenSize: hiddenSize ?? 100, heads: heads ?? 4, layerCount: layers ?? 2, feedforwardSize: feedforwardSize ?? 256,
            maximumLength: maximumLength)
    }

    /// The threat model of training and evaluation.
    public var threatModel: ThreatModel { .embeddedSequence(epsilon: epsilon) }

    /// The per-epoch robust evaluation, embedding PGD at ε; `nil` for clean accuracy only.
    public var validationAttack: EmbeddingPGD? {
        epsilon > 0 && validationSteps > 0 ? EmbeddingPGD(threatModel: threatModel, steps: validationSteps, stepSize: 2.5 * epsilon / Float(validationSteps)) : nil
    }

    // MARK: - Coding

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: ManifestKey.self)
        try self.init(dataset: container.requiredField("dataset"), dataDirectory: container.requiredField("dataDirectory"))
        try read(container)
        try readLegacyFields(container)
    }

    public func encode(to encoder: any Encoder) throws { try writeFields(to: encoder) }

    /// Fills in the fields that manifests of earlier versions recorded elsewhere and lack.
    private mutating func readLegacyFields(_ container: KeyedDecodingContainer<ManifestKey>) throws {
        // Manifests before the sizes were fields recorded them only in the model's configuration.
        let model = try (container.field("modelConfiguration") as String?).flatMap { try? JSONDecoder().decode(TextModelConfiguration.self, from: Data($0.utf8)) }
        // They recorded ε (of standard runs) and the columns of generic files only in their command.
        let legacyCommand: String? = container.contains("embeddingDimension") ? nil : try container.field("command")
        func legacy(_ flag: String) -> String? { legacyCommand.flatMap { TrainingManifest.legacyValue(of: flag, in: $0) } }
        textColumn = textColumn ?? legacy("--text-column")
        labelColumn = labelColumn ?? legacy("--label-column")
        if !container.contains("epsilon"), let epsilon = legacy("--epsilon").flatMap(Float.init) { self.epsilon = epsilon }
        if !container.contains("embeddingDimension") { embeddingDimension = try container.required(model?.dimension, "embeddingDimension") }
        filters = filters ?? (architecture == .textcnn ? model?.filters : nil)
        widths = widths ?? (architecture == .textcnn ? model?.widths : nil)
        hiddenSize = hiddenSize ?? (architecture == .bilstm ? model?.hiddenSize : nil)
        heads = heads ?? (architecture == .transformer ? model?.heads : nil)
        layers = layers ?? (architecture == .transformer ? model?.layerCount : nil)
        feedforwardSize = feedforwardSize ?? (architecture == .transformer ? model?.feedforwardSize : nil)
        dropout = dropout ?? (architecture == .bag ? nil : model?.dropout)
        maximumLength = maximumLength ?? model?.maximumLength
        // Those manifests recorded only the count trained on, the first that many examples.
        trainCount = try trainCount ?? (container.contains("embeddingDimension") ? nil : container.field("train_count"))
    }

    /// The fields, in the order a command line lists them.
    public static let fields = manifestFields.map(\.name)
}

extension TextTrainingConfiguration: ManifestCoded {
    /// How `run.json` records each field: adding a field is one line here.
    static let manifestFields: [ManifestField<Self>] = [
        .value("dataset", \.dataset),
        .value("dataDirectory", \.dataDirectory),
        .optional("textColumn", \.textColumn),
        .optional("labelColumn", \.labelColumn),
        .optional("splitSeed", \.splitSeed),
        .value("architecture", \.architecture),
        .value("method", \.method),
        .value("epsilon", \.epsilon, default: 1),
        .optional("steps", \.steps),
        .optional("stepSize", \.stepSize),
        .optional("perturbationSite", \.perturbationSite),
        .optional("initialMagnitude", \.initialMagnitude),
        .optional("powerIterations", \.powerIterations),
        .optional("proximalWeight", \.proximalWeight),
        .optional("proximalMomentum", \.proximalMomentum),
        .value("cleanWarmupEpochs", \.cleanWarmupEpochs, default: 0, omittedAtDefault: true),
        ManifestField("embeddingDimension", read: { container, configuration in
            // Manifests without it are read by readLegacyFields.
            if container.contains("embeddingDimension") { configuration.embeddingDimension = try container.requiredField("embeddingDimension") }
        }, write: { configuration, container in try container.encode(configuration.embeddingDimension, forKey: "embeddingDimension") }),
        .optional("filters", \.filters),
        ManifestField("widths", read: { container, configuration in
            configuration.widths = try Self.widths(in: container)
        }, write: { configuration, container in try container.encodeIfPresent(configuration.widths, forKey: "widths") }),
        .optional("hiddenSize", \.hiddenSize),
        .optional("heads", \.heads),
        .optional("layers", \.layers),
        .optional("feedforwardSize", \.feedforwardSize),
        .optional("dropout", \.dropout),
        .value("minimumFrequency", \.minimumFrequency, default: 2),
        .optional("maximumVocabulary", \.maximumVocabulary),
        .optional("maximumLength", \.maximumLength),
        .value("bucketing", \.bucketing, default: true),
        .value("epochs", \.epochs),
        .value("batchSize", \.batchSize),
        .optional("learningRate", \.learningRate),
        .value("validationSteps", \.validationSteps, default: 0),
        .optional("trainCount", \.trainCount),
        .value("seed", \.seed),
    ]

    /// The filter widths of a manifest: a JSON list or, as earlier manifests stored them,
    /// text separated by commas; `nil` when it has none.
    private static func widths(in container: KeyedDecodingContainer<ManifestKey>) throws -> [Int]? {
        guard container.contains("widths") else { return nil }
        if let list = try? container.decode([Int].self, forKey: "widths") { return list }
        let text: String = try container.requiredField("widths")
        let list = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !list.isEmpty, list.allSatisfy({ $0 != nil }) else {
            throw DecodingError.dataCorruptedError(forKey: "widths", in: container, debugDescription: "'\(text)' is not a list of widths")
        }
        return list.compactMap { $0 }
    }
}

extension TextTrainingConfiguration: RecordedConfiguration {}

/// The text classifiers a ``TextTrainingConfiguration`` builds.
public enum TextArchitecture: String, Codable, CaseIterable, Sendable {
    case bag, textcnn, bilstm, transformer

    /// A freshly initialized model of this architecture.
    public func makeModel(vocabularySize: Int, classCount: Int, configuration: TextModelConfiguration, using generator: inout SplitMix64) -> any TextClassifier {
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

/// The sizes of a text model, recorded in its checkpoint so that evaluation can rebuild it.
public struct TextModelConfiguration: Codable, Equatable, Sendable {
    /// The embedding dimension.
    public var dimension: Int
    /// TextCNN's filter widths.
    public var widths: [Int]
    /// TextCNN's filters per width.
    public var filters: Int
    /// The dropout probability before the output layer.
    public var dropout: Float
    /// The BiLSTM's hidden size per direction.
    public var hiddenSize: Int?
    /// The Transformer's attention heads.
    public var heads: Int?
    /// The Transformer's encoder layers.
    public var layerCount: Int?
    /// The Transformer's feed-forward size.
    public var feedforwardSize: Int?
    /// Sequences are truncated to this many tokens (the Transformer's positions).
    public var maximumLength: Int?

    /// The sizes given.
    public init(dimension: Int, widths: [Int], filters: Int, dropout: Float, hiddenSize: Int? = nil, heads: Int? = nil,
                layerCount: Int? = nil, feedforwardSize: Int? = nil, maximumLength: Int? = nil) {
        self.dimension = dimension
        self.widths = widths
        self.filters = filters
        self.dropout = dropout
        self.hiddenSize = hiddenSize
        self.heads = heads
        self.layerCount = layerCount
        self.feedforwardSize = feedforwardSize
        self.maximumLength = maximumLength
    }
}
