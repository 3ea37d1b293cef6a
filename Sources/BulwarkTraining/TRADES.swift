import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// TRADES, Zhang et al. 2019, "Theoretically Principled Trade-off between Robustness and
/// Accuracy" (ICML), as in the authors' reference code (`trades.py`).
///
/// The objective trades natural accuracy against the smoothness of the classifier around each
/// input:
///
///     min_θ  E [ CE(f_θ(x), y) + β · max_{x' ∈ B(x, ε)} KL(f_θ(x) ‖ f_θ(x')) ]
///
/// where `f_θ(·)` are the softmax probabilities. Paper symbols and parameters: ε is
/// ``TradeOffTraining/threatModel``'s radius, β (= 1/λ) is ``TradeOffTraining/beta``, the inner
/// maximization's step size η₁ is ``TradeOffTraining/stepSize`` and its number of steps K is
/// ``TradeOffTraining/steps``.
///
/// Per batch, as the reference does:
/// 1. Inner maximization on a copy of the model in inference mode (`model.eval()`): start at
///    `x' = x + 0.001 · N(0, 1)` (``TradeOffTraining/startNoise``), then K steps of
///    `x' ← Π_{B(x, ε) ∩ [0, 1]}(x' + η₁ · sign(∇ₓ' KL(f(x) ‖ f(x'))))` with `f(x)` held fixed
///    (for L2 the step follows the normalized gradient; the reference's L2 variant differs).
/// 2. One descent step, in the model's own (training) mode, on
///    `CE(f(x), y) + β · (1/N) Σ KL(f(x) ‖ f(x'))`, differentiated through both `f(x)` and
///    `f(x')` (``TRADESLoss/loss(naturalLogits:adversarialLogits:labels:beta:)``).
///
/// The reported accuracy is on the adversarial inputs `x'`. With β = 0 the step equals
/// ``StandardTraining``'s on a model without batch normalization or dropout (the adversarial
/// forward pass still runs and draws from the generator).
/// The reference settings: MNIST ε = 0.3, K = 40, η₁ = 0.01, β = 1 or 6; CIFAR-10 ε = 0.031,
/// K = 10, η₁ = 0.007, β = 6.
public typealias TRADES = TradeOffTraining<TRADESLoss>

/// TRADES's inner objective (the KL divergence from the clean prediction) and loss, for ``TRADES``.
public enum TRADESLoss: TradeOffLoss {
    public static let name = "trades"
    public static let displayName = "TRADES"
    public static let innerObjective = Objective.divergence

    /// The TRADES objective for logits already computed:
    /// `CE(f(x), y) + β · (1/N) Σᵢ KL(f(xᵢ) ‖ f(x'ᵢ))`, where `naturalLogits` are the logits of
    /// `x` and `adversarialLogits` those of `x'` (both `[N, K]`). Gradients flow into both.
    public static func loss(naturalLogits: Tensor, adversarialLogits: Tensor, labels: [Int32], beta: Float) -> Tensor {
        precondition(naturalLogits.shape == adversarialLogits.shape,
                     "TRADES needs natural and adversarial logits of one shape, got \(naturalLogits.shape) and \(adversarialLogits.shape)")
        let natural = softmaxCrossEntropy(logits: naturalLogits, labels: labels)
        let robust = klDivergence(logits: adversarialLogits, targetLogits: naturalLogits, detachingTarget: false)
        return natural + robust * beta
    }
}

extension TradeOffTraining where Loss == TRADESLoss {
    /// The inner maximization alone: adversarial inputs for `inputs` that (approximately)
    /// maximize `KL(f(x) ‖ f(x'))` within the ball; the labels are not used.
    public func adversarialExamples<Model: Layer, G: RandomNumberGenerator>(
        for inputs: Tensor, against model: Model, using generator: inout G
    ) -> Tensor {
        innerMaximization(for: inputs, labels: [], against: model, using: &generator)
    }
}
