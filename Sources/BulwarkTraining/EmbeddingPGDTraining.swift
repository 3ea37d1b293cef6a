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
///
/// With ``PerturbationSite/embeddingMatrix`` the same ascent runs on a perturbation `r` of the
/// shared embedding matrix `W` instead, as popular PGD helper classes do: from `r₀` (zero, or
/// a random start on the rows of the batch's tokens), `K` times
/// `r ← Π_ε(r + α · G/‖G‖_F)` with `G = ∇_W L(f_{W + r}(x), y)` of the batch's mean loss and
/// `Π_ε` the projection onto the Frobenius ball of radius ε over the whole matrix; the
/// weights then descend the loss at `W + r_K`. Only rows of tokens in the batch are ever
/// perturbed (`G` is zero elsewhere), and the matrix the optimizer updates is the unperturbed
/// one: the perturbation is never written into the model.
public struct EmbeddingPGDTraining: TextTrainingMethod {
    public var name: String { "pgd" }
    /// The inner attack.
    public var attack: EmbeddingPGD
    /// Whether the clean loss is added to the adversarial loss.
    public var includesCleanLoss: Bool
    /// Where the perturbation is added; ``attack``'s ε is per example on the embedded sequence
    /// and over the whole matrix on the embedding matrix.
    public var site: PerturbationSite

    /// Creates the method.
    public init(attack: EmbeddingPGD, includesCleanLoss: Bool = false, site: PerturbationSite = .embeddedSequence) {
        self.attack = attack
        self.includesCleanLoss = includesCleanLoss
        self.site = site
    }

    /// The perturbation `r_K` `[vocabularySize, dimension]` of the embedding matrix for
    /// `tokens`, computed in the model's current mode; `‖r_K‖_F ≤ ε` and `r_K` is zero outside
    /// the rows of `tokens`' real tokens.
    public func matrixPerturbation<Model: TextClassifier, G: RandomNumberGenerator>(
        for tokens: Tensor, labels: [Int32], against model: inout Model, using generator: inout G
    ) -> Tensor {
        var engine = attack.engine
        engine.threatModel = attack.threatModel.inRegion(.embeddingMatrix)
        return engine.ascend(
            from: Tensor(zeros: model.embedding.weight.shape), support: .rows(ThreatModel.rows(of: tokens)), using: &generator
        ) { perturbation in
            softmaxCrossEntropy(logits: model.logits(of: tokens, shiftingEmbeddingMatrixBy: perturbation), labels: labels)
        }
    }

    public func step<Model: TextClassifier, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let perturbation = site == .embeddingMatrix
            ? matrixPerturbation(for: batch.inputs, labels: batch.labels, against: &model, using: &generator)
            : attack.perturbation(for: batch.inputs, labels: batch.labels, against: &model, using: &generator)
        return descend(&model, optimizer: &optimizer, on: batch, perturbing: site, by: perturbation, includesCleanLoss: includesCleanLoss)
    }
}
