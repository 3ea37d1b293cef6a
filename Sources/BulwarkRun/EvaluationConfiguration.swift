import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN
import Foundation

/// An evaluation of an image classifier's clean and robust accuracy: the attacks, the threat
/// model (or the budgets of a robustness curve), their hyper-parameters and how they run.
public struct EvaluationConfiguration: Sendable, Codable, Equatable {
    /// Attack names (``AttackRegistry``), each entry possibly comma separated; `standard` for
    /// AutoAttack's standard ensemble, `none` for clean accuracy only.
    public var attacks: [String] = ["pgd"]
    /// The norm of the budget.
    public var norm: Norm = .lInfinity
    /// The budget ε, in pixel units of [0, 1].
    public var epsilon: Float = 0.1
    /// Budgets of a robustness curve, replacing ``epsilon`` when set.
    public var epsilons: [Float]?
    /// The attacks' hyper-parameters.
    public var parameters = AttackParameters()
    /// The split evaluated on.
    public var split: DatasetSplit = .test
    /// Examples evaluated, from the first of the split.
    public var count: Int = 1000
    /// Examples per attack batch.
    public var batchSize: Int = 256
    /// The seed of the attacks' random choices.
    public var seed: UInt64 = 0
    /// `independent` or `ensemble`; by default ensemble when the standard ensemble is asked for.
    public var strategy: EvaluationStrategy?
    /// Whether to look for signs of gradient masking on the first batch.
    public var sanityChecks = true

    /// The defaults: PGD-20 at L∞ ε = 0.1 on the first 1,000 test images.
    public init() {}

    /// The threat model of a single-budget evaluation.
    public var threatModel: ThreatModel { ThreatModel(norm: norm, epsilon: epsilon) }

    /// Throws unless the configuration can run, naming the field to change.
    public func validate() throws(ConfigurationError) {
        try require(count >= 1, "`count` must be at least 1, got \(count)")
        try require(batchSize >= 1, "`batchSize` must be at least 1, got \(batchSize)")
        try requireBudget(epsilon)
        try parameters.validate()
        try require(!attacks.contains { $0.trimmingCharacters(in: .whitespaces).isEmpty },
                    "`attacks` is empty: name an attack (\(AttackRegistry.list)), or none for clean accuracy only")
        let names = try attackNames()
        try require(Set(names).count == names.count, "`attacks` lists an attack twice")
        for name in names {
            if let required = AttackRegistry.registration(named: name)?.requiredNorm, required != norm {
                try require(false, "\(name) is an \(required == .l2 ? "L2" : "L∞") attack: add `norm` \(required.rawValue)")
            }
        }
        if let epsilons {
            try require(!epsilons.isEmpty, "`epsilons` is empty: give budgets such as 0,0.05,0.1")
            for budget in epsilons {
                try require(budget >= 0 && budget.isFinite, "`epsilons`: '\(budget)' is not a non-negative number or fraction")
            }
        }
    }

    /// The attacks to run, in order: the standard ensemble expanded, `none` dropped.
    ///
    /// - Throws: ``ConfigurationError`` for a name that is not registered.
    public func attackNames() throws(ConfigurationError) -> [String] {
        var names = [String]()
        for name in attacks.flatMap({ $0.split(separator: ",") }).map(String.init) where name != "none" {
            if name == "standard" {
                names += AttackRegistry.standardEnsemble
            } else if AttackRegistry.registration(named: name) != nil {
                names.append(name)
            } else {
                throw ConfigurationError("Unknown attack '\(name)'. Choose from: \(AttackRegistry.list), standard, none.")
            }
        }
        return names
    }

    /// The strategy given, or ensemble when the standard ensemble is asked for, else
    /// independent.
    public var resolvedStrategy: EvaluationStrategy {
        strategy ?? (attacks.contains { $0.split(separator: ",").contains("standard") } ? .ensemble : .independent)
    }

    /// The name of an attack's row: PGD, gradient ascent, BIM and MI-FGSM with their step
    /// counts (`pgd-20`, `pgd-20×5` with restarts).
    public func label(ofAttack name: String) -> String {
        let steps = parameters.pgdSteps
        switch name {
        case "pgd": return parameters.restarts > 1 ? "pgd-\(steps)×\(parameters.restarts)" : "pgd-\(steps)"
        case "gradient-ascent": return "gradient-ascent-\(steps)"
        case "bim", "mi-fgsm":
            guard let attack = try? AttackRegistry.makeAttack(name, threatModel: threatModel, parameters: parameters) else { return name }
            let count = (attack as? BIM)?.steps ?? (attack as? MIFGSM)?.steps ?? 0
            return "\(name)-\(count)"
        default: return name
        }
    }

    /// What an evaluation found: robust accuracy at one budget, or a robustness curve.
    public enum Outcome: Sendable {
        /// Every attack at one budget, with the sanity checks.
        case report(RobustnessReport)
        /// Robust accuracy per budget.
        case curve(RobustnessCurve)
    }

    /// Evaluates `network` on `dataset` (the examples to use, already limited to ``count``):
    /// a robustness curve when ``epsilons`` is set, else every attack at ``threatModel`` with
    /// the sanity checks when asked for.
    ///
    /// The attacks' random choices are seeded per chunk of examples
    /// (``evaluateRobustness(_:inputs:labels:attacks:threatModel:strategy:sanityChecks:batchSize:seed:chunkSize:communicator:progress:)``),
    /// so the ranks of `communicator` share the examples and each receives the same outcome as
    /// one process would; only the timings differ. A robustness curve is not shared: every rank
    /// evaluates all of it. Only rank 0 (``Communicator/isWriter``) should write the outcome.
    ///
    /// - Parameters:
    ///   - communicator: The processes sharing the evaluation, each calling this with the same
    ///     configuration and dataset.
    ///   - progress: Receives each phase's name, the examples done and their total (this rank's).
    ///   - iterationProgress: Returns, for an attack's progress unit (`iteration` or `query`),
    ///     what receives its iterations within a batch.
    /// - Throws: ``ConfigurationError`` when the configuration is not valid;
    ///   ``RankDisagreement`` (on every rank, before any work is shared) when the ranks differ in
    ///   configuration or data; ``CommunicatorError`` when the ranks cannot exchange their outcomes.
    public func evaluate<Model: Layer>(
        _ network: Model, on dataset: ImageDataset,
        communicator: any Communicator = SingleProcessCommunicator(),
        progress: (_ phase: String, _ done: Int, _ total: Int) -> Void = { _, _, _ in },
        iterationProgress: (_ unit: String) -> IterationProgress? = { _ in nil }
    ) throws -> Outcome {
        try validate()
        try RankAgreement.checkConfiguration(self, data: [("the evaluated images", RankAgreement.fingerprint(of: dataset))], over: communicator)
        let names = try attackNames()
        func attacks(_ names: [String], at threatModel: ThreatModel, reporting: Bool) -> [any Attack] {
            names.compactMap { name in
                let unit = AttackRegistry.registration(named: name)?.progressUnit ?? "iteration"
                return try? AttackRegistry.makeAttack(name, threatModel: threatModel, parameters: parameters,
                                                      iterationProgress: reporting ? iterationProgress(unit) : nil)
            }
        }
        let isMinimumNorm = { (name: String) in AttackRegistry.registration(named: name)?.isMinimumNorm ?? false }
        if let epsilons {
            var generator = SplitMix64(seed: seed)
            let minimumNorm = attacks(names.filter(isMinimumNorm), at: threatModel, reporting: false).compactMap { $0 as? any MinimumNormAttack }
            return .curve(evaluateRobustnessCurve(
                network, inputs: dataset.images, labels: dataset.labels, epsilons: epsilons, norm: norm,
                attacks: { attacks(names.filter { !isMinimumNorm($0) }, at: $0, reporting: true) },
                minimumNormAttacks: minimumNorm, batchSize: batchSize, using: &generator, progress: progress))
        }
        return .report(try evaluateRobustness(
            network, inputs: dataset.images, labels: dataset.labels, attacks: attacks(names, at: threatModel, reporting: true),
            threatModel: threatModel, strategy: resolvedStrategy, sanityChecks: sanityChecks, batchSize: batchSize,
            seed: seed, communicator: communicator, progress: progress))
    }
}

/// Throws unless `epsilon` is a budget a threat model can take: finite and not negative.
public func requireBudget(_ epsilon: Float) throws(ConfigurationError) {
    try require(epsilon >= 0 && epsilon.isFinite, "`epsilon` must be a non-negative budget such as 0.1 or 8/255, got \(epsilon)")
}
