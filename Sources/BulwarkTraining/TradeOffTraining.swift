import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

/// What TRADES and MART share: the reference codes' inner maximization (PGD on an inference
/// copy from `x + σ · N(0, 1)`, σ = `startNoise`) and one descent step on a loss of the natural
/// and the adversarial logits, with the accuracy measured on the adversarial inputs.
extension TrainingMethod {
    /// Traps unless `steps ≥ 0`, `stepSize > 0`, `beta ≥ 0` and `startNoise ≥ 0`, all finite;
    /// `name` is the method's.
    package static func checkTradeOff(_ name: String, steps: Int, stepSize: Float, beta: Float, startNoise: Float) {
        precondition(steps >= 0, "\(name) needs a non-negative number of steps, got \(steps)")
        precondition(stepSize > 0 && stepSize.isFinite, "\(name) step size must be positive, got \(stepSize)")
        precondition(beta >= 0 && beta.isFinite, "\(name) β must be finite and non-negative, got \(beta)")
        precondition(startNoise >= 0 && startNoise.isFinite, "\(name) start noise must be finite and non-negative, got \(startNoise)")
    }

    /// The inner PGD: `steps` steps of `stepSize` in `threatModel` (both scaled by the ε warm-up's
    /// `budgetScale`) from the Gaussian start, on an inference copy of the model (the references
    /// call `model.eval()` first).
    package func gaussianStartPGD(
        threatModel: ThreatModel, steps: Int, stepSize: Float, startNoise: Float, objective: Objective
    ) -> PGD {
        let (threatModel, stepSize) = budget(threatModel, stepSize: stepSize)
        return PGD(threatModel: threatModel, steps: steps, stepSize: stepSize, start: .gaussian(standardDeviation: startNoise),
                   objective: objective, mode: .inference)
    }

    /// One descent step, in the model's own mode, on `loss(naturalLogits, adversarialLogits)`,
    /// differentiated through both.
    package func descend<Model: Layer, Opt: Optimizer>(
        _ model: inout Model, optimizer: inout Opt, natural: Tensor, adversarial: Tensor, labels: [Int32],
        loss: (_ naturalLogits: Tensor, _ adversarialLogits: Tensor) -> Tensor
    ) -> StepMetrics {
        descend(&model, optimizer: &optimizer, labels: labels) { model in
            let naturalLogits = model(natural)
            let adversarialLogits = model(adversarial)
            return (loss(naturalLogits, adversarialLogits), adversarialLogits)
        }
    }
}
