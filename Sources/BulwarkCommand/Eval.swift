import ArgumentParser
import Bulwark
import Foundation

/// `bulwark eval`: clean and robust accuracy of a checkpoint.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure clean accuracy and robust accuracy under attacks.",
        discussion: """
            An example counts as robust only if it is classified correctly both clean and under \
            the attack. The worst case counts an example robust only if it survives every attack given.
            """)

    enum AttackName: String, ExpressibleByArgument, CaseIterable {
        case fgsm, pgd
        case gradientAscent = "gradient-ascent"
    }

    @Option(help: "The checkpoint (.safetensors) to evaluate.")
    var model: String

    @Option(help: "The architecture, for checkpoints without Bulwark metadata (saved by PyTorch).")
    var architecture: Architecture?

    @OptionGroup var data: DatasetOptions
    @OptionGroup var threat: ThreatOptions

    @Option(help: "The split to evaluate on.")
    var split: DatasetSplit = .test

    @Option(parsing: .upToNextOption, help: "Attacks to run: fgsm, pgd, gradient-ascent (several allowed, comma or space separated), or none for clean accuracy only.")
    var attack: [String] = ["pgd"]

    @Option(help: "Steps of pgd and gradient-ascent.")
    var steps: Int = 20

    @Option(help: "Step size α of pgd and gradient-ascent; default 2.5ε/steps. Fractions accepted.")
    var stepSize: Fraction?

    @Option(help: "PGD restarts; an example is robust only if it survives all of them.")
    var restarts: Int = 1

    @Flag(inversion: .prefixedNo, help: "Start PGD at a random point of the ε-ball.")
    var randomStart = true

    @Option(help: "Evaluate the first N examples of the split.")
    var count: Int = 1000

    @Option(help: "independent (every attack on every example) or ensemble (each attack only on examples still robust, as AutoAttack).")
    var strategy: EvaluationStrategy = .independent

    @Flag(inversion: .prefixedNo, help: "Look for signs of gradient masking (zero or NaN gradients, FGSM beating PGD, loss not rising, no break at a huge ε) on the first batch.")
    var sanityChecks = true

    @Option(help: "Examples per attack batch.")
    var batchSize: Int = 256

    @Option(help: "The seed of the attacks' random choices.")
    var seed: UInt64 = 0

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    @Flag(help: "Print only the results.")
    var quiet = false

    func validate() throws {
        try require(count >= 1, "--count must be at least 1")
        try require(steps >= 1 && restarts >= 1 && batchSize >= 1, "--steps, --restarts and --batch-size must be at least 1")
        let names = try attackNames()
        try require(Set(names).count == names.count, "--attack lists an attack twice")
    }

    private func attackNames() throws -> [AttackName] {
        try attack.flatMap { $0.split(separator: ",") }.filter { $0 != "none" }.map { name in
            guard let attack = AttackName(rawValue: String(name)) else {
                throw ValidationError("Unknown attack '\(name)'. Choose from: \(AttackName.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            return attack
        }
    }

    func run() throws {
        let progress = Progress(quiet: quiet)
        let (network, loadedArchitecture, metadata) = try Checkpoint.load(from: model, architecture: architecture)
        let dataset = try data.load(split).prefix(count)
        let expectedShape = [dataset.count] + loadedArchitecture.inputShape
        guard dataset.images.shape == expectedShape else {
            throw ValidationError("The \(data.dataset.rawValue) images have shape \(Array(dataset.images.shape.dropFirst())) but '\(loadedArchitecture.rawValue)' expects \(loadedArchitecture.inputShape).")
        }
        let threatModel = threat.threatModel
        let epsilon = threatModel.epsilon
        let alpha = stepSize?.value ?? 2.5 * epsilon / Float(steps)
        let attacks: [any Attack] = try attackNames().map { name in
            switch name {
            case .fgsm: FGSM(threatModel: threatModel)
            case .pgd: PGD(threatModel: threatModel, steps: steps, stepSize: alpha, randomStart: randomStart, restarts: restarts)
            case .gradientAscent: GradientAscent(threatModel: threatModel, steps: steps, stepSize: alpha)
            }
        }
        var generator = SplitMix64(seed: seed)
        let report = evaluateRobustness(
            network, inputs: dataset.images, labels: dataset.labels, attacks: attacks, threatModel: threatModel,
            strategy: strategy, sanityChecks: sanityChecks, batchSize: batchSize, using: &generator
        ) { phase, done, total in
            if done == 0 { progress.begin(phase) } else { progress.update(done: done, total: total) }
        }

        output("model: \(model) (\(loadedArchitecture.rawValue)\(metadata["epoch"].map { ", epoch \($0)" } ?? ""))")
        output("data: \(data.dataset.rawValue) \(split.rawValue), first \(report.count) examples; threat model: \(threatModel.norm.rawValue) ε = \(epsilon)")
        var table = [["attack", "accuracy", "max ‖δ‖", "seconds", "images/s"]]
        table.append(["clean", percent(report.cleanAccuracy), "-", String(format: "%.2f", report.cleanSeconds),
                      String(format: "%.0f", Double(report.count) / report.cleanSeconds)])
        for result in report.attacks {
            table.append([label(result.name), percent(result.robustAccuracy), String(format: "%.5f", result.maximumPerturbationNorm),
                          String(format: "%.2f", result.seconds), String(format: "%.1f", Double(result.attackedCount) / result.seconds)])
        }
        if report.attacks.count > 1 {
            table.append([strategy == .ensemble ? "ensemble" : "worst case", percent(report.worstCaseRobustAccuracy), "", "", ""])
        }
        output(formatTable(table))
        if sanityChecks {
            output(report.flags.isEmpty ? "sanity checks: no sign of gradient masking" : "sanity checks raised \(report.flags.count) flag(s):")
            for flag in report.flags { output("  ⚑ \(flag.kind.rawValue): \(flag.message). \(flag.advice)") }
        }

        if let json {
            try writeJSON(EvaluationJSON(report: report, model: model, architecture: loadedArchitecture.rawValue,
                                         dataset: data.dataset.rawValue, split: split.rawValue, seed: seed,
                                         steps: steps, stepSize: alpha, restarts: restarts), to: json)
        }
    }

    private func label(_ name: String) -> String {
        switch name {
        case "pgd": restarts > 1 ? "pgd-\(steps)×\(restarts)" : "pgd-\(steps)"
        case "gradient-ascent": "gradient-ascent-\(steps)"
        default: name
        }
    }
}

/// The JSON written by `bulwark eval --json`.
struct EvaluationJSON: Encodable {
    struct AttackEntry: Encodable {
        var robustAccuracy: Float
        var maxPerturbationNorm: Float
        var seconds: Double
        var imagesPerSecond: Double
        var attackedCount: Int
        var adversarialAccuracy: Float

        enum CodingKeys: String, CodingKey {
            case robustAccuracy = "robust_accuracy", maxPerturbationNorm = "max_perturbation_norm"
            case seconds, imagesPerSecond = "images_per_second", attackedCount = "attacked_count"
            case adversarialAccuracy = "adversarial_accuracy"
        }
    }

    var model: String
    var architecture: String
    var dataset: String
    var split: String
    var count: Int
    var norm: String
    var epsilon: Float
    var seed: UInt64
    var steps: Int
    var stepSize: Float
    var restarts: Int
    var cleanAccuracy: Float
    var worstCaseRobustAccuracy: Float
    var attacks: [String: AttackEntry]
    var strategy: String
    var brokenBy: [String: Int]
    var flags: [SanityFlag]
    var bulwarkVersion: String

    enum CodingKeys: String, CodingKey {
        case model, architecture, dataset, split, count, norm, epsilon, seed, steps, restarts, attacks, strategy, flags
        case brokenBy = "broken_by"
        case stepSize = "step_size", cleanAccuracy = "clean_accuracy"
        case worstCaseRobustAccuracy = "worst_case_robust_accuracy", bulwarkVersion = "bulwark_version"
    }

    init(report: RobustnessReport, model: String, architecture: String, dataset: String, split: String,
         seed: UInt64, steps: Int, stepSize: Float, restarts: Int) {
        self.model = model
        self.architecture = architecture
        self.dataset = dataset
        self.split = split
        count = report.count
        norm = report.threatModel.norm.rawValue
        epsilon = report.threatModel.epsilon
        self.seed = seed
        self.steps = steps
        self.stepSize = stepSize
        self.restarts = restarts
        cleanAccuracy = report.cleanAccuracy
        worstCaseRobustAccuracy = report.worstCaseRobustAccuracy
        attacks = Dictionary(uniqueKeysWithValues: report.attacks.map {
            ($0.name, AttackEntry(robustAccuracy: $0.robustAccuracy, maxPerturbationNorm: $0.maximumPerturbationNorm,
                                  seconds: $0.seconds, imagesPerSecond: Double($0.attackedCount) / $0.seconds,
                                  attackedCount: $0.attackedCount, adversarialAccuracy: $0.adversarialAccuracy))
        })
        strategy = report.strategy.rawValue
        brokenBy = report.brokenBy.reduce(into: [:]) { counts, name in counts[name ?? "robust", default: 0] += 1 }
        flags = report.flags
        bulwarkVersion = toolVersion
    }
}
