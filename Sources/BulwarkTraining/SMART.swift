import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// SMART's smoothness-inducing adversarial regularizer on embeddings (Jiang, He, Chen, Liu,
/// Gao and Zhao 2020, "SMART: Robust and Efficient Fine-Tuning for Pre-trained Natural
/// Language Models through Principled Regularized Optimization", ACL, eq. 2–3).
///
/// The weights descend `L(f(x; θ), y) + λ_s R_s(θ)` with
/// `R_s(θ) = max_{‖x̃ − x‖ ≤ ε} ℓ_s(f(x̃; θ), f(x; θ))` and `ℓ_s(P, Q) = KL(P‖Q) + KL(Q‖P)`,
/// the symmetric KL between the predictions at the perturbed and the clean embedded sequence
/// (no labels). The maximization starts from Gaussian noise of standard deviation
/// ``initialNoise`` over real tokens and takes ``steps`` normalized ascent steps of length
/// ``stepSize`` (`η`), each projected onto the per-example L2 ball of radius ε over real tokens
/// (the paper leaves the norm open; its reference code also offers L∞). As in that code, the
/// final regularizer is `KL(f(x̃) ‖ sg f(x)) + KL(f(x) ‖ sg f(x̃))`, each side with the other
/// held constant. Symbols: `λ_s` = ``regularizationWeight``, `ε` = ``threatModel``'s `epsilon`.
///
/// SMART's second half, Bregman proximal point optimization (a momentum teacher model), is not
/// implemented: it needs optimizer state beyond a ``TextTrainingMethod``'s hyper-parameters.
public struct SMART: TextTrainingMethod {
    public var name: String { "smart" }
    /// The radius ε of the perturbation, per example.
    public var threatModel: EmbeddingThreatModel
    /// The number of ascent steps (the paper's default is 1).
    public var steps: Int
    /// `η`, the L2 length of each ascent step.
    public var stepSize: Float
    /// The standard deviation of the random start.
    public var initialNoise: Float
    /// `λ_s`, the weight of the smoothness regularizer.
    public var regularizationWeight: Float

    /// Creates the method.
    public init(threatModel: EmbeddingThreatModel, steps: Int = 1, stepSize: Float, initialNoise: Float = 1e-3, regularizationWeight: Float = 1) {
        precondition(steps >= 1 && stepSize >= 0 && initialNoise >= 0 && regularizationWeight >= 0,
                     "SMART needs at least one step and non-negative step size, noise and weight")
        self.threatModel = threatModel
        self.steps = steps
        self.stepSize = stepSize
        self.initialNoise = initialNoise
        self.regularizationWeight = regularizationWeight
    }

    /// `ℓ_s(P, Q)` per batch (summed over examples when `reduction` is `.sum`), each KL with its
    /// target held constant.
    public static func symmetricKL(_ logits: Tensor, _ otherLogits: Tensor, reduction: Reduction = .mean) -> Tensor {
        klDivergence(logits: logits, targetLogits: otherLogits, reduction: reduction)
            + klDivergence(logits: otherLogits, targetLogits: logits, reduction: reduction)
    }

    /// The perturbation `x̃ − x` `[count, length, dimension]` for `tokens`, computed without
    /// labels in the model's current mode.
    public func perturbation<Model: TextClassifier, G: RandomNumberGenerator>(
        for tokens: Tensor, against model: inout Model, using generator: inout G
    ) -> Tensor {
        let embedded = model.embed(tokens).detached
        let mask = paddingMask(tokens)
        let clean = model.classify(embedded, mask: mask).detached
        let noise = Tensor(randomNormal: embedded.shape, standardDeviation: initialNoise, using: &generator)
        var delta = threatModel.project(noise, mask: mask)
        for _ in 0..<steps {
            let gradient = BulwarkCore.gradient(at: delta) { delta in
                // The clean side is a constant here, so only KL(f(x̃) ‖ f(x)) has a gradient.
                klDivergence(logits: model.classify(embedded + delta, mask: mask), targetLogits: clean, reduction: .sum)
            }
            delta = threatModel.project(delta + stepSize * threatModel.steepestAscent(along: gradient, mask: mask), mask: mask)
        }
        return delta
    }

    public func step<Model: TextClassifier, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let (tokens, labels) = (batch.inputs, batch.labels)
        let perturbation = perturbation(for: tokens, against: &model, using: &generator)
        let mask = paddingMask(tokens)
        var logits = Tensor(0)
        let (loss, gradients) = valueWithGradient(at: &model) { model in
            let embedded = model.embed(tokens)
            logits = model.classify(embedded, mask: mask)
            let perturbed = model.classify(embedded + perturbation, mask: mask)
            return softmaxCrossEntropy(logits: logits, labels: labels) + regularizationWeight * Self.symmetricKL(perturbed, logits)
        }
        guard loss.scalar.isFinite, gradients.isFinite else {
            return StepMetrics(loss: .nan, accuracy: 0, count: labels.count)
        }
        optimizer.update(&model, along: gradients)
        return StepMetrics(loss: loss.scalar, accuracy: accuracy(logits: logits.detached, labels: labels), count: labels.count)
    }
}
