import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// What sets ``TRADES`` and ``MART`` apart within ``TradeOffTraining``: the objective the inner
/// maximization ascends and the loss of the descent step.
public protocol TradeOffLoss: Sendable {
    /// The method's short name (`trades`, `mart`).
    static var name: String { get }
    /// The method's name in messages (`TRADES`, `MART`).
    static var displayName: String { get }
    /// The objective the inner PGD ascends.
    static var innerObjective: Objective { get }
    /// The loss of one descent step for logits already computed (`[N, K]` each), `beta`
    /// weighing its robustness term. Gradients flow into both logits.
    static func loss(naturalLogits: Tensor, adversarialLogits: Tensor, labels: [Int32], beta: Float) -> Tensor
}

/// What TRADES and MART share, as their reference codes do it: per batch, the inner
/// maximization (K = ``steps`` steps of PGD of size ``stepSize`` ascending
/// ``TradeOffLoss/innerObjective`` from the Gaussian start `x + σ · N(0, 1)`, σ = ``startNoise``,
/// on a copy of the model in inference mode, `model.eval()`), then one descent step, in the
/// model's own (training) mode, on `Loss`'s loss of the natural and the adversarial logits
/// (``loss(naturalLogits:adversarialLogits:labels:beta:)``), differentiated through both. The
/// reported accuracy is on the adversarial inputs. See ``TRADES`` and ``MART`` for each
/// paper's objective and symbols.
public struct TradeOffTraining<Loss: TradeOffLoss>: TrainingMethod {
    /// The ball of the inner maximization (ε).
    public var threatModel: ThreatModel
    /// K, the inner maximization's steps.
    public var steps: Int
    /// The inner maximization's step size (η₁ in TRADES, α in MART).
    public var stepSize: Float
    /// The weight of the robustness term (β = 1/λ in TRADES; λ in the MART paper, β in its code).
    public var beta: Float
    /// The standard deviation of the Gaussian start around `x` (0.001 in the reference codes).
    public var startNoise: Float
    /// The ε warm-up's fraction of ε and the step size (1 = as configured).
    public var budgetScale: Float? = 1
    public var name: String { Loss.name }

    /// Creates the method.
    ///
    /// - Precondition: `steps ≥ 0`, `stepSize > 0`, `beta ≥ 0` and `startNoise ≥ 0`, all finite.
    public init(threatModel: ThreatModel, steps: Int = 10, stepSize: Float, beta: Float = 6, startNoise: Float = 0.001) {
        let name = Loss.displayName
        precondition(steps >= 0, "\(name) needs a non-negative number of steps, got \(steps)")
        precondition(stepSize > 0 && stepSize.isFinite, "\(name) step size must be positive, got \(stepSize)")
        precondition(beta >= 0 && beta.isFinite, "\(name) β must be finite and non-negative, got \(beta)")
        precondition(startNoise >= 0 && startNoise.isFinite, "\(name) start noise must be finite and non-negative, got \(startNoise)")
        self.threatModel = threatModel
        self.steps = steps
        self.stepSize = stepSize
        self.beta = beta
        self.startNoise = startNoise
    }

    /// The method's objective for logits already computed:
    /// ``TradeOffLoss/loss(naturalLogits:adversarialLogits:labels:beta:)`` of `Loss`.
    public static func loss(naturalLogits: Tensor, adversarialLogits: Tensor, labels: [Int32], beta: Float) -> Tensor {
        Loss.loss(naturalLogits: naturalLogits, adversarialLogits: adversarialLogits, labels: labels, beta: beta)
    }

    /// The inner maximization: ``steps`` steps of ``stepSize`` in ``threatModel`` (both scaled by
    /// the ε warm-up's ``budgetScale``) from the Gaussian start, on an inference copy of `model`.
    package func innerMaximization<Model: Layer, G: RandomNumberGenerator>(
        for inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        let (threatModel, stepSize) = budget(threatModel, stepSize: stepSize)
        return PGD(threatModel: threatModel, steps: steps, stepSize: stepSize, start: .gaussian(standardDeviation: startNoise),
                   objective: Loss.innerObjective, mode: .inference)
            .perturb(inputs, labels: labels, against: model, using: &generator)
    }

    public func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let natural = batch.inputs.detached
        // The divergence from the clean prediction reads no labels.
        let innerLabels = Loss.innerObjective == .divergence ? [] : batch.labels
        let adversarial = innerMaximization(for: natural, labels: innerLabels, against: model, using: &generator)
        let beta = self.beta
        return descend(&model, optimizer: &optimizer, labels: batch.labels) { model in
            let naturalLogits = model(natural)
            let adversarialLogits = model(adversarial)
            return (Self.loss(naturalLogits: naturalLogits, adversarialLogits: adversarialLogits, labels: batch.labels, beta: beta),
                    adversarialLogits)
        }
    }
}
