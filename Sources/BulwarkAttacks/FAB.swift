import BulwarkCore
import BulwarkNN

/// The fast adaptive boundary attack (FAB), Croce and Hein 2020, "Minimally distorted adversarial
/// examples with a fast adaptive boundary attack" (ICML): a minimum-norm attack that linearizes
/// the decision boundary at each iterate, projects onto the linearized boundary inside the box,
/// and biases each step back towards the original point so that it tracks the boundary close
/// to `x_orig`.
///
/// The paper's symbols and where they live here (Algorithm 1, Sections 3.1-3.3):
/// - `x_orig`, the clean input; `x^(i)`, the iterate (`x^(0) = x_orig` in the first run);
/// - `π_s(z)`, the linear approximation at `x^(i)` of the boundary between the true class `c`
///   (the label) and the class `s`: `f_s(x^(i)) − f_c(x^(i)) + ⟨∇f_s(x^(i)) − ∇f_c(x^(i)), z − x^(i)⟩ = 0`
///   on the logits `f`. Untargeted, `s` is the class whose linearized boundary is nearest,
///   `argmin_{s≠c} |f_s − f_c| / ‖∇f_s − ∇f_c‖_q` with `q` the dual norm (1 for L∞, 2 for L2);
///   targeted (FAB-T, the version in AutoAttack), `s` is the target class;
/// - `proj_p(z, π_s, C)`, the point of the hyperplane `π_s` inside the box `C = [0, 1]^d`
///   nearest to `z` in `ℓp` (``boxConstrainedProjection(of:onto:offsets:width:norm:bounds:)``:
///   the paper's characterization of the box-constrained projection, solved exactly by sorting
///   the breakpoints of a piecewise-linear monotone function, no bisection);
/// - `δ^(i) = proj_p(x^(i), π_s, C) − x^(i)` and `δ_orig^(i) = proj_p(x_orig, π_s, C) − x_orig`;
/// - `α = min(‖δ^(i)‖ / (‖δ^(i)‖ + ‖δ_orig^(i)‖), α_max)`, the bias towards `x_orig`, with
///   `α_max` = ``maximumBias`` (0.1);
/// - `η`, the extrapolation (overshoot) factor: ``overshoot`` (1.05);
///   `x^(i+1) = proj_C((1 − α)(x^(i) + η δ^(i)) + α(x_orig + η δ_orig^(i)))`;
/// - `β`, the backward step: when `x^(i+1)` is misclassified it is recorded (if it beats the
///   smallest norm so far) and moved to `(1 − β) x_orig + β x^(i+1)`, with `β` = ``backwardStep``
///   (0.9);
/// - `N_iter`, the iterations per run: ``iterations`` (100);
/// - random restarts (Section 3.3): the first run starts at `x_orig`; each further run starts
///   on the sphere `{z : ‖z − x_orig‖_p = min(‖x_out − x_orig‖_p, ε)/2}` (clipped to the box),
///   with `‖x_out − x_orig‖_p` the smallest norm found so far for that example (+∞ if none), so
///   ε only shapes the restarts: a Gaussian direction for L2, a uniform one in the cube
///   rescaled to L∞ norm 1 for L∞ (as the reference implementation does).
///
/// A step is a success when the prediction differs from the label (also for FAB-T, as in the
/// reference implementation). With ``TopClassesObjective/targeted(targetCount:)`` (FAB-T)
/// there is one set of runs per target class, the `targetCount` (9) wrong classes with the
/// highest clean logits in order, and each example keeps its smallest successful
/// perturbation over all of them. Examples misclassified clean come back unchanged (norm 0).
/// In ``minimumNormPerturbation(_:labels:against:using:)`` every run attacks every correctly
/// classified example, so the result is a minimum-norm perturbation that serves every ε
/// (``MinimumNormAttack``); `perturb`, like the reference's, stops attacking an example once
/// it is fooled within ε, and projects the result onto the threat model's ball.
///
/// ```swift
/// let fabT = FAB(threatModel: .lInfinity(epsilon: 8 / 255), objective: .targeted())
/// ```
///
/// - Complexity: per run and iteration, one forward and one backward pass on the batch (on
///   `classes − 1` copies of it when untargeted), one more forward pass, and two projections of
///   `O(d log d)` per example.
public struct FAB: MinimumNormAttack {
    /// What FAB aims for: the nearest decision boundary of all classes (FAB), or FAB-T's runs
    /// towards the top classes.
    public typealias Objective = TopClassesObjective

    /// The norm (L2 or L∞) selects the variant; ε sets the radius of the random restarts and
    /// the ball `perturb` projects onto.
    public var threatModel: ThreatModel
    /// `N_iter`, the iterations per run (100).
    public var iterations: Int
    /// The runs per target class (per attack when untargeted); the first starts at the clean
    /// input, the others at random points (1).
    public var restarts: Int
    /// Untargeted FAB, or FAB-T over the top classes.
    public var objective: Objective
    /// `α_max`, the largest weight of the step taken from `x_orig` (0.1).
    public var maximumBias: Float
    /// `η`, the factor the projection steps are extrapolated by to cross the boundary (1.05).
    public var overshoot: Float
    /// `β`, the factor a successful perturbation is shrunk by before the search goes on (0.9).
    public var backwardStep: Float

    /// `fab` or `fab-t`.
    public var name: String { objective == .untargeted ? "fab" : "fab-t" }

    /// Creates the attack with the paper's defaults (AutoAttack's: 100 iterations, one run per
    /// target, `α_max` = 0.1, `η` = 1.05, `β` = 0.9).
    public init(
        threatModel: ThreatModel, iterations: Int = 100, restarts: Int = 1, objective: Objective = .untargeted,
        maximumBias: Float = 0.1, overshoot: Float = 1.05, backwardStep: Float = 0.9
    ) {
        precondition(iterations >= 1, "FAB needs at least one iteration")
        precondition(restarts >= 1, "FAB needs at least one run")
        if case .targeted(let targetCount) = objective { precondition(targetCount >= 1, "FAB-T needs at least one target class") }
        precondition(maximumBias >= 0 && maximumBias <= 1, "α_max must be in [0, 1]")
        precondition(overshoot >= 1, "the overshoot η must be at least 1")
        precondition(backwardStep > 0 && backwardStep <= 1, "the backward step β must be in (0, 1]")
        self.threatModel = threatModel
        self.iterations = iterations
        self.restarts = restarts
        self.objective = objective
        self.maximumBias = maximumBias
        self.overshoot = overshoot
        self.backwardStep = backwardStep
    }

    /// FAB's smallest successful perturbation per example, before projection onto the ε-ball;
    /// the clean input (not fooled) where no run succeeded. Random restarts draw from
    /// `generator` (with one run per target nothing is drawn); the model runs as an
    /// inference-mode copy.
    public func minimumNormPerturbation<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> MinimumNormResult {
        search(inputs, labels: labels, against: model, sufficientNorm: nil, using: &generator)
    }

    /// Adversarial versions of `inputs` within ``threatModel``: the search of
    /// ``minimumNormPerturbation(_:labels:against:using:)`` projected onto the ε-ball, except that,
    /// as in the reference implementation, an example already fooled within ε is not attacked
    /// by the later target classes and restarts. With one run per target this changes which
    /// examples are fooled within ε in no case (the runs of the others are the same), only how
    /// small the perturbations of those already fooled get, and it saves their runs.
    public func perturb<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        search(inputs, labels: labels, against: model, sufficientNorm: threatModel.epsilon, using: &generator)
            .projected(onto: threatModel, around: inputs)
    }

    /// The search behind both verbs: every run on every correctly classified example, or, with
    /// a `sufficientNorm`, only on those whose smallest perturbation so far is larger.
    private func search<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, sufficientNorm: Float?, using generator: inout G
    ) -> MinimumNormResult {
        let original = inputs.detached
        let count = labels.count
        precondition(original.shape.first == count, "FAB needs one label per input, got \(count) for \(original.shape)")
        guard count > 0 else { return MinimumNormResult(adversarial: original, fooled: [], norms: []) }
        var model = model.with(mode: .inference)
        let cleanLogits = model(original)
        let classCount = cleanLogits.shape[1]
        precondition(classCount >= 2, "FAB needs at least two classes")
        let misclassified = zip(predictions(cleanLogits), labels).map { $0 != $1 }
        let active = (0..<count).filter { !misclassified[$0] }

        var result = original.array
        if !active.isEmpty {
            let width = original.scalarCount / count
            let activeOriginal = original.gathering(atIndices: active, alongAxis: 0)
            let activeLabels = active.map { labels[$0] }
            // Per round, each active example's target (nil when untargeted).
            let rounds = objective.rounds(rows: active, labels: labels, cleanLogits: cleanLogits)
            var best = activeOriginal.array
            var norms = [Float](repeating: .infinity, count: active.count)
            for targets in rounds {
                for restart in 0..<restarts {
                    let pending = sufficientNorm.map { bound in norms.indices.filter { !(norms[$0] <= bound) } } ?? Array(norms.indices)
                    if pending.isEmpty { break }
                    let pendingOriginal = activeOriginal.gathering(atIndices: pending, alongAxis: 0)
                    var pendingBest = gatherRows(pending, of: best, width: width)
                    var pendingNorms = pending.map { norms[$0] }
                    let start = restart == 0
                        ? pendingOriginal
                        : randomStart(around: pendingOriginal, radii: pendingNorms.map { Swift.min($0, threatModel.epsilon) / 2 }, using: &generator)
                    run(model: &model, classCount: classCount, original: pendingOriginal, labels: pending.map { activeLabels[$0] },
                        targets: targets.map { t in pending.map { t[$0] } }, start: start, best: &pendingBest, norms: &pendingNorms)
                    for (position, row) in pending.enumerated() {
                        norms[row] = pendingNorms[position]
                        best.replaceSubrange((row * width)..<((row + 1) * width), with: pendingBest[(position * width)..<((position + 1) * width)])
                    }
                }
            }
            for (position, index) in active.enumerated() where norms[position].isFinite {
                result.replaceSubrange((index * width)..<((index + 1) * width), with: best[(position * width)..<((position + 1) * width)])
            }
        }
        let adversarial = Tensor(shape: original.shape, scalars: result)
        // Success is re-checked on the returned inputs, so `fooled` always describes them.
        let fooled = zip(predictions(model(adversarial)), labels).map { $0 != $1 }
        return MinimumNormResult(adversarial: adversarial, fooled: fooled, norms: threatModel.norms(of: adversarial - original))
    }

    /// A point on the sphere of radius `radii[n]` around each example (clipped to the box):
    /// the paper's restart distribution.
    private func randomStart<G: RandomNumberGenerator>(around original: Tensor, radii: [Float], using generator: inout G) -> Tensor {
        let count = radii.count
        let width = original.scalarCount / count
        var direction: [Float]
        switch threatModel.norm {
        case .lInfinity: direction = Tensor(randomUniform: original.shape, in: -1...1, using: &generator).array
        case .l2: direction = Tensor(randomNormal: original.shape, using: &generator).array
        }
        let norms = threatModel.norms(of: Tensor(shape: original.shape, scalars: direction))
        let origin = original.array
        let (low, high) = (threatModel.bounds.lowerBound, threatModel.bounds.upperBound)
        for row in 0..<count {
            let scale = norms[row] > 0 ? radii[row] / norms[row] : 0
            for i in (row * width)..<((row + 1) * width) {
                direction[i] = Swift.min(Swift.max(origin[i] + direction[i] * scale, low), high)
            }
        }
        return Tensor(shape: original.shape, scalars: direction)
    }

    /// One run of Algorithm 1 from `start` on every example; records in `best` and `norms` each
    /// misclassified iterate whose norm beats the smallest so far.
    private func run<Model: Layer>(
        model: inout Model, classCount: Int, original: Tensor, labels: [Int32], targets: [Int32]?, start: Tensor,
        best: inout [Float], norms: inout [Float]
    ) {
        let count = labels.count
        let width = original.scalarCount / count
        let shape = original.shape
        let (low, high) = (threatModel.bounds.lowerBound, threatModel.bounds.upperBound)
        let origin = original.array
        var x = start.array
        for _ in 0..<iterations {
            // The linearized boundary ⟨w, z⟩ = b with w = ∇f_s − ∇f_c and b = ⟨w, x⟩ − (f_s − f_c).
            let (differences, weights) = boundary(
                at: Tensor(shape: shape, scalars: x), model: &model, classCount: classCount, labels: labels, targets: targets)
            var offsets = [Float](repeating: 0, count: count)
            for row in 0..<count {
                var dot: Double = 0
                for i in (row * width)..<((row + 1) * width) { dot += Double(weights[i]) * Double(x[i]) }
                offsets[row] = Float(dot - Double(differences[row]))
            }
            let fromIterate = boxConstrainedProjection(of: x, onto: weights, offsets: offsets, width: width, norm: threatModel.norm, bounds: threatModel.bounds)
            let fromOrigin = boxConstrainedProjection(of: origin, onto: weights, offsets: offsets, width: width, norm: threatModel.norm, bounds: threatModel.bounds)
            let iterateNorms = threatModel.norms(of: Tensor(shape: shape, scalars: fromIterate))
            let originNorms = threatModel.norms(of: Tensor(shape: shape, scalars: fromOrigin))
            for row in 0..<count {
                // The reference floors both norms at 1e-8, so α is defined when both vanish.
                let (a1, a2) = (Swift.max(iterateNorms[row], 1e-8), Swift.max(originNorms[row], 1e-8))
                let alpha = Swift.min(Swift.max(a1 / (a1 + a2), 0), maximumBias)
                for i in (row * width)..<((row + 1) * width) {
                    let step = (x[i] + overshoot * fromIterate[i]) * (1 - alpha) + (origin[i] + overshoot * fromOrigin[i]) * alpha
                    x[i] = Swift.min(Swift.max(step, low), high)
                }
            }
            let iterate = Tensor(shape: shape, scalars: x)
            let predicted = predictions(model(iterate))
            let stepNorms = threatModel.norms(of: iterate - original)
            for row in 0..<count where predicted[row] != labels[row] {
                let range = (row * width)..<((row + 1) * width)
                if stepNorms[row] < norms[row] {
                    norms[row] = stepNorms[row]
                    best.replaceSubrange(range, with: x[range])
                }
                // Back towards x_orig, to look for a smaller perturbation on this side.
                for i in range { x[i] = origin[i] + (x[i] - origin[i]) * backwardStep }
            }
        }
    }

    /// Per example, `f_s − f_c` and `∇f_s − ∇f_c` at `x` for the class `s` of this step: the
    /// target, or (untargeted) the class whose linearized boundary is nearest in the threat
    /// model's norm. One backward pass: untargeted, through a batch that repeats `x` once per
    /// other class.
    private func boundary<Model: Layer>(
        at x: Tensor, model: inout Model, classCount: Int, labels: [Int32], targets: [Int32]?
    ) -> (differences: [Float], weights: [Float]) {
        let count = labels.count
        let width = x.scalarCount / count
        if let targets {
            var mask = [Float](repeating: 0, count: count * classCount)
            for row in 0..<count {
                mask[row * classCount + Int(targets[row])] += 1
                mask[row * classCount + Int(labels[row])] -= 1
            }
            let (gradient, logits) = maskedLogitGradient(of: &model, at: x, mask: Tensor(shape: [count, classCount], scalars: mask))
            let z = logits.array
            let differences = (0..<count).map { row in z[row * classCount + Int(targets[row])] - z[row * classCount + Int(labels[row])] }
            return (differences, gradient.array)
        }

        // Untargeted: block k − 1 of the stacked batch selects f_{others[k]} − f_c for every example.
        let exampleShape = Array(x.shape.dropFirst())
        let blocks = classCount - 1
        let values = x.array
        var stacked = [Float]()
        stacked.reserveCapacity(blocks * count * width)
        var mask = [Float](repeating: 0, count: blocks * count * classCount)
        for block in 0..<blocks {
            stacked += values
            for row in 0..<count {
                let label = Int(labels[row])
                let other = block < label ? block : block + 1
                let stackedRow = block * count + row
                mask[stackedRow * classCount + other] += 1
                mask[stackedRow * classCount + label] -= 1
            }
        }
        let (stackedGradient, logits) = maskedLogitGradient(
            of: &model, at: Tensor(shape: [blocks * count] + exampleShape, scalars: stacked),
            mask: Tensor(shape: [blocks * count, classCount], scalars: mask))
        let gradient = stackedGradient.array
        let z = logits.array
        var differences = [Float](repeating: 0, count: count)
        var weights = [Float](repeating: 0, count: count * width)
        for row in 0..<count {
            let label = Int(labels[row])
            var nearest = Float.infinity
            var chosen = 0
            for block in 0..<blocks {
                let other = block < label ? block : block + 1
                let stackedRow = block * count + row
                let difference = z[stackedRow * classCount + other] - z[stackedRow * classCount + label]
                let w = gradient[(stackedRow * width)..<((stackedRow + 1) * width)]
                let dual: Float
                switch threatModel.norm {
                case .lInfinity: dual = w.reduce(0) { $0 + Swift.abs($1) }
                case .l2: dual = Float(w.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
                }
                let distance = Swift.abs(difference) / (dual + 1e-12)
                if distance < nearest || block == 0 { nearest = distance; chosen = block }
            }
            let stackedRow = chosen * count + row
            let other = chosen < label ? chosen : chosen + 1
            differences[row] = z[stackedRow * classCount + other] - z[stackedRow * classCount + label]
            weights.replaceSubrange((row * width)..<((row + 1) * width), with: gradient[(stackedRow * width)..<((stackedRow + 1) * width)])
        }
        return (differences, weights)
    }
}

// MARK: - Projection onto a hyperplane inside the box

/// Per row of width `width`: the smallest perturbation `δ` in `norm` (L2 or L∞) with
/// `⟨w, p + δ⟩ = b` and `p + δ` inside `bounds`, for the points `p` (`points`, inside the box),
/// normals `w` (`weights`) and offsets `b` (`offsets`, one per row): FAB's `proj_p(p, π, C) − p`.
///
/// With `c = b − ⟨w, p⟩ > 0` (the case `c < 0` is the mirror image), the KKT conditions give
/// `δ_i = sign(w_i) · min(λ·s_i, u_i)` for one `λ ≥ 0`, where `u_i` is how far `p_i` can move
/// in the direction of `sign(w_i)` before it leaves the box, and `s_i = |w_i|` for L2 (a
/// clipped multiple of `w`), `s_i = 1` for L∞ (every coordinate not yet at a face moves by the
/// same amount), as in Croce and Hein's projection for FAB. `g(λ) = Σ |w_i| min(λ s_i, u_i)` is piecewise linear and
/// non-decreasing with breakpoints `u_i / s_i`; sorting them and walking the pieces finds the
/// `λ` with `g(λ) = c` exactly. Where the hyperplane does not meet the box (`c > g(∞)`), the
/// result is the box corner that comes closest, `δ_i = sign(w_i) u_i`; where `c = 0` it is 0.
/// Sums are accumulated in Double. Rows are split over the cores.
///
/// - Complexity: O(d log d) per row, d = `width`.
package func boxConstrainedProjection(
    of points: [Float], onto weights: [Float], offsets: [Float], width: Int, norm: Norm, bounds: ClosedRange<Float>
) -> [Float] {
    let rows = offsets.count
    precondition(points.count == rows * width && weights.count == rows * width,
                 "the projection needs \(rows) rows of width \(width) of points and weights")
    var result = [Float](repeating: 0, count: rows * width)
    result.withUnsafeMutableBufferPointer { out in
        points.withUnsafeBufferPointer { p in
            weights.withUnsafeBufferPointer { w in
                parallelChunks(rows, grain: 8) { range in
                    var breakpoints = [(Double, Int)]()
                    breakpoints.reserveCapacity(width)
                    for row in range {
                        projectRow(row * width, width: width, points: p, weights: w, offset: offsets[row], norm: norm,
                                   bounds: bounds, breakpoints: &breakpoints, into: out)
                    }
                }
            }
        }
    }
    return result
}

/// One row of ``boxConstrainedProjection(of:onto:offsets:width:norm:bounds:)``.
private func projectRow(
    _ base: Int, width: Int, points p: UnsafeBufferPointer<Float>, weights w: UnsafeBufferPointer<Float>, offset: Float,
    norm: Norm, bounds: ClosedRange<Float>, breakpoints: inout [(Double, Int)], into out: UnsafeMutableBufferPointer<Float>
) {
    var dot: Double = 0
    for i in base..<(base + width) { dot += Double(w[i]) * Double(p[i]) }
    let gap = Double(offset) - dot
    guard gap != 0 else { return }
    // Mirror c < 0 onto c > 0: move each coordinate along sign(c · w_i).
    let direction: Double = gap > 0 ? 1 : -1
    let target = Swift.abs(gap)
    let (low, high) = (Double(bounds.lowerBound), Double(bounds.upperBound))
    // room_i = u_i, the distance to the box along the move; scale_i = s_i.
    func room(_ i: Int) -> Double { direction * Double(w[i]) > 0 ? high - Double(p[i]) : Double(p[i]) - low }
    func scale(_ i: Int) -> Double { norm == .l2 ? Swift.abs(Double(w[i])) : 1 }

    breakpoints.removeAll(keepingCapacity: true)
    var reachable: Double = 0
    var slope: Double = 0
    for i in base..<(base + width) where w[i] != 0 {
        let (u, s, magnitude) = (Swift.max(room(i), 0), scale(i), Swift.abs(Double(w[i])))
        reachable += magnitude * u
        slope += magnitude * s
        breakpoints.append((u / s, i))
    }
    var lambda = Double.infinity
    if reachable > target {
        breakpoints.sort { $0.0 < $1.0 }
        // g(λ) = constant + slope·λ between breakpoints; coordinates at their bound leave the slope.
        var constant: Double = 0
        for (t, i) in breakpoints {
            if constant + slope * t >= target {
                lambda = (target - constant) / slope
                break
            }
            let magnitude = Swift.abs(Double(w[i]))
            constant += magnitude * Swift.max(room(i), 0)
            slope -= magnitude * scale(i)
        }
    }
    for i in base..<(base + width) where w[i] != 0 {
        let move = Swift.min(lambda * scale(i), Swift.max(room(i), 0))
        let sign: Double = direction * Double(w[i]) > 0 ? 1 : -1
        out[i] = Float(sign * move)
    }
}
