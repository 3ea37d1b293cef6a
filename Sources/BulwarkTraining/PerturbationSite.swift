import BulwarkCore
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

/// The Frobenius-norm ball of the shared embedding matrix: steepest ascent, projection and
/// random starts for perturbations `r` of shape `[vocabularySize, dimension]` that are zero
/// outside the rows of the batch's tokens.
package struct EmbeddingMatrixBall: Sendable {
    /// The radius ε of `‖r‖_F`.
    package var epsilon: Float

    package init(epsilon: Float) {
        precondition(epsilon >= 0 && epsilon.isFinite, "epsilon must be finite and non-negative, got \(epsilon)")
        self.epsilon = epsilon
    }

    /// `‖r‖_F`, accumulated in Float64.
    package static func norm(of perturbation: Tensor) -> Float {
        Float(perturbation.array.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
    }

    /// `g / ‖g‖_F`, or zero where `g` is zero.
    package func steepestAscent(along gradient: Tensor) -> Tensor {
        let norm = Self.norm(of: gradient)
        return norm > 0 ? (gradient.detached * (1 / norm)).detached : Tensor(zeros: gradient.shape)
    }

    /// `r` scaled down onto the ball (unchanged inside it).
    package func project(_ perturbation: Tensor) -> Tensor {
        let norm = Self.norm(of: perturbation)
        return norm > epsilon ? (perturbation.detached * (epsilon / norm)).detached : perturbation.detached
    }

    /// The distinct real tokens (index ≥ 1) of `[count, length]` `tokens`, ascending.
    package static func rows(of tokens: Tensor) -> [Int] {
        Set(tokens.array.map { Int($0) }).filter { $0 != 0 }.sorted()
    }

    /// `values` `[vocabularySize, dimension]` kept on `rows` and zero elsewhere.
    package static func restricting(_ values: Tensor, toRows rows: [Int]) -> Tensor {
        let dimension = values.shape[1]
        let source = values.array
        var scalars = [Float](repeating: 0, count: source.count)
        for row in rows { for column in 0..<dimension { scalars[row * dimension + column] = source[row * dimension + column] } }
        return Tensor(shape: values.shape, scalars: scalars)
    }

    /// A random start on the rows of `tokens`: a Gaussian direction with a norm drawn uniformly
    /// in `[0, ε]`, as ``EmbeddingThreatModel/randomStart(shape:mask:using:)`` does per example.
    package func randomStart<G: RandomNumberGenerator>(shape: [Int], tokens: Tensor, using generator: inout G) -> Tensor {
        let direction = steepestAscent(along: Self.restricting(Tensor(randomNormal: shape, using: &generator), toRows: Self.rows(of: tokens)))
        return (direction * (epsilon * Float.random(in: 0...1, using: &generator))).detached
    }
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
        guard loss.scalar.isFinite, gradients.isFinite else {
            return StepMetrics(loss: .nan, accuracy: 0, count: labels.count)
        }
        optimizer.update(&model, along: gradients)
        return StepMetrics(loss: loss.scalar, accuracy: accuracy(logits: logits.detached, labels: labels), count: labels.count)
    }
}
