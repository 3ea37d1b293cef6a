import BulwarkCore

/// The embedding regions' balls: steepest ascent, projection and random starts of a
/// perturbation of an embedded sequence (per example, masked) or of the embedding matrix
/// (Frobenius, on the batch's rows). Neither has a box.
extension ThreatModel {
    /// The coordinates of one batch's perturbation that the ball may move; every other
    /// coordinate stays zero.
    public enum Support: Sendable {
        /// Every coordinate (``Region/box``).
        case everything
        /// The real tokens' positions of an embedded sequence: the padding mask `[count, length]`
        /// of ``Region/embeddedSequence``.
        case positions(mask: Tensor)
        /// The rows of the batch's tokens in the embedding matrix (``Region/embeddingMatrix``).
        case rows([Int])
    }

    // MARK: The embedded sequence

    /// The steepest-ascent direction of unit L2 norm per example, `g ⊙ m / ‖g ⊙ m‖₂` (zero for
    /// an example whose masked gradient is zero); `gradient` is `[count, length, dimension]`,
    /// `mask` `[count, length]`.
    public func steepestAscent(along gradient: Tensor, mask: Tensor) -> Tensor {
        let masked = masking(gradient, mask: mask)
        return scaling(masked, by: norms(of: masked).map { $0 > 0 ? 1 / $0 : 0 })
    }

    /// `δ ⊙ m` scaled down per example onto the ball of radius ε (unchanged when inside).
    public func project(_ perturbation: Tensor, mask: Tensor) -> Tensor {
        let masked = masking(perturbation, mask: mask)
        return scaling(masked, by: norms(of: masked).map { $0 > epsilon ? epsilon / $0 : 1 })
    }

    /// A random perturbation of an embedded sequence: a uniform direction over the real tokens
    /// with a norm drawn uniformly in `[0, ε]` per example.
    public func randomStart<G: RandomNumberGenerator>(shape: [Int], mask: Tensor, using generator: inout G) -> Tensor {
        let direction = steepestAscent(along: Tensor(randomNormal: shape, using: &generator), mask: mask)
        return scaling(direction, by: (0..<shape[0]).map { _ in epsilon * Float.random(in: 0...1, using: &generator) })
    }

    private func masking(_ values: Tensor, mask: Tensor) -> Tensor {
        precondition(values.rank == 3 && Array(values.shape.prefix(2)) == mask.shape,
                     "perturbation \(values.shape) and mask \(mask.shape) disagree")
        return (values.detached * mask.detached.reshaped(to: mask.shape + [1])).detached
    }

    private func scaling(_ values: Tensor, by factors: [Float]) -> Tensor {
        (values * Tensor(shape: [factors.count, 1, 1], scalars: factors)).detached
    }

    // MARK: The embedding matrix

    /// `‖r‖_F`, accumulated in Float64.
    package static func frobeniusNorm(of perturbation: Tensor) -> Float {
        Float(perturbation.array.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
    }

    /// `g / ‖g‖_F` over the whole matrix, or zero where `g` is zero.
    package func matrixSteepestAscent(along gradient: Tensor) -> Tensor {
        let norm = Self.frobeniusNorm(of: gradient)
        return norm > 0 ? (gradient.detached * (1 / norm)).detached : Tensor(zeros: gradient.shape)
    }

    /// `r` scaled down onto the Frobenius ball (unchanged inside it).
    package func projectMatrix(_ perturbation: Tensor) -> Tensor {
        let norm = Self.frobeniusNorm(of: perturbation)
        return norm > epsilon ? (perturbation.detached * (epsilon / norm)).detached : perturbation.detached
    }

    /// The distinct real tokens (index ≥ 1) of `[count, length]` `tokens`, ascending: the rows
    /// of the embedding matrix a batch reads.
    package static func rows(of tokens: Tensor) -> [Int] {
        Set(tokens.array.map { Int($0) }).filter { $0 != 0 }.sorted()
    }

    /// `values` `[vocabularySize, dimension]` kept on `rows` and zero elsewhere.
    package static func restricting(_ values: Tensor, toRows rows: [Int]) -> Tensor {
        let dimension = values.shape[1]
        let source = values.array
        var scalars = [Float](repeating: 0, count: source.count)
        for row in rows { for column in 0..<dimension { scalars[row * dimension + column] = source[row * dimension + column] } }
        return Tensor(shape: values.shape, scalars: scalars)
    }

    /// A random matrix perturbation on `rows`: a Gaussian direction with a norm drawn uniformly
    /// in `[0, ε]`, as ``randomStart(shape:mask:using:)`` does per example.
    package func randomMatrixStart<G: RandomNumberGenerator>(shape: [Int], rows: [Int], using generator: inout G) -> Tensor {
        let direction = matrixSteepestAscent(along: Self.restricting(Tensor(randomNormal: shape, using: &generator), toRows: rows))
        return (direction * (epsilon * Float.random(in: 0...1, using: &generator))).detached
    }

    // MARK: Every region

    /// One steepest-ascent step of size `stepSize` from `point` and the projection back onto the
    /// ball around `origin` (a box input's clean point; the zero perturbation of an embedding
    /// region, whose iterates are perturbations).
    package func ascended(_ point: Tensor, along gradient: Tensor, stepSize: Float, around origin: Tensor, support: Support) -> Tensor {
        switch (region, support) {
        case (.box, _):
            return ascended(point, along: gradient, stepSize: stepSize, around: origin)
        case (.embeddedSequence, .positions(let mask)):
            return project(point + stepSize * steepestAscent(along: gradient, mask: mask), mask: mask)
        case (.embeddingMatrix, _):
            return projectMatrix(point + stepSize * matrixSteepestAscent(along: gradient))
        case (.embeddedSequence, _):
            preconditionFailure("an embedded-sequence step needs the padding mask")
        }
    }

    /// `point` projected onto the ball around `origin` (see ``ascended(_:along:stepSize:around:support:)``).
    package func projected(_ point: Tensor, around origin: Tensor, support: Support) -> Tensor {
        switch (region, support) {
        case (.box, _): return project(point, around: origin)
        case (.embeddedSequence, .positions(let mask)): return project(point, mask: mask)
        case (.embeddingMatrix, _): return projectMatrix(point)
        case (.embeddedSequence, _): preconditionFailure("an embedded-sequence projection needs the padding mask")
        }
    }

    /// A random point of the ball around `origin`: ``randomStart(around:using:)`` in the box,
    /// ``randomStart(shape:mask:using:)`` on the embedded sequence, a random matrix start on the
    /// batch's rows.
    package func randomStart<G: RandomNumberGenerator>(around origin: Tensor, support: Support, using generator: inout G) -> Tensor {
        switch (region, support) {
        case (.box, _): return randomStart(around: origin, using: &generator)
        case (.embeddedSequence, .positions(let mask)): return randomStart(shape: origin.shape, mask: mask, using: &generator)
        case (.embeddingMatrix, .rows(let rows)): return randomMatrixStart(shape: origin.shape, rows: rows, using: &generator)
        case (.embeddedSequence, _), (.embeddingMatrix, _): preconditionFailure("an embedding random start needs its support")
        }
    }
}
