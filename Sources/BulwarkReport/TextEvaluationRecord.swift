import Foundation

/// The JSON that `bulwark eval --task text --json` writes and the report reads: clean
/// accuracy, robust accuracy under embedding-space PGD per radius, and the word-substitution
/// attack's (PWWS) results. Fields that older files lack are optional.
public struct TextEvaluationRecord: Sendable, Codable {
    /// Embedding PGD at one radius.
    public struct EmbeddingResult: Sendable, Codable {
        /// The L2 radius ε per example, in embedding units.
        public var epsilon: Float
        /// PGD steps.
        public var steps: Int
        /// PGD step size.
        public var stepSize: Float
        /// Fraction of the sentences correct both clean and under the attack.
        public var robustAccuracy: Float
        /// Largest perturbation norm.
        public var maxPerturbationNorm: Float
        /// Wall-clock seconds.
        public var seconds: Double

        public init(epsilon: Float, steps: Int, stepSize: Float, robustAccuracy: Float, maxPerturbationNorm: Float, seconds: Double) {
            self.epsilon = epsilon
            self.steps = steps
            self.stepSize = stepSize
            self.robustAccuracy = robustAccuracy
            self.maxPerturbationNorm = maxPerturbationNorm
            self.seconds = seconds
        }
    }

    /// The word-substitution attack's results.
    public struct SubstitutionResult: Sendable, Codable {
        /// Fraction of all sentences still classified correctly after the attack.
        public var accuracyUnderAttack: Float
        /// Fraction of the correctly classified sentences the attack fooled.
        public var successRate: Float
        /// Mean fraction of the words changed in the fooled sentences.
        public var meanChangedFraction: Float
        /// Mean model evaluations per attacked sentence.
        public var meanQueries: Float
        /// The most of a sentence's words the attack could change.
        public var maximumChangeFraction: Float
        /// The most model evaluations per sentence.
        public var queryBudget: Int
        /// Wall-clock seconds.
        public var seconds: Double

        public init(accuracyUnderAttack: Float, successRate: Float, meanChangedFraction: Float, meanQueries: Float,
                    maximumChangeFraction: Float, queryBudget: Int, seconds: Double) {
            self.accuracyUnderAttack = accuracyUnderAttack
            self.successRate = successRate
            self.meanChangedFraction = meanChangedFraction
            self.meanQueries = meanQueries
            self.maximumChangeFraction = maximumChangeFraction
            self.queryBudget = queryBudget
            self.seconds = seconds
        }
    }

    /// `text`, which tells a text evaluation from an image one.
    public var task: String?
    /// The checkpoint evaluated.
    public var model: String?
    /// The dataset name.
    public var dataset: String?
    /// The name of each class, indexed by label, when recorded.
    public var classNames: [String]?
    /// Sentences evaluated.
    public var count: Int
    /// Clean accuracy.
    public var cleanAccuracy: Float
    /// `embedding-pgd`, `pwws` or `none`.
    public var attack: String
    /// Embedding PGD per radius, empty for other attacks.
    public var results: [EmbeddingResult]
    /// PWWS's results, when it ran.
    public var pwws: SubstitutionResult?

    public init(model: String?, dataset: String?, classNames: [String]?, count: Int, cleanAccuracy: Float, attack: String,
                results: [EmbeddingResult], pwws: SubstitutionResult?) {
        task = "text"
        self.model = model
        self.dataset = dataset
        self.classNames = classNames
        self.count = count
        self.cleanAccuracy = cleanAccuracy
        self.attack = attack
        self.results = results
        self.pwws = pwws
    }

    /// Reads the JSON `data`.
    ///
    /// - Throws: `DecodingError` when it is not a text evaluation.
    public init(json data: Data) throws {
        let decoder = bulwarkJSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        self = try decoder.decode(Self.self, from: data)
    }

    /// Whether the JSON object `object` looks like a text evaluation rather than an image one.
    static func matches(_ object: [String: Any]) -> Bool {
        object["results"] != nil && object["clean_accuracy"] != nil && object["attack"] is String
    }
}
