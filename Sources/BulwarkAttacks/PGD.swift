import BulwarkCore
import BulwarkNN

/// Projected gradient descent on the negative loss (Madry et al. 2018, "Towards deep learning
/// models resistant to adversarial attacks"). Without the random start it is Kurakin et al.'s
/// iterative method, which ``BIM`` offers with that paper's step schedule.
///
/// From `x⁰` = ``start`` (`x`, a random point of the ball, or TRADES's Gaussian start), repeat
/// `steps` times
/// `xᵗ⁺¹ = Π_{B(x, ε) ∩ [0,1]}(xᵗ + α · d(∇ₓ L(f(xᵗ), y)))`, where `α` is ``stepSize`` and `d`
/// the threat model's steepest-ascent direction (sign for L∞, normalized gradient for L2).
/// With several ``restarts`` each example keeps, over restarts, the first iterate that fools
/// the model, else the one with the highest loss. It runs on an inference copy of the model,
/// or on the model as it is (``mode``) when a training method attacks the model it trains.
public struct PGD: IterativeAttackSetting, PGDStartedAttack {
    public var threatModel: ThreatModel
    /// K, the number of steps per restart.
    public var steps: Int
    /// α, the size of one step in the threat model's norm.
    public var stepSize: Float
    /// Where each restart begins (a random point of the ball when ``randomStart``).
    public var start: PGDStart
    /// How many independent runs; the worst case per example is kept.
    public var restarts: Int
    /// The loss ascended.
    public var loss: AttackLoss
    /// Untargeted, towards target classes, or away from the clean prediction.
    public var objective: Objective
    /// The model differentiated: an inference copy (evaluation) or the model as it is.
    public var mode: AttackModelMode
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
        self.init(threatModel: threatModel, steps: steps, stepSize: stepSize, start: PGDStart(random: randomStart),
                  restarts: restarts, loss: loss, objective: objective)
    }

    /// Creates the attack with a chosen start and model mode. With no steps it returns the
    /// start (projected onto the ball).
    public init(
        threatModel: ThreatModel, steps: Int, stepSize: Float, start: PGDStart, restarts: Int = 1,
        loss: AttackLoss = .crossEntropy, objective: Objective = .untargeted, mode: AttackModelMode = .inference
    ) {
        precondition(steps >= 0 && restarts >= 1, "PGD needs a non-negative number of steps and at least one restart")
        precondition(steps == 0 || stepSize > 0, "PGD step size must be positive")
        self.threatModel = threatModel
        self.steps = steps
        self.stepSize = stepSize
        self.start = start
        self.restarts = restarts
        self.loss = loss
        self.objective = objective
        self.mode = mode
    }

    package var iterativeAttack: IterativeAttack {
        IterativeAttack(
            threatModel: threatModel, steps: steps, stepSize: stepSize, start: start,
            restarts: restarts, loss: loss, objective: objective, direction: .steepestAscent)
    }

    public func perturb<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        iterativeAttack.run(inputs, labels: labels, model: model, mode: mode.layerMode(of: model), using: &generator, lossObserver: onProgress.map { report in
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
public struct FGSM: IterativeAttackSetting, PGDStartedAttack {
    public var threatModel: ThreatModel
    /// α; defaults to ε.
    public var stepSize: Float
    /// Where the step starts (a random point of the ball when ``randomStart``).
    public var start: PGDStart
    public var loss: AttackLoss
    public var objective: Objective
    /// The model differentiated: an inference copy (evaluation) or the model as it is.
    public var mode: AttackModelMode
    public var name: String { "fgsm" }

    /// Creates the attack; `stepSize` defaults to the threat model's ε.
    public init(
        threatModel: ThreatModel, stepSize: Float? = nil, randomStart: Bool = false,
        loss: AttackLoss = .crossEntropy, objective: Objective = .untargeted
    ) {
        self.init(threatModel: threatModel, stepSize: stepSize, start: PGDStart(random: randomStart), loss: loss, objective: objective)
    }

    /// Creates the attack with a chosen start and model mode; `stepSize` defaults to ε.
    public init(
        threatModel: ThreatModel, stepSize: Float? = nil, start: PGDStart,
        loss: AttackLoss = .crossEntropy, objective: Objective = .untargeted, mode: AttackModelMode = .inference
    ) {
        precondition(start != .unclippedUniform || threatModel.norm == .lInfinity, "an unclipped uniform start is defined for L∞ only")
        self.threatModel = threatModel
        self.stepSize = stepSize ?? threatModel.epsilon
        self.start = start
        self.loss = loss
        self.objective = objective
        self.mode = mode
    }

    package var iterativeAttack: IterativeAttack {
        IterativeAttack(
            threatModel: threatModel, steps: 1, stepSize: stepSize, start: start,
            restarts: 1, loss: loss, objective: objective, direction: .steepestAscent)
    }
}

/// Plain iterative gradient ascent on the loss, done right: `xᵗ⁺¹ = Π(xᵗ + α ∇ₓ L)` with the
/// raw (unnormalized) gradient of the per-example loss, projected onto the ε-ball and clipped
/// to the valid range after every step.
///
/// Its steps scale with the gradient's magnitude, so α must be tuned to the model; PGD's
/// normalized steps are the better default.
public struct GradientAscent: IterativeAttackSetting {
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

    package var iterativeAttack: IterativeAttack {
        IterativeAttack(
            threatModel: threatModel, steps: steps, stepSize: stepSize, randomStart: false,
            restarts: 1, loss: loss, objective: .untargeted, direction: .gradient)
    }
}

/// Which model an attack differentiates.
public enum AttackModelMode: Sendable, Equatable {
    /// A copy in inference mode (batch normalization's running statistics, no dropout), as an
    /// evaluation does and as the TRADES and MART reference codes do (`model.eval()`).
    case inference
    /// The model in its own mode, as PGD-AT and Fast-AT attack the model they train.
    case current

    package func layerMode<Model: Layer>(of model: Model) -> LayerMode {
        self == .inference ? .inference : model.mode
    }
}

/// An attack that is a setting of ``IterativeAttack`` (PGD, FGSM, BIM, MI-FGSM, gradient
/// ascent): its `perturb` runs that loop on the model in ``mode``.
package protocol IterativeAttackSetting: Attack {
    /// The loop the attack runs.
    var iterativeAttack: IterativeAttack { get }
    /// The model differentiated. Default: an inference copy.
    var mode: AttackModelMode { get }
}

extension IterativeAttackSetting {
    package var mode: AttackModelMode { .inference }

    public func perturb<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        iterativeAttack.run(inputs, labels: labels, model: model, mode: mode.layerMode(of: model), using: &generator)
    }
}

/// The image attacks' use of ``PGDEngine``: labels, targets or the clean prediction make the
/// loss, and restarts keep each example's worst case. FGSM, PGD, BIM, MI-FGSM and gradient
/// ascent share it.
package struct IterativeAttack {
    package typealias Direction = PGDEngine.Direction

    package var threatModel: ThreatModel
    package var steps: Int
    package var stepSize: Float
    package var start: PGDStart
    package var restarts: Int
    package var loss: AttackLoss
    package var objective: Objective
    package var direction: Direction

    package init(
        threatModel: ThreatModel, steps: Int, stepSize: Float, start: PGDStart, restarts: Int,
        loss: AttackLoss, objective: Objective, direction: Direction
    ) {
        precondition(threatModel.region == .box, "image attacks perturb inputs in the box; \(threatModel.region) balls are for EmbeddingPGD")
        // The clean prediction the divergence compares with has no worst case to keep over restarts.
        precondition(restarts == 1 || objective != .divergence, "the divergence objective takes one restart")
        self.threatModel = threatModel
        self.steps = steps
        self.stepSize = stepSize
        self.start = start
        self.restarts = restarts
        self.loss = loss
        self.objective = objective
        self.direction = direction
    }

    package init(
        threatModel: ThreatModel, steps: Int, stepSize: Float, randomStart: Bool, restarts: Int,
        loss: AttackLoss, objective: Objective, direction: Direction
    ) {
        self.init(threatModel: threatModel, steps: steps, stepSize: stepSize, start: PGDStart(random: randomStart),
                  restarts: restarts, loss: loss, objective: objective, direction: direction)
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
        var targeted = false
        var lossLabels = labels
        var cleanLogits: Tensor?
        switch objective {
        case .untargeted:
            break
        case .targeted(let choice):
            (targeted, lossLabels) = (true, targets(choice, inputs: original, labels: labels, model: &model, using: &generator))
        case .divergence:
            cleanLogits = model(original).detached
        }
        func perExampleLoss(_ logits: Tensor) -> Tensor {
            if let cleanLogits { return klDivergence(logits: logits, targetLogits: cleanLogits, reduction: .none) }
            return attackLoss(loss, logits: logits, labels: lossLabels, targeted: targeted, trueLabels: labels)
        }
        let engine = PGDEngine(threatModel: threatModel, steps: steps, stepSize: stepSize, start: start, direction: direction)
        let count = Float(Swift.max(labels.count, 1))
        let observer = lossObserver.map { observe in { (step: Int, value: Float) in observe(step, value / count) } }
        var best = original
        var bestFooled = [Bool](repeating: false, count: labels.count)
        var bestLoss = [Float](repeating: -.infinity, count: labels.count)
        for _ in 0..<restarts {
            let adversarial = engine.ascend(from: original, using: &generator, observer: observer) { x in perExampleLoss(model(x)).sum() }
            if restarts == 1 { return adversarial }
            // Keep, per example, a fooling iterate first and the highest loss second.
            let logits = model(adversarial)
            let losses = perExampleLoss(logits).array
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
