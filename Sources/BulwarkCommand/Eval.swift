import ArgumentParser
import Bulwark
import Foundation

/// `bulwark eval`: clean and robust accuracy of a checkpoint.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure clean accuracy and robust accuracy under attacks.",
        discussion: """
            An example counts as robust only if it is classified correctly both clean and under \
            the attack. The worst case counts an example robust only if it survives every attack \
            given. --attack standard runs the AutoAttack-style ensemble (APGD-CE, APGD-T, FAB-T, \
            Square, AutoAttack's order) on the examples still robust. fab and fab-t are the fast \
            adaptive boundary attack (Croce and Hein 2020), untargeted and over the 9 most likely \
            wrong classes; like deepfool and cw-l2 they are minimum-norm attacks, run once per \
            robustness curve. --epsilons evaluates a robustness curve: each attack's column is its \
            own robust accuracy, the worst-case column counts an example broken by any attack.
            """)

    /// The attacks of `--attack standard`, AutoAttack's standard version in its order (the
    /// library's `standardAttacks`).
    static let standardEnsemble: [AttackName] = [.apgdCE, .apgdT, .fabT, .square]

    @Option(help: ArgumentHelp(
        "image, or text for text classifiers trained by bulwark train --task text.",
        discussion: "The text task has its own options: bulwark eval --task text --help."))
    var task: Train.Task = .image

    @OptionGroup var checkpoint: ModelOptions
    @OptionGroup var data: DatasetOptions
    @OptionGroup var threat: ThreatOptions

    @Option(help: "The split to evaluate on.")
    var split: DatasetSplit = .test

    @Option(parsing: .upToNextOption, help: ArgumentHelp(
        "Attacks to run, comma or space separated: \(AttackName.list); standard for the ensemble; none for clean accuracy only."))
    var attack: [String] = ["pgd"]

    @Option(help: "Budgets for a robustness curve, comma separated (fractions accepted): 0,0.05,0.1,0.2. Overrides --epsilon.")
    var epsilons: String?

    @OptionGroup var parameters: AttackParameters

    @Option(help: "Evaluate the first N examples of the split.")
    var count: Int = 1000

    @Option(help: "independent (every attack on every example) or ensemble (each attack only on examples still robust); default ensemble for --attack standard.")
    var strategy: EvaluationStrategy?

    @Flag(inversion: .prefixedNo, help: "Look for signs of gradient masking (zero or NaN gradients, FGSM beating PGD, Square beating gradients, loss not rising, no break at a huge ε) on the first batch.")
    var sanityChecks = true

    @Option(help: "Examples per attack batch.")
    var batchSize: Int = 256

    @Option(help: "The seed of the attacks' random choices.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp(
        "AutoAttack's version argument: standard runs the standard ensemble, as --attack standard (the other versions are not implemented).",
        valueName: "standard"))
    var version: String?

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    @Flag(help: "Print only the results.")
    var quiet = false

    func validate() throws {
        try require(task == .image, "--task text must follow eval directly: bulwark eval --task text …")
        try require(count >= 1, "--count must be at least 1, got \(count)")
        try require(batchSize >= 1, "--batch-size must be at least 1, got \(batchSize)")
        if let version {
            try require(version == "standard", "--version \(version): Bulwark runs AutoAttack's standard version only (--version standard, the same as --attack standard); bulwark --version prints Bulwark's version")
            try require(attack == ["pgd"] || attack == ["standard"], "--version standard runs the standard ensemble, so it cannot be given with --attack \(attack.joined(separator: " ")): drop one of them")
        }
        try requireAttackNames(attack)
        let names = try attackNames()
        try require(Set(names).count == names.count, "--attack lists an attack twice")
        if names.contains(.carliniWagner) { try require(threat.norm == .l2, "cw-l2 is an L2 attack: add --norm l2") }
        _ = try budgets()
    }

    private func attackNames() throws -> [AttackName] {
        try requestedAttacks.flatMap { $0.split(separator: ",") }.filter { $0 != "none" }.flatMap { name -> [AttackName] in
            if name == "standard" { return Self.standardEnsemble }
            guard let attack = AttackName(rawValue: String(name)) else {
                throw ValidationError("Unknown attack '\(name)'. Choose from: \(AttackName.list), standard, none.")
            }
            return [attack]
        }
    }

    /// `--attack`, or the standard ensemble for `--version standard`.
    private var requestedAttacks: [String] { version == "standard" ? ["standard"] : attack }

    private func budgets() throws -> [Float]? {
        guard let epsilons else { return nil }
        return try epsilons.split(separator: ",").map { text in
            guard let value = Fraction(argument: String(text))?.value, value >= 0 else {
                throw ValidationError("--epsilons: '\(text)' is not a non-negative number or fraction")
            }
            return value
        }
    }

    func run() throws {
        try checkOutputs(files: [("--json", json)], inputs: [("--model", checkpoint.model)])
        parameters.warnAboutBudgets()
        let progress = Progress(quiet: quiet)
        let (network, loadedArchitecture, metadata) = try checkpoint.load()
        let (data, dataset) = try self.data.evaluationData(split, count: count, for: network, architecture: loadedArchitecture, metadata: metadata)
        let names = try attackNames()
        var generator = SplitMix64(seed: seed)
        let observer: (String, Int, Int) -> Void = { phase, done, total in
            let unit = phase == "sanity checks" ? "steps" : "images"
            if done == 0 { progress.begin(phase, total: total, unit: unit) } else { progress.update(done: done, total: total, unit: unit) }
        }
        output("model: \(checkpoint.model) (\(loadedArchitecture.rawValue)\(metadata["epoch"].map { ", epoch \($0)" } ?? ""))")

        if let budgets = try budgets() {
            let minimumNorm = names.filter(\.isMinimumNorm).compactMap { parameters.makeAttack($0, threatModel: threat.threatModel) as? any MinimumNormAttack }
            let curve = evaluateRobustnessCurve(
                network, inputs: dataset.images, labels: dataset.labels, epsilons: budgets, norm: threat.norm,
                attacks: { threatModel in
                    names.filter { !$0.isMinimumNorm }.map {
                        parameters.makeAttack($0, threatModel: threatModel, iterationProgress: progress.iterations($0 == .square ? "query" : "iteration"))
                    }
                },
                minimumNormAttacks: minimumNorm, batchSize: batchSize, using: &generator, progress: observer)
            output("data: \(data.dataset.rawValue) \(split.rawValue), first \(curve.count) examples; clean accuracy \(percent(curve.cleanAccuracy)); \(threat.norm.rawValue) budgets")
            let attackNames = curve.attackRobustAccuracy.keys.sorted()
            // Each attack's column is its own; the curve counts an example broken by any of them.
            var table = [["ε", attackNames.count > 1 ? "worst case" : "robust"] + attackNames]
            for (position, epsilon) in curve.epsilons.enumerated() {
                table.append([String(format: "%.4g", epsilon), percent(curve.robustAccuracy[position])]
                             + attackNames.map { percent(curve.attackRobustAccuracy[$0]?[position] ?? .nan) })
            }
            output(formatTable(table))
            if let json {
                try writeJSON(CurveJSON(curve: curve, model: checkpoint.model, architecture: loadedArchitecture.rawValue,
                                        dataset: data.dataset.rawValue, split: split.rawValue, seed: seed), to: json)
            }
            return
        }

        let threatModel = threat.threatModel
        let attacks = names.map {
            parameters.makeAttack($0, threatModel: threatModel, iterationProgress: progress.iterations($0 == .square ? "query" : "iteration"))
        }
        let resolvedStrategy = strategy ?? (requestedAttacks.contains { $0.split(separator: ",").contains("standard") } ? .ensemble : .independent)
        let report = evaluateRobustness(
            network, inputs: dataset.images, labels: dataset.labels, attacks: attacks, threatModel: threatModel,
            strategy: resolvedStrategy, sanityChecks: sanityChecks, batchSize: batchSize, using: &generator,
            progress: observer)

        output("data: \(data.dataset.rawValue) \(split.rawValue), first \(report.count) examples; threat model: \(threatModel.norm.rawValue) ε = \(threatModel.epsilon); \(resolvedStrategy.rawValue) attacks")
        var table = [["attack", "accuracy", "max ‖δ‖", "attacked", "seconds", "images/s"]]
        table.append(["clean", percent(report.cleanAccuracy), "-", String(report.count), String(format: "%.2f", report.cleanSeconds),
                      String(format: "%.0f", Double(report.count) / report.cleanSeconds)])
        for result in report.attacks {
            table.append([label(result.name), percent(result.robustAccuracy), String(format: "%.5f", result.maximumPerturbationNorm),
                          String(result.attackedCount), String(format: "%.2f", result.seconds),
                          String(format: "%.1f", Double(result.attackedCount) / Swift.max(result.seconds, 1e-9))])
        }
        if report.attacks.count > 1 {
            table.append([resolvedStrategy == .ensemble ? "ensemble" : "worst case", percent(report.worstCaseRobustAccuracy), "", "", "", ""])
        }
        output(formatTable(table))
        if sanityChecks {
            output(report.flags.isEmpty ? "sanity checks: no sign of gradient masking" : "sanity checks raised \(report.flags.count) flag(s):")
            for flag in report.flags { output("  ⚑ \(flag.kind.rawValue): \(flag.message). \(flag.advice)") }
        }
        if let json {
            try writeJSON(EvaluationJSON(report: report, model: checkpoint.model, architecture: loadedArchitecture.rawValue,
                                         dataset: data.dataset.rawValue, split: split.rawValue, seed: seed,
                                         steps: parameters.pgdSteps, stepSize: parameters.stepSize(for: threatModel),
                                         restarts: parameters.restarts, sanityChecks: sanityChecks), to: json)
        }
    }

    private func label(_ name: String) -> String {
        let steps = parameters.pgdSteps
        switch name {
        case "pgd": return parameters.restarts > 1 ? "pgd-\(steps)×\(parameters.restarts)" : "pgd-\(steps)"
        case "gradient-ascent": return "gradient-ascent-\(steps)"
        case "bim", "mi-fgsm":
            guard let attackName = AttackName(rawValue: name) else { return name }
            let attack = parameters.makeAttack(attackName, threatModel: threat.threatModel)
            let count = (attack as? BIM)?.steps ?? (attack as? MIFGSM)?.steps ?? 0
            return "\(name)-\(count)"
        default: return name
        }
    }
}

/// The JSON written by `bulwark eval --json`: RobustBench-like fields plus Bulwark's details.
struct EvaluationJSON: Encodable {
    struct AttackEntry: Encodable {
        var robustAccuracy: Float
        var adversarialAccuracy: Float
        var maxPerturbationNorm: Float
        var meanPerturbationNorm: Float
        var attackedCount: Int
        var seconds: Double
        var imagesPerSecond: Double

        enum CodingKeys: String, CodingKey {
            case robustAccuracy = "robust_accuracy", adversarialAccuracy = "adversarial_accuracy"
            case maxPerturbationNorm = "max_perturbation_norm", meanPerturbationNorm = "mean_perturbation_norm"
            case attackedCount = "attacked_count"
            case seconds, imagesPerSecond = "images_per_second"
        }
    }

    var model: String
    var architecture: String
    var dataset: String
    var split: String
    var count: Int
    var norm: String
    var epsilon: Float
    var threatModel: String
    var seed: UInt64
    var steps: Int
    var stepSize: Float
    var restarts: Int
    var cleanAccuracy: Float
    var robustAccuracy: Float
    var worstCaseRobustAccuracy: Float
    var attacks: [String: AttackEntry]
    var attackOrder: [String]
    var strategy: String
    var brokenBy: [String: Int]
    var flags: [SanityFlag]
    var sanityChecks: Bool
    var bulwarkVersion: String

    enum CodingKeys: String, CodingKey {
        case model, architecture, dataset, split, count, norm, epsilon, seed, steps, restarts, attacks, strategy, flags
        case sanityChecks = "sanity_checks"
        case threatModel = "threat_model", stepSize = "step_size", cleanAccuracy = "clean_accuracy"
        case robustAccuracy = "robust_accuracy", worstCaseRobustAccuracy = "worst_case_robust_accuracy"
        case attackOrder = "attack_order", brokenBy = "broken_by", bulwarkVersion = "bulwark_version"
    }

    init(report: RobustnessReport, model: String, architecture: String, dataset: String, split: String,
         seed: UInt64, steps: Int, stepSize: Float, restarts: Int, sanityChecks: Bool) {
        self.model = model
        self.architecture = architecture
        self.dataset = dataset
        self.split = split
        count = report.count
        norm = report.threatModel.norm.rawValue
        epsilon = report.threatModel.epsilon
        threatModel = report.threatModel.norm == .lInfinity ? "Linf" : "L2"
        self.seed = seed
        self.steps = steps
        self.stepSize = stepSize
        self.restarts = restarts
        cleanAccuracy = report.cleanAccuracy
        robustAccuracy = report.worstCaseRobustAccuracy
        worstCaseRobustAccuracy = report.worstCaseRobustAccuracy
        attacks = Dictionary(uniqueKeysWithValues: report.attacks.map {
            ($0.name, AttackEntry(robustAccuracy: $0.robustAccuracy, adversarialAccuracy: $0.adversarialAccuracy,
                                  maxPerturbationNorm: $0.maximumPerturbationNorm, meanPerturbationNorm: $0.meanPerturbationNorm,
                                  attackedCount: $0.attackedCount,
                                  seconds: $0.seconds, imagesPerSecond: Double($0.attackedCount) / Swift.max($0.seconds, 1e-9)))
        })
        attackOrder = report.attacks.map(\.name)
        strategy = report.strategy.rawValue
        brokenBy = report.brokenBy.reduce(into: [:]) { counts, name in counts[name ?? "robust", default: 0] += 1 }
        flags = report.flags
        self.sanityChecks = sanityChecks
        bulwarkVersion = BulwarkRun.bulwarkVersion
    }
}

/// The JSON written by `bulwark eval --epsilons … --json`.
struct CurveJSON: Encodable {
    var model: String
    var architecture: String
    var dataset: String
    var split: String
    var seed: UInt64
    var norm: String
    var count: Int
    var epsilons: [Float]
    var cleanAccuracy: Float
    var robustAccuracy: [Float]
    var attacks: [String: [Float]]
    /// Rows per ε, one character per example: 1 broken, 0 robust.
    var success: [String]
    var bulwarkVersion: String

    enum CodingKeys: String, CodingKey {
        case model, architecture, dataset, split, seed, norm, count, epsilons, attacks, success
        case cleanAccuracy = "clean_accuracy", robustAccuracy = "robust_accuracy", bulwarkVersion = "bulwark_version"
    }

    init(curve: RobustnessCurve, model: String, architecture: String, dataset: String, split: String, seed: UInt64) {
        self.model = model
        self.architecture = architecture
        self.dataset = dataset
        self.split = split
        self.seed = seed
        norm = curve.norm.rawValue
        count = curve.count
        epsilons = curve.epsilons
        cleanAccuracy = curve.cleanAccuracy
        robustAccuracy = curve.robustAccuracy
        attacks = curve.attackRobustAccuracy
        success = curve.success.map { row in String(row.map { $0 ? "1" : "0" }) }
        bulwarkVersion = BulwarkRun.bulwarkVersion
    }
}
