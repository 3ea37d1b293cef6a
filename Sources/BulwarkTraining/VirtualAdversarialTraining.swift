import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// Virtual adversarial training on word embeddings (Miyato, Dai and Goodfellow 2017,
/// "Adversarial Training Methods for Semi-Supervised Text Classification", ICLR, §3; after
/// Miyato et al. 2016's VAT).
///
/// The perturbation uses no labels: with `s` the embedded sequence and `θ̂` the current weights
/// held constant, start from a random unit direction `d` per example (over its real tokens),
/// repeat ``powerIterations`` times `d ← g/‖g‖₂` with
/// `g = ∇_r KL[p(·|s; θ̂) ‖ p(·|s + r; θ̂)]` at `r = ξ d` (`ξ` = ``finiteDifferenceScale``), and
/// take `r_vadv = ε d` (eq. 7–8; `ε` = ``threatModel``'s `epsilon`). The weights then descend
/// `L(s, y) + α · KL[p(·|s; θ̂) ‖ p(·|s + r_vadv; θ)]` (`α` = ``regularizationWeight``). `ξ`
/// defaults to 1e-2 rather than the paper's 1e-6 because the engine computes in Float32,
/// where a 1e-6 change of the embeddings is lost in rounding.
public struct VirtualAdversarialTraining: TextTrainingMethod {
    public var name: String { "vat" }
    /// The radius ε of `r_vadv`, per example.
    public var threatModel: ThreatModel
    /// The number of power iterations (the paper uses 1).
    public var powerIterations: Int
    /// `ξ`, the length of the finite-difference probe.
    public var finiteDifferenceScale: Float
    /// `α`, the weight of the virtual adversarial loss.
    public var regularizationWeight: Float

    /// Creates the method.
    public init(threatModel: ThreatModel, powerIterations: Int = 1, finiteDifferenceScale: Float = 1e-2, regularizationWeight: Float = 1) {
        precondition(powerIterations >= 1 && finiteDifferenceScale > 0 && regularizationWeight >= 0,
                     "VAT needs at least one power iteration, a positive ξ and a non-negative α")
        self.threatModel = threatModel.inRegion(.embeddedSequence)
        self.powerIterations = powerIterations
        self.finiteDifferenceScale = finiteDifferenceScale
        self.regularizationWeight = regularizationWeight
    }

    /// `r_vadv` `[count, length, dimension]` for `tokens`, computed without labels in the
    /// model's current mode.
    public func perturbation<Model: TextClassifier, G: RandomNumberGenerator>(
        for tokens: Tensor, against model: inout Model, using generator: inout G
    ) -> Tensor {
        let clean = CleanEmbedding(tokens, model: &model)
        var direction = threatModel.steepestAscent(along: Tensor(randomNormal: clean.embedded.shape, using: &generator), mask: clean.mask)
        for _ in 0..<powerIterations {
            let gradient = BulwarkCore.gradient(at: finiteDifferenceScale * direction) { clean.divergence(at: $0, model: &model) }
            direction = threatModel.steepestAscent(along: gradient, mask: clean.mask)
        }
        return threatModel.epsilon * direction
    }

    public func step<Model: TextClassifier, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let (tokens, labels) = (batch.inputs, batch.labels)
        let perturbation = perturbation(for: tokens, against: &model, using: &generator)
        let mask = paddingMask(tokens)
        var logits = Tensor(0)
        let (loss, gradients) = valueWithGradient(at: &model) { model in
            let embedded = model.embed(tokens)
            logits = model.classify(embedded, mask: mask)
            let virtual = klDivergence(logits: model.classify(embedded + perturbation, mask: mask), targetLogits: logits)
            return softmaxCrossEntropy(logits: logits, labels: labels) + regularizationWeight * virtual
        }
        guard optimizer.update(&model, along: gradients, ifFinite: loss.scalar.isFinite && gradients.isFinite) else {
            return StepMetrics(loss: .nan, accuracy: 0, count: labels.count)
        }
        return StepMetrics(loss: loss.scalar, accuracy: accuracy(logits: logits.detached, labels: labels), count: labels.count)
    }
}

/// A batch's embedded tokens, padding mask and clean logits (held fixed): what SMART and VAT
/// measure a perturbation of the embedded sequence against.
package struct CleanEmbedding {
    package let embedded: Tensor
    package let mask: Tensor
    package let logits: Tensor

    /// Embeds and classifies `tokens` in the model's current mode.
    package init<Model: TextClassifier>(_ tokens: Tensor, model: inout Model) {
        embedded = model.embed(tokens).detached
        mask = paddingMask(tokens)
        logits = model.classify(embedded, mask: mask).detached
    }

    /// `Σᵢ KL(f(xᵢ + δᵢ) ‖ f(xᵢ))` over the batch, differentiable in `delta`.
    package func divergence<Model: TextClassifier>(at delta: Tensor, model: inout Model) -> Tensor {
        klDivergence(logits: model.classify(embedded + delta, mask: mask), targetLogits: logits, reduction: .sum)
    }
}
