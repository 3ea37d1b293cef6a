import BulwarkCore

/// Where projected gradient ascent starts.
public enum PGDStart: Sendable, Equatable {
    /// At the clean point (the zero perturbation).
    case zero
    /// At a random point of the ball: ``ThreatModel/randomStart(around:using:)`` (clipped to
    /// the box) or the embedding regions' random starts (Madry et al. 2018).
    case uniform
    /// At `x + U(−ε, ε)` per coordinate, not clipped to the box before the first gradient, as
    /// Wong et al.'s MNIST Fast-AT code does. L∞ box only.
    case unclippedUniform
    /// At `x + σ · N(0, 1)`, not projected before the first step (projected when there is no
    /// step): the TRADES and MART reference codes' start, σ = 0.001 there.
    case gaussian(standardDeviation: Float)

    /// The start a `randomStart` flag names: ``uniform`` when `random`, else ``zero``.
    public init(random: Bool) { self = random ? .uniform : .zero }
}

/// An attack that starts where a ``PGDStart`` says.
public protocol PGDStartedAttack {
    /// Where the attack starts.
    var start: PGDStart { get set }
}

extension PGDStartedAttack {
    /// Whether the attack starts at a random point of the ball rather than at the input.
    public var randomStart: Bool {
        get { start != .zero }
        set { start = PGDStart(random: newValue) }
    }
}

/// The loop every projected-gradient method runs, in every region of ``ThreatModel``: from a
/// start, `steps` times `x ← Π(x + α · d(∇ₓ L(x)))` with `d` the threat model's steepest-ascent
/// direction, the raw gradient, or MI-FGSM's momentum.
///
/// The loss is the caller's: a function of the iterate that returns a scalar (a per-example
/// loss summed over the batch, or a mean), differentiated with the tape. Attacks build it from
/// labels, targets or the clean prediction; the embedding methods from their model.
package struct PGDEngine: Sendable {
    package enum Direction: Sendable, Equatable {
        /// The threat model's steepest-ascent direction of the gradient.
        case steepestAscent
        /// The raw gradient (box only).
        case gradient
        /// The steepest-ascent direction of the accumulated `g ← μ·g + ∇/‖∇‖₁` (MI-FGSM, box only).
        case momentum(decay: Float)
    }

    package var threatModel: ThreatModel
    package var steps: Int
    package var stepSize: Float
    package var start: PGDStart
    package var direction: Direction

    package init(threatModel: ThreatModel, steps: Int, stepSize: Float, start: PGDStart, direction: Direction = .steepestAscent) {
        self.threatModel = threatModel
        self.steps = steps
        self.stepSize = stepSize
        self.start = start
        self.direction = direction
    }

    /// The start around `origin`, drawing from `generator` as the start requires.
    package func startingPoint<G: RandomNumberGenerator>(around origin: Tensor, support: ThreatModel.Support, using generator: inout G) -> Tensor {
        switch start {
        case .zero:
            return origin
        case .uniform:
            return threatModel.randomStart(around: origin, support: support, using: &generator)
        case .unclippedUniform:
            return threatModel.unclippedRandomStart(around: origin, using: &generator)
        case .gaussian(let standardDeviation):
            return origin + Tensor(randomNormal: origin.shape, standardDeviation: standardDeviation, using: &generator)
        }
    }

    /// Ascends `loss` from the start around `origin` (untraced) and returns the last iterate.
    /// `observer`, if given, receives each step's index and loss value before the step.
    package func ascend<G: RandomNumberGenerator>(
        from origin: Tensor, support: ThreatModel.Support = .everything, using generator: inout G,
        observer: ((_ step: Int, _ value: Float) -> Void)? = nil, loss: (Tensor) -> Tensor
    ) -> Tensor {
        var point = startingPoint(around: origin, support: support, using: &generator)
        var velocity: Tensor?
        for step in 0..<steps {
            let (value, gradient) = valueWithGradient(at: point, of: loss)
            observer?(step, value.scalar)
            switch direction {
            case .steepestAscent:
                point = threatModel.ascended(point, along: gradient, stepSize: stepSize, around: origin, support: support)
            case .gradient:
                point = threatModel.projected(point + gradient * stepSize, around: origin, support: support)
            case .momentum(let decay):
                let normalized = l1Normalized(gradient)
                let accumulated = velocity.map { $0 * decay + normalized } ?? normalized
                velocity = accumulated
                point = threatModel.ascended(point, along: accumulated, stepSize: stepSize, around: origin, support: support)
            }
        }
        // With no steps a Gaussian start still has to lie in the ball (and the box).
        if steps == 0, case .gaussian = start { return threatModel.projected(point, around: origin, support: support) }
        return point
    }
}

/// `g / ‖g‖₁` per example (zero where the gradient is zero), MI-FGSM's normalization that puts
/// every step's gradient on the same scale before it joins the momentum.
private func l1Normalized(_ gradient: Tensor) -> Tensor {
    normalizedPerExample(gradient, threshold: 1e-30) { row in Float(row.reduce(0.0) { $0 + Double(abs($1)) }) }
}

/// Each example of `gradient` (a row of its first axis) divided by its `length`, computed in
/// `Double`; zero where the length is at most `threshold`.
func normalizedPerExample(_ gradient: Tensor, threshold: Float, length: (ArraySlice<Float>) -> Float) -> Tensor {
    let batch = gradient.shape.first ?? 1
    let width = gradient.scalarCount / Swift.max(batch, 1)
    var scalars = gradient.array
    for row in 0..<batch {
        let range = (row * width)..<((row + 1) * width)
        let rowLength = length(scalars[range])
        let scale: Float = rowLength > threshold ? 1 / rowLength : 0
        for i in range { scalars[i] *= scale }
    }
    return Tensor(shape: gradient.shape, scalars: scalars)
}
