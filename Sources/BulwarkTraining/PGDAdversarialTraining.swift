import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// PGD adversarial training (Madry et al. 2018): minimize over θ the loss at the point PGD
/// finds in the ε-ball, `min_θ E max_{‖δ‖ ≤ ε} L(f_θ(x + δ), y)`, the inner maximum
/// approximated by K steps of size α from a random start.
public struct PGDAdversarialTraining: TrainingMethod {
    /// The ball of the inner maximization (ε).
    public var threatModel: ThreatModel
    /// K, the PGD steps per batch.
    public var steps: Int
    /// α.
    public var stepSize: Float
    /// Whether PGD starts at a random point of the ball.
    public var randomStart: Bool
    /// The ε warm-up's fraction of ε and α (1 = as configured).
    public var budgetScale: Float? = 1
    public var name: String { "pgd" }

    /// Creates the method. Madry et al. used ε = 0.3, K = 40, α = 0.01 on MNIST.
    public init(threatModel: ThreatModel, steps: Int, stepSize: Float, randomStart: Bool = true) {
        self.threatModel = threatModel
        self.steps = steps
        self.stepSize = stepSize
        self.randomStart = randomStart
    }

    /// The inner maximization alone: K steps of PGD on the cross-entropy, on a copy of `model`
    /// in its own mode.
    public func adversarialExamples<Model: Layer, G: RandomNumberGenerator>(
        for inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        let (threatModel, stepSize) = budget(threatModel, stepSize: stepSize)
        return PGD(threatModel: threatModel, steps: steps, stepSize: stepSize, start: PGDStart(random: randomStart), mode: .current)
            .perturb(inputs, labels: labels, against: model, using: &generator)
    }

    public func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let adversarial = adversarialExamples(for: batch.inputs, labels: batch.labels, against: model, using: &generator)
        return descend(&model, optimizer: &optimizer, inputs: adversarial, labels: batch.labels)
    }
}
