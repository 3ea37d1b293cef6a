import ArgumentParser
import Bulwark

/// `bulwark eval --task text`: clean and embedding-space robust accuracy of a text checkpoint.
struct EvalText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark eval --task text",
        abstract: "Measure clean accuracy and robust accuracy under embedding-space PGD or WordNet word substitution (PWWS) of a text classifier.",
        discussion: """
            Reads a checkpoint written by bulwark train --task text and the vocabulary.txt beside it, and evaluates the \
            dataset's evaluation split (SST-2 dev, MR's held-out 10% for the same --split-seed, the TREC and AG News test \
            files, dev or test of generic files). An example counts as robust only if it is classified correctly both clean \
            and when every example's embedded sequence is perturbed by PGD within an L2 ball of radius ε over its real tokens.
            Example:
              bulwark eval --task text --model runs/sst2-fgm/model.safetensors --dataset sst2 --data-dir data/sst2 --epsilons 0.5,1,2
            """)

    @Option(help: "The checkpoint written by bulwark train --task text.") var model: String
    @Option(help: "The vocabulary, one token per line; default vocabulary.txt beside the checkpoint.") var vocabulary: String?
    @OptionGroup var data: TextDataOptions
    @OptionGroup var threads: ThreadOptions
    @Option(help: "embedding-pgd, pwws (WordNet synonym substitution, Ren et al. 2019), or none for clean accuracy only.")
    var attack: TextEvaluationConfiguration.Attack = .embeddingPGD
    @Option(help: "PWWS: the WordNet database directory (data.noun, data.verb, data.adj, data.adv; Debian package wordnet-base).")
    var wordnetDir: String = "/usr/share/wordnet"
    @Option(help: "PWWS: at most this fraction of each sentence's tokens may change.") var maximumChangeFraction: Float = 0.25
    @Option(help: "PWWS: at most this many model evaluations per sentence.") var queryBudget: Int = 2000
    @Option(help: "PWWS: write each attacked sentence and its adversarial version, tab-separated with label, outcome and predictions, to this file (bulwark report shows it when it is in the run directory).")
    var pairs: String?
    @Option(name: [.customLong("epsilon"), .customLong("eps")], help: "The L2 radius ε of each example's perturbation (embedding units).")
    var epsilon: Float = 1
    @Option(help: "Several radii, comma separated (0.5,1,2); overrides --epsilon.") var epsilons: String?
    @Option(help: "PGD steps K.") var steps: Int = 10
    @Option(name: [.customLong("step-size"), .customLong("alpha")], help: "PGD step size α; default 2.5ε/steps.")
    var stepSize: Float?
    @Flag(help: "Start PGD from a random point of the ball instead of zero.") var randomStart = false
    @Option(help: "Evaluate the first N examples of the evaluation split.") var count: Int?
    @Option(help: "Examples per batch.") var batchSize: Int = 256
    @Option(help: "The seed of the attack's random choices.") var seed: UInt64 = 0
    @Option(help: "Also write the results as JSON to this file.") var json: String?
    @Flag(help: "Print only the results.") var quiet = false

    /// The library's configuration these options give.
    private func configuration() throws -> TextEvaluationConfiguration {
        var configuration = TextEvaluationConfiguration(model: model)
        (configuration.vocabulary, configuration.attack, configuration.wordnetDirectory) = (vocabulary, attack, wordnetDir)
        (configuration.maximumChangeFraction, configuration.queryBudget) = (maximumChangeFraction, queryBudget)
        let radii = try epsilons.map { list in try flagged { try TextEvaluationConfiguration.radii(in: list) } }
        configuration.epsilons = radii ?? [epsilon]
        (configuration.steps, configuration.stepSize, configuration.randomStart) = (steps, stepSize, randomStart)
        (configuration.count, configuration.batchSize, configuration.seed) = (count, batchSize, seed)
        return configuration
    }

    func validate() throws {
        try flagged { try configuration().validate() }
    }

    func run() throws {
        try checkOutputs(files: [("--json", json), ("--pairs", pairs)], inputs: [("--model", model), ("--vocabulary", vocabulary)])
        let progress = Progress(quiet: quiet)
        let configuration = try configuration()
        let checkpoint = try flagged { try configuration.readCheckpoint() }
        progress.line("Loading \(data.dataset.rawValue) from \(data.dataDir) …")
        let (training, evaluationText) = try data.load()
        let outcome = try flagged {
            try configuration.evaluate(checkpoint, training: training, evaluationText: evaluationText, dataset: data.dataset) { phase, done, total in
                progress.show(done == 0 ? .begin(phase) : .update(done: done, total: total, unit: "sentences"))
            }
        }
        if let pairs, let file = outcome.pairs { try writeOutput(Array(file.text.utf8), to: pairs) }
        outcome.record.summaryLines.forEach(output)
        try writeJSON(outcome.record, to: json, snakeCase: true)
    }
}
extension TextEvaluationConfiguration.Attack: ExpressibleByArgument {}
