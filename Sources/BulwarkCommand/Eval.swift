import ArgumentParser
import Bulwark

/// `bulwark eval`: clean and robust accuracy of a checkpoint.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure clean accuracy and robust accuracy under attacks.",
        discussion: """
            An example counts as robust only if it is classified correctly both clean and under the attack. The worst case \
            counts an example robust only if it survives every attack given. --attack standard runs the AutoAttack-style \
            ensemble (APGD-CE, APGD-T, FAB-T, Square, AutoAttack's order) on the examples still robust. fab and fab-t are the \
            fast adaptive boundary attack (Croce and Hein 2020), untargeted and over the 9 most likely wrong classes; like \
            deepfool and cw-l2 they are minimum-norm attacks, run once per robustness curve. --epsilons evaluates a robustness \
            curve: each attack's column is its own robust accuracy, the worst-case column counts an example broken by any \
            attack.
            """)

    @Option(help: ArgumentHelp(
        "image, or text for text classifiers trained by bulwark train --task text.",
        discussion: "The text task has its own options: bulwark eval --task text --help."))
    var task: Train.Task = .image
    @OptionGroup var checkpoint: ModelOptions
    @OptionGroup var data: DatasetOptions
    @OptionGroup var threat: ThreatOptions
    @Option(help: "The split to evaluate on.") var split: DatasetSplit = .test
    @Option(parsing: .upToNextOption, help: ArgumentHelp(
        "Attacks to run, comma or space separated: \(AttackRegistry.list); standard for the ensemble; none for clean accuracy only."))
    var attack: [String] = ["pgd"]
    @Option(help: "Budgets for a robustness curve, comma separated (fractions accepted): 0,0.05,0.1,0.2. Overrides --epsilon.")
    var epsilons: String?
    @OptionGroup var parameters: AttackOptions
    @OptionGroup var threads: ThreadOptions
    @Option(help: "Evaluate the first N examples of the split.") var count: Int = 1000
    @Option(help: "independent (every attack on every example) or ensemble (each attack only on examples still robust); default ensemble for --attack standard.")
    var strategy: EvaluationStrategy?
    @Flag(inversion: .prefixedNo, help: "Look for signs of gradient masking (zero or NaN gradients, FGSM beating PGD, Square beating gradients, loss not rising, no break at a huge ε) on the first batch.")
    var sanityChecks = true
    @Option(help: "Examples per attack batch.") var batchSize: Int = 256
    @Option(help: "The seed of the attacks' random choices.") var seed: UInt64 = 0
    @Option(help: ArgumentHelp(
        "AutoAttack's version argument: standard runs the standard ensemble, as --attack standard (the other versions are not implemented).",
        valueName: "standard"))
    var version: String?
    @Option(help: "Also write the results as JSON to this file.") var json: String?
    @Flag(help: "Print only the results.") var quiet = false

    /// The library's configuration these options give: `--version standard` asks for the
    /// standard ensemble.
    private func configuration() throws -> EvaluationConfiguration {
        var configuration = EvaluationConfiguration()
        configuration.attacks = version == "standard" ? ["standard"] : attack
        (configuration.norm, configuration.epsilon) = (threat.norm, threat.epsilon.value)
        configuration.epsilons = try epsilons.map { list in try flagged { try EvaluationConfiguration.budgets(in: list) } }
        (configuration.parameters, configuration.split, configuration.count) = (parameters.parameters, split, count)
        (configuration.batchSize, configuration.seed) = (batchSize, seed)
        (configuration.strategy, configuration.sanityChecks) = (strategy, sanityChecks)
        return configuration
    }

    func validate() throws {
        try require(task == .image, "--task text must follow eval directly: bulwark eval --task text …")
        if let version {
            try require(version == "standard", "--version \(version): Bulwark runs AutoAttack's standard version only (--version standard, the same as --attack standard); bulwark --version prints Bulwark's version")
            try require(attack == ["pgd"] || attack == ["standard"], "--version standard runs the standard ensemble, so it cannot be given with --attack \(attack.joined(separator: " ")): drop one of them")
        }
        try flagged { try configuration().validate() }
    }

    func run() throws {
        try checkOutputs(files: [("--json", json)], inputs: [("--model", checkpoint.model)] + data.inputs)
        parameters.warnAboutBudgets()
        let configuration = try configuration()
        // The processes sharing the examples; rank 0 alone prints and writes.
        let communicator = try worldCommunicator()
        let progress = Progress(quiet: quiet || !communicator.isWriter)
        let (classifier, metadata) = try checkpoint.load()
        let (data, dataset) = try self.data.evaluationData(split, count: count, for: classifier, metadata: metadata)
        if communicator.isWriter { output("model: \(checkpoint.model) (\(classifier.kind)\(metadata["epoch"].map { ", epoch \($0)" } ?? ""))") }
        let outcome = try flagged {
            try configuration.evaluate(classifier, on: dataset, communicator: communicator, progress: { phase, done, total in
                progress.show(.phase(phase, done: done, total: total, unit: phase == "sanity checks" ? "steps" : "images"))
            }, iterationProgress: progress.iterations)
        }
        guard communicator.isWriter else { return }
        configuration.summaryLines(of: outcome, dataset: data.dataName).forEach(output)
        try writeJSON(configuration.record(of: outcome, model: checkpoint.model, architecture: classifier.kind, dataset: data.dataName,
                                           dataPath: data.dataPath(for: split), finalSoftmaxDropped: classifier.droppedFinalSoftmax), to: json)
    }
}
