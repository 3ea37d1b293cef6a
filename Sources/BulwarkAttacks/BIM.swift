import BulwarkCore
import BulwarkNN

/// The basic iterative method, I-FGSM (Kurakin, Goodfellow and Bengio 2017, "Adversarial
/// examples in the physical world", section 2.2).
///
/// The paper's `X⁰ = X`, `Xᴺ⁺¹ = Clip_{X,ε}(Xᴺ + α sign(∇ₓ J(Xᴺ, y_true)))`: FGSM repeated
/// with a small step α and a clip to the ε-ball and the valid range after every step, from the
/// clean input (no random start). The paper sets α to one intensity level (1/255 of the input
/// range) and runs `N = min(ε + 4, 1.25 ε)` iterations with ε counted in levels, so that the
/// iterates can reach the ball's surface yet stay cheap; those are the defaults here. For L2,
/// which the paper does not treat, the step is the normalized gradient and the defaults are
/// 10 steps of 1.25 ε / 10, the same total travel relative to ε.
public struct BIM: IterativeAttackSetting {
    public var threatModel: ThreatModel
    /// N, the number of iterations.
    public var steps: Int
    /// α, the size of one step in the threat model's norm.
    public var stepSize: Float
    /// J, the loss ascended (the paper's cross-entropy by default).
    public var loss: AttackLoss
    /// Untargeted, or towards target classes (the paper's iterative least-likely class method is
    /// `.targeted(.leastLikely)`).
    public var objective: Objective
    public var name: String { "bim" }

    /// Creates the attack; `steps` and `stepSize` default to the paper's schedule for L∞ (see
    /// the type's documentation).
    public init(
        threatModel: ThreatModel, steps: Int? = nil, stepSize: Float? = nil,
        loss: AttackLoss = .crossEntropy, objective: Objective = .untargeted
    ) {
        let (defaultSteps, defaultStepSize) = BIM.schedule(for: threatModel)
        self.threatModel = threatModel
        self.steps = steps ?? defaultSteps
        self.stepSize = stepSize ?? (threatModel.norm == .l2 ? 1.25 * threatModel.epsilon / Float(self.steps) : defaultStepSize)
        self.loss = loss
        self.objective = objective
        precondition(self.steps >= 1, "BIM needs at least one step")
        precondition(self.stepSize > 0, "BIM's step size must be positive")
    }

    /// Kurakin et al.'s `(N, α)`: α is one of 255 intensity levels of the threat model's range
    /// and `N = ⌊min(ε + 4, 1.25 ε)⌋` in those levels (at least 1). For L2, 10 steps.
    public static func schedule(for threatModel: ThreatModel) -> (steps: Int, stepSize: Float) {
        let level = (threatModel.bounds.upperBound - threatModel.bounds.lowerBound) / 255
        guard threatModel.norm == .lInfinity else { return (10, 1.25 * threatModel.epsilon / 10) }
        let epsilonInLevels = threatModel.epsilon / level
        // The small tolerance keeps ε = 0.1 (25.5 levels) from losing a step to rounding.
        let steps = Int((Swift.min(epsilonInLevels + 4, 1.25 * epsilonInLevels) + 1e-4).rounded(.down))
        return (Swift.max(steps, 1), level)
    }

    package var iterativeAttack: IterativeAttack {
        IterativeAttack(
            threatModel: threatModel, steps: steps, stepSize: stepSize, randomStart: false,
            restarts: 1, loss: loss, objective: objective, direction: .steepestAscent)
    }
}
