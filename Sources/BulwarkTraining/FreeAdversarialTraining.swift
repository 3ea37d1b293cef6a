import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// Free adversarial training, Shafahi et al. 2019, "Adversarial Training for Free!"
/// (NeurIPS), Algorithm 1.
///
/// Each minibatch is replayed m times (``replays``). Every replay runs one forward and one
/// backward pass on `x + δ` and uses both of its gradients: the weight gradient for an
/// optimizer step and the input gradient for an FGSM step on the perturbation,
/// `δ ← Π_ε(δ + ε_fgsm · sign(∇_δ L(f(clip(x + δ)), y)))`, so the adversarial examples cost no
/// extra passes. The perturbation δ is **not** reset: it starts at zero and is carried from
/// replay to replay and from minibatch to minibatch (``perturbation``), as in the paper.
/// Paper symbols and parameters: ε is ``threatModel``'s radius, m is ``replays``, and the
/// FGSM step on δ (ε in Algorithm 1, `fgsm_step` in the reference code) is ``stepSize``.
///
/// As in the reference code, the model sees `x + δ` clipped to the threat model's bounds
/// (the clip passes no gradient where it is active, like `clamp` in PyTorch) and δ itself is
/// only projected onto the ε-ball. A batch smaller than the stored δ (the last one of an
/// epoch) uses and updates its first rows; a larger one extends δ with zero rows; inputs of
/// another shape start again from zero.
///
/// **Epochs.** One ``Trainer`` epoch is one pass over the data, i.e. m optimizer steps per
/// minibatch, m times the gradient computations of a standard epoch. The paper divides the
/// number of epochs by m to match the cost of N natural epochs; with Bulwark pass
/// `epochs = N / m` (rounded up) yourself. The learning rate is set once per minibatch by the
/// trainer's schedule and held for its m replays.
///
/// The state lives in the method's value (``step(_:optimizer:on:using:)`` is `mutating`), so a
/// copy of the method carries a copy of δ and a run is deterministic for a seed; δ is the
/// method's ``stateTensors``, so a resumed run continues with it.
public struct FreeAdversarialTraining: TrainingMethod {
    /// The ball δ stays in (ε).
    public var threatModel: ThreatModel
    /// m, the times each minibatch is replayed.
    public var replays: Int
    /// The FGSM step on δ after each replay; the paper uses ε.
    public var stepSize: Float
    /// δ, the perturbation carried across replays and minibatches (`[rows, …]`); `nil` before
    /// the first batch, which starts it at zero.
    public var perturbation: Tensor?
    /// The ε warm-up's fraction of ε and the FGSM step (1 = as configured).
    public var budgetScale: Float? = 1
    public var name: String { "free" }

    /// Creates the method; `stepSize` defaults to ε, as in the paper.
    ///
    /// - Precondition: `replays ≥ 1` and a positive, finite `stepSize`.
    public init(threatModel: ThreatModel, replays: Int = 8, stepSize: Float? = nil) {
        let stepSize = stepSize ?? threatModel.epsilon
        precondition(replays >= 1, "Free-AT needs at least one replay, got \(replays)")
        precondition(stepSize > 0 && stepSize.isFinite, "Free-AT step size must be positive, got \(stepSize)")
        self.threatModel = threatModel
        self.replays = replays
        self.stepSize = stepSize
        self.perturbation = nil
    }

    /// Replays `batch` m times, updating `model` and ``perturbation`` after each replay.
    ///
    /// Reports the loss and accuracy averaged over the replays. A replay whose loss or
    /// gradients are not finite stops the step before it reaches the weights or δ (earlier
    /// replays of the batch keep their updates) and reports a NaN loss.
    public mutating func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        let (threatModel, stepSize) = budget(self.threatModel, stepSize: self.stepSize)
        let (natural, labels) = (batch.inputs.detached, batch.labels)
        let bounds = threatModel.bounds
        // δ is projected onto the ball only; the box applies to x + δ when it is used.
        let ball = ThreatModel(norm: threatModel.norm, epsilon: threatModel.epsilon, bounds: -Float.infinity...Float.infinity)
        let origin = Tensor(zeros: natural.shape)
        // Projecting the carried δ matters only if ε shrank since it was stored.
        var delta = ball.project(perturbationRows(for: natural.shape), around: origin)
        var (lossSum, accuracySum) = (Float(0), Float(0))
        for _ in 0..<replays {
            var logits = Tensor(0)
            let (loss, gradients, deltaGradient) = valueWithGradients(at: &model, delta) { model, delta in
                logits = model((natural + delta).clamped(to: bounds))
                return softmaxCrossEntropy(logits: logits, labels: labels)
            }
            let isFinite = loss.scalar.isFinite && gradients.isFinite && deltaGradient.isFinite
            guard optimizer.update(&model, along: gradients, ifFinite: isFinite) else {
                return StepMetrics(loss: .nan, accuracy: 0, count: labels.count)
            }
            delta = ball.project(delta + threatModel.steepestAscentDirection(deltaGradient) * stepSize, around: origin)
            lossSum += loss.scalar
            accuracySum += accuracy(logits: logits.detached, labels: labels)
        }
        store(delta)
        return StepMetrics(loss: lossSum / Float(replays), accuracy: accuracySum / Float(replays), count: labels.count)
    }

    /// δ under the name `perturbation`, once the first batch has started it.
    public var stateTensors: [String: Tensor] {
        perturbation.map { ["perturbation": $0] } ?? [:]
    }

    /// Restores δ (none if `tensors` has no `perturbation`).
    public mutating func loadStateTensors(_ tensors: [String: Tensor]) {
        perturbation = tensors["perturbation"]
    }

    /// The stored δ fitted to a batch of `shape`: its first rows, extended with zero rows, or
    /// zero if the example shape changed.
    private func perturbationRows(for shape: [Int]) -> Tensor {
        let rows = shape.first ?? 0
        guard let stored = perturbation, stored.shape.dropFirst() == shape.dropFirst() else {
            return Tensor(zeros: shape)
        }
        let storedRows = stored.shape.first ?? 0
        if rows <= storedRows { return stored.slice(alongAxis: 0, 0..<rows) }
        var padding = shape
        padding[0] = rows - storedRows
        return Tensor.concatenating([stored, Tensor(zeros: padding)], alongAxis: 0)
    }

    /// Writes `delta` back over the first rows of the stored δ, keeping the rows a smaller
    /// batch did not use.
    private mutating func store(_ delta: Tensor) {
        let rows = delta.shape.first ?? 0
        if let stored = perturbation, stored.shape.dropFirst() == delta.shape.dropFirst(), let storedRows = stored.shape.first, storedRows > rows {
            perturbation = Tensor.concatenating([delta, stored.slice(alongAxis: 0, rows..<storedRows)], alongAxis: 0)
        } else {
            perturbation = delta
        }
    }
}
