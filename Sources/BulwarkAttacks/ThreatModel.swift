import BulwarkCore

/// The norm that bounds a perturbation.
public enum Norm: String, Sendable, Codable, CaseIterable {
    /// ‖δ‖∞ = maxᵢ |δᵢ|.
    case lInfinity = "linf"
    /// ‖δ‖₂ = √Σᵢ δᵢ².
    case l2
}

/// What an adversary may do: move a point within an ε-ball of a norm. Three regions carry a
/// ball: an image input in the valid box (pixels in `[0, 1]`), an example's embedded token
/// sequence (L2 per example over its real tokens, unbounded), and the embedding matrix a batch
/// shares (the Frobenius norm over the whole matrix, on the rows of the batch's tokens).
///
/// This is the one place that knows projection onto each ball, the steepest-ascent direction
/// of each norm, norms and random starts; every attack and training method uses it. Norms are
/// per example (the first axis of every tensor is the batch), except the embedding matrix's,
/// which is one norm for the whole batch.
public struct ThreatModel: Sendable, Equatable, Codable {
    /// Where the perturbation lives, which fixes how its norm is taken and what bounds it.
    public enum Region: String, Sendable, Equatable, Codable, CaseIterable {
        /// An input `[N, …]` perturbed per example and clipped to the threat model's ``bounds``.
        case box
        /// Each example's embedded sequence `[count, length, dimension]`: `‖δ ⊙ m‖₂ ≤ ε` per
        /// example with `m` the padding mask, `δ` zero at padding, no box (Miyato et al. 2017,
        /// Zhu et al. 2020). L2 only.
        case embeddedSequence = "sequence"
        /// The shared embedding matrix `[vocabularySize, dimension]`: `‖r‖_F ≤ ε` over the whole
        /// matrix, `r` zero outside the rows of the batch's tokens, no box. L2 only.
        case embeddingMatrix = "matrix"
    }

    /// The norm of the ball.
    public var norm: Norm
    /// ε, the ball's radius.
    public var epsilon: Float
    /// The valid input range of ``Region/box``; adversarial inputs are clipped into it.
    /// Unbounded for the embedding regions.
    public var bounds: ClosedRange<Float>
    /// Where the perturbation lives.
    public var region: Region

    /// Creates a threat model of an input in the box `bounds`.
    public init(norm: Norm, epsilon: Float, bounds: ClosedRange<Float> = 0...1) {
        precondition(epsilon >= 0 && epsilon.isFinite, "epsilon must be finite and non-negative, got \(epsilon)")
        self.norm = norm
        self.epsilon = epsilon
        self.bounds = bounds
        self.region = .box
    }

    /// Creates the L2 threat model of an embedding region (``Region/embeddedSequence`` or
    /// ``Region/embeddingMatrix``).
    public init(epsilon: Float, region: Region) {
        precondition(region != .box, "a box threat model needs its norm and bounds")
        self.init(norm: .l2, epsilon: epsilon, bounds: -Float.infinity...Float.infinity)
        self.region = region
    }

    /// An L∞ ball of radius `epsilon` in `[0, 1]`.
    public static func lInfinity(epsilon: Float) -> ThreatModel { ThreatModel(norm: .lInfinity, epsilon: epsilon) }

    /// An L2 ball of radius `epsilon` in `[0, 1]`.
    public static func l2(epsilon: Float) -> ThreatModel { ThreatModel(norm: .l2, epsilon: epsilon) }

    /// The per-example L2 ball of radius `epsilon` of an embedded sequence.
    public static func embeddedSequence(epsilon: Float) -> ThreatModel { ThreatModel(epsilon: epsilon, region: .embeddedSequence) }

    /// The Frobenius ball of radius `epsilon` of the shared embedding matrix.
    public static func embeddingMatrix(epsilon: Float) -> ThreatModel { ThreatModel(epsilon: epsilon, region: .embeddingMatrix) }

    /// The same ball in another region (its radius and, for the box, norm and bounds kept).
    public func inRegion(_ region: Region) -> ThreatModel {
        region == .box ? ThreatModel(norm: norm, epsilon: epsilon, bounds: bounds) : ThreatModel(epsilon: epsilon, region: region)
    }

    private enum CodingKeys: String, CodingKey { case norm, epsilon, bounds, region }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.norm = try container.decode(Norm.self, forKey: .norm)
        self.epsilon = try container.decode(Float.self, forKey: .epsilon)
        self.region = try container.decodeIfPresent(Region.self, forKey: .region) ?? .box
        self.bounds = region == .box ? try container.decode(ClosedRange<Float>.self, forKey: .bounds) : -Float.infinity...Float.infinity
        guard epsilon >= 0 && epsilon.isFinite else {
            throw DecodingError.dataCorruptedError(forKey: .epsilon, in: container, debugDescription: "epsilon must be finite and non-negative, got \(epsilon)")
        }
        guard region == .box || norm == .l2 else {
            throw DecodingError.dataCorruptedError(forKey: .norm, in: container, debugDescription: "the \(region) region is an L2 ball, not \(norm.rawValue)")
        }
    }

    /// Encodes a box as it always was (norm, ε, bounds) and an embedding region by its name.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(norm, forKey: .norm)
        try container.encode(epsilon, forKey: .epsilon)
        if region == .box { try container.encode(bounds, forKey: .bounds) } else { try container.encode(region, forKey: .region) }
    }

    /// The norm of each example's perturbation `adversarial − original` (of the whole matrix for
    /// ``Region/embeddingMatrix``: one value), accumulated in Float64 for L2.
    public func norms(of perturbation: Tensor) -> [Float] {
        let batch = region == .embeddingMatrix ? 1 : (perturbation.shape.first ?? 1)
        let width = batch == 0 ? 0 : perturbation.scalarCount / Swift.max(batch, 1)
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
            return normalizedPerExample(gradient, threshold: 1e-12) { row in Float(row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()) }
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
