import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// Fast adversarial training, "Fast is better than free" (Wong, Rice and Kolter 2020).
///
/// Per batch: δ ~ U(−ε, ε)ⁿ (clipped so x + δ stays in the box, unless ``clipsStart`` is
/// off), one FGSM step `δ ← Π_ε(δ + α · sign(∇_δ L(f(x + δ), y)))` with α = ``stepSize`` (the
/// paper's 1.25 ε), then one descent step on `L(f(clip(x + δ)), y)`. Paired with a cyclic learning rate
/// (``LearningRateSchedule/cyclic(peak:peakFraction:)``) as in the paper.
/// A step much larger than 1.25 ε, or no random start, risks catastrophic overfitting.
public struct FastAdversarialTraining: TrainingMethod {
    /// The ball adversarial examples are drawn from (ε).
    public var threatModel: ThreatModel
    /// α, the FGSM step from the random start.
    public var stepSize: Float
    /// Whether δ starts uniformly in the ball (the paper's key change to FGSM training).
    public var randomStart: Bool
    /// Whether the random start is clipped to the input box before the FGSM gradient is taken,
    /// as the authors' CIFAR-10 code does. Their MNIST code takes it at the unclipped x + δ
    /// (pixel values below 0 and above 1) and clips only the final example; on MNIST, where
    /// most pixels are 0, clipping removes half of the start's noise there. L∞ only.
    public var clipsStart: Bool = true
    /// The ε warm-up's fraction of ε and α (1 = as configured).
    public var budgetScale: Float? = 1
    public var name: String { "fast" }

    /// Creates the method; `stepSize` defaults to 1.25 ε.
    public init(threatModel: ThreatModel, stepSize: Float? = nil, randomStart: Bool = true, clipsStart: Bool = true) {
        precondition(clipsStart || threatModel.norm == .lInfinity, "an unclipped Fast-AT start is defined for L∞ only")
        self.threatModel = threatModel
        self.stepSize = stepSize ?? 1.25 * threatModel.epsilon
        self.randomStart = randomStart
        self.clipsStart = clipsStart
    }

    public func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let start: PGDStart = !randomStart ? .zero : clipsStart ? .uniform : .unclippedUniform
        let (threatModel, stepSize) = budget(threatModel, stepSize: stepSize)
        let adversarial = FGSM(threatModel: threatModel, stepSize: stepSize, start: start, mode: .current)
            .perturb(batch.inputs, labels: batch.labels, against: model, using: &generator)
        return descend(&model, optimizer: &optimizer, inputs: adversarial, labels: batch.labels)
    }
}
