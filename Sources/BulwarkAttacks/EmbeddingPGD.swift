import BulwarkCore
import BulwarkNN

/// Projected gradient descent on the embedded sequence (Madry et al. 2018, "Towards Deep
/// Learning Models Resistant to Adversarial Attacks", in the embedding space as used for text
/// by Zhu et al. 2020): from `δ₀` (zero or a random start), `K` = ``steps`` times
/// `δ ← Π_ε(δ + α · g/‖g‖₂)` with `g = ∇_δ L(f(embed(x) + δ), y)` per example, `α` =
/// ``stepSize``, `Π_ε` the per-example projection of the threat model's
/// ``ThreatModel/Region/embeddedSequence`` ball. Every iterate is zero at padding and has norm
/// ≤ ε per example. The loop is ``PGDEngine``'s.
public struct EmbeddingPGD: Sendable {
    /// The ball: radius ε per example on the embedded sequence (any other region given is
    /// moved there, keeping its radius).
    public var threatModel: ThreatModel {
        didSet { if threatModel.region != .embeddedSequence { threatModel = threatModel.inRegion(.embeddedSequence) } }
    }
    /// `K`, the number of ascent steps.
    public var steps: Int
    /// `α`, the L2 length of each step.
    public var stepSize: Float
    /// Whether `δ₀` is random (see ``ThreatModel/randomStart(shape:mask:using:)``) or zero.
    public var randomStart: Bool

    /// Creates the attack; the ball is `threatModel`'s radius on the embedded sequence.
    public init(threatModel: ThreatModel, steps: Int, stepSize: Float, randomStart: Bool = false) {
        precondition(steps >= 1 && stepSize >= 0, "EmbeddingPGD needs at least one step and a non-negative step size")
        self.threatModel = threatModel.inRegion(.embeddedSequence)
        self.steps = steps
        self.stepSize = stepSize
        self.randomStart = randomStart
    }

    /// The perturbation `[count, length, dimension]` of the embedded `tokens`, computed in the
    /// model's current mode (training methods run it in training mode, as the reference
    /// implementations do; ``perturb(_:labels:against:using:)`` uses inference mode).
    public func perturbation<Model: TextClassifier, G: RandomNumberGenerator>(
        for tokens: Tensor, labels: [Int32], against model: inout Model, using generator: inout G
    ) -> Tensor {
        let embedded = model.embed(tokens).detached
        let mask = paddingMask(tokens)
        return engine.ascend(from: Tensor(zeros: embedded.shape), support: .positions(mask: mask), using: &generator) { delta in
            softmaxCrossEntropy(logits: model.classify(embedded + delta, mask: mask), labels: labels, reduction: .sum)
        }
    }

    /// The ascent of ``perturbation(for:labels:against:using:)``, on ``threatModel`` in the
    /// region it is given (the embedded sequence, or the embedding matrix for the training
    /// methods that perturb it).
    package var engine: PGDEngine {
        PGDEngine(threatModel: threatModel, steps: steps, stepSize: stepSize, start: PGDStart(random: randomStart))
    }

    /// The perturbation of the embedded `tokens` against a copy of `model` in inference mode.
    public func perturb<Model: TextClassifier, G: RandomNumberGenerator>(
        _ tokens: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        var copy = model.with(mode: .inference)
        return perturbation(for: tokens, labels: labels, against: &copy, using: &generator)
    }
}

/// Clean and embedding-space robust accuracy of a text classifier.
public struct TextRobustnessReport: Sendable, Equatable, Codable {
    /// The fraction classified correctly without perturbation.
    public var cleanAccuracy: Float
    /// The fraction classified correctly both clean and under the attack.
    public var robustAccuracy: Float
    /// The largest per-example L2 norm of a perturbation.
    public var maximumPerturbationNorm: Float
    /// The number of examples.
    public var count: Int
}

/// Evaluates `model` in inference mode on batches of `[count, length]` tokens, clean and
/// under `attack` (robust means correct both clean and perturbed).
public func evaluateEmbeddingRobustness<Model: TextClassifier, G: RandomNumberGenerator>(
    _ model: Model, batches: [(tokens: Tensor, labels: [Int32])], attack: EmbeddingPGD, using generator: inout G
) -> TextRobustnessReport {
    var copy = model.with(mode: .inference)
    var (clean, robust, total, largest) = (0, 0, 0, Float(0))
    for (tokens, labels) in batches {
        let cleanPredictions = predictions(copy(tokens))
        let delta = attack.perturbation(for: tokens, labels: labels, against: &copy, using: &generator)
        let mask = paddingMask(tokens)
        let adversarialPredictions = predictions(copy.classify(copy.embed(tokens) + delta, mask: mask))
        for index in labels.indices {
            let correct = cleanPredictions[index] == labels[index]
            clean += correct ? 1 : 0
            robust += correct && adversarialPredictions[index] == labels[index] ? 1 : 0
        }
        total += labels.count
        largest = Swift.max(largest, attack.threatModel.norms(of: delta).max() ?? 0)
    }
    let denominator = Float(Swift.max(total, 1))
    return TextRobustnessReport(cleanAccuracy: Float(clean) / denominator, robustAccuracy: Float(robust) / denominator,
                                maximumPerturbationNorm: largest, count: total)
}
