import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// MART, misclassification-aware adversarial training: Wang et al. 2020, "Improving
/// Adversarial Robustness Requires Revisiting Misclassified Examples" (ICLR), as in the
/// authors' reference code (`mart.py`).
///
/// With `p(·)` the softmax probabilities and `x'` the adversarial example of `x`, the loss is
///
///     BCE(p(x'), y) + β · KL(p(x) ‖ p(x')) · (1 − p_y(x))
///
/// averaged over the batch, where the boosted cross-entropy
/// `BCE(p(x'), y) = −log p_y(x') − log(1 − max_{k≠y} p_k(x'))` also pushes down the most
/// likely wrong class, and the weight `1 − p_y(x)` emphasizes examples the model misclassifies
/// (or classifies without confidence) on clean input. Paper symbols and parameters: ε is
/// ``TradeOffTraining/threatModel``'s radius, λ (written β in the reference code) is
/// ``TradeOffTraining/beta``, and the PGD inner maximization has K = ``TradeOffTraining/steps``
/// steps of size α = ``TradeOffTraining/stepSize``.
///
/// Per batch, as the reference does:
/// 1. PGD on the cross-entropy from `x + 0.001 · N(0, 1)` (``TradeOffTraining/startNoise``) on a
///    copy of the model in inference mode (`model.eval()`).
/// 2. One descent step, in the model's own (training) mode, on the loss above
///    (``MARTLoss/loss(naturalLogits:adversarialLogits:labels:beta:)``), differentiated through
///    `p(x)` in both the KL term and the weight, with the reference's guards:
///    `log(1.0001 − p + 1e-12)`, `log(p(x') + 1e-12)` and the weight `1.0000001 − p_y(x)`.
///
/// The reported accuracy is on the adversarial inputs. The reference settings on CIFAR-10:
/// ε = 8/255, K = 10, α = 2/255, β = 6.
public typealias MART = TradeOffTraining<MARTLoss>

/// MART's inner objective (the cross-entropy) and loss, for ``MART``.
public enum MARTLoss: TradeOffLoss {
    public static let name = "mart"
    public static let displayName = "MART"
    public static let innerObjective = Objective.untargeted

    /// The MART objective for logits already computed (`[N, K]` each, K ≥ 2): the batch mean of
    /// `BCE(p(x'), y) + β · KL(p(x) ‖ p(x')) · (1 − p_y(x))`, with the reference code's guards
    /// (see ``MART``). Gradients flow into both logits.
    public static func loss(naturalLogits: Tensor, adversarialLogits: Tensor, labels: [Int32], beta: Float) -> Tensor {
        precondition(naturalLogits.shape == adversarialLogits.shape && naturalLogits.rank == 2 && naturalLogits.shape[1] >= 2,
                     "MART needs natural and adversarial logits of one shape [N, K ≥ 2], got \(naturalLogits.shape) and \(adversarialLogits.shape)")
        let classCount = naturalLogits.shape[1]
        let trueClass = oneHot(labels, classCount: classCount)
        let adversarialProbabilities = softmax(adversarialLogits)

        // The most likely wrong class on x' (the reference's argsort of the top two). A choice,
        // so no gradient flows through it.
        let others = (adversarialProbabilities.detached - trueClass * 2).argmax(alongAxis: 1)
        let runnerUp = oneHot(others.map { Int32($0) }, classCount: classCount)
        let runnerUpProbability = (adversarialProbabilities * runnerUp).sum(alongAxis: 1)
        let boosted = softmaxCrossEntropy(logits: adversarialLogits, labels: labels)
            - ((1.0001 - runnerUpProbability) + 1e-12).log().mean()

        let naturalLog = logSoftmax(naturalLogits)
        let naturalProbabilities = naturalLog.exp()
        let divergence = (naturalProbabilities * (naturalLog - (adversarialProbabilities + 1e-12).log())).sum(alongAxis: 1)
        let trueProbability = (naturalProbabilities * trueClass).sum(alongAxis: 1)
        let robust = (divergence * (1.0000001 - trueProbability)).mean()
        return boosted + robust * beta
    }
}

extension TradeOffTraining where Loss == MARTLoss {
    /// The inner maximization alone: PGD on the cross-entropy from a Gaussian start.
    public func adversarialExamples<Model: Layer, G: RandomNumberGenerator>(
        for inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        innerMaximization(for: inputs, labels: labels, against: model, using: &generator)
    }
}
