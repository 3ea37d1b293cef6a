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
/// With ``Site/embeddingMatrix`` the perturbation is instead `r = ε · G / ‖G‖_F` on the shared
/// embedding matrix (`G` its gradient of the batch's mean loss), the variant of popular FGM
/// helper classes: every example sees the same `r` through its tokens' rows, and the norm is
/// not per example.
public struct EmbeddingFGM: TextTrainingMethod {
    /// Where the perturbation is added.
    public enum Site: String, Sendable, CaseIterable {
        /// To each example's embedded sequence, per-example L2 over its real tokens (the paper).
        case embeddedSequence = "sequence"
        /// To the embedding matrix shared by all examples (Frobenius norm ε).
        case embeddingMatrix = "matrix"
    }

    public var name: String { "fgm" }
    /// The radius ε of `r_adv`.
    public var threatModel: EmbeddingThreatModel
    /// Whether the clean loss is added to the adversarial loss (as in the paper).
    public var includesCleanLoss: Bool
    /// Where the perturbation is added.
    public var site: Site

    /// Creates the method.
    public init(threatModel: EmbeddingThreatModel, includesCleanLoss: Bool = true, site: Site = .embeddedSequence) {
        self.threatModel = threatModel
        self.includesCleanLoss = includesCleanLoss
        self.site = site
    }

    /// The perturbation `ε · G / ‖G‖_F` of the embedding matrix for `tokens` (zero when `G` is),
    /// in the model's current mode.
    public func matrixPerturbation<Model: TextClassifier>(for tokens: Tensor, labels: [Int32], against model: inout Model) -> Tensor {
        let weight = model.embedding.weight.detached
        let gradient = BulwarkCore.gradient(at: weight) { weight in
            var copy = model
            copy.embedding.weight = weight
            return softmaxCrossEntropy(logits: copy(tokens), labels: labels)
        }
        let norm = Float(gradient.array.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
        return norm > 0 ? (gradient * (threatModel.epsilon / norm)).detached : Tensor(zeros: weight.shape)
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
        if site == .embeddingMatrix { return stepPerturbingMatrix(&model, optimizer: &optimizer, on: batch) }
        let perturbation = perturbation(for: batch.inputs, labels: batch.labels, against: &model)
        return descend(&model, optimizer: &optimizer, tokens: batch.inputs, labels: batch.labels,
                       perturbation: perturbation, includesCleanLoss: includesCleanLoss)
    }

    private func stepPerturbingMatrix<Model: TextClassifier, Opt: Optimizer>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch
    ) -> StepMetrics {
        let (tokens, labels) = (batch.inputs, batch.labels)
        let perturbation = matrixPerturbation(for: tokens, labels: labels, against: &model)
        var logits = Tensor(0)
        let (loss, gradients) = valueWithGradient(at: &model) { model in
            // The adversarial pass sees W + r and its gradient reaches W through the sum; W is
            // put back before the clean pass (and for the optimizer). The model itself runs
            // both passes, so its dropout generator advances as in any step.
            let weight = model.embedding.weight
            model.embedding.weight = weight + perturbation
            logits = model(tokens)
            model.embedding.weight = weight
            let adversarial = softmaxCrossEntropy(logits: logits, labels: labels)
            guard includesCleanLoss else { return adversarial }
            return adversarial + softmaxCrossEntropy(logits: model(tokens), labels: labels)
        }
        guard loss.scalar.isFinite, gradients.isFinite else {
            return StepMetrics(loss: .nan, accuracy: 0, count: labels.count)
        }
        optimizer.update(&model, along: gradients)
        return StepMetrics(loss: loss.scalar, accuracy: accuracy(logits: logits.detached, labels: labels), count: labels.count)
    }
}
