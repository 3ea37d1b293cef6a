import Bulwark
import Foundation
import Testing
import _TestSupport

/// The DLR loss of Croce and Hein 2020 against hand-computed values and finite differences.
@Suite struct APGDDLRLossTests {
    // Row 0: z = [1, 4, 2, 0], y = 0: π = (1, 2, 0, 3), z_π1 = 4, z_π3 = 1, z_π4 = 0.
    // Row 1: z = [0, −1, 3, 2], y = 2: π = (2, 3, 0, 1), z_π1 = 3, z_π3 = 0, z_π4 = −1.
    static let logits = Tensor(shape: [2, 4], scalars: [1, 4, 2, 0, 0, -1, 3, 2])

    @Test func untargetedMatchesHandComputation() {
        let values = attackLoss(.dlr, logits: Self.logits, labels: [0, 2], targeted: false).array
        // Row 0: −(1 − 4)/(4 − 1) = 1. Row 1: the label leads, so the best other is 2:
        // −(3 − 2)/(3 − 0) = −1/3.
        let expected: [Float] = [1, -1.0 / 3]
        #expect(values.count == 2)
        #expect(zip(values, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(values) vs \(expected)")
    }

    @Test func targetedMatchesHandComputation() {
        let values = attackLoss(.dlr, logits: Self.logits, labels: [2, 1], targeted: true, trueLabels: [0, 2]).array
        // Row 0, t = 2: −(1 − 2)/(4 − (1 + 0)/2) = 1/3.5. Row 1, t = 1: −(3 − (−1))/(3 − (0 − 1)/2) = −4/3.5.
        let expected: [Float] = [1 / 3.5, -4 / 3.5]
        #expect(zip(values, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(values) vs \(expected)")
    }

    @Test func threeClassesSufficeUntargeted() {
        // z = [2, 5, −1], y = 2: −(−1 − 5)/(5 − (−1)) = 1: the label is the third logit.
        let value = attackLoss(.dlr, logits: Tensor(shape: [1, 3], scalars: [2, 5, -1]), labels: [2], targeted: false).array
        #expect(abs(value[0] - 1) < 1e-6, "\(value)")
    }

    @Test func isInvariantToShiftingAndScalingTheLogits() {
        let moved = Self.logits * 3 + 7
        let a = attackLoss(.dlr, logits: Self.logits, labels: [0, 2], targeted: false).array
        let b = attackLoss(.dlr, logits: moved, labels: [0, 2], targeted: false).array
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-5 }, "\(a) vs \(b)")
        let c = attackLoss(.dlr, logits: Self.logits, labels: [2, 1], targeted: true, trueLabels: [0, 2]).array
        let d = attackLoss(.dlr, logits: moved, labels: [2, 1], targeted: true, trueLabels: [0, 2]).array
        #expect(zip(c, d).allSatisfy { abs($0 - $1) < 1e-5 }, "\(c) vs \(d)")
    }

    @Test func untargetedGradientMatchesFiniteDifferences() {
        // Distinct logits 0.5 apart: a finite-difference step of 0.01 never reorders them.
        let logits = distinctValues([3, 5], spacing: 0.5, seed: 31)
        expectGradientMatchesFiniteDifferences(at: [logits]) { inputs in
            attackLoss(.dlr, logits: inputs[0], labels: [0, 3, 4], targeted: false)
        }
    }

    @Test func targetedGradientMatchesFiniteDifferences() {
        let logits = distinctValues([3, 5], spacing: 0.5, seed: 37)
        expectGradientMatchesFiniteDifferences(at: [logits]) { inputs in
            attackLoss(.dlr, logits: inputs[0], labels: [1, 0, 2], targeted: true, trueLabels: [0, 3, 4])
        }
    }

    @Test func gradientReachesOnlyTheSelectedLogits() {
        // Row 1 of `logits`: the selected logits are z_2 (label, π1), z_3 (best other) and z_0
        // (π3); z_1 must receive nothing. d/dz_3 = 1/3, d/dz_0 = −1/9, d/dz_2 = −2/9.
        let g = gradient(at: Self.logits) { attackLoss(.dlr, logits: $0, labels: [0, 2], targeted: false).sum() }.array
        let expected: [Float] = [-1.0 / 9, 0, -2.0 / 9, 1.0 / 3]
        #expect(zip(g[4...], expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(g)")
        #expect(g[5] == 0, "\(g)")
    }
}

/// The step-size schedule of APGD.
@Suite struct APGDScheduleTests {
    @Test func checkpointsForOneHundredIterations() {
        // p = 0, .22, .41, .57, .70, .80, .87, .93, .99 (the next, 1.05, is past the budget).
        #expect(APGD.checkpoints(iterations: 100) == [0, 22, 41, 57, 70, 80, 87, 93, 99])
    }

    /// The paper's recursion in Float64, independently of the implementation's integer one.
    static func paperCheckpoints(_ iterations: Int) -> [Int] {
        var p = [0.0, 0.22]
        while true {
            let next = p[p.count - 1] + Swift.max(p[p.count - 1] - p[p.count - 2] - 0.03, 0.06)
            if next > 1 + 1e-9 { break }
            p.append(next)
        }
        var result = [Int]()
        for value in p {
            let w = Int((value * Double(iterations) - 1e-9).rounded(.up))
            if w <= iterations, w != result.last { result.append(w) }
        }
        return result
    }

    @Test(arguments: [1, 5, 10, 20, 37, 100, 250, 1000])
    func checkpointsFollowThePapersRecursion(_ iterations: Int) {
        let checkpoints = APGD.checkpoints(iterations: iterations)
        #expect(checkpoints == Self.paperCheckpoints(iterations))
        #expect(checkpoints.first == 0)
        #expect(zip(checkpoints, checkpoints.dropFirst()).allSatisfy { $0 < $1 }, "\(checkpoints)")
        #expect(checkpoints.allSatisfy { $0 <= iterations })
    }

    @Test func halvingConditions() {
        // Condition 1: 12 increases in 16 steps is not below ρ · 16 = 12; 11 is.
        #expect(!APGD.halvesStepSize(increases: 12, interval: 16, rho: 0.75, halvedAtLastCheckpoint: false,
                                     bestLossAtLastCheckpoint: 1, bestLoss: 2))
        #expect(APGD.halvesStepSize(increases: 11, interval: 16, rho: 0.75, halvedAtLastCheckpoint: false,
                                    bestLossAtLastCheckpoint: 1, bestLoss: 2))
        // Condition 2: enough increases, but neither η nor f_max changed since the last checkpoint.
        #expect(APGD.halvesStepSize(increases: 16, interval: 16, rho: 0.75, halvedAtLastCheckpoint: false,
                                    bestLossAtLastCheckpoint: 2, bestLoss: 2))
        // … unless η was halved there.
        #expect(!APGD.halvesStepSize(increases: 16, interval: 16, rho: 0.75, halvedAtLastCheckpoint: true,
                                     bestLossAtLastCheckpoint: 2, bestLoss: 2))
    }
}

/// APGD-CE, APGD-DLR and APGD-T on the trained fixture model.
@Suite struct APGDTests {
    static let trained = Fixtures.trainedMLP()

    @Test func names() {
        #expect(APGD(threatModel: .lInfinity(epsilon: 0.1)).name == "apgd-ce")
        #expect(APGD(threatModel: .lInfinity(epsilon: 0.1), loss: .dlr).name == "apgd-dlr")
        #expect(APGD(threatModel: .lInfinity(epsilon: 0.1), loss: .dlr, objective: .targeted()).name == "apgd-t")
        #expect(APGD(threatModel: .lInfinity(epsilon: 0.1)).iterations == 100)
        #expect(APGD(threatModel: .lInfinity(epsilon: 0.1), objective: .targeted()).objective == .targeted(targetCount: 9))
    }

    /// The paper's claim on a model trained in the tests: with the same budget APGD-CE is at
    /// least as strong as PGD with Madry et al.'s step 2.5 ε / steps and a random start, at an
    /// ε where PGD leaves some accuracy. (On this model, for seeds 1–8 at L∞ ε = 0.25, PGD-100
    /// leaves 120–130 of 256 examples, APGD-CE 109–118, APGD-DLR 97–105, APGD-T 68.)
    @Test(arguments: [ThreatModel.lInfinity(epsilon: 0.25), .l2(epsilon: 1.5)])
    func apgdIsAtLeastAsStrongAsPGDWithTheSameBudget(_ threat: ThreatModel) {
        let (model, data) = Self.trained
        let pgd = PGD(threatModel: threat, steps: 100, stepSize: 2.5 * threat.epsilon / 100)
        let apgd = APGD(threatModel: threat, iterations: 100)
        let apgdDLR = APGD(threatModel: threat, iterations: 100, loss: .dlr)
        let apgdT = APGD(threatModel: threat, iterations: 100, loss: .dlr, objective: .targeted())
        var generator = SplitMix64(seed: 41)
        let report = evaluateRobustness(model, inputs: data.images, labels: data.labels, attacks: [pgd, apgd, apgdDLR, apgdT],
                                        threatModel: threat, using: &generator)
        let accuracies = report.attacks.map(\.robustAccuracy)
        let pgdAccuracy = accuracies[0]
        #expect(pgdAccuracy > 0.1, "choose an ε where PGD does not reach 0")
        #expect(pgdAccuracy < report.cleanAccuracy - 0.1, "PGD should hurt at this ε")
        #expect(accuracies[1] <= pgdAccuracy, "APGD-CE \(accuracies[1]) vs PGD-100 \(pgdAccuracy)")
        #expect(accuracies[2] <= pgdAccuracy, "APGD-DLR \(accuracies[2]) vs PGD-100 \(pgdAccuracy)")
        #expect(accuracies[3] <= pgdAccuracy, "APGD-T \(accuracies[3]) vs PGD-100 \(pgdAccuracy)")
    }

    @Test func targetedRoundsBreakTheModelAtALargeEpsilon() {
        let (model, data) = Self.trained
        let threat = ThreatModel.lInfinity(epsilon: 0.3)
        var generator = SplitMix64(seed: 43)
        let report = evaluateRobustness(model, inputs: data.images, labels: data.labels,
                                        attacks: [APGD(threatModel: threat, iterations: 30, loss: .dlr, objective: .targeted())],
                                        threatModel: threat, using: &generator)
        #expect(report.attacks[0].robustAccuracy < 0.05, "APGD-T at ε = 0.3: \(report.attacks[0].robustAccuracy)")
    }

    @Test func moreTargetsAndRestartsAreAtLeastAsStrong() {
        let (model, data) = Self.trained
        let threat = ThreatModel.lInfinity(epsilon: 0.25)
        let oneTarget = APGD(threatModel: threat, iterations: 10, loss: .dlr, objective: .targeted(targetCount: 1))
        var threeTargets = oneTarget
        threeTargets.objective = .targeted(targetCount: 3)
        var restarted = oneTarget
        restarted.restarts = 3
        func accuracy(_ attack: APGD) -> Float {
            var generator = SplitMix64(seed: 47)
            return evaluateRobustness(model, inputs: data.images, labels: data.labels, attacks: [attack], threatModel: threat,
                                      using: &generator).attacks[0].robustAccuracy
        }
        let base = accuracy(oneTarget)
        #expect(accuracy(threeTargets) <= base)
        #expect(accuracy(restarted) <= base)
    }

    @Test func misclassifiedInputsComeBackUnchanged() {
        let (model, data) = Self.trained
        let inputs = data.images.slice(alongAxis: 0, 0..<16)
        // Wrong labels for the first eight: the model already "misclassifies" them.
        var labels = Array(data.labels[0..<16])
        for row in 0..<8 { labels[row] = (labels[row] + 1) % 4 }
        var generator = SplitMix64(seed: 53)
        let adversarial = APGD(threatModel: .lInfinity(epsilon: 0.1), iterations: 10).perturb(inputs, labels: labels, against: model, using: &generator)
        let width = 64
        let (a, x) = (adversarial.array, inputs.array)
        #expect(Array(a[0..<(8 * width)]) == Array(x[0..<(8 * width)]))
        #expect(Array(a[(8 * width)...]) != Array(x[(8 * width)...]))
    }

    @Test func fooledExamplesComeBackFooled() {
        // Every example the evaluation counts as broken is broken by the returned point itself,
        // and examples whose label cannot be reached keep the highest-loss point: at least as
        // high a loss as the clean input, in expectation far higher.
        let (model, data) = Self.trained
        let inputs = data.images.slice(alongAxis: 0, 0..<64)
        let labels = Array(data.labels[0..<64])
        var generator = SplitMix64(seed: 59)
        let attack = APGD(threatModel: .lInfinity(epsilon: 0.25), iterations: 50)
        let adversarial = attack.perturb(inputs, labels: labels, against: model, using: &generator)
        let cleanLoss = attackLoss(.crossEntropy, logits: model.applied(to: inputs), labels: labels, targeted: false).array
        let adversarialLoss = attackLoss(.crossEntropy, logits: model.applied(to: adversarial), labels: labels, targeted: false).array
        let predicted = predictions(model.applied(to: adversarial))
        for row in 0..<64 where predicted[row] == labels[row] {
            #expect(adversarialLoss[row] >= cleanLoss[row], "row \(row): \(adversarialLoss[row]) < clean \(cleanLoss[row])")
        }
        #expect(zip(predicted, labels).contains { $0 != $1 }, "ε = 0.25 should fool some examples")
        #expect(zip(predicted, labels).contains { $0 == $1 }, "ε = 0.25 should leave some examples")
    }

    /// A model whose cross-entropy peaks strictly inside the ball, at `peak`, and which no
    /// point can fool: logits `(1 + Σᵢ|xᵢ − peakᵢ|, 0, 0)`. Steps of the initial size 2ε only
    /// jump across the peak; APGD must halve its step at the checkpoints and return to its best
    /// point to home in on it, and return that best point (no iterate fools the model).
    static func peakedModel(peak: [Float]) -> Sequential {
        let d = peak.count
        var w1 = [Float](repeating: 0, count: 2 * d * d), b1 = [Float](repeating: 0, count: 2 * d)
        for i in 0..<d {
            (w1[i * d + i], b1[i]) = (1, -peak[i])
            (w1[(d + i) * d + i], b1[d + i]) = (-1, peak[i])
        }
        var w2 = [Float](repeating: 0, count: 3 * 2 * d)
        for j in 0..<(2 * d) { w2[j] = 1 }
        return Sequential([
            Linear(weight: Tensor(shape: [2 * d, d], scalars: w1), bias: Tensor(b1)), ReLU(),
            Linear(weight: Tensor(shape: [3, 2 * d], scalars: w2), bias: Tensor([1, 0, 0])),
        ])
    }

    @Test(arguments: [ThreatModel.lInfinity(epsilon: 0.1), .l2(epsilon: 0.15)])
    func stepHalvingHomesInOnAnInteriorMaximum(_ threat: ThreatModel) {
        let peak: [Float] = [0.53, 0.45, 0.57, 0.51]
        let model = Self.peakedModel(peak: peak)
        let inputs = Tensor(shape: [2, 4], scalars: [0.5, 0.5, 0.5, 0.5, 0.45, 0.5, 0.55, 0.5])
        var generator = SplitMix64(seed: 61)
        let adversarial = APGD(threatModel: threat).perturb(inputs, labels: [0, 0], against: model, using: &generator)
        var pgdGenerator = SplitMix64(seed: 61)
        let pgd = PGD(threatModel: threat, steps: 100, stepSize: 2 * threat.epsilon).perturb(inputs, labels: [0, 0], against: model, using: &pgdGenerator)
        func distances(_ points: Tensor) -> [Float] {
            (0..<2).map { row in (0..<4).map { abs(points.array[row * 4 + $0] - peak[$0]) }.reduce(0, +) }
        }
        let (apgdDistance, pgdDistance) = (distances(adversarial), distances(pgd))
        #expect(apgdDistance.allSatisfy { $0 < 0.01 }, "APGD ended Σ|x − peak| = \(apgdDistance) away (fixed-step PGD: \(pgdDistance))")
    }

    @Test func attackLeavesTheCallersModelUntouched() {
        var (model, data) = Self.trained
        model.mode = .training
        let before = model.parameters
        var generator = SplitMix64(seed: 23)
        _ = APGD(threatModel: .lInfinity(epsilon: 0.1), iterations: 5)
            .perturb(data.images.slice(alongAxis: 0, 0..<8), labels: Array(data.labels[0..<8]), against: model, using: &generator)
        #expect(model.mode == .training)
        #expect(model.parameters == before)
    }
}
