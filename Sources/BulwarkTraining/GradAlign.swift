import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// FGSM training with the GradAlign regularizer: Andriushchenko and Flammarion 2020,
/// "Understanding and Improving Fast Adversarial Training" (NeurIPS), as in the authors'
/// reference code (`train.py`, `utils.get_input_grad`).
///
/// FGSM training overfits catastrophically once the loss becomes strongly non-linear inside
/// the ε-ball, so that one gradient step no longer finds its worst case. GradAlign keeps the
/// loss close to linear there by aligning the input gradients at two points of the ball:
///
///     min_θ  E [ CE(f_θ(x + δ), y) + λ · (1 − cos(∇ₓ ℓ(x, y; θ), ∇ₓ ℓ(x + η, y; θ))) ],   η ~ U(B(0, ε))
///
/// where `δ` is FGSM's perturbation. Paper symbols and parameters: ε is ``threatModel``'s
/// radius, λ is ``lambda`` and FGSM's step α is ``stepSize``.
///
/// Per batch, as the reference does:
/// 1. FGSM on a copy of the model in its own mode: from `x₀ = x` (or a uniform point of the
///    ball with ``randomStart``), `g₁ = ∇ₓ Σᵢ CE(f(x₀)ᵢ, yᵢ)` and
///    `x' = Π_{B(x, ε) ∩ [0, 1]}(x₀ + α · sign(g₁))` (for L2 the normalized gradient).
/// 2. `g₂ = ∇ₓ Σᵢ CE(f(x + η)ᵢ, yᵢ)` with η uniform in the ball and `x + η` not clipped to the
///    box, computed in the model's own (training) mode and recorded on the descent step's
///    tape (``misalignment(of:referenceGradient:at:labels:)``).
/// 3. One descent step on `CE(f(x'), y) + λ · (1 − (1/|I|) Σ_{i ∈ I} cos(g₁ᵢ, g₂ᵢ))`, the mean
///    over the examples `I` whose two gradients are both non-zero. `g₁` is a constant, as
///    the reference detaches it, so the regularizer's parameter gradient flows through `g₂`:
///    it is the exact second derivative `∂g₂/∂θ` applied by double backward through the model
///    (``valueWithDifferentiableInputGradient(of:at:of:)``), not a finite-difference
///    approximation.
///
/// With the reference's zero start, `g₁` is the clean input gradient `∇ₓ ℓ(x)` of the formula.
/// The cosine ignores the gradients' scale, so the summed cross-entropy (per-example gradients
/// independent of the batch size) gives the reference's value. The reported loss includes the
/// regularizer; the reported accuracy is on `x'`. With λ = 0 the step is FGSM training's (no
/// η is drawn): ``FastAdversarialTraining``'s with the same start and step.
///
/// Cost per batch: FGSM's forward and backward pass, then the forward pass on `x'` and on
/// `x + η`, the recorded backward pass to the input and the descent step's backward pass
/// through all of them: about three times FGSM training (the paper reports about three times
/// on CIFAR-10).
///
/// The reference settings on CIFAR-10: ε = 8/255, zero start, α = ε (the reference's step of
/// 1.25ε from zero is clipped to ε), λ = 0.2; its scripts scale λ with ε as
/// `0.02 · 10^(ε · 255/8)` (0.036 at 2/255, 2.0 at 16/255). Larger budgets need a larger λ:
/// about 1 for MNIST at ε = 0.3.
public struct GradAlign: TrainingMethod {
    /// The ball of FGSM and of η (ε).
    public var threatModel: ThreatModel
    /// α, FGSM's step.
    public var stepSize: Float
    /// Whether FGSM starts at a uniform point of the ball (the reference's GradAlign runs
    /// start at zero).
    public var randomStart: Bool
    /// λ, the weight of the gradient-alignment term.
    public var lambda: Float
    /// The ε warm-up's fraction of ε and α (1 = as configured).
    public var budgetScale: Float? = 1
    public var name: String { "gradalign" }

    /// Creates the method; `stepSize` defaults to ε.
    ///
    /// - Precondition: `lambda ≥ 0` and a positive `stepSize`, both finite.
    public init(threatModel: ThreatModel, lambda: Float = 0.2, stepSize: Float? = nil, randomStart: Bool = false) {
        let stepSize = stepSize ?? threatModel.epsilon
        precondition(lambda >= 0 && lambda.isFinite, "GradAlign λ must be finite and non-negative, got \(lambda)")
        precondition(stepSize > 0 && stepSize.isFinite, "GradAlign's FGSM step must be positive, got \(stepSize)")
        self.threatModel = threatModel
        self.lambda = lambda
        self.stepSize = stepSize
        self.randomStart = randomStart
    }

    /// The regularizer without λ: `1 − (1/|I|) Σ_{i ∈ I} cos(g₁ᵢ, g₂ᵢ)` for the constant
    /// `referenceGradient` g₁ and `g₂ = ∇ₓ Σᵢ CE(f(x)ᵢ, yᵢ)` at `inputs`, per example (first
    /// axis), over the examples `I` where neither gradient is zero; 0 when there are none.
    ///
    /// Inside ``valueWithGradient(at:of:)`` for `model` the result is differentiable with
    /// respect to the parameters (through `g₂`, by double backward); `model` runs in its own
    /// mode, and state it updates (batch statistics) is kept.
    ///
    /// - Precondition: `referenceGradient` and `inputs` have one shape, whose first extent is
    ///   the number of labels; the model's operations have differentiable pullbacks.
    public static func misalignment<Model: Layer>(
        of model: inout Model, referenceGradient: Tensor, at inputs: Tensor, labels: [Int32]
    ) -> Tensor {
        precondition(referenceGradient.shape == inputs.shape && inputs.shape.first == labels.count,
                     "GradAlign needs a reference gradient shaped like the inputs [N, …] for N labels, got \(referenceGradient.shape), \(inputs.shape) and \(labels.count) labels")
        let (_, gradient) = valueWithDifferentiableInputGradient(of: &model, at: inputs) { model, x in
            softmaxCrossEntropy(logits: model(x), labels: labels, reduction: .sum)
        }
        let rows = labels.count
        let reference = referenceGradient.detached.reshaped(to: [rows, -1])
        let current = gradient.reshaped(to: [rows, -1])
        let referenceNorms = rowNorms(reference), currentNorms = rowNorms(current)
        // The reference drops examples with a zero gradient, whose cosine is undefined.
        let kept = (0..<rows).filter { referenceNorms[$0] > 0 && currentNorms[$0] > 0 }
        guard !kept.isEmpty else { return Tensor(0) }
        let unitReference = Tensor(shape: [kept.count, 1], scalars: kept.map { 1 / referenceNorms[$0] })
            * (kept.count == rows ? reference : reference.gathering(atIndices: kept, alongAxis: 0))
        let aligned = kept.count == rows ? current : current.gathering(atIndices: kept, alongAxis: 0)
        let cosine = (unitReference * aligned).sum(alongAxis: 1) / (aligned * aligned).sum(alongAxis: 1).sqrt()
        return 1 - cosine.mean()
    }

    public func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let (threatModel, stepSize) = budget(self.threatModel, stepSize: self.stepSize)
        let (natural, labels) = (batch.inputs.detached, batch.labels)
        // FGSM, keeping its gradient at the start for the regularizer.
        var attacked = model
        let start = randomStart ? threatModel.randomStart(around: natural, using: &generator) : natural
        let startGradient = gradient(at: start) { x in softmaxCrossEntropy(logits: attacked(x), labels: labels, reduction: .sum) }
        let adversarial = threatModel.ascended(start, along: startGradient, stepSize: stepSize, around: natural)
        let lambda = self.lambda
        guard lambda > 0 else { return descend(&model, optimizer: &optimizer, inputs: adversarial, labels: labels) }
        // η uniform in the ball; the reference does not clip x + η to the box.
        let unbounded = ThreatModel(norm: threatModel.norm, epsilon: threatModel.epsilon, bounds: -Float.infinity...Float.infinity)
        let noisy = unbounded.randomStart(around: natural, using: &generator)
        return descend(&model, optimizer: &optimizer, labels: labels) { model in
            let logits = model(adversarial)
            let loss = softmaxCrossEntropy(logits: logits, labels: labels)
            let regularizer = Self.misalignment(of: &model, referenceGradient: startGradient, at: noisy, labels: labels)
            return (loss + regularizer * lambda, logits)
        }
    }
}

/// The L2 norm of each row of a matrix, accumulated in Float64; untraced.
private func rowNorms(_ matrix: Tensor) -> [Float] {
    let (rows, width) = (matrix.shape[0], matrix.shape[1])
    let scalars = matrix.array
    return (0..<rows).map { row in
        var total = 0.0
        for value in scalars[(row * width)..<((row + 1) * width)] { total += Double(value) * Double(value) }
        return Float(total.squareRoot())
    }
}
