import BulwarkCore
import BulwarkNN

/// The threat model of embedding-space attacks on text: a perturbation `δ` of each example's
/// embedded sequence `[length, dimension]` with `‖δ ⊙ m‖₂ ≤ ε` per example, where `m` masks out
/// padding, and `δ` zero at padding positions. There is no box: embeddings are unbounded.
///
/// The perturbation lives on the output of ``TextClassifier/embed(_:)``, so each example has
/// its own `δ` and the shared embedding matrix is never changed.
public struct EmbeddingThreatModel: Sendable, Equatable {
    /// The L2 radius ε per example.
    public var epsilon: Float

    /// Creates the threat model of radius `epsilon`.
    public init(epsilon: Float) {
        precondition(epsilon >= 0 && epsilon.isFinite, "epsilon must be finite and non-negative, got \(epsilon)")
        self.epsilon = epsilon
    }

    /// The L2 norm of each example's slice of a `[count, …]` perturbation.
    public func norms(of perturbation: Tensor) -> [Float] {
        let count = perturbation.shape[0]
        let size = count == 0 ? 0 : perturbation.scalarCount / count
        let scalars = perturbation.array
        return (0..<count).map { example in
            Float((0..<size).reduce(0.0) { $0 + Double(scalars[example * size + $1]) * Double(scalars[example * size + $1]) }.squareRoot())
        }
    }

    /// The steepest-ascent direction of unit L2 norm per example, `g ⊙ m / ‖g ⊙ m‖₂` (zero for
    /// an example whose masked gradient is zero); `gradient` is `[count, length, dimension]`,
    /// `mask` `[count, length]`.
    public func steepestAscent(along gradient: Tensor, mask: Tensor) -> Tensor {
        let masked = masking(gradient, mask: mask)
        return scaling(masked, by: norms(of: masked).map { $0 > 0 ? 1 / $0 : 0 })
    }

    /// `δ ⊙ m` scaled down per example onto the ball of radius ε (unchanged when inside).
    public func project(_ perturbation: Tensor, mask: Tensor) -> Tensor {
        let masked = masking(perturbation, mask: mask)
        return scaling(masked, by: norms(of: masked).map { $0 > epsilon ? epsilon / $0 : 1 })
    }

    /// A random perturbation: a uniform direction over the real tokens with a norm drawn
    /// uniformly in `[0, ε]`.
    public func randomStart<G: RandomNumberGenerator>(shape: [Int], mask: Tensor, using generator: inout G) -> Tensor {
        let direction = steepestAscent(along: Tensor(randomNormal: shape, using: &generator), mask: mask)
        return scaling(direction, by: (0..<shape[0]).map { _ in epsilon * Float.random(in: 0...1, using: &generator) })
    }

    private func masking(_ values: Tensor, mask: Tensor) -> Tensor {
        precondition(values.rank == 3 && Array(values.shape.prefix(2)) == mask.shape,
                     "perturbation \(values.shape) and mask \(mask.shape) disagree")
        return (values.detached * mask.detached.reshaped(to: mask.shape + [1])).detached
    }

    private func scaling(_ values: Tensor, by factors: [Float]) -> Tensor {
        (values * Tensor(shape: [factors.count, 1, 1], scalars: factors)).detached
    }
}

/// Projected gradient descent on the embedded sequence (Madry et al. 2018, "Towards Deep
/// Learning Models Resistant to Adversarial Attacks", in the embedding space as used for text
/// by Zhu et al. 2020): from `δ₀` (zero or a random start), `K` = ``steps`` times
/// `δ ← Π_ε(δ + α · g/‖g‖₂)` with `g = ∇_δ L(f(embed(x) + δ), y)` per example, `α` =
/// ``stepSize``, `Π_ε` the per-example projection of ``EmbeddingThreatModel``. Every
/// iterate is zero at padding and has norm ≤ ε per example.
public struct EmbeddingPGD: Sendable {
    /// The radius ε.
    public var threatModel: EmbeddingThreatModel
    /// `K`, the number of ascent steps.
    public var steps: Int
    /// `α`, the L2 length of each step.
    public var stepSize: Float
    /// Whether `δ₀` is random (see ``EmbeddingThreatModel/randomStart(shape:mask:using:)``) or zero.
    public var randomStart: Bool

    /// Creates the attack.
    public init(threatModel: EmbeddingThreatModel, steps: Int, stepSize: Float, randomStart: Bool = false) {
        precondition(steps >= 1 && stepSize >= 0, "EmbeddingPGD needs at least one step and a non-negative step size")
        self.threatModel = threatModel
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
        var delta = randomStart
            ? threatModel.randomStart(shape: embedded.shape, mask: mask, using: &generator)
            : Tensor(zeros: embedded.shape)
        for _ in 0..<steps {
            let gradient = BulwarkCore.gradient(at: delta) { delta in
                softmaxCrossEntropy(logits: model.classify(embedded + delta, mask: mask), labels: labels, reduction: .sum)
            }
            delta = threatModel.project(delta + stepSize * threatModel.steepestAscent(along: gradient, mask: mask), mask: mask)
        }
        return delta
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
