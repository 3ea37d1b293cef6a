import BulwarkCore
import BulwarkNN

/// Projected gradient descent on the negative loss (Madry et al. 2018, "Towards deep learning
/// models resistant to adversarial attacks"). Without the random start it is Kurakin et al.'s
/// iterative method, which ``BIM`` offers with that paper's step schedule.
///
/// From `x⁰ = x` or a random point of the ball, repeat `steps` times
/// `xᵗ⁺¹ = Π_{B(x, ε) ∩ [0,1]}(xᵗ + α · d(∇ₓ L(f(xᵗ), y)))`, where `α` is ``stepSize`` and `d`
/// the threat model's steepest-ascent direction (sign for L∞, normalized gradient for L2).
/// With several ``restarts`` each example keeps, over restarts, the first iterate that fools
/// the model, else the one with the highest loss.
public struct PGD: Attack {
    public var threatModel: ThreatModel
    /// K, the number of steps per restart.
    public var steps: Int
    /// α, the size of one step in the threat model's norm.
    public var stepSize: Float
    /// Whether each restart begins at a uniformly random point of the ball.
    public var randomStart: Bool
    /// How many independent runs; the worst case per example is kept.
    public var restarts: Int
    /// The loss ascended.
    public var loss: AttackLoss
    /// Untargeted, or towards target classes.
    public var objective: Objective
    public var name: String { "pgd" }
    /// Called after every step with the steps done of `steps × restarts` in one `perturb`.
    public var onProgress: IterationProgress?

    /// Creates the attack. Madry et al.'s MNIST setting is ε = 0.3, 40 steps of 0.01 with a
    /// random start.
    public init(
        threatModel: ThreatModel, steps: Int, stepSize: Float, randomStart: Bool = true,
        restarts: Int = 1, loss: AttackLoss = .crossEntropy, objective: Objective = .untargeted
    ) {
        precondition(steps >= 1 && restarts >= 1, "PGD needs at least one step and one restart")
        precondition(stepSize > 0, "PGD step size must be positive")
        self.threatModel = threatModel
        self.steps = steps
        self.stepSize = stepSize
        self.randomStart = randomStart
        self.restarts = restarts
        self.loss = loss
        self.objective = objective
    }

    public func perturb<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        IterativeAttack(
            threatModel: threatModel, steps: steps, stepSize: stepSize, randomStart: randomStart,
            restarts: restarts, loss: loss, objective: objective, direction: .steepestAscent
        ).run(inputs, labels: labels, model: model, using: &generator, lossObserver: onProgress.map { report in
            var done = 0
            return { [steps, restarts] _, _ in
                done += 1
                report(done, steps * restarts)
            }
        })
    }
}

/// The fast gradient sign method (Goodfellow, Shlens and Szegedy 2015): one step of size ε
/// (α) in the steepest-ascent direction, `x' = Π(x + ε · sign(∇ₓ L))` for L∞ (the fast
/// gradient method with a normalized gradient for L2).
///
/// With `randomStart` and a step of 1.25 ε it is the inner attack of Fast-AT (Wong, Rice and
/// Kolter 2020).
public struct FGSM: Attack {
    public var threatModel: ThreatModel
    /// α; defaults to ε.
    public var stepSize: Float
    /// Whether to step from a random point of the ball.
    public var randomStart: Bool
    public var loss: AttackLoss
    public var objective: Objective
    public var name: String { "fgsm" }

    /// Creates the attack; `stepSize` defaults to the threat model's ε.
    public init(
        threatModel: ThreatModel, stepSize: Float? = nil, randomStart: Bool = false,
        loss: AttackLoss = .crossEntropy, objective: Objective = .untargeted
    ) {
        self.threatModel = threatModel
        self.stepSize = stepSize ?? threatModel.epsilon
        self.randomStart = randomStart
        self.loss = loss
        self.objective = objective
    }

    public func perturb<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        IterativeAttack(
            threatModel: threatModel, steps: 1, stepSize: stepSize, randomStart: randomStart,
            restarts: 1, loss: loss, objective: objective, direction: .steepestAscent
        ).run(inputs, labels: labels, model: model, using: &generator)
    }
}

/// Plain iterative gradient ascent on the loss, done right: `xᵗ⁺¹ = Π(xᵗ + α ∇ₓ L)` with the
/// raw (unnormalized) gradient of the per-example loss, projected onto the ε-ball and clipped
/// to the valid range after every step.
///
/// Its steps scale with the gradient's magnitude, so α must be tuned to the model; PGD's
/// normalized steps are the better default.
public struct GradientAscent: Attack {
    public var threatModel: ThreatModel
    /// K.
    public var steps: Int
    /// α, multiplying the raw gradient.
    public var stepSize: Float
    public var loss: AttackLoss
    public var name: String { "gradient-ascent" }

    /// Creates the attack.
    public init(threatModel: ThreatModel, steps: Int, stepSize: Float, loss: AttackLoss = .crossEntropy) {
        precondition(steps >= 1 && stepSize > 0, "gradient ascent needs at least one step and a positive step size")
        self.threatModel = threatModel
        self.steps = steps
        self.stepSize = stepSize
        self.loss = loss
    }

    public func perturb<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        IterativeAttack(
            threatModel: threatModel, steps: steps, stepSize: stepSize, randomStart: false,
            restarts: 1, loss: loss, objective: .untargeted, direction: .gradient
        ).run(inputs, labels: labels, model: model, using: &generator)
    }
}

/// The loop FGSM, PGD, BIM, MI-FGSM and gradient ascent share.
package struct IterativeAttack {
    package enum Direction: Equatable {
        /// The threat model's steepest-ascent direction of the gradient.
        case steepestAscent
        /// The raw gradient.
        case gradient
        /// The steepest-ascent direction of the accumulated `g ← μ·g + ∇/‖∇‖₁` (MI-FGSM).
        case momentum(decay: Float)
    }

    package var threatModel: ThreatModel
    package var steps: Int
    package var stepSize: Float
    package var randomStart: Bool
    package var restarts: Int
    package var loss: AttackLoss
    package var objective: Objective
    package var direction: Direction
    /// Whether a random start is clipped to the box before the first gradient (the default);
    /// Wong et al.'s MNIST code takes it at the unclipped point. L∞ only.
    package var clipsStart = true

    package init(
        threatModel: ThreatModel, steps: Int, stepSize: Float, randomStart: Bool, restarts: Int,
        loss: AttackLoss, objective: Objective, direction: Direction
    ) {
        self.threatModel = threatModel
        self.steps = steps
        self.stepSize = stepSize
        self.randomStart = randomStart
        self.restarts = restarts
        self.loss = loss
        self.objective = objective
        self.direction = direction
    }

    /// Runs the attack on a copy of `model` in the given mode (inference unless a training
    /// method asks for its model as it is). `lossObserver`, if given, receives the mean loss at
    /// the start of every step (for the sanity check that PGD's loss rises).
    package func run<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], model: Model, mode: LayerMode = .inference, using generator: inout G,
        lossObserver: ((_ step: Int, _ meanLoss: Float) -> Void)? = nil
    ) -> Tensor {
        let original = inputs.detached
        var model = model.with(mode: mode)
        let targeted: Bool
        let lossLabels: [Int32]
        switch objective {
        case .untargeted:
            (targeted, lossLabels) = (false, labels)
        case .targeted(let choice):
            (targeted, lossLabels) = (true, targets(choice, inputs: original, labels: labels, model: &model, using: &generator))
        }
        var best = original
        var bestFooled = [Bool](repeating: false, count: labels.count)
        var bestLoss = [Float](repeating: -.infinity, count: labels.count)
        for _ in 0..<restarts {
            var adversarial = original
            if randomStart {
                adversarial = clipsStart
                    ? threatModel.randomStart(around: original, using: &generator)
                    : threatModel.unclippedRandomStart(around: original, using: &generator)
            }
            var velocity: Tensor?
            for iteration in 0..<steps {
                let (value, gradient) = valueWithGradient(at: adversarial) { x in
                    attackLoss(loss, logits: model(x), labels: lossLabels, targeted: targeted, trueLabels: labels).sum()
                }
                lossObserver?(iteration, value.scalar / Float(Swift.max(labels.count, 1)))
                switch direction {
                case .steepestAscent:
                    adversarial = threatModel.ascended(adversarial, along: gradient, stepSize: stepSize, around: original)
                case .gradient:
                    adversarial = threatModel.project(adversarial + gradient * stepSize, around: original)
                case .momentum(let decay):
                    let normalized = l1Normalized(gradient)
                    let accumulated = velocity.map { $0 * decay + normalized } ?? normalized
                    velocity = accumulated
                    adversarial = threatModel.ascended(adversarial, along: accumulated, stepSize: stepSize, around: original)
                }
            }
            if restarts == 1 { return adversarial }
            // Keep, per example, a fooling iterate first and the highest loss second.
            let logits = model(adversarial)
            let losses = attackLoss(loss, logits: logits, labels: lossLabels, targeted: targeted, trueLabels: labels).array
            let predicted = predictions(logits)
            let width = original.scalarCount / Swift.max(labels.count, 1)
            var bestScalars = best.array
            let candidate = adversarial.array
            for row in labels.indices {
                let fooled = targeted ? predicted[row] == lossLabels[row] : predicted[row] != labels[row]
                if (fooled && !bestFooled[row]) || (fooled == bestFooled[row] && losses[row] > bestLoss[row]) {
                    bestFooled[row] = fooled
                    bestLoss[row] = losses[row]
                    bestScalars.replaceSubrange((row * width)..<((row + 1) * width), with: candidate[(row * width)..<((row + 1) * width)])
                }
            }
            best = Tensor(shape: original.shape, scalars: bestScalars)
        }
        return best
    }
}

/// `g / ‖g‖₁` per example (zero where the gradient is zero), MI-FGSM's normalization that puts
/// every step's gradient on the same scale before it joins the momentum.
private func l1Normalized(_ gradient: Tensor) -> Tensor {
    let batch = gradient.shape.first ?? 1
    let width = gradient.scalarCount / Swift.max(batch, 1)
    var scalars = gradient.array
    for row in 0..<batch {
        let range = (row * width)..<((row + 1) * width)
        let length = Float(scalars[range].reduce(0.0) { $0 + Double(abs($1)) })
        let scale: Float = length > 1e-30 ? 1 / length : 0
        for i in range { scalars[i] *= scale }
    }
    return Tensor(shape: gradient.shape, scalars: scalars)
}
