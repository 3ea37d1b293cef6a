import BulwarkAttacks
import Foundation

/// The JSON that `bulwark eval --json` writes for one ε, read back. Fields that older files
/// may lack are optional.
public struct EvaluationRecord: Sendable, Decodable {
    /// One attack's results.
    public struct AttackEntry: Sendable, Decodable {
        /// Fraction correct both clean and under this attack (cumulative for an ensemble).
        public var robustAccuracy: Float
        /// Fraction correct under the attack whether or not correct clean.
        public var adversarialAccuracy: Float?
        /// Largest perturbation norm over the attacked examples.
        public var maxPerturbationNorm: Float
        /// Mean perturbation norm over the attacked examples.
        public var meanPerturbationNorm: Float?
        /// Examples attacked.
        public var attackedCount: Int?
        /// Wall-clock seconds.
        public var seconds: Double
        /// Attacked examples per second.
        public var imagesPerSecond: Double?

        enum CodingKeys: String, CodingKey {
            case robustAccuracy = "robust_accuracy", adversarialAccuracy = "adversarial_accuracy"
            case maxPerturbationNorm = "max_perturbation_norm", meanPerturbationNorm = "mean_perturbation_norm"
            case attackedCount = "attacked_count", seconds, imagesPerSecond = "images_per_second"
        }
    }

    /// The checkpoint evaluated.
    public var model: String?
    /// Its architecture.
    public var architecture: String?
    /// The dataset name.
    public var dataset: String?
    /// The split.
    public var split: String?
    /// Examples evaluated.
    public var count: Int
    /// `linf` or `l2`.
    public var norm: String
    /// The budget.
    public var epsilon: Float
    /// The attacks' seed.
    public var seed: UInt64?
    /// PGD steps.
    public var steps: Int?
    /// PGD step size.
    public var stepSize: Float?
    /// Restarts.
    public var restarts: Int?
    /// Clean accuracy.
    public var cleanAccuracy: Float
    /// Accuracy under every attack at once.
    public var worstCaseRobustAccuracy: Float?
    /// Results per attack name.
    public var attacks: [String: AttackEntry]
    /// The order the attacks ran in.
    public var attackOrder: [String]?
    /// `independent` or `ensemble`.
    public var strategy: String?
    /// Signs of an unreliable evaluation.
    public var flags: [SanityFlag]?
    /// Whether the sanity checks ran (`false` with `--no-sanity-checks`; absent in older files).
    public var sanityChecks: Bool?
    /// The version of Bulwark that wrote the file.
    public var bulwarkVersion: String?

    /// The attack names in run order.
    public var orderedAttackNames: [String] {
        let order = (attackOrder ?? []).filter { attacks[$0] != nil }
        return order + attacks.keys.filter { !order.contains($0) }.sorted()
    }

    enum CodingKeys: String, CodingKey {
        case model, architecture, dataset, split, count, norm, epsilon, seed, steps, restarts, attacks, strategy, flags
        case stepSize = "step_size", cleanAccuracy = "clean_accuracy"
        case worstCaseRobustAccuracy = "worst_case_robust_accuracy", attackOrder = "attack_order"
        case bulwarkVersion = "bulwark_version", sanityChecks = "sanity_checks"
    }
}

/// The JSON that `bulwark eval --epsilons … --json` writes, read back.
public struct CurveRecord: Sendable, Decodable {
    /// The checkpoint evaluated.
    public var model: String?
    /// Its architecture.
    public var architecture: String?
    /// The dataset name.
    public var dataset: String?
    /// The attacks' seed.
    public var seed: UInt64?
    /// `linf` or `l2`.
    public var norm: String
    /// Examples evaluated.
    public var count: Int
    /// The budgets, ascending.
    public var epsilons: [Float]
    /// Clean accuracy.
    public var cleanAccuracy: Float
    /// Per budget, robust accuracy under all attacks.
    public var robustAccuracy: [Float]
    /// Per attack name, per budget, robust accuracy.
    public var attacks: [String: [Float]]
    /// The version of Bulwark that wrote the file.
    public var bulwarkVersion: String?

    enum CodingKeys: String, CodingKey {
        case model, architecture, dataset, seed, norm, count, epsilons, attacks
        case cleanAccuracy = "clean_accuracy", robustAccuracy = "robust_accuracy", bulwarkVersion = "bulwark_version"
    }
}

/// A JSON decoder that accepts the "nan" and "inf" strings Bulwark writes for non-finite
/// numbers.
package func bulwarkJSONDecoder() -> JSONDecoder {
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return decoder
}
