import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// Training on a weighted mix of the clean and the adversarial loss, around any adversarial
/// example generator: Goodfellow, Shlens and Szegedy 2015, "Explaining and Harnessing
/// Adversarial Examples" (ICLR), eq. 6, `J̃(θ, x, y) = α J(θ, x, y) + (1 − α) J(θ, x', y)`
/// with FGSM's `x'` and α = 0.5; Kurakin, Goodfellow and Bengio 2017 mix clean and adversarial
/// examples in each batch the same way.
///
/// Per batch: `x' = attack.perturb(x)` (the attack runs its own copy of the model in inference
/// mode), then one descent step on
/// `(1 − r) · CE(f(x), y) + r · CE(f(x'), y)` with r = ``adversarialRatio`` (r = 1 − α in the
/// paper's notation). A term whose weight is zero is not computed, so r = 0 is
/// ``StandardTraining`` (the attack is not run) and r = 1 trains on adversarial inputs only.
/// The reported accuracy is on the adversarial inputs (on the clean ones when r = 0).
public struct MixedAdversarialTraining<Generator: Attack>: TrainingMethod {
    /// The generator of adversarial examples (its threat model is the ball).
    public var attack: Generator
    /// r ∈ [0, 1], the weight of the adversarial loss.
    public var adversarialRatio: Float
    public var name: String { "mix" }

    /// Creates the method; Goodfellow et al. used r = 0.5.
    ///
    /// - Precondition: `adversarialRatio` is in [0, 1].
    public init(attack: Generator, adversarialRatio: Float = 0.5) {
        precondition((0...1).contains(adversarialRatio), "the adversarial ratio must be in [0, 1], got \(adversarialRatio)")
        self.attack = attack
        self.adversarialRatio = adversarialRatio
    }

    public func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let ratio = adversarialRatio
        let clean = batch.inputs.detached
        let labels = batch.labels
        guard ratio > 0 else { return descend(&model, optimizer: &optimizer, inputs: clean, labels: labels) }
        let adversarial = attack.perturb(clean, labels: labels, against: model, using: &generator)
        guard ratio < 1 else { return descend(&model, optimizer: &optimizer, inputs: adversarial, labels: labels) }
        return descend(&model, optimizer: &optimizer, labels: labels) { model in
            let cleanLoss = softmaxCrossEntropy(logits: model(clean), labels: labels)
            let adversarialLogits = model(adversarial)
            let adversarialLoss = softmaxCrossEntropy(logits: adversarialLogits, labels: labels)
            return (cleanLoss * (1 - ratio) + adversarialLoss * ratio, adversarialLogits)
        }
    }
}
