import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// A way of training a ``TextClassifier``: one optimizer step on one batch of padded tokens
/// (`[count, length]` indices stored as `Float`, see ``EncodedTextDataset``).
///
/// Embedding-space methods perturb the output of ``TextClassifier/embed(_:)``, the typed
/// perturbation site, so they need a text classifier rather than any ``Layer``.
public protocol TextTrainingMethod: Sendable {
    /// A short name (`standard`, `fgm`, `pgd`).
    var name: String { get }

    /// Updates `model` with `optimizer` on `batch`, drawing every random choice from
    /// `generator`, and reports the batch's loss and accuracy. `mutating` for methods that keep
    /// state across steps (``SMART``'s proximal point θ̃).
    mutating func step<Model: TextClassifier, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics

    /// The state the method carries from batch to batch (``SMART``'s θ̃), as named tensors, so
    /// that the ``TextTrainer``'s resume checkpoints hold it. The default is empty: a method
    /// whose value changes in ``step(_:optimizer:on:using:)`` must list that state here, or a
    /// resumed run differs from an uninterrupted one.
    var stateTensors: [String: Tensor] { get }

    /// Restores state saved by ``stateTensors`` (an empty dictionary means the state of a
    /// fresh method). The default ignores it.
    mutating func loadStateTensors(_ tensors: [String: Tensor])
}

extension TextTrainingMethod {
    public var stateTensors: [String: Tensor] { [:] }

    public mutating func loadStateTensors(_ tensors: [String: Tensor]) {}
}

extension StandardTraining: TextTrainingMethod {}

extension TextTrainingMethod {
    /// One descent step on the cross-entropy at `embed(tokens) + perturbation`, plus the clean
    /// cross-entropy when `includesCleanLoss`; accuracy is measured on the perturbed logits.
    package func descend<Model: TextClassifier, Opt: Optimizer>(
        _ model: inout Model, optimizer: inout Opt, tokens: Tensor, labels: [Int32], perturbation: Tensor, includesCleanLoss: Bool
    ) -> StepMetrics {
        let mask = paddingMask(tokens)
        var logits = Tensor(0)
        let (loss, gradients) = valueWithGradient(at: &model) { model in
            let embedded = model.embed(tokens)
            logits = model.classify(embedded + perturbation, mask: mask)
            let adversarial = softmaxCrossEntropy(logits: logits, labels: labels)
            guard includesCleanLoss else { return adversarial }
            return adversarial + softmaxCrossEntropy(logits: model.classify(embedded, mask: mask), labels: labels)
        }
        // Non-finite values must not reach the weights; the trainer stops on a non-finite loss.
        guard optimizer.update(&model, along: gradients, ifFinite: loss.scalar.isFinite && gradients.isFinite) else {
            return StepMetrics(loss: .nan, accuracy: 0, count: labels.count)
        }
        return StepMetrics(loss: loss.scalar, accuracy: accuracy(logits: logits.detached, labels: labels), count: labels.count)
    }
}
