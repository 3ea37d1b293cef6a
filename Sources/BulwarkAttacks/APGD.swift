import BulwarkCore
import BulwarkNN

/// Auto-PGD (APGD), Croce and Hein 2020, "Reliable evaluation of adversarial robustness with an
/// ensemble of diverse parameter-free attacks" (ICML), Algorithm 1: PGD with momentum whose
/// step size adapts itself, so it needs no tuning beyond the budget.
///
/// The paper's symbols and where they live here:
/// - `N_iter`, the iteration budget: ``iterations`` (100);
/// - `η^(k)`, the step size: one per example, starting at `2ε` (L∞ and L2) and halved at
///   checkpoints;
/// - `α`, the momentum weight: ``momentum`` (0.75);
/// - `ρ`, the oscillation threshold: ``rho`` (0.75);
/// - `w_j`, the checkpoints: ``checkpoints(iterations:)``, `w_j = ⌈p_j · N_iter⌉` with
///   `p_0 = 0`, `p_1 = 0.22`, `p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)`;
/// - `f`, the objective: ``loss`` (cross-entropy for APGD-CE, ``AttackLoss/dlr`` for APGD-DLR);
/// - `S`, the feasible set: ``threatModel`` (ε-ball ∩ `[0, 1]`), `P_S` its projection.
///
/// One run, per example: from a random `x^(0)` in the ball,
/// `z^(k+1) = P_S(x^(k) + η^(k) d(∇f(x^(k))))` (`d` the threat model's steepest-ascent
/// direction: sign for L∞, normalized gradient for L2) and
/// `x^(k+1) = P_S(x^(k) + α(z^(k+1) − x^(k)) + (1 − α)(x^(k) − x^(k−1)))` (`α = 1` for the first
/// step). At each checkpoint `w_j` the step is halved and the iterate moved back to the best
/// point so far, `x_max`, if (1) fewer than `ρ · (w_j − w_{j−1})` of the steps since `w_{j−1}`
/// increased `f`, or (2) neither `η` nor `f_max` changed since `w_{j−1}`.
///
/// Each example returns an iterate that fools the model if one did (the attack then stops on
/// that example), else its highest-loss point over all runs. Examples the model already
/// misclassifies are returned unchanged. Further ``restarts`` attack only the examples still
/// classified correctly.
///
/// With ``TopClassesObjective/targeted(targetCount:)`` and the DLR loss this is APGD-T: one
/// round per target class, the `targetCount` (9) most likely wrong classes on the clean input
/// in order, each with the targeted DLR loss
/// `−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2)`; success is any misclassification.
///
/// ```swift
/// let apgdCE = APGD(threatModel: .lInfinity(epsilon: 8 / 255))
/// let apgdT = APGD(threatModel: .lInfinity(epsilon: 8 / 255), loss: .dlr, objective: .targeted())
/// ```
public struct APGD: Attack {
    /// What APGD aims for: any wrong class (APGD-CE, APGD-DLR), or APGD-T's rounds towards
    /// the top classes, keeping every success.
    public typealias Objective = TopClassesObjective

    /// The ball and the box, `S`.
    public var threatModel: ThreatModel
    /// `N_iter`, the number of iterations (gradient steps) per run.
    public var iterations: Int
    /// The number of runs from fresh random starts (per target class when targeted); each
    /// attacks only the examples no earlier run fooled.
    public var restarts: Int
    /// `f`, the loss ascended: ``AttackLoss/crossEntropy`` or ``AttackLoss/dlr`` (the margin
    /// loss also works).
    public var loss: AttackLoss
    /// Untargeted, or APGD-T over the top classes.
    public var objective: Objective
    /// `ρ`, the fraction of loss-increasing steps between checkpoints below which the step is
    /// halved.
    public var rho: Float
    /// `α`, the weight of the new gradient step against the previous displacement.
    public var momentum: Float
    /// Called after every iteration with the iterations done of all runs (targets × restarts ×
    /// iterations) in one `perturb`; runs skipped because every example is fooled count as done.
    public var onProgress: IterationProgress?

    /// `apgd-ce`, `apgd-dlr`, `apgd-t` (targeted DLR) or `apgd-t-ce`.
    public var name: String {
        switch objective {
        case .untargeted: return "apgd-\(loss.rawValue)"
        case .targeted: return loss == .dlr ? "apgd-t" : "apgd-t-\(loss.rawValue)"
        }
    }

    /// Creates the attack with the paper's defaults: `N_iter` = 100, one run, `ρ` = 0.75,
    /// `α` = 0.75, cross-entropy, untargeted.
    public init(
        threatModel: ThreatModel, iterations: Int = 100, restarts: Int = 1, loss: AttackLoss = .crossEntropy,
        objective: Objective = .untargeted, rho: Float = 0.75, momentum: Float = 0.75
    ) {
        precondition(iterations >= 1 && restarts >= 1, "APGD needs at least one iteration and one restart")
        precondition(rho > 0 && rho <= 1, "rho must be in (0, 1], got \(rho)")
        precondition(momentum >= 0 && momentum <= 1, "momentum must be in [0, 1], got \(momentum)")
        if case .targeted(let count) = objective { precondition(count >= 1, "APGD-T needs at least one target class") }
        self.threatModel = threatModel
        self.iterations = iterations
        self.restarts = restarts
        self.loss = loss
        self.objective = objective
        self.rho = rho
        self.momentum = momentum
    }

    /// The checkpoints `w_0 = 0 < w_1 < …` (all ≤ `iterations`) at which the step size is
    /// reconsidered: `w_j = ⌈p_j · N_iter⌉` with `p_0 = 0`, `p_1 = 0.22` and
    /// `p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)` (the paper's step-size selection), repeated values
    /// dropped. For 100 iterations: 0, 22, 41, 57, 70, 80, 87, 93, 99.
    ///
    /// `p_j` is computed exactly in hundredths, so `⌈·⌉` never rounds a float error upwards.
    public static func checkpoints(iterations: Int) -> [Int] {
        precondition(iterations >= 1, "APGD needs at least one iteration")
        var hundredths = [0, 22]
        while true {
            let count = hundredths.count
            let next = hundredths[count - 1] + Swift.max(hundredths[count - 1] - hundredths[count - 2] - 3, 6)
            if next > 100 { break }
            hundredths.append(next)
        }
        var result = [Int]()
        for p in hundredths {
            let w = (p * iterations + 99) / 100
            if w <= iterations && w != result.last { result.append(w) }
        }
        return result
    }

    /// The paper's test at a checkpoint: halve `η` (and go back to `x_max`) if
    /// (1) `increases < ρ · interval`, the loss rose in too few of the `interval` steps since the
    /// last checkpoint, or (2) the step was not halved at the last checkpoint and the best loss
    /// has not risen since it.
    package static func halvesStepSize(
        increases: Int, interval: Int, rho: Float, halvedAtLastCheckpoint: Bool,
        bestLossAtLastCheckpoint: Float, bestLoss: Float
    ) -> Bool {
        let oscillating = Float(increases) < rho * Float(interval)
        let stalled = !halvedAtLastCheckpoint && bestLossAtLastCheckpoint >= bestLoss
        return oscillating || stalled
    }

    /// Adversarial versions of `inputs` within ``threatModel``: per example an iterate that
    /// fools the model if any run found one, else the highest-loss point `x_max` over all runs
    /// (inputs already misclassified come back unchanged). Random starts are drawn from
    /// `generator`; the model runs as an inference-mode copy.
    public func perturb<Model: Layer, G: RandomNumberGenerator>(
        _ inputs: Tensor, labels: [Int32], against model: Model, using generator: inout G
    ) -> Tensor {
        let original = inputs.detached
        let count = labels.count
        precondition(original.shape.first == count, "APGD needs one label per input, got \(labels.count) for \(original.shape)")
        guard count > 0 else { return original }
        var model = model.with(mode: .inference)
        let width = original.scalarCount / count
        let cleanLogits = model(original)

        // Per round, each example's target (nil when untargeted).
        let rounds = objective.rounds(rows: Array(labels.indices), labels: labels, cleanLogits: cleanLogits)

        var result = original.array
        // Misclassified inputs are already adversarial.
        var fooled = zip(predictions(cleanLogits), labels).map { $0 != $1 }
        var fallbackLoss = [Float](repeating: -.infinity, count: count)
        let totalIterations = rounds.count * restarts * iterations
        for (round, targets) in rounds.enumerated() {
            for restart in 0..<restarts {
                let active = (0..<count).filter { !fooled[$0] }
                if active.isEmpty {
                    onProgress?(totalIterations, totalIterations)
                    break
                }
                let completed = (round * restarts + restart) * iterations
                let outcome = run(
                    model: &model, original: original.gathering(atIndices: active, alongAxis: 0),
                    labels: active.map { labels[$0] }, targets: targets.map { t in active.map { t[$0] } },
                    using: &generator, progress: { [onProgress] k in onProgress?(completed + k, totalIterations) })
                for (position, index) in active.enumerated() {
                    let rows = (index * width)..<((index + 1) * width)
                    let source = outcome.points[(position * width)..<((position + 1) * width)]
                    if outcome.fooled[position] {
                        fooled[index] = true
                        result.replaceSubrange(rows, with: source)
                    } else if outcome.bestLoss[position] > fallbackLoss[index] {
                        fallbackLoss[index] = outcome.bestLoss[position]
                        result.replaceSubrange(rows, with: source)
                    }
                }
            }
        }
        return Tensor(shape: original.shape, scalars: result)
    }

    /// What one run returns per example: whether an iterate fooled the model, that iterate (or
    /// else `x_max`) and `f_max`.
    private struct RunOutcome {
        var fooled: [Bool]
        var points: [Float]
        var bestLoss: [Float]
    }

    /// One run of Algorithm 1 on every example of `original`, each with its own step size and
    /// checkpoint state. Fooled examples leave the batch at once.
    private func run<Model: Layer, G: RandomNumberGenerator>(
        model: inout Model, original: Tensor, labels: [Int32], targets: [Int32]?, using generator: inout G,
        progress: (_ iterationsDone: Int) -> Void
    ) -> RunOutcome {
        let count = labels.count
        let width = original.scalarCount / count
        let exampleShape = Array(original.shape.dropFirst())
        let checkpoints = Self.checkpoints(iterations: iterations)
        var outcome = RunOutcome(
            fooled: [Bool](repeating: false, count: count),
            points: [Float](repeating: 0, count: count * width),
            bestLoss: [Float](repeating: -.infinity, count: count))

        // The state of the examples still being attacked, compacted; `positions` maps each row
        // to its index in this run.
        var positions = Array(0..<count)
        var origin = original
        var trueLabels = labels
        var lossLabels = targets ?? labels
        var x = threatModel.randomStart(around: original, using: &generator)
        var (currentLoss, gradient, predicted) = evaluate(x, model: &model, lossLabels: lossLabels, trueLabels: trueLabels)
        var previous = x
        var best = x.array
        var bestGradient = gradient.array
        var bestLoss = currentLoss
        var stepSize = [Float](repeating: 2 * threatModel.epsilon, count: count)
        var lastLoss = currentLoss
        var increases = [Int](repeating: 0, count: count)
        var bestLossAtCheckpoint = currentLoss
        var halvedAtCheckpoint = [Bool](repeating: false, count: count)
        var nextCheckpoint = 1

        for k in 0...iterations {
            if k > 0 {
                progress(k)
                // Step from x^(k−1) to x^(k).
                let direction = threatModel.steepestAscentDirection(gradient)
                let eta = Tensor(shape: [positions.count] + exampleShape.map { _ in 1 }, scalars: stepSize)
                let z = threatModel.project(x + direction * eta, around: origin)
                let next = k == 1
                    ? z
                    : threatModel.project(x + (z - x) * momentum + (x - previous) * (1 - momentum), around: origin)
                previous = x
                x = next
                (currentLoss, gradient, predicted) = evaluate(x, model: &model, lossLabels: lossLabels, trueLabels: trueLabels)
                for row in positions.indices {
                    if currentLoss[row] > lastLoss[row] { increases[row] += 1 }
                    lastLoss[row] = currentLoss[row]
                    if currentLoss[row] > bestLoss[row] {
                        bestLoss[row] = currentLoss[row]
                        copyRow(row, from: x.array, to: &best, width: width)
                        copyRow(row, from: gradient.array, to: &bestGradient, width: width)
                    }
                }
            }

            // Examples fooled by x^(k) are done.
            var keep = [Int]()
            let points = x.array
            for row in positions.indices {
                if predicted[row] != trueLabels[row] {
                    let index = positions[row]
                    outcome.fooled[index] = true
                    outcome.bestLoss[index] = bestLoss[row]
                    outcome.points.replaceSubrange((index * width)..<((index + 1) * width), with: points[(row * width)..<((row + 1) * width)])
                } else {
                    keep.append(row)
                }
            }

            // Checkpoint w_j: halve η and return to x_max where the loss stalls or oscillates.
            if nextCheckpoint < checkpoints.count, k == checkpoints[nextCheckpoint] {
                let interval = checkpoints[nextCheckpoint] - checkpoints[nextCheckpoint - 1]
                nextCheckpoint += 1
                var restarted = [Int]()
                for row in keep {
                    let halve = Self.halvesStepSize(
                        increases: increases[row], interval: interval, rho: rho,
                        halvedAtLastCheckpoint: halvedAtCheckpoint[row],
                        bestLossAtLastCheckpoint: bestLossAtCheckpoint[row], bestLoss: bestLoss[row])
                    halvedAtCheckpoint[row] = halve
                    bestLossAtCheckpoint[row] = bestLoss[row]
                    increases[row] = 0
                    if halve {
                        stepSize[row] /= 2
                        restarted.append(row)
                    }
                }
                if !restarted.isEmpty {
                    var scalars = x.array, gradientScalars = gradient.array
                    for row in restarted {
                        copyRow(row, from: best, to: &scalars, width: width)
                        copyRow(row, from: bestGradient, to: &gradientScalars, width: width)
                    }
                    x = Tensor(shape: x.shape, scalars: scalars)
                    gradient = Tensor(shape: gradient.shape, scalars: gradientScalars)
                }
            }

            if keep.isEmpty { return outcome }
            if keep.count < positions.count {
                positions = keep.map { positions[$0] }
                origin = origin.gathering(atIndices: keep, alongAxis: 0)
                x = x.gathering(atIndices: keep, alongAxis: 0)
                previous = previous.gathering(atIndices: keep, alongAxis: 0)
                gradient = gradient.gathering(atIndices: keep, alongAxis: 0)
                best = gatherRows(keep, of: best, width: width)
                bestGradient = gatherRows(keep, of: bestGradient, width: width)
                trueLabels = keep.map { trueLabels[$0] }
                lossLabels = keep.map { lossLabels[$0] }
                bestLoss = keep.map { bestLoss[$0] }
                stepSize = keep.map { stepSize[$0] }
                lastLoss = keep.map { lastLoss[$0] }
                increases = keep.map { increases[$0] }
                bestLossAtCheckpoint = keep.map { bestLossAtCheckpoint[$0] }
                halvedAtCheckpoint = keep.map { halvedAtCheckpoint[$0] }
            }
        }

        // Never fooled: x_max and f_max.
        for (row, index) in positions.enumerated() {
            outcome.bestLoss[index] = bestLoss[row]
            outcome.points.replaceSubrange((index * width)..<((index + 1) * width), with: best[(row * width)..<((row + 1) * width)])
        }
        return outcome
    }

    /// Per example: `f(x)`, the gradient of `Σ f` at `x` and the predicted class, from one
    /// forward and one backward pass.
    private func evaluate<Model: Layer>(
        _ x: Tensor, model: inout Model, lossLabels: [Int32], trueLabels: [Int32]
    ) -> (loss: [Float], gradient: Tensor, predicted: [Int32]) {
        var logits = Tensor(0)
        var perExample = Tensor(0)
        let targeted = objective != .untargeted
        let gradient = BulwarkCore.gradient(at: x) { x in
            let z = model(x)
            let losses = attackLoss(loss, logits: z, labels: lossLabels, targeted: targeted, trueLabels: trueLabels)
            logits = z.detached
            perExample = losses.detached
            return losses.sum()
        }
        return (perExample.array, gradient, predictions(logits))
    }
}

private func copyRow(_ row: Int, from source: [Float], to destination: inout [Float], width: Int) {
    let range = (row * width)..<((row + 1) * width)
    destination.replaceSubrange(range, with: source[range])
}

func gatherRows(_ rows: [Int], of source: [Float], width: Int) -> [Float] {
    var result = [Float]()
    result.reserveCapacity(rows.count * width)
    for row in rows { result += source[(row * width)..<((row + 1) * width)] }
    return result
}

// MARK: - The DLR loss

/// The DLR loss of ``AttackLoss/dlr`` per example: untargeted when `targets` is `nil`.
///
/// Sorting is not a primitive, so the order statistics are chosen on the detached logits and
/// turned into ±1 masks; multiplying the traced logits by the masks and summing gathers the
/// chosen logits differentiably, so the gradient flows through exactly the selected logits (as
/// in the reference implementation, which indexes the sorted logits).
package func differenceOfLogitsRatio(logits: Tensor, labels: [Int32], targets: [Int32]?) -> Tensor {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count,
                 "DLR needs logits [N, K] for N = \(labels.count) labels, got \(logits.shape)")
    let (rows, classCount) = (logits.shape[0], logits.shape[1])
    precondition(classCount >= (targets == nil ? 3 : 4),
                 "the \(targets == nil ? "" : "targeted ")DLR loss needs at least \(targets == nil ? 3 : 4) classes, got \(classCount)")
    precondition(targets.map { $0.count == rows } ?? true, "DLR needs one target per example")
    precondition(labels.allSatisfy { $0 >= 0 && Int($0) < classCount } && (targets ?? []).allSatisfy { $0 >= 0 && Int($0) < classCount },
                 "labels must be in 0..<\(classCount)")
    let values = logits.array
    // numerator: z_y − (max other | z_t); denominator: z_π1 − z_π3 | z_π1 − (z_π3 + z_π4)/2.
    var numerator = [Float](repeating: 0, count: rows * classCount)
    var denominator = [Float](repeating: 0, count: rows * classCount)
    for row in 0..<rows {
        let base = row * classCount
        // Descending by value, ties by index: a deterministic π.
        let order = (0..<classCount).sorted { a, b in
            values[base + a] != values[base + b] ? values[base + a] > values[base + b] : a < b
        }
        let label = Int(labels[row])
        numerator[base + label] += 1
        if let targets {
            numerator[base + Int(targets[row])] -= 1
            denominator[base + order[0]] += 1
            denominator[base + order[2]] -= 0.5
            denominator[base + order[3]] -= 0.5
        } else {
            // max_{i≠y} z_i: the second class when the first is the label.
            numerator[base + (order[0] == label ? order[1] : order[0])] -= 1
            denominator[base + order[0]] += 1
            denominator[base + order[2]] -= 1
        }
    }
    let shape = [rows, classCount]
    let difference = (logits * Tensor(shape: shape, scalars: numerator)).sum(alongAxis: 1)
    let scale = (logits * Tensor(shape: shape, scalars: denominator)).sum(alongAxis: 1) + 1e-12
    return -(difference / scale)
}
