import BulwarkCore
import BulwarkData
import BulwarkNN

/// Where an embedding-space training method (``EmbeddingFGM``, ``EmbeddingPGDTraining``,
/// ``FreeLB``) adds its perturbation.
public enum PerturbationSite: String, Sendable, CaseIterable {
    /// To each example's embedded sequence, L2 per example over its real tokens (Miyato et al.
    /// 2017, Zhu et al. 2020): ``TextClassifier/embed(_:)``'s output, the typed site.
    case embeddedSequence = "sequence"
    /// To the embedding matrix shared by all examples of the batch, L2 over the whole matrix
    /// (Frobenius norm), the variant of popular FGM/PGD helper classes, which perturb the
    /// embedding parameter in place and restore it after the adversarial pass. Every example
    /// sees the same perturbation through its tokens' rows; only rows of tokens in the batch
    /// are perturbed, and the radius is not per example.
    case embeddingMatrix = "matrix"
}

extension TextClassifier {
    /// Logits of `tokens` with the embedding matrix shifted by `perturbation` (differentiable in
    /// both); the matrix is put back afterwards, so the model leaves with its own weights and
    /// only its state (dropout's generator) advanced.
    package mutating func logits(of tokens: Tensor, shiftingEmbeddingMatrixBy perturbation: Tensor) -> Tensor {
        let weight = embedding.weight
        embedding.weight = weight + perturbation
        defer { embedding.weight = weight }
        return self(tokens)
    }

    /// `∇_W L` of the mean cross-entropy at the embedding matrix `W + perturbation`, in the
    /// model's current mode (dropout's generator advances as in one forward pass).
    package mutating func embeddingMatrixGradient(tokens: Tensor, labels: [Int32], perturbation: Tensor) -> Tensor {
        BulwarkCore.gradient(at: perturbation.detached) { perturbation in
            softmaxCrossEntropy(logits: logits(of: tokens, shiftingEmbeddingMatrixBy: perturbation), labels: labels)
        }
    }
}

extension TextTrainingMethod {
    /// One descent step on the cross-entropy with the embedding matrix shifted by
    /// `perturbation` (the gradient reaches the matrix through the sum), plus the clean
    /// cross-entropy at the unshifted matrix when `includesCleanLoss`; accuracy is measured on
    /// the perturbed logits. The optimizer sees the matrix as it was before the step.
    package func descendPerturbingMatrix<Model: TextClassifier, Opt: Optimizer>(
        _ model: inout Model, optimizer: inout Opt, tokens: Tensor, labels: [Int32], perturbation: Tensor, includesCleanLoss: Bool
    ) -> StepMetrics {
        var logits = Tensor(0)
        let (loss, gradients) = valueWithGradient(at: &model) { model in
            logits = model.logits(of: tokens, shiftingEmbeddingMatrixBy: perturbation)
            let adversarial = softmaxCrossEntropy(logits: logits, labels: labels)
            guard includesCleanLoss else { return adversarial }
            return adversarial + softmaxCrossEntropy(logits: model(tokens), labels: labels)
        }
        guard optimizer.update(&model, along: gradients, ifFinite: loss.scalar.isFinite && gradients.isFinite) else {
            return StepMetrics(loss: .nan, accuracy: 0, count: labels.count)
        }
        return StepMetrics(loss: loss.scalar, accuracy: accuracy(logits: logits.detached, labels: labels), count: labels.count)
    }

    /// One descent step on `batch` with `perturbation` added at `site`:
    /// ``descendPerturbingMatrix(_:optimizer:tokens:labels:perturbation:includesCleanLoss:)`` on the
    /// embedding matrix, ``descend(_:optimizer:tokens:labels:perturbation:includesCleanLoss:)`` on
    /// the embedded sequence.
    package func descend<Model: TextClassifier, Opt: Optimizer>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, perturbing site: PerturbationSite, by perturbation: Tensor,
        includesCleanLoss: Bool
    ) -> StepMetrics {
        switch site {
        case .embeddingMatrix:
            descendPerturbingMatrix(&model, optimizer: &optimizer, tokens: batch.inputs, labels: batch.labels,
                                    perturbation: perturbation, includesCleanLoss: includesCleanLoss)
        case .embeddedSequence:
            descend(&model, optimizer: &optimizer, tokens: batch.inputs, labels: batch.labels,
                    perturbation: perturbation, includesCleanLoss: includesCleanLoss)
        }
    }
}
