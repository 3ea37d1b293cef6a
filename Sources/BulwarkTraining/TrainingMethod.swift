import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// What one training step measured on the examples it trained on.
public struct StepMetrics: Sendable, Equatable {
    /// The mean training loss of the batch (on adversarial inputs for adversarial methods).
    public var loss: Float
    /// The fraction of the examples trained on (adversarial ones where applicable) that the
    /// model classified correctly before the update.
    public var accuracy: Float
    /// The number of examples.
    public var count: Int

    /// Creates metrics.
    public init(loss: Float, accuracy: Float, count: Int) {
        self.loss = loss
        self.accuracy = accuracy
        self.count = count
    }
}

/// A way of training: the optimizer steps for one batch.
///
/// A method is a struct of hyper-parameters. It may build adversarial examples for the batch
/// and then update the model (once, or several times for minibatch replay); the ``Trainer``
/// owns the loop around it. `step` is `mutating` so that a method may carry state from batch to
/// batch as part of its value (Free-AT's perturbation); most methods carry none.
public protocol TrainingMethod: Sendable {
    /// A short name (`standard`, `fast`, `pgd`, `trades`, `mart`, `free`, `mix`, `awp`,
    /// `gradalign`).
    var name: String { get }

    /// Updates `model` with `optimizer` on `batch`, drawing every random choice from
    /// `generator`, and reports the batch's loss and accuracy. A step whose loss or gradients
    /// are not finite leaves the model untouched and reports a NaN loss, which the ``Trainer``
    /// turns into ``TrainingError/nonFiniteLoss(epoch:batch:lastGoodCheckpoint:)``. Every
    /// update, and every update skipped for a non-finite step, goes through
    /// ``Optimizer/update(_:along:ifFinite:)``, the point where the ranks of a data-parallel
    /// run agree to update or to skip (``DataParallelOptimizer``).
    mutating func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics

    /// The fraction, in (0, 1], of the configured perturbation budget that the next steps use,
    /// or `nil` for a method without a budget it can scale (standard training, a mix around an
    /// arbitrary attack). The ``Trainer``'s ε warm-up sets it before every batch; a method
    /// scales ε and its step sizes alike, so α/ε stays as configured. The default is `nil`
    /// and ignores assignments.
    var budgetScale: Float? { get set }

    /// The number of epochs completed before the next steps (0 during the first), which the
    /// ``Trainer`` sets before every batch, for a method whose behaviour changes over training
    /// (``AdversarialWeightPerturbation``'s warm-up). The default is 0 and ignores assignments.
    var completedEpochs: Int { get set }

    /// The state the method carries from batch to batch (Free-AT's δ), as named tensors, so
    /// that the ``Trainer``'s resume checkpoints hold it. The default is empty: a method whose
    /// value changes in ``step(_:optimizer:on:using:)`` must list that state here, or a resumed
    /// run differs from an uninterrupted one.
    var stateTensors: [String: Tensor] { get }

    /// Restores state saved by ``stateTensors`` (an empty dictionary means the state of a
    /// fresh method). The default ignores it.
    mutating func loadStateTensors(_ tensors: [String: Tensor])
}

extension TrainingMethod {
    public var budgetScale: Float? {
        get { nil }
        set {}
    }

    public var completedEpochs: Int {
        get { 0 }
        set {}
    }

    public var stateTensors: [String: Tensor] { [:] }

    public mutating func loadStateTensors(_ tensors: [String: Tensor]) {}
}

extension ThreatModel {
    /// This threat model with ε multiplied by `scale` (unchanged for `nil`), for ε warm-up.
    package func scaled(by scale: Float?) -> ThreatModel {
        guard let scale else { return self }
        var scaled = self
        scaled.epsilon = epsilon * scale
        return scaled
    }
}

extension TrainingMethod {
    /// `threatModel` and `stepSize` at the ε warm-up's fraction ``budgetScale`` of them.
    package func budget(_ threatModel: ThreatModel, stepSize: Float) -> (threatModel: ThreatModel, stepSize: Float) {
        (threatModel.scaled(by: budgetScale), stepSize * (budgetScale ?? 1))
    }

    /// One cross-entropy descent step of `model` on `inputs`.
    package func descend<Model: Layer, Opt: Optimizer>(
        _ model: inout Model, optimizer: inout Opt, inputs: Tensor, labels: [Int32]
    ) -> StepMetrics {
        descend(&model, optimizer: &optimizer, labels: labels) { model in
            let logits = model(inputs)
            return (softmaxCrossEntropy(logits: logits, labels: labels), logits)
        }
    }

    /// One descent step of `model` on the scalar `objective` returns with the logits whose
    /// accuracy the step reports.
    package func descend<Model: Layer, Opt: Optimizer>(
        _ model: inout Model, optimizer: inout Opt, labels: [Int32],
        objective: (inout Model) -> (loss: Tensor, reportedLogits: Tensor)
    ) -> StepMetrics {
        var logits = Tensor(0)
        let (loss, gradients) = valueWithGradient(at: &model) { model in
            let (loss, reported) = objective(&model)
            logits = reported
            return loss
        }
        // Traced logits keep the tape, and with it the weights its pullbacks hold, alive; let go
        // of them before the update so that it writes the weights in place instead of copying.
        let reportedLogits = logits.detached
        logits = Tensor(0)
        // Non-finite values must not reach the weights; the trainer stops on a non-finite loss.
        guard optimizer.update(&model, along: gradients, ifFinite: loss.scalar.isFinite && gradients.isFinite) else {
            return StepMetrics(loss: .nan, accuracy: 0, count: labels.count)
        }
        return StepMetrics(loss: loss.scalar, accuracy: accuracy(logits: reportedLogits, labels: labels), count: labels.count)
    }
}

/// Ordinary empirical risk minimization: one cross-entropy step on the clean batch.
public struct StandardTraining: TrainingMethod {
    public var name: String { "standard" }

    /// Creates the method.
    public init() {}

    public func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        descend(&model, optimizer: &optimizer, inputs: batch.inputs, labels: batch.labels)
    }

    // Spelled out because both TrainingMethod and TextTrainingMethod provide these defaults.

    /// Empty: standard training carries no state from batch to batch.
    public var stateTensors: [String: Tensor] { [:] }

    /// Does nothing: there is no state to restore.
    public mutating func loadStateTensors(_ tensors: [String: Tensor]) {}
}
