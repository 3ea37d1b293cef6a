import BulwarkCore
import BulwarkNN
import Foundation

/// The Square Attack (Andriushchenko, Croce, Flammarion and Hein, ECCV 2020, "Square Attack: a
/// query-efficient black-box adversarial attack via random search"), score-based and
/// black-box: it reads only the model's logits on the inputs it proposes and never a gradient,
/// so gradient masking does not stop it.
///
/// Random search on the paper's untargeted margin loss of the logits `f`,
/// `L(f(x̂), y) = f_y(x̂) − max_{k≠y} f_k(x̂)` (Algorithm 1), which an example keeps lowering
/// until it is negative (misclassified):
/// - `x̂ ← init(x)`: vertical stripes of ±ε, one sign per channel and column, for L∞; a grid
///   of pseudo-Gaussian squares with random signs rescaled to ‖δ‖₂ = ε for L2.
/// - Each iteration `i` proposes `x̂_new = Π(x̂ + δ)` with `δ ∼ P(ε, h⁽ⁱ⁾, w, c, x̂, x)`: a
///   random square window of side `h⁽ⁱ⁾ = round(√(p·w²))` (`w` the image side, `c` the
///   channels) is set to a fresh ±ε per channel for L∞ (Algorithm 2); for L2 (Algorithm 3)
///   a second window `W₂` is emptied and its mass, plus what is left of the budget, moved into
///   the first window `W₁` as `η` (the pseudo-Gaussian profile) with a random sign per
///   channel, added to the normalized old content of `W₁`.
/// - The proposal is kept if `L(f(x̂_new), y) < L*` (the best loss so far).
///
/// `p`, the fraction of pixels changed, starts at ``pInit`` and halves after iterations 10,
/// 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of a 10,000-query budget; for another budget
/// the iteration is rescaled by `10000 / queries`, as the reference implementation does
/// (``fractionOfPixels(iteration:budget:pInit:)``).
///
/// Examples are attacked as a batch, but each stops as soon as it is misclassified: every
/// iteration queries only the examples still classified correctly. Inputs are `[N, C, H, W]`.
///
/// Departures from the reference code (github.com/max-andr/square-attack): windows are drawn
/// per example for L2 too (the reference shares one position per iteration across the batch),
/// a window's corner is uniform over every position that keeps it inside the image (the
/// paper's sampling; the reference's `randint(0, h − s)` never reaches the last row and
/// column), the L2 initialization truncates squares at the border instead of failing, and the
/// clean input counts as one query (see ``queries``).
public struct SquareAttack: Attack {
    /// The norm (L∞ or L2) selects the variant; ε is the radius every proposal keeps to.
    public var threatModel: ThreatModel
    /// N, the query budget per example: the most forward passes any example takes, counting
    /// the check of the clean input and the initialization (so at most `queries − 2` random
    /// search iterations). The paper and AutoAttack use 5,000 (10,000 in the paper's main
    /// tables).
    public var queries: Int
    /// p_init, the fraction of the image's pixels the first windows change: 0.8 for L∞ (the
    /// paper's and AutoAttack's value), 0.1 for L2 (the paper's value; AutoAttack uses 0.8).
    public var pInit: Float
    /// `square`.
    public var name: String { "square" }
    /// Called after every query with the queries done of the budget in one `perturb`.
    public var onProgress: IterationProgress?

    /// Creates the attack; `pInit` defaults to 0.8 for L∞ and 0.1 for L2.
    public init(threatModel: ThreatModel, queries: Int = 5000, pInit: Float? = nil) {
        let pInit = pInit ?? (threatModel.norm == .lInfinity ? 0.8 : 0.1)
        precondition(queries >= 1, "the Square Attack needs a budget of at least one query")
        precondition(pInit > 0 && pInit <= 1, "p_init must be in (0, 1], got \(pInit)")
        self.threatModel = threatModel
        self.queries = queries
        self.pInit = pInit
    }

    /// What one run of the attack found, per example.
    public struct Result: Sendable, Equatable {
        /// The adversarial inputs `x̂`, inside the ε-ball and the bounds.
        public var adversarial: Tensor
        /// How many forward passes of the model each example took (at most ``SquareAttack/queries``):
        /// 1 for the clean check, then 1 for the initialization and 1 per iteration until the
        /// example is misclassified.
        public var queries: [Int]
        /// Whether the model misclassifies `adversarial`.
        public var fooled: [Bool]
        /// `L* = f_y(x̂) − max_{k≠y} f_k(x̂)`, the margin at `adversarial` (negative when fooled).
        public var margins: [Float]
    }

    /// Adversarial versions of `inputs` `[N, C, H, W]` for the true `labels`, found with forward
    /// passes of `model` only; ``perturbWithQueries(_:labels:against:using:)`` also reports the
    /// queries used.
    public func perturb<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        perturbWithQueries(inputs, labels: labels, against: model, using: &generator).adversarial
    }

    /// The attack with its per-example query counts: the adversarial inputs are those
    /// ``perturb(_:labels:against:using:)`` returns for the same generator state.
    public func perturbWithQueries<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Result {
        precondition(inputs.rank == 4, "the Square Attack needs images [N, C, H, W], got \(inputs.shape)")
        precondition(inputs.shape[0] == labels.count, "inputs and labels differ in count")
        let original = inputs.detached
        let (count, channels, height, width) = (inputs.shape[0], inputs.shape[1], inputs.shape[2], inputs.shape[3])
        precondition(height >= 2 && width >= 2, "the Square Attack needs images of at least 2 × 2 pixels")
        let size = channels * height * width
        var model = model.with(mode: .inference)
        let x = original.array
        var best = x
        var used = [Int](repeating: 0, count: count)
        guard count > 0 else { return Result(adversarial: original, queries: [], fooled: [], margins: []) }

        // The clean check: examples already misclassified are not attacked.
        var (margins, fooled) = Self.margins(of: model(original), labels: labels)
        for index in 0..<count { used[index] = 1 }
        let epsilon = threatModel.epsilon
        guard queries >= 2, epsilon > 0 else {
            return Result(adversarial: original, queries: used, fooled: fooled, margins: margins)
        }

        let geometry = Geometry(channels: channels, height: height, width: width, bounds: threatModel.bounds, epsilon: epsilon)
        var profiles = ProfileCache()

        // One query on the proposals of the examples still robust; keeps the improvements.
        func query(_ active: [Int], proposals: [Float], alwaysAccept: Bool) {
            let shape = [active.count, channels, height, width]
            let (newMargins, newFooled) = Self.margins(
                of: model(Tensor(shape: shape, scalars: proposals)), labels: active.map { labels[$0] })
            for (row, index) in active.enumerated() {
                used[index] += 1
                guard alwaysAccept || newMargins[row] < margins[index] else { continue }
                margins[index] = newMargins[row]
                fooled[index] = newFooled[row]
                best.replaceSubrange(index * size..<(index + 1) * size, with: proposals[row * size..<(row + 1) * size])
            }
        }

        // x̂ ← init(x), accepted unconditionally as in the reference.
        var active = (0..<count).filter { !fooled[$0] }
        if !active.isEmpty {
            var proposals = [Float]()
            proposals.reserveCapacity(active.count * size)
            for index in active {
                let start = index * size
                switch threatModel.norm {
                case .lInfinity: proposals += geometry.stripeInitialization(x[start..<start + size], using: &generator)
                case .l2: proposals += geometry.squaresInitialization(x[start..<start + size], profiles: &profiles, using: &generator)
                }
            }
            query(active, proposals: proposals, alwaysAccept: true)
        }

        for iteration in 0..<(queries - 2) {
            onProgress?(iteration + 2, queries)
            active = active.filter { !fooled[$0] }
            if active.isEmpty { break }
            let p = Self.fractionOfPixels(iteration: iteration, budget: queries, pInit: pInit)
            var proposals = [Float]()
            proposals.reserveCapacity(active.count * size)
            for index in active {
                let range = index * size..<(index + 1) * size
                switch threatModel.norm {
                case .lInfinity: proposals += geometry.lInfinityProposal(x[range], best: best[range], p: p, using: &generator)
                case .l2: proposals += geometry.l2Proposal(x[range], best: best[range], p: p, profiles: &profiles, using: &generator)
                }
            }
            query(active, proposals: proposals, alwaysAccept: false)
        }
        // Proposals are clipped to the box and the ball by construction; projecting once more
        // only removes float rounding.
        let adversarial = threatModel.project(Tensor(shape: original.shape, scalars: best), around: original)
        return Result(adversarial: adversarial, queries: used, fooled: fooled, margins: margins)
    }

    /// p at iteration `iteration` (0-based) of a budget of `budget` queries: the reference's
    /// piecewise-constant schedule on `i' = ⌊iteration / budget · 10000⌋`, which is `pInit` for
    /// `i' ≤ 10` and halves after `i'` = 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000
    /// (down to `pInit / 512`).
    public static func fractionOfPixels(iteration: Int, budget: Int, pInit: Float) -> Float {
        let rescaled = Int(Double(iteration) / Double(Swift.max(budget, 1)) * 10000)
        let halvings: Int
        switch rescaled {
        case 11...50: halvings = 1
        case 51...200: halvings = 2
        case 201...500: halvings = 3
        case 501...1000: halvings = 4
        case 1001...2000: halvings = 5
        case 2001...4000: halvings = 6
        case 4001...6000: halvings = 7
        case 6001...8000: halvings = 8
        case 8001...10000: halvings = 9
        default: halvings = 0
        }
        return pInit / Float(1 << halvings)
    }

    /// The margin `f_y − max_{k≠y} f_k` of each row of `logits` and whether the row's
    /// prediction (the first largest logit, as ``predictions(_:)``) differs from the label.
    static func margins(of logits: Tensor, labels: [Int32]) -> (margins: [Float], fooled: [Bool]) {
        let classCount = logits.shape[1]
        let values = logits.array
        let predicted = predictions(logits)
        var margins = [Float](repeating: 0, count: labels.count)
        for row in labels.indices {
            let label = Int(labels[row])
            var other = -Float.infinity
            for k in 0..<classCount where k != label { other = Swift.max(other, values[row * classCount + k]) }
            margins[row] = values[row * classCount + label] - other
        }
        return (margins, zip(predicted, labels).map { $0 != $1 })
    }
}

// MARK: - Proposals

/// The pseudo-Gaussian profiles `η` of the L2 attack, by side and orientation.
private struct ProfileCache {
    var profiles: [Int: [Float]] = [:]

    /// `η` of side `side`, transposed when asked.
    mutating func profile(side: Int, transposed: Bool) -> [Float] {
        let base: [Float]
        if let cached = profiles[side] { base = cached } else {
            base = squareAttackProfile(side: side)
            profiles[side] = base
        }
        guard transposed else { return base }
        var result = base
        for i in 0..<side { for j in 0..<side { result[j * side + i] = base[i * side + j] } }
        return result
    }
}

/// The reference's `meta_pseudo_gaussian_pert(s)` (before its random transposition): the top
/// `⌊s/2⌋` rows hold a pseudo-Gaussian bump, the bottom rows the negated bump, normalized to
/// unit L2 norm. Row-major `[s, s]`.
package func squareAttackProfile(side: Int) -> [Float] {
    let half = side / 2
    var profile = pseudoGaussianRectangle(rows: half, columns: side)
    profile += pseudoGaussianRectangle(rows: side - half, columns: side).map { -$0 }
    let norm = Float(profile.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
    return norm > 0 ? profile.map { $0 / norm } : profile
}

/// The reference's `pseudo_gaussian_pert_rectangles(x, y)`: concentric rectangles around the
/// centre `(⌊x/2⌋, ⌊y/2⌋)`, the `k`-th (0-based, of size `2k+1`) adding `1/(k+1)²`,
/// normalized to unit L2 norm. Row-major `[rows, columns]`.
private func pseudoGaussianRectangle(rows: Int, columns: Int) -> [Float] {
    guard rows > 0, columns > 0 else { return [] }
    var delta = [Double](repeating: 0, count: rows * columns)
    let (centreRow, centreColumn) = (rows / 2 + 1, columns / 2 + 1)
    var (top, left) = (centreRow - 1, centreColumn - 1)
    for counter in 0..<Swift.max(centreRow, centreColumn) {
        let weight = 1 / Double((counter + 1) * (counter + 1))
        for i in Swift.max(top, 0)..<Swift.min(top + 2 * counter + 1, rows) {
            for j in Swift.max(left, 0)..<Swift.min(left + 2 * counter + 1, columns) {
                delta[i * columns + j] += weight
            }
        }
        top -= 1
        left -= 1
    }
    let norm = delta.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return delta.map { Float($0 / norm) }
}

/// The shape of one example and the threat model, and the per-example proposal kernels.
private struct Geometry {
    let channels: Int
    let height: Int
    let width: Int
    let bounds: ClosedRange<Float>
    let epsilon: Float

    var plane: Int { height * width }

    func clip(_ value: Float) -> Float { Swift.min(Swift.max(value, bounds.lowerBound), bounds.upperBound) }

    /// A uniform corner for a window of side `side`: every position inside the image.
    func corner<G: RandomNumberGenerator>(side: Int, using generator: inout G) -> (row: Int, column: Int) {
        let row = Int(generator.next() % UInt64(height - side + 1))
        let column = Int(generator.next() % UInt64(width - side + 1))
        return (row, column)
    }

    /// ±1 with equal probability.
    func sign<G: RandomNumberGenerator>(using generator: inout G) -> Float {
        generator.next() & 1 == 0 ? -1 : 1
    }

    // MARK: L∞

    /// The L∞ initialization: `x + δ` with `δ` constant ±ε along each column of each channel (vertical
    /// stripes), clipped to the box.
    func stripeInitialization<G: RandomNumberGenerator>(_ x: ArraySlice<Float>, using generator: inout G) -> [Float] {
        var result = Array(x)
        for channel in 0..<channels {
            for column in 0..<width {
                let delta = epsilon * sign(using: &generator)
                for row in 0..<height {
                    let i = channel * plane + row * width + column
                    result[i] = clip(result[i] + delta)
                }
            }
        }
        return result
    }

    /// Algorithm 2: a window of side `h = round(√(p·H·W))` (between 1 and the image side − 1)
    /// of `x̂` set to `x ± ε`, one sign per channel, redrawn until the window changes.
    func lInfinityProposal<G: RandomNumberGenerator>(
        _ x: ArraySlice<Float>, best: ArraySlice<Float>, p: Float, using generator: inout G
    ) -> [Float] {
        let x = Array(x)
        var proposal = Array(best)
        let side = Swift.min(Swift.max(Int((p * Float(plane)).squareRoot().rounded()), 1), Swift.min(height, width) - 1)
        let (top, left) = corner(side: side, using: &generator)
        // The reference redraws the signs while the window would be unchanged; with ε > 0 one
        // of the 2^c sign patterns always changes it, so the cap is only a guard.
        for _ in 0..<64 {
            var changed = false
            for channel in 0..<channels {
                let delta = epsilon * sign(using: &generator)
                for row in top..<(top + side) {
                    for column in left..<(left + side) {
                        let i = channel * plane + row * width + column
                        let value = clip(x[i] + delta)
                        if Swift.abs(value - best[best.startIndex + i]) >= 1e-7 { changed = true }
                        proposal[i] = value
                    }
                }
            }
            if changed { break }
        }
        return proposal
    }

    // MARK: L2

    /// The L2 initialization: a grid of squares of side `s = ⌊H/5⌋` starting at `⌊(H − 5s)/2⌋`, each holding
    /// `η` with a random sign per channel, rescaled so that ‖δ‖₂ = ε, then clipped.
    func squaresInitialization<G: RandomNumberGenerator>(
        _ x: ArraySlice<Float>, profiles: inout ProfileCache, using generator: inout G
    ) -> [Float] {
        var delta = [Float](repeating: 0, count: channels * plane)
        let side = Swift.max(height / 5, 1)
        let startRow = Swift.max((height - side * 5) / 2, 0)
        let startColumn = Swift.max((width - side * 5) / 2, 0)
        for tileRow in 0..<(height / side) {
            for tileColumn in 0..<(width / side) {
                let profile = profiles.profile(side: side, transposed: generator.next() & 1 == 1)
                let (top, left) = (startRow + tileRow * side, startColumn + tileColumn * side)
                for channel in 0..<channels {
                    let s = sign(using: &generator)
                    for i in 0..<side where top + i < height {
                        for j in 0..<side where left + j < width {
                            delta[channel * plane + (top + i) * width + left + j] += s * profile[i * side + j]
                        }
                    }
                }
            }
        }
        return rescaledToEpsilon(x, delta: delta)
    }

    /// Algorithm 3, as the reference implements it: windows `W₁` and `W₂` of side
    /// `s = round(√(p·H·W))` (odd, at least 3); per channel, `W₁` becomes
    /// `ν = η·(±1) + δ_{W₁}/‖δ_{W₁}‖₂` rescaled to `√(max(ε² − ‖δ‖₂², 0)/c + ‖δ_{W₁∪W₂}‖₂²)`,
    /// `W₂` (outside `W₁`) is emptied, and the whole perturbation is rescaled to ‖δ‖₂ = ε.
    func l2Proposal<G: RandomNumberGenerator>(
        _ x: ArraySlice<Float>, best: ArraySlice<Float>, p: Float, profiles: inout ProfileCache, using generator: inout G
    ) -> [Float] {
        let x = Array(x)
        var delta = zip(best, x).map { $0 - $1 }
        var side = Swift.max(Int((p * Float(plane)).squareRoot().rounded()), 3)
        if side % 2 == 0 { side += 1 }
        side = Swift.min(side, height, width)
        let first = corner(side: side, using: &generator)
        let second = corner(side: side, using: &generator)
        let profile = profiles.profile(side: side, transposed: generator.next() & 1 == 1)
        func inFirst(_ row: Int, _ column: Int) -> Bool {
            row >= first.row && row < first.row + side && column >= first.column && column < first.column + side
        }
        func inSecond(_ row: Int, _ column: Int) -> Bool {
            row >= second.row && row < second.row + side && column >= second.column && column < second.column + side
        }
        let imageNormSquared = delta.reduce(0.0) { $0 + Double($1) * Double($1) }
        let spare = Swift.max(Double(epsilon) * Double(epsilon) - imageNormSquared, 0) / Double(channels)
        for channel in 0..<channels {
            let base = channel * plane
            var firstSquared = 0.0, unionSquared = 0.0
            for row in 0..<height {
                for column in 0..<width {
                    let (a, b) = (inFirst(row, column), inSecond(row, column))
                    guard a || b else { continue }
                    let value = Double(delta[base + row * width + column])
                    unionSquared += value * value
                    if a { firstSquared += value * value }
                }
            }
            let firstNorm = firstSquared.squareRoot()
            let s = Double(sign(using: &generator))
            var proposal = [Double](repeating: 0, count: side * side)
            var proposalSquared = 0.0
            for i in 0..<side {
                for j in 0..<side {
                    let old = Double(delta[base + (first.row + i) * width + first.column + j]) / (1e-10 + firstNorm)
                    let value = Double(profile[i * side + j]) * s + old
                    proposal[i * side + j] = value
                    proposalSquared += value * value
                }
            }
            let scale = proposalSquared > 0 ? (spare + unionSquared).squareRoot() / proposalSquared.squareRoot() : 0
            for i in 0..<side {
                for j in 0..<side { delta[base + (second.row + i) * width + second.column + j] = 0 }
            }
            for i in 0..<side {
                for j in 0..<side { delta[base + (first.row + i) * width + first.column + j] = Float(proposal[i * side + j] * scale) }
            }
        }
        return rescaledToEpsilon(x, delta: delta)
    }

    /// `clip(x + ε·δ/‖δ‖₂)`; `x` itself when `δ` is zero.
    func rescaledToEpsilon(_ x: some Collection<Float>, delta: [Float]) -> [Float] {
        let norm = delta.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let scale = norm > 0 ? Float(Double(epsilon) / norm) : 0
        return zip(x, delta).map { clip($0 + $1 * scale) }
    }
}
