import BulwarkAttacks
import BulwarkCore
import BulwarkNN

/// The inner maximization of the TRADES and MART reference implementations: PGD that starts
/// at `x + σ · N(0, 1)` (σ = `startNoise`, 0.001 in both reference codes) rather than at a
/// uniform point of the ball, ascends `loss(logits)` summed over the batch, and runs on a
/// copy of `model` in inference mode (the references call `model.eval()` first, so batch
/// normalization uses its running statistics and dropout is off).
///
/// Each step is `x' ← Π_{B(x, ε) ∩ bounds}(x' + α · d(∇ₓ' loss))` with the threat model's
/// steepest-ascent direction `d` (sign for L∞). The result is untraced, within ε of `natural`
/// and inside the threat model's bounds.
package func gaussianStartPGD<Model: Layer, G: RandomNumberGenerator>(
    _ natural: Tensor, against model: Model, threatModel: ThreatModel, steps: Int, stepSize: Float,
    startNoise: Float, using generator: inout G, loss: (Tensor) -> Tensor
) -> Tensor {
    let natural = natural.detached
    var inner = model.with(mode: .inference)
    let noise = Tensor(randomNormal: natural.shape, standardDeviation: startNoise, using: &generator)
    var adversarial = natural + noise
    for _ in 0..<steps {
        let ascent = gradient(at: adversarial) { x in loss(inner(x)).sum() }
        adversarial = threatModel.project(
            adversarial + threatModel.steepestAscentDirection(ascent) * stepSize, around: natural)
    }
    // With no steps the noisy start still has to lie in the ball and the box.
    return steps == 0 ? threatModel.project(adversarial, around: natural) : adversarial
}
