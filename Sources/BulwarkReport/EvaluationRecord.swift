import BulwarkAttacks
import Foundation

/// The JSON that `bulwark eval --json` writes for one ε (RobustBench-like fields plus Bulwark's
/// details), written and read back by this one type. Fields that older files may lack are
/// optional; a record built from a report sets them all.
public struct EvaluationRecord: Sendable, Codable {
    /// One attack's results.
    public struct AttackEntry: Sendable, Codable {
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

        /// The entry for `result`.
        package init(_ result: AttackResult) {
            robustAccuracy = result.robustAccuracy
            adversarialAccuracy = result.adversarialAccuracy
            maxPerturbationNorm = result.maximumPerturbationNorm
            meanPerturbationNorm = result.meanPerturbationNorm
            attackedCount = result.attackedCount
            seconds = result.seconds
            imagesPerSecond = Double(result.attackedCount) / Swift.max(result.seconds, 1e-9)
        }
    }

    /// The checkpoint evaluated.
    public var model: String?
    /// Its architecture.
    public var architecture: String?
    /// The dataset name.
    public var dataset: String?
    /// The absolute path of the user's data file or folder, when the data was not a built-in
    /// dataset.
    public var dataPath: String?
    /// Whether the model was an ONNX graph whose final `Softmax` was left out, so that the
    /// attacks ran on the logits before it; `nil` for every other model.
    public var finalSoftmaxDropped: Bool?
    /// The split.
    public var split: String?
    /// Examples evaluated.
    public var count: Int
    /// `linf` or `l2`.
    public var norm: String
    /// The budget.
    public var epsilon: Float
    /// The norm as RobustBench writes it: `Linf` or `L2`.
    public var threatModel: String?
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
    /// RobustBench's robust accuracy: the worst case over the attacks.
    public var robustAccuracy: Float?
    /// Accuracy under every attack at once.
    public var worstCaseRobustAccuracy: Float?
    /// Results per attack name.
    public var attacks: [String: AttackEntry]
    /// The order the attacks ran in.
    public var attackOrder: [String]?
    /// `independent` or `ensemble`.
    public var strategy: String?
    /// Per attack name (`robust` for the examples none broke), the examples it broke first.
    public var brokenBy: [String: Int]?
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
        case stepSize = "step_size", cleanAccuracy = "clean_accuracy", threatModel = "threat_model"
        case robustAccuracy = "robust_accuracy", worstCaseRobustAccuracy = "worst_case_robust_accuracy"
        case attackOrder = "attack_order", brokenBy = "broken_by"
        case bulwarkVersion = "bulwark_version", sanityChecks = "sanity_checks"
        case dataPath = "data_path", finalSoftmaxDropped = "final_softmax_dropped"
    }

    /// The record of `report`, an evaluation of the checkpoint `model` of `architecture` on
    /// `split` of `dataset` with the attacks' `seed` and PGD settings, written by
    /// `bulwarkVersion`.
    package init(report: RobustnessReport, model: String, architecture: String, dataset: String, split: String,
                 seed: UInt64, steps: Int, stepSize: Float, restarts: Int, sanityChecks: Bool, bulwarkVersion: String) {
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
        attacks = Dictionary(uniqueKeysWithValues: report.attacks.map { ($0.name, AttackEntry($0)) })
        attackOrder = report.attacks.map(\.name)
        strategy = report.strategy.rawValue
        brokenBy = report.brokenBy.reduce(into: [:]) { counts, name in counts[name ?? "robust", default: 0] += 1 }
        flags = report.flags
        self.sanityChecks = sanityChecks
        self.bulwarkVersion = bulwarkVersion
    }
}

/// The JSON that `bulwark eval --epsilons … --json` writes, written and read back by this one
/// type.
public struct CurveRecord: Sendable, Codable {
    /// The checkpoint evaluated.
    public var model: String?
    /// Its architecture.
    public var architecture: String?
    /// The dataset name.
    public var dataset: String?
    /// The absolute path of the user's data, when it was not a built-in dataset.
    public var dataPath: String?
    /// Whether an ONNX graph's final `Softmax` was left out; `nil` for every other model.
    public var finalSoftmaxDropped: Bool?
    /// The split.
    public var split: String?
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
    /// Rows per ε, one character per example: 1 broken, 0 robust.
    public var success: [String]?
    /// The version of Bulwark that wrote the file.
    public var bulwarkVersion: String?

    enum CodingKeys: String, CodingKey {
        case model, architecture, dataset, split, seed, norm, count, epsilons, attacks, success
        case cleanAccuracy = "clean_accuracy", robustAccuracy = "robust_accuracy", bulwarkVersion = "bulwark_version"
        case dataPath = "data_path", finalSoftmaxDropped = "final_softmax_dropped"
    }

    /// The record of `curve`, an evaluation of the checkpoint `model` of `architecture` on
    /// `split` of `dataset` with the attacks' `seed`, written by `bulwarkVersion`.
    package init(curve: RobustnessCurve, model: String, architecture: String, dataset: String, split: String, seed: UInt64,
                 bulwarkVersion: String) {
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
        self.bulwarkVersion = bulwarkVersion
    }
}

/// A JSON decoder that accepts the "nan" and "inf" strings Bulwark writes for non-finite
/// numbers.
package func bulwarkJSONDecoder() -> JSONDecoder {
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return decoder
}
