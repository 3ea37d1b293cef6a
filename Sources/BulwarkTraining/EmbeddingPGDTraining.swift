import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// Adversarial training with K-step projected gradient ascent on word embeddings: Madry et
/// al. (2018)'s min-max objective `min_θ E max_{‖δ‖₂ ≤ ε} L(f_θ(X + δ), y)` with `X` the embedded
/// sequence, as used for text by Zhu et al. (2020, "FreeLB: Enhanced Adversarial Training for
/// Natural Language Understanding", ICLR; their "PGD" baseline, Algorithm 1 without FreeLB's
/// gradient accumulation).
///
/// The inner maximization is ``EmbeddingPGD`` (`K` = `attack.steps`, step `α` =
/// `attack.stepSize`, radius `ε`, per-example L2 over real tokens only, padding never
/// perturbed), run in the model's current mode; the weights then descend the loss at `X + δ_K`
/// (plus the clean loss when ``includesCleanLoss``).
public struct EmbeddingPGDTraining: TextTrainingMethod {
    public var name: String { "pgd" }
    /// The inner attack.
    public var attack: EmbeddingPGD
    /// Whether the clean loss is added to the adversarial loss.
    public var includesCleanLoss: Bool

    /// Creates the method.
    public init(attack: EmbeddingPGD, includesCleanLoss: Bool = false) {
        self.attack = attack
        self.includesCleanLoss = includesCleanLoss
    }

    public func step<Model: TextClassifier, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let perturbation = attack.perturbation(for: batch.inputs, labels: batch.labels, against: &model, using: &generator)
        return descend(&model, optimizer: &optimizer, tokens: batch.inputs, labels: batch.labels,
                       perturbation: perturbation, includesCleanLoss: includesCleanLoss)
    }
}
