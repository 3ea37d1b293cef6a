import BulwarkCore
import BulwarkNN

/// The momentum iterative fast gradient sign method, MI-FGSM (Dong et al. 2018, "Boosting
/// adversarial attacks with momentum", Algorithm 1).
///
/// From `x*₀ = x` and `g₀ = 0`, for `t = 0 … T − 1`:
/// `g_{t+1} = μ · g_t + ∇ₓ J(x*_t, y) / ‖∇ₓ J(x*_t, y)‖₁` and
/// `x*_{t+1} = Clip_{x,ε}(x*_t + α · sign(g_{t+1}))`, with `α = ε / T` so that T steps can
/// just reach the ball's surface. Here ``steps`` is T, ``stepSize`` α and ``decay`` μ (the
/// paper's 1.0 by default); the L1 normalization is per example. The accumulated direction
/// stabilizes the updates and escapes poor local maxima, which is why its examples transfer
/// better to other models than I-FGSM's. For L2 (the paper's section 3.3) the step is
/// `α · g / ‖g‖₂`.
public struct MIFGSM: IterativeAttackSetting {
    public var threatModel: ThreatModel
    /// T, the number of iterations.
    public var steps: Int
    /// α, the size of one step in the threat model's norm; ε / T by default.
    public var stepSize: Float
    /// μ, the decay factor of the accumulated gradient (0 gives I-FGSM with α = ε/T).
    public var decay: Float
    /// J, the loss ascended.
    public var loss: AttackLoss
    /// Untargeted, or towards target classes.
    public var objective: Objective
    public var name: String { "mi-fgsm" }

    /// Creates the attack with the paper's settings by default: T = 10, α = ε/T, μ = 1.
    public init(
        threatModel: ThreatModel, steps: Int = 10, stepSize: Float? = nil, decay: Float = 1,
        loss: AttackLoss = .crossEntropy, objective: Objective = .untargeted
    ) {
        precondition(steps >= 1, "MI-FGSM needs at least one step")
        precondition(decay >= 0, "MI-FGSM's decay factor must not be negative")
        self.threatModel = threatModel
        self.steps = steps
        self.stepSize = stepSize ?? threatModel.epsilon / Float(steps)
        self.decay = decay
        self.loss = loss
        self.objective = objective
        precondition(self.stepSize > 0, "MI-FGSM's step size must be positive")
    }

    package var iterativeAttack: IterativeAttack {
        IterativeAttack(
            threatModel: threatModel, steps: steps, stepSize: stepSize, randomStart: false,
            restarts: 1, loss: loss, objective: objective, direction: .momentum(decay: decay))
    }
}
