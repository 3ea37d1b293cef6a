import ArgumentParser
import Bulwark
import Foundation

/// `bulwark eval --task text`: clean and embedding-space robust accuracy of a text checkpoint.
struct EvalText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark eval --task text",
        abstract: "Measure clean accuracy and robust accuracy under embedding-space PGD or WordNet word substitution (PWWS) of a text classifier.",
        discussion: """
            Reads a checkpoint written by bulwark train --task text and the vocabulary.txt beside it, \
            and evaluates the dataset's evaluation split (SST-2 dev, MR's held-out 10% for the same \
            --split-seed, the TREC and AG News test files, dev or test of generic files). An example \
            counts as robust only if it is classified correctly both clean and when every example's \
            embedded sequence is perturbed by PGD within an L2 ball of radius ε over its real tokens.
            Example:
              bulwark eval --task text --model runs/sst2-fgm/model.safetensors --dataset sst2 --data-dir data/sst2 --epsilons 0.5,1,2
            """)

    enum AttackName: String, ExpressibleByArgument, CaseIterable {
        case embeddingPGD = "embedding-pgd"
        case pwws
        case none
    }

    @Option(help: "The checkpoint written by bulwark train --task text.")
    var model: String

    @Option(help: "The vocabulary, one token per line; default vocabulary.txt beside the checkpoint.")
    var vocabulary: String?

    @OptionGroup var data: TextDataOptions

    @Option(help: "embedding-pgd, pwws (WordNet synonym substitution, Ren et al. 2019), or none for clean accuracy only.")
    var attack: AttackName = .embeddingPGD

    @Option(help: "PWWS: the WordNet database directory (data.noun, data.verb, data.adj, data.adv; Debian package wordnet-base).")
    var wordnetDir: String = "/usr/share/wordnet"

    @Option(help: "PWWS: at most this fraction of each sentence's tokens may change.")
    var maximumChangeFraction: Float = 0.25

    @Option(help: "PWWS: at most this many model evaluations per sentence.")
    var queryBudget: Int = 2000

    @Option(help: "PWWS: write each attacked sentence and its adversarial version, tab-separated with label, outcome and predictions, to this file (bulwark report shows it when it is in the run directory).")
    var pairs: String?

    @Option(name: [.customLong("epsilon"), .customLong("eps")], help: "The L2 radius ε of each example's perturbation (embedding units).")
    var epsilon: Float = 1

    @Option(help: "Several radii, comma separated (0.5,1,2); overrides --epsilon.")
    var epsilons: String?

    @Option(help: "PGD steps K.")
    var steps: Int = 10

    @Option(name: [.customLong("step-size"), .customLong("alpha")], help: "PGD step size α; default 2.5ε/steps.")
    var stepSize: Float?

    @Flag(help: "Start PGD from a random point of the ball instead of zero.")
    var randomStart = false

    @Option(help: "Evaluate the first N examples of the evaluation split.")
    var count: Int?

    @Option(help: "Examples per batch.")
    var batchSize: Int = 256

    @Option(help: "The seed of the attack's random choices.")
    var seed: UInt64 = 0

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    @Flag(help: "Print only the results.")
    var quiet = false

    var radii: [Float] {
        epsilons.map { $0.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) } } ?? [epsilon]
    }

    func validate() throws {
        try require(steps >= 1, "--steps must be at least 1, got \(steps)")
        try require(batchSize >= 1, "--batch-size must be at least 1, got \(batchSize)")
        if let count { try require(count >= 1, "--count must be at least 1, got \(count)") }
        if let stepSize { try require(stepSize > 0 && stepSize.isFinite, "--step-size must be positive, got \(stepSize)") }
        if let epsilons {
            try require(radii.count == epsilons.split(separator: ",").count, "--epsilons must be numbers separated by commas, such as 0.5,1,2")
        }
        try require(maximumChangeFraction > 0 && maximumChangeFraction <= 1, "--maximum-change-fraction must be in (0, 1]")
        try require(queryBudget >= 1, "--query-budget must be at least 1, got \(queryBudget)")
        try require(radii.allSatisfy { $0 >= 0 && $0.isFinite }, "ε must be finite and non-negative")
    }

    func run() throws {
        try checkOutputs(files: [("--json", json), ("--pairs", pairs)], inputs: [("--model", model), ("--vocabulary", vocabulary)])
        let progress = Progress(quiet: quiet)
        let file: SafeTensorsFile
        do {
            file = try SafeTensorsFile(contentsOf: model)
        } catch {
            throw ValidationError("\(error.description)")
        }
        let architectureName = file.metadata[Checkpoint.architectureKey] ?? ""
        guard architectureName.hasPrefix("text-"), let architecture = TextArchitecture(rawValue: String(architectureName.dropFirst(5))),
              let configuration = trainingConfiguration(in: file.metadata),
              let modelText = configuration["model_configuration"],
              let modelConfiguration = try? JSONDecoder().decode(TextModelConfiguration.self, from: Data(modelText.utf8)),
              let classText = configuration["class_names"],
              let classNames = try? JSONDecoder().decode([String].self, from: Data(classText.utf8))
        else {
            throw ValidationError("\(model) is not a text checkpoint of bulwark train --task text (its metadata lacks the text architecture and configuration); pass such a checkpoint, or use bulwark eval without --task text for image models.")
        }
        let vocabularyPath = vocabulary ?? URL(fileURLWithPath: model).deletingLastPathComponent().appendingPathComponent("vocabulary.txt").path
        guard let vocabularyText = try? String(contentsOfFile: vocabularyPath, encoding: .utf8) else {
            throw ValidationError("Cannot read the vocabulary \(vocabularyPath); pass --vocabulary FILE, the vocabulary.txt that bulwark train --task text wrote beside the checkpoint.")
        }
        let words = try Vocabulary(tokens: vocabularyText.split(separator: "\n", omittingEmptySubsequences: false).dropLast(vocabularyText.hasSuffix("\n") ? 1 : 0).map(String.init))

        progress.line("Loading \(data.dataset.rawValue) from \(data.dataDir) …")
        let (training, evaluationText) = try data.load()
        // Checkpoints of SST-2 written before its classes were named record its labels 0 and 1.
        guard training.classNames == classNames.map({ data.dataset.classNamesOfLabels[$0] ?? $0 }) else {
            throw ValidationError("The checkpoint's classes \(classNames.joined(separator: ", ")) differ from the dataset's \(training.classNames.joined(separator: ", ")); evaluate on the dataset the model was trained on.")
        }
        var evaluation = EncodedTextDataset(evaluationText, vocabulary: words, maximumLength: modelConfiguration.maximumLength)
        if let count, count < evaluation.count {
            evaluation = EncodedTextDataset(sequences: Array(evaluation.sequences.prefix(count)), labels: Array(evaluation.labels.prefix(count)), classNames: evaluation.classNames)
        }
        try requireLabels(evaluation.labels, withinClassCount: classNames.count, dataClassCount: evaluation.classNames.count)
        let minimumLength = architecture == .textcnn ? (modelConfiguration.widths.max() ?? 1) : 1
        let batches = evaluation.batches(ofSize: batchSize, minimumLength: minimumLength).map { ($0.inputs, $0.labels) }

        var generator = SplitMix64(seed: 0)
        let network = architecture.makeModel(vocabularySize: words.count, classCount: classNames.count, configuration: modelConfiguration, using: &generator)
        func evaluate<Model: TextClassifier>(_ network: Model) throws -> TextEvaluationRecord {
            var network = network
            do {
                try Checkpoint.assign(file.tensors, to: &network, path: model, architecture: architectureName)
            } catch {
                throw ValidationError("\(error.description) (is \(vocabularyPath) the vocabulary of this checkpoint?)")
            }
            network.mode = .inference
            let clean = textAccuracy(network, batches: batches)
            var results = [TextEvaluationRecord.EmbeddingResult]()
            if attack == .embeddingPGD {
                var attackGenerator = SplitMix64(seed: seed)
                for radius in radii {
                    let start = Date()
                    let size = stepSize ?? 2.5 * radius / Float(steps)
                    let pgd = EmbeddingPGD(threatModel: EmbeddingThreatModel(epsilon: radius), steps: steps, stepSize: size, randomStart: randomStart)
                    let report = evaluateEmbeddingRobustness(network, batches: batches, attack: pgd, using: &attackGenerator)
                    results.append(TextEvaluationRecord.EmbeddingResult(epsilon: radius, steps: steps, stepSize: size, robustAccuracy: report.robustAccuracy,
                                          maxPerturbationNorm: report.maximumPerturbationNorm, seconds: Date().timeIntervalSince(start)))
                }
            }
            var substitution: TextEvaluationRecord.SubstitutionResult?
            if attack == .pwws {
                substitution = try substitutionAttack(network, minimumLength: minimumLength)
            }
            return TextEvaluationRecord(model: model, dataset: data.dataset.rawValue, classNames: evaluation.classNames, count: evaluation.count, cleanAccuracy: clean,
                          attack: attack.rawValue, results: results, pwws: substitution)
        }
        func substitutionAttack<Model: TextClassifier>(_ network: Model, minimumLength: Int) throws -> TextEvaluationRecord.SubstitutionResult {
            let start = Date()
            let wordNet = try WordNetSynonyms(directory: wordnetDir)
            var substitutes = [Int32: [Int32]]()
            for (index, token) in words.tokens.enumerated().dropFirst(2) where !englishStopwords.contains(token) {
                let candidates = wordNet.synonyms(of: token).map(words.index(of:)).filter { $0 != Vocabulary.unknownIndex }
                if !candidates.isEmpty { substitutes[Int32(index)] = candidates }
            }
            let protected = Set(englishStopwords.map(words.index(of:)))
            let pwws = PWWS(substitutes: substitutes, protectedTokens: protected, unknownToken: Vocabulary.unknownIndex,
                            maximumChangeFraction: maximumChangeFraction, queryBudget: queryBudget)
            var (correct, robust, succeeded, changedFraction, queries) = (0, 0, 0, 0.0, 0)
            var lines = [TextExampleFile.header.joined(separator: "\t")]
            progress.begin("pwws")
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
                    let className = { (label: Int32) in evaluation.classNames[Int(label)] }
                    let sentences = writtenSentences(result.original, result.adversarial, text: evaluationText.texts[index], vocabulary: words)
                    lines.append([className(evaluation.labels[index]), String(result.succeeded), String(result.changedCount),
                                  String(result.queries), String(format: "%.4f", result.originalConfidence),
                                  className(result.adversarialPrediction), String(format: "%.4f", result.adversarialConfidence),
                                  sentences.original.joined(separator: " "),
                                  sentences.adversarial.joined(separator: " ")].joined(separator: "\t"))
                }
                progress.update(done: index + 1, total: evaluation.count, unit: "sentences")
            }
            if let pairs {
                try writeOutput(Array((lines.joined(separator: "\n") + "\n").utf8), to: pairs)
            }
            return TextEvaluationRecord.SubstitutionResult(
                accuracyUnderAttack: Float(robust) / Float(Swift.max(evaluation.count, 1)),
                successRate: Float(succeeded) / Float(Swift.max(correct, 1)),
                meanChangedFraction: Float(changedFraction / Double(Swift.max(succeeded, 1))),
                meanQueries: Float(queries) / Float(Swift.max(correct, 1)),
                maximumChangeFraction: maximumChangeFraction, queryBudget: queryBudget, seconds: Date().timeIntervalSince(start))
        }
        let report = try evaluate(network)
        output("clean accuracy: \(percent(report.cleanAccuracy)) of \(report.count)")
        for result in report.results {
            output(String(format: "embedding PGD-%d at ε = %g (step %g): robust accuracy %@, max ‖δ‖₂ %.4g, %.1f s",
                          result.steps, Double(result.epsilon), Double(result.stepSize), percent(result.robustAccuracy),
                          Double(result.maxPerturbationNorm), result.seconds))
        }
        if let substitution = report.pwws {
            output(String(format: "PWWS (WordNet synonyms, ≤ %g of the words, ≤ %d queries): accuracy under attack %@, success rate %@, mean fraction of words changed %.3f, mean queries %.1f, %.1f s",
                          Double(substitution.maximumChangeFraction), substitution.queryBudget, percent(substitution.accuracyUnderAttack),
                          percent(substitution.successRate), Double(substitution.meanChangedFraction), Double(substitution.meanQueries), substitution.seconds))
        }
        if let json { try writeJSON(report, to: json, snakeCase: true) }
    }
}

/// The attacked sentence as written, token for token: the case of `text` and its words outside
/// the vocabulary instead of lower-cased tokens and `<unk>`, with the substitutes of
/// `adversarial` where it differs from `original` (the encoded tokens of `text`, truncated as
/// the model saw them).
func writtenSentences(_ original: [Int32], _ adversarial: [Int32], text: String, vocabulary: Vocabulary) -> (original: [String], adversarial: [String]) {
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
