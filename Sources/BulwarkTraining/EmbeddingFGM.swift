import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// Adversarial training with the fast gradient method on word embeddings (Miyato, Dai and
/// Goodfellow 2017, "Adversarial Training Methods for Semi-Supervised Text Classification",
/// ICLR).
///
/// For each example the perturbation of its embedded sequence `s` is
/// `r_adv = ε · g / ‖g‖₂` with `g = ∇_s L(s, y; θ̂)` (eq. 5; `θ̂` the current weights held
/// constant), the norm taken over the example's real tokens only, so padding is never
/// perturbed and `‖r_adv‖₂ = ε` per example (0 where `g` vanishes). The weights then descend
/// `L(s, y) + L(s + r_adv, y)` (the clean loss plus the adversarial loss with weight 1; set
/// ``includesCleanLoss`` to `false` for the adversarial loss alone). Symbols: `ε` =
/// ``threatModel``'s `epsilon`. Unlike the paper, embeddings are not normalized first, so ε
/// is in the model's own embedding units.
///
/// With ``PerturbationSite/embeddingMatrix`` the perturbation is instead `r = ε · G / ‖G‖_F`
/// on the shared embedding matrix (`G` its gradient of the batch's mean loss), the variant of
/// popular FGM helper classes: every example sees the same `r` through its tokens' rows, and
/// the norm is not per example.
public struct EmbeddingFGM: TextTrainingMethod {
    public var name: String { "fgm" }
    /// The ball of `r_adv`: radius ε per example on the embedded sequence (over the whole
    /// matrix on the embedding matrix).
    public var threatModel: ThreatModel
    /// Whether the clean loss is added to the adversarial loss (as in the paper).
    public var includesCleanLoss: Bool
    /// Where the perturbation is added.
    public var site: PerturbationSite

    /// Creates the method.
    public init(threatModel: ThreatModel, includesCleanLoss: Bool = true, site: PerturbationSite = .embeddedSequence) {
        self.threatModel = threatModel.inRegion(.embeddedSequence)
        self.includesCleanLoss = includesCleanLoss
        self.site = site
    }

    /// The perturbation `ε · G / ‖G‖_F` of the embedding matrix for `tokens` (zero when `G` is),
    /// in the model's current mode.
    public func matrixPerturbation<Model: TextClassifier>(for tokens: Tensor, labels: [Int32], against model: inout Model) -> Tensor {
        // A copy runs the pass, so the model's dropout generator advances only in the descent.
        var copy = model
        let gradient = copy.embeddingMatrixGradient(tokens: tokens, labels: labels, perturbation: Tensor(zeros: model.embedding.weight.shape))
        return threatModel.epsilon * threatModel.inRegion(.embeddingMatrix).matrixSteepestAscent(along: gradient)
    }

    /// The perturbation `r_adv` `[count, length, dimension]` for `tokens`, in the model's
    /// current mode.
    public func perturbation<Model: TextClassifier>(for tokens: Tensor, labels: [Int32], against model: inout Model) -> Tensor {
        let embedded = model.embed(tokens).detached
        let mask = paddingMask(tokens)
        let gradient = BulwarkCore.gradient(at: embedded) { embedded in
            softmaxCrossEntropy(logits: model.classify(embedded, mask: mask), labels: labels, reduction: .sum)
        }
        return threatModel.epsilon * threatModel.steepestAscent(along: gradient, mask: mask)
    }

    public func step<Model: TextClassifier, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let perturbation = site == .embeddingMatrix
            ? matrixPerturbation(for: batch.inputs, labels: batch.labels, against: &model)
            : self.perturbation(for: batch.inputs, labels: batch.labels, against: &model)
        return descend(&model, optimizer: &optimizer, on: batch, perturbing: site, by: perturbation, includesCleanLoss: includesCleanLoss)
    }
}
