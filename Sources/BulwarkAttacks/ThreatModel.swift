import BulwarkCore

/// The norm that bounds a perturbation.
public enum Norm: String, Sendable, Codable, CaseIterable {
    /// ‖δ‖∞ = maxᵢ |δᵢ|.
    case lInfinity = "linf"
    /// ‖δ‖₂ = √Σᵢ δᵢ².
    case l2
}

/// What an adversary may do to an input: move it within an ε-ball of a norm, staying inside
/// the valid input box (pixels in `[0, 1]`).
///
/// This is the one place that knows projection onto the ball and the box, the steepest-ascent
/// direction of each norm and random starts; every attack and training method uses it.
/// Norms are per example: the first axis of every tensor is the batch.
public struct ThreatModel: Sendable, Equatable, Codable {
    /// The norm of the ball.
    public var norm: Norm
    /// ε, the ball's radius.
    public var epsilon: Float
    /// The valid input range; adversarial inputs are clipped into it.
    public var bounds: ClosedRange<Float>

    /// Creates a threat model.
    public init(norm: Norm, epsilon: Float, bounds: ClosedRange<Float> = 0...1) {
        precondition(epsilon >= 0 && epsilon.isFinite, "epsilon must be finite and non-negative, got \(epsilon)")
        self.norm = norm
        self.epsilon = epsilon
        self.bounds = bounds
    }

    /// An L∞ ball of radius `epsilon` in `[0, 1]`.
    public static func lInfinity(epsilon: Float) -> ThreatModel { ThreatModel(norm: .lInfinity, epsilon: epsilon) }

    /// An L2 ball of radius `epsilon` in `[0, 1]`.
    public static func l2(epsilon: Float) -> ThreatModel { ThreatModel(norm: .l2, epsilon: epsilon) }

    /// The norm of each example's perturbation `adversarial − original`.
    public func norms(of perturbation: Tensor) -> [Float] {
        let batch = perturbation.shape.first ?? 1
        let width = perturbation.scalarCount / Swift.max(batch, 1)
        let values = perturbation.array
        return (0..<batch).map { row in
            let slice = values[(row * width)..<((row + 1) * width)]
            switch norm {
            case .lInfinity: return slice.reduce(0) { Swift.max($0, Swift.abs($1)) }
            case .l2: return Float(slice.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
            }
        }
    }

    /// `adversarial` moved to the nearest point of the ε-ball around `original` and then
    /// clipped to ``bounds``. Clipping moves each coordinate towards `original` (which lies in
    /// the box), so it never leaves the ball. The result is untraced.
    public func project(_ adversarial: Tensor, around original: Tensor) -> Tensor {
        precondition(adversarial.shape == original.shape, "projection needs equal shapes, got \(adversarial.shape) and \(original.shape)")
        let (low, high, epsilon) = (bounds.lowerBound, bounds.upperBound, self.epsilon)
        let batch = original.shape.first ?? 1
        let width = original.scalarCount / Swift.max(batch, 1)
        var scalars = adversarial.array
        let origin = original.array
        switch norm {
        case .lInfinity:
            for i in scalars.indices {
                let delta = Swift.min(Swift.max(scalars[i] - origin[i], -epsilon), epsilon)
                scalars[i] = Swift.min(Swift.max(origin[i] + delta, low), high)
            }
        case .l2:
            for row in 0..<batch {
                let range = (row * width)..<((row + 1) * width)
                var squared: Double = 0
                for i in range { let d = Double(scalars[i] - origin[i]); squared += d * d }
                let length = Float(squared.squareRoot())
                let scale = length > epsilon ? epsilon / length : 1
                for i in range {
                    scalars[i] = Swift.min(Swift.max(origin[i] + (scalars[i] - origin[i]) * scale, low), high)
                }
            }
        }
        return Tensor(shape: original.shape, scalars: scalars)
    }

    /// The unit-norm direction of steepest ascent of a linear function with this gradient:
    /// `sign(g)` for L∞, `g / ‖g‖₂` per example for L2 (zero where the gradient is zero).
    public func steepestAscentDirection(_ gradient: Tensor) -> Tensor {
        switch norm {
        case .lInfinity:
            return gradient.detached.sign()
        case .l2:
            let batch = gradient.shape.first ?? 1
            let width = gradient.scalarCount / Swift.max(batch, 1)
            var scalars = gradient.array
            for row in 0..<batch {
                let range = (row * width)..<((row + 1) * width)
                let length = Float(scalars[range].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
                let scale: Float = length > 1e-12 ? 1 / length : 0
                for i in range { scalars[i] *= scale }
            }
            return Tensor(shape: gradient.shape, scalars: scalars)
        }
    }

    /// `project(adversarial + stepSize · steepestAscentDirection(gradient), around: original)`,
    /// one step of PGD or FGSM, with the same result; for L∞ one pass over the scalars instead
    /// of four tensors.
    package func ascended(_ adversarial: Tensor, along gradient: Tensor, stepSize: Float, around original: Tensor) -> Tensor {
        guard norm == .lInfinity else {
            return project(adversarial + steepestAscentDirection(gradient) * stepSize, around: original)
        }
        precondition(adversarial.shape == original.shape && gradient.shape == original.shape,
                     "an attack step needs equal shapes, got \(adversarial.shape), \(gradient.shape) and \(original.shape)")
        let (low, high, epsilon) = (bounds.lowerBound, bounds.upperBound, self.epsilon)
        return Tensor.overwriting(shape: original.shape, { out in
            adversarial.scalars.withUnsafeBufferPointer { x in
                gradient.scalars.withUnsafeBufferPointer { g in
                    original.scalars.withUnsafeBufferPointer { o in
                        parallelChunks(out.count, grain: 1 << 15) { range in
                            for i in range {
                                let direction: Float = g[i] > 0 ? 1 : (g[i] < 0 ? -1 : 0)
                                let delta = Swift.min(Swift.max(x[i] + direction * stepSize - o[i], -epsilon), epsilon)
                                out[i] = Swift.min(Swift.max(o[i] + delta, low), high)
                            }
                        }
                    }
                }
            }
        })
    }

    /// `original` plus uniform noise in [−ε, ε] per coordinate, not clipped to the box: the
    /// start of Wong et al.'s MNIST Fast-AT code. L∞ only.
    package func unclippedRandomStart<G: RandomNumberGenerator>(around original: Tensor, using generator: inout G) -> Tensor {
        precondition(norm == .lInfinity, "an unclipped random start is defined for L∞ only")
        return original.detached + Tensor(randomUniform: original.shape, in: -epsilon...epsilon, using: &generator)
    }

    /// A random point of the ε-ball around `original`, clipped to the box: uniform per
    /// coordinate for L∞; uniform in the ball for L2 (a Gaussian direction scaled by
    /// ε·u^(1/d)).
    public func randomStart<G: RandomNumberGenerator>(around original: Tensor, using generator: inout G) -> Tensor {
        switch norm {
        case .lInfinity:
            let noise = Tensor(randomUniform: original.shape, in: -epsilon...epsilon, using: &generator)
            return project(original.detached + noise, around: original)
        case .l2:
            let batch = original.shape.first ?? 1
            let width = original.scalarCount / Swift.max(batch, 1)
            var direction = steepestAscentDirection(Tensor(randomNormal: original.shape, using: &generator)).array
            for row in 0..<batch {
                let radius = epsilon * Float(pow(Double(generator.nextUnitFloat()), 1 / Double(Swift.max(width, 1))))
                for i in (row * width)..<((row + 1) * width) { direction[i] *= radius }
            }
            return project(original.detached + Tensor(shape: original.shape, scalars: direction), around: original)
        }
    }
}

import Foundation
