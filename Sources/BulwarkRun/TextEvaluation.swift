import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN
import BulwarkReport
import BulwarkTraining
import Foundation

/// An evaluation of a text classifier's clean accuracy and its accuracy under embedding-space
/// PGD (per L2 radius) or WordNet word substitution (PWWS, Ren et al. 2019).
public struct TextEvaluationConfiguration: Sendable, Codable, Equatable {
    /// The attacks a text evaluation runs.
    public enum Attack: String, Sendable, Codable, CaseIterable {
        case embeddingPGD = "embedding-pgd"
        case pwws
        case none
    }

    /// The checkpoint written by text training.
    public var model: String
    /// The vocabulary, one token per line; by default `vocabulary.txt` beside the checkpoint.
    public var vocabulary: String?
    /// The attack.
    public var attack: Attack = .embeddingPGD
    /// PWWS: the WordNet database directory (`data.noun`, `data.verb`, `data.adj`, `data.adv`).
    public var wordnetDirectory = "/usr/share/wordnet"
    /// PWWS: the largest fraction of each sentence's tokens it may change.
    public var maximumChangeFraction: Float = 0.25
    /// PWWS: the most model evaluations per sentence.
    public var queryBudget = 2000
    /// Embedding PGD: the L2 radii ε of each example's perturbation, in embedding units.
    public var epsilons: [Float] = [1]
    /// Embedding PGD: steps K.
    public var steps = 10
    /// Embedding PGD: step size α; by default 2.5ε/K.
    public var stepSize: Float?
    /// Embedding PGD: whether to start at a random point of the ball instead of zero.
    public var randomStart = false
    /// Evaluate only the first examples of the evaluation split.
    public var count: Int?
    /// Examples per batch.
    public var batchSize = 256
    /// The seed of the attack's random choices.
    public var seed: UInt64 = 0

    /// The defaults for the checkpoint `model`: embedding PGD-10 at ε = 1.
    public init(model: String) { self.model = model }

    /// The vocabulary file: the one given, or `vocabulary.txt` beside the checkpoint.
    public var vocabularyPath: String {
        vocabulary ?? URL(fileURLWithPath: model).deletingLastPathComponent().appendingPathComponent("vocabulary.txt").path
    }

    /// Throws unless the configuration can run, naming the field to change.
    public func validate() throws(ConfigurationError) {
        try require(steps >= 1, "`steps` must be at least 1, got \(steps)")
        try require(batchSize >= 1, "`batchSize` must be at least 1, got \(batchSize)")
        if let count { try require(count >= 1, "`count` must be at least 1, got \(count)") }
        if let stepSize { try require(stepSize > 0 && stepSize.isFinite, "`stepSize` must be positive, got \(stepSize)") }
        try require(maximumChangeFraction > 0 && maximumChangeFraction <= 1, "`maximumChangeFraction` must be in (0, 1]")
        try require(queryBudget >= 1, "`queryBudget` must be at least 1, got \(queryBudget)")
        try require(epsilons.allSatisfy { $0 >= 0 && $0.isFinite }, "ε must be finite and non-negative")
    }

    /// What a text evaluation found, and the attacked sentences of PWWS.
    public struct Outcome: Sendable {
        /// The results, as written to JSON.
        public var record: TextEvaluationRecord
        /// PWWS's attacked sentences, when it ran.
        public var pairs: TextExampleFile?
    }

    /// The checkpoint ``model`` with its vocabulary.
    ///
    /// - Throws: ``ConfigurationError`` when it is not a text checkpoint or the vocabulary
    ///   cannot be read; the vocabulary's error when it is not one.
    public func readCheckpoint() throws -> TextCheckpoint {
        try TextCheckpoint(path: model, vocabularyPath: vocabularyPath)
    }

    /// Evaluates `checkpoint` (see ``readCheckpoint()``) on `evaluationText`, the evaluation
    /// split of `dataset` whose training split is `training` (the classes must be the
    /// checkpoint's).
    ///
    /// - Parameter progress: Receives the phase (`pwws`), the sentences done and their total.
    /// - Throws: ``ConfigurationError`` when the configuration is not valid, the vocabulary
    ///   does not fit the checkpoint or its classes are not the dataset's; WordNet's reading
    ///   errors; `EvaluationError` for labels the model cannot score.
    public func evaluate(
        _ checkpoint: TextCheckpoint, training: TextDataset, evaluationText: TextDataset, dataset: TextDatasetName,
        progress: (_ phase: String, _ done: Int, _ total: Int) -> Void = { _, _, _ in }
    ) throws -> Outcome {
        try validate()
        // Checkpoints of SST-2 written before its classes were named record its labels 0 and 1.
        guard training.classNames == checkpoint.classNames.map({ dataset.classNamesOfLabels[$0] ?? $0 }) else {
            throw ConfigurationError("The checkpoint's classes \(checkpoint.classNames.joined(separator: ", ")) differ from the dataset's \(training.classNames.joined(separator: ", ")); evaluate on the dataset the model was trained on.")
        }
        let words = checkpoint.vocabulary
        var evaluation = EncodedTextDataset(evaluationText, vocabulary: words, maximumLength: checkpoint.configuration.maximumLength)
        if let count, count < evaluation.count {
            evaluation = EncodedTextDataset(sequences: Array(evaluation.sequences.prefix(count)), labels: Array(evaluation.labels.prefix(count)),
                                            classNames: evaluation.classNames)
        }
        try requireLabels(evaluation.labels, withinClassCount: checkpoint.classNames.count, dataClassCount: evaluation.classNames.count)
        let minimumLength = checkpoint.architecture == .textcnn ? (checkpoint.configuration.widths.max() ?? 1) : 1
        let batches = evaluation.batches(ofSize: batchSize, minimumLength: minimumLength).map { ($0.inputs, $0.labels) }

        func evaluate<Model: TextClassifier>(_ network: Model) throws -> Outcome {
            var network = network
            try checkpoint.assign(to: &network)
            network.mode = .inference
            let clean = textAccuracy(network, batches: batches)
            var results = [TextEvaluationRecord.EmbeddingResult]()
            if attack == .embeddingPGD {
                var attackGenerator = SplitMix64(seed: seed)
                for radius in epsilons {
                    let start = Date()
                    let size = stepSize ?? 2.5 * radius / Float(steps)
                    let pgd = EmbeddingPGD(threatModel: .embeddedSequence(epsilon: radius), steps: steps, stepSize: size, randomStart: randomStart)
                    let report = evaluateEmbeddingRobustness(network, batches: batches, attack: pgd, using: &attackGenerator)
                    results.append(TextEvaluationRecord.EmbeddingResult(
                        epsilon: radius, steps: steps, stepSize: size, robustAccuracy: report.robustAccuracy,
                        maxPerturbationNorm: report.maximumPerturbationNorm, seconds: Date().timeIntervalSince(start)))
                }
            }
            var substitution: (result: TextEvaluationRecord.SubstitutionResult, pairs: TextExampleFile)?
            if attack == .pwws {
                substitution = try substitutionAttack(network, on: evaluation, text: evaluationText, vocabulary: words,
                                                      minimumLength: minimumLength, progress: progress)
            }
            let record = TextEvaluationRecord(model: model, dataset: dataset.rawValue, classNames: evaluation.classNames, count: evaluation.count,
                                              cleanAccuracy: clean, attack: attack.rawValue, results: results, pwws: substitution?.result)
            return Outcome(record: record, pairs: substitution?.pairs)
        }
        var generator = SplitMix64(seed: 0)
        let network = checkpoint.architecture.makeModel(vocabularySize: words.count, classCount: checkpoint.classNames.count,
                                                        configuration: checkpoint.configuration, using: &generator)
        return try evaluate(network)
    }

    /// PWWS over every sentence: its results and the sentences the model classified correctly,
    /// as written (see ``writtenSentences(_:_:text:vocabulary:)``), with their adversarial versions.
    private func substitutionAttack<Model: TextClassifier>(
        _ network: Model, on evaluation: EncodedTextDataset, text: TextDataset, vocabulary words: Vocabulary, minimumLength: Int,
        progress: (_ phase: String, _ done: Int, _ total: Int) -> Void
    ) throws -> (result: TextEvaluationRecord.SubstitutionResult, pairs: TextExampleFile) {
        let start = Date()
        let wordNet = try WordNetSynonyms(directory: wordnetDirectory)
        var substitutes = [Int32: [Int32]]()
        for (index, token) in words.tokens.enumerated().dropFirst(2) where !englishStopwords.contains(token) {
            let candidates = wordNet.synonyms(of: token).map(words.index(of:)).filter { $0 != Vocabulary.unknownIndex }
            if !candidates.isEmpty { substitutes[Int32(index)] = candidates }
        }
        let protected = Set(englishStopwords.map(words.index(of:)))
        let pwws = PWWS(substitutes: substitutes, protectedTokens: protected, unknownToken: Vocabulary.unknownIndex,
                        maximumChangeFraction: maximumChangeFraction, queryBudget: queryBudget)
        var (correct, robust, succeeded, changedFraction, queries) = (0, 0, 0, 0.0, 0)
        var pairs = TextExampleFile(rows: [])
        let className = { (label: Int32) in evaluation.classNames[Int(label)] }
        progress("pwws", 0, evaluation.count)
        for (index, sequence) in evaluation.sequences.enumerated() {
            let result = pwws.attack(sequence, label: evaluation.labels[index], against: network, minimumLength: minimumLength)
            if result.originallyCorrect {
                correct += 1
                queries += result.queries
                if result.succeeded {
                    succeeded += 1
                    changedFraction += Double(result.changedCount) / Double(Swift.max(sequence.count, 1))
                } else {
                    robust += 1
                }
                let sentences = writtenSentences(result.original, result.adversarial, text: text.texts[index], vocabulary: words)
                pairs.rows.append(TextExampleFile.Row(
                    label: className(evaluation.labels[index]), succeeded: result.succeeded, changedCount: result.changedCount,
                    queries: result.queries, confidence: result.originalConfidence,
                    adversarialPrediction: className(result.adversarialPrediction), adversarialConfidence: result.adversarialConfidence,
                    original: sentences.original, adversarial: sentences.adversarial))
            }
            progress("pwws", index + 1, evaluation.count)
        }
        let result = TextEvaluationRecord.SubstitutionResult(
            accuracyUnderAttack: Float(robust) / Float(Swift.max(evaluation.count, 1)),
            successRate: Float(succeeded) / Float(Swift.max(correct, 1)),
            meanChangedFraction: Float(changedFraction / Double(Swift.max(succeeded, 1))),
            meanQueries: Float(queries) / Float(Swift.max(correct, 1)),
            maximumChangeFraction: maximumChangeFraction, queryBudget: queryBudget, seconds: Date().timeIntervalSince(start))
        return (result, pairs)
    }
}

/// A checkpoint of text training read with its vocabulary: its architecture, model
/// configuration, class names and tensors.
public struct TextCheckpoint: Sendable {
    var path: String
    var vocabularyPath: String
    var file: SafeTensorsFile
    var architectureName: String
    var architecture: TextArchitecture
    var configuration: TextModelConfiguration
    var classNames: [String]
    var vocabulary: Vocabulary

    /// Reads the checkpoint at `path` and the vocabulary at `vocabularyPath`.
    init(path: String, vocabularyPath: String) throws {
        do { file = try SafeTensorsFile(contentsOf: path) } catch { throw ConfigurationError(error.description) }
        self.path = path
        self.vocabularyPath = vocabularyPath
        architectureName = file.metadata[Checkpoint.architectureKey] ?? ""
        guard architectureName.hasPrefix("text-"), let architecture = TextArchitecture(rawValue: String(architectureName.dropFirst(5))),
              let recorded = trainingConfiguration(in: file.metadata),
              let modelText = recorded["model_configuration"],
              let configuration = try? JSONDecoder().decode(TextModelConfiguration.self, from: Data(modelText.utf8)),
              let classText = recorded["class_names"],
              let classNames = try? JSONDecoder().decode([String].self, from: Data(classText.utf8))
        else {
            throw ConfigurationError("\(path) is not a checkpoint of a text training run (its metadata lacks the text architecture and configuration); pass the model a text run wrote (an image model is evaluated as an image model).")
        }
        (self.architecture, self.configuration, self.classNames) = (architecture, configuration, classNames)
        guard let vocabularyText = try? String(contentsOfFile: vocabularyPath, encoding: .utf8) else {
            throw ConfigurationError("Cannot read the vocabulary \(vocabularyPath); pass `vocabulary` FILE, the vocabulary.txt that bulwark train --task text wrote beside the checkpoint.")
        }
        vocabulary = try Vocabulary(tokens: vocabularyText.split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast(vocabularyText.hasSuffix("\n") ? 1 : 0).map(String.init))
    }

    /// Assigns the checkpoint's tensors to `network`.
    func assign<Model: TextClassifier>(to network: inout Model) throws(ConfigurationError) {
        do {
            try Checkpoint.assign(file.tensors, to: &network, path: path, architecture: architectureName)
        } catch {
            throw ConfigurationError("\(error.description) (is \(vocabularyPath) the vocabulary of this checkpoint?)")
        }
    }
}

/// The attacked sentence as written, token for token: the case of `text` and its words outside
/// the vocabulary instead of lower-cased tokens and `<unk>`, with the substitutes of
/// `adversarial` where it differs from `original` (the encoded tokens of `text`, truncated as
/// the model saw them).
public func writtenSentences(_ original: [Int32], _ adversarial: [Int32], text: String, vocabulary: Vocabulary) -> (original: [String], adversarial: [String]) {
    let decodedOriginal = vocabulary.decode(original)
    let decodedAdversarial = vocabulary.decode(adversarial)
    var written = WordTokenizer(lowercases: false).tokenize(text)
    // Lower-casing can change how a rare character splits; then the tokens are shown as encoded.
    if written.count != WordTokenizer().tokenize(text).count { written = [] }
    let originalWords = decodedOriginal.indices.map { $0 < written.count ? written[$0] : decodedOriginal[$0] }
    let adversarialWords = decodedAdversarial.indices.map { position in
        position < original.count && original[position] == adversarial[position] ? originalWords[position] : decodedAdversarial[position]
    }
    return (originalWords, adversarialWords)
}
