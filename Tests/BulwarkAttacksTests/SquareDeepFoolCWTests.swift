import Bulwark
import Foundation
import Testing
import _TestSupport

/// The Square Attack, DeepFool and Carlini–Wagner L2 on the fixture model.
@Suite struct SquareDeepFoolCWTests {
    /// What a ``GradientMask`` saw: rows forwarded and calls made while a gradient was taken.
    final class ForwardProbe: @unchecked Sendable {
        var rows = 0
        var tracedCalls = 0
    }

    /// Gradient masking in its purest form: the identity in the forward pass, cut off the tape
    /// so every gradient through it is zero. It also counts the rows it forwards (the queries).
    struct GradientMask: ParameterlessLayer {
        let probe: ForwardProbe
        func forward(_ input: Tensor) -> Tensor {
            probe.rows += input.shape[0]
            if input.isTraced { probe.tracedCalls += 1 }
            return input.detached
        }
    }

    static let trained = Fixtures.trainedMLP()

    /// The examples the fixture model classifies correctly.
    static func correctlyClassified(_ model: Sequential, _ data: ImageDataset) -> [Int] {
        let predicted = predictions(model.applied(to: data.images))
        return data.labels.indices.filter { predicted[$0] == data.labels[$0] }
    }

    // MARK: Square

    @Test func squareBreaksAGradientMaskedModelThatPGDCannot() {
        let (model, data) = Self.trained
        let probe = ForwardProbe()
        let masked = Sequential([GradientMask(probe: probe), model])
        let threatModel = ThreatModel.lInfinity(epsilon: 0.3)

        // The mask works: the input gradient is zero, and PGD without a random start is stuck.
        let gradient = BulwarkCore.gradient(at: data.images) { x in
            softmaxCrossEntropy(logits: masked.applied(to: x), labels: data.labels)
        }
        #expect(gradient.array.allSatisfy { $0 == 0 })
        let square = SquareAttack(threatModel: threatModel, queries: 1000)
        let pgd = PGD(threatModel: threatModel, steps: 20, stepSize: 0.03, randomStart: false)
        var generator = SplitMix64(seed: 31)
        let report = evaluateRobustness(masked, inputs: data.images, labels: data.labels, attacks: [pgd, square],
                                        threatModel: threatModel, using: &generator)
        let (pgdAccuracy, squareAccuracy) = (report.attacks[0].robustAccuracy, report.attacks[1].robustAccuracy)
        #expect(report.cleanAccuracy > 0.95)
        #expect(pgdAccuracy == report.cleanAccuracy, "PGD should be stuck on zero gradients, got \(pgdAccuracy)")
        #expect(squareAccuracy < 0.1, "Square at ε = 0.3 should break the masked model, got \(squareAccuracy) (clean \(report.cleanAccuracy))")

        // Square never records a tape, and sees exactly what it sees without the mask.
        probe.tracedCalls = 0
        var first = SplitMix64(seed: 37), second = SplitMix64(seed: 37)
        let inputs = data.images.slice(alongAxis: 0, 0..<64)
        let labels = Array(data.labels[0..<64])
        let throughMask = square.perturbWithQueries(inputs, labels: labels, against: masked, using: &first)
        let direct = square.perturbWithQueries(inputs, labels: labels, against: model, using: &second)
        #expect(probe.tracedCalls == 0, "Square took a gradient")
        #expect(throughMask == direct)
    }

    @Test(arguments: [(ThreatModel.lInfinity(epsilon: 0.3), 60), (.l2(epsilon: 2.5), 40)])
    func squareRespectsItsQueryBudget(_ threatModel: ThreatModel, budget: Int) {
        let (model, data) = Self.trained
        let probe = ForwardProbe()
        let counted = Sequential([GradientMask(probe: probe), model])
        var generator = SplitMix64(seed: 41)
        let result = SquareAttack(threatModel: threatModel, queries: budget)
            .perturbWithQueries(data.images, labels: data.labels, against: counted, using: &generator)
        let clean = predictions(model.applied(to: data.images))
        #expect(probe.rows == result.queries.reduce(0, +), "the reported queries must be every row forwarded")
        #expect(result.queries.allSatisfy { $0 >= 1 && $0 <= budget })
        // Examples still robust used the whole budget; fooled ones stopped when fooled.
        for index in data.labels.indices where clean[index] == data.labels[index] && !result.fooled[index] {
            #expect(result.queries[index] == budget)
        }
        for index in data.labels.indices where clean[index] != data.labels[index] {
            #expect(result.queries[index] == 1)
        }
        let survivors = data.labels.indices.filter { clean[$0] == data.labels[$0] && !result.fooled[$0] }.count
        let earlyStops = data.labels.indices.filter { result.fooled[$0] && result.queries[$0] < budget }.count
        #expect(survivors > 0 && earlyStops > 0, "the budget should bind for some examples and not for others (\(survivors), \(earlyStops))")
        // The reported flags and margins are the model's on the returned inputs.
        let logits = model.applied(to: result.adversarial)
        #expect(zip(predictions(logits), data.labels).map { $0 != $1 } == result.fooled)
        let margins = attackLoss(.margin, logits: logits, labels: data.labels, targeted: false).array
        #expect(zip(margins, result.margins).allSatisfy { abs($0 + $1) < 1e-4 })

        // A budget of one query is only the clean check.
        var other = SplitMix64(seed: 43)
        let none = SquareAttack(threatModel: threatModel, queries: 1)
            .perturbWithQueries(data.images, labels: data.labels, against: model, using: &other)
        #expect(none.adversarial == data.images && none.queries.allSatisfy { $0 == 1 })
    }

    @Test(arguments: [ThreatModel.lInfinity(epsilon: 0.27), .l2(epsilon: 2)])
    func moreQueriesAreStronger(_ threatModel: ThreatModel) {
        let (model, data) = Self.trained
        var generatorA = SplitMix64(seed: 47), generatorB = SplitMix64(seed: 47)
        let few = SquareAttack(threatModel: threatModel, queries: 20)
            .perturbWithQueries(data.images, labels: data.labels, against: model, using: &generatorA)
        let many = SquareAttack(threatModel: threatModel, queries: 400)
            .perturbWithQueries(data.images, labels: data.labels, against: model, using: &generatorB)
        let (fewFooled, manyFooled) = (few.fooled.filter { $0 }.count, many.fooled.filter { $0 }.count)
        #expect(manyFooled > fewFooled + 50, "400 queries fooled \(manyFooled), 20 fooled \(fewFooled)")
        #expect(many.queries.reduce(0, +) > few.queries.reduce(0, +))
    }

    @Test func pScheduleMatchesTheReference() {
        let p = { (iteration: Int, budget: Int) in SquareAttack.fractionOfPixels(iteration: iteration, budget: budget, pInit: 0.8) }
        // 10,000 queries: halvings after iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000.
        #expect(p(0, 10000) == 0.8 && p(10, 10000) == 0.8)
        #expect(p(11, 10000) == 0.4 && p(50, 10000) == 0.4)
        #expect(p(51, 10000) == 0.2 && p(200, 10000) == 0.2)
        #expect(p(201, 10000) == 0.1 && p(1000, 10000) == 0.05)
        #expect(p(2000, 10000) == 0.8 / 32 && p(4000, 10000) == 0.8 / 64 && p(6000, 10000) == 0.8 / 128)
        #expect(p(8000, 10000) == 0.8 / 256 && p(8001, 10000) == 0.8 / 512 && p(9999, 10000) == 0.8 / 512)
        // 1,000 queries: the iteration is rescaled by 10 (int(it / n_iters * 10000)).
        #expect(p(1, 1000) == 0.8 && p(2, 1000) == 0.4 && p(5, 1000) == 0.4 && p(6, 1000) == 0.2)
        #expect(p(100, 1000) == 0.05 && p(101, 1000) == 0.025)
    }

    @Test func l2WindowProfileMatchesTheReference() {
        // meta_pseudo_gaussian_pert(3) by hand: row 0 is [¼, 1¼, ¼]/√1.6875, rows 1-2 are
        // −[[¼, ¼, ¼], [¼, 1¼, ¼]]/√1.875, all over √2.
        let profile = squareAttackProfile(side: 3)
        let (top, bottom) = (1.6875.squareRoot() * 2.0.squareRoot(), 1.875.squareRoot() * 2.0.squareRoot())
        let expected = [0.25 / top, 1.25 / top, 0.25 / top,
                        -0.25 / bottom, -0.25 / bottom, -0.25 / bottom,
                        -0.25 / bottom, -1.25 / bottom, -0.25 / bottom]
        #expect(zip(profile, expected).allSatisfy { abs(Double($0) - $1) < 1e-6 }, "\(profile)")
        for side in [1, 4, 5, 8] {
            let norm = squareAttackProfile(side: side).reduce(0) { $0 + $1 * $1 }
            #expect(abs(norm - 1) < 1e-5, "η of side \(side) must have unit norm")
        }
    }

    // MARK: DeepFool and Carlini–Wagner

    /// The mean norm of PGD's successful perturbations at the smallest ε on a grid (steps of
    /// `grid`) at which PGD fools at least `fraction` of `indices`.
    static func pgdNormAtEqualSuccess(_ norm: Norm, grid: Float, _ model: Sequential, _ data: ImageDataset, indices: [Int], fraction: Float) -> Float {
        let inputs = data.images.gathering(atIndices: indices, alongAxis: 0)
        let labels = indices.map { data.labels[$0] }
        for epsilon in stride(from: grid, through: 40 * grid, by: grid) {
            var generator = SplitMix64(seed: 53)
            let threatModel = ThreatModel(norm: norm, epsilon: epsilon)
            let adversarial = PGD(threatModel: threatModel, steps: 50, stepSize: epsilon / 10, loss: .margin)
                .perturb(inputs, labels: labels, against: model, using: &generator)
            let fooled = zip(predictions(model.applied(to: adversarial)), labels).map { $0 != $1 }
            let successes = fooled.filter { $0 }.count
            if Float(successes) >= fraction * Float(indices.count) {
                let norms = threatModel.norms(of: adversarial - inputs)
                return zip(norms, fooled).filter { $1 }.map { $0.0 }.reduce(0, +) / Float(successes)
            }
        }
        return .infinity
    }

    static func summary(_ result: MinimumNormResult, over indices: [Int]) -> (successRate: Float, meanNorm: Float) {
        let successes = indices.filter { result.fooled[$0] }
        let mean = successes.map { result.norms[$0] }.reduce(0, +) / Float(Swift.max(successes.count, 1))
        return (Float(successes.count) / Float(indices.count), mean)
    }

    @Test func deepFoolAndCarliniWagnerFindSmallPerturbations() {
        let (model, data) = Self.trained
        let correct = Self.correctlyClassified(model, data)
        var generator = SplitMix64(seed: 59)
        let deepFool = DeepFool(threatModel: .l2(epsilon: 0.5))
            .minimumNormPerturbation(data.images, labels: data.labels, against: model, using: &generator)
        let cw = CarliniWagnerL2(threatModel: .l2(epsilon: 0.5), maxIterations: 200)
            .minimumNormPerturbation(data.images, labels: data.labels, against: model, using: &generator)
        let (deepFoolRate, deepFoolNorm) = Self.summary(deepFool, over: correct)
        let (cwRate, cwNorm) = Self.summary(cw, over: correct)
        #expect(deepFoolRate > 0.95, "DeepFool flipped \(deepFoolRate) of the correctly classified examples")
        #expect(cwRate > 0.95, "CW flipped \(cwRate) of the correctly classified examples")
        let pgdNorm = Self.pgdNormAtEqualSuccess(.l2, grid: 0.1, model, data, indices: correct, fraction: Swift.min(deepFoolRate, cwRate))
        #expect(deepFoolNorm < pgdNorm, "DeepFool's mean ‖δ‖₂ \(deepFoolNorm) vs PGD-L2's \(pgdNorm) at the same success")
        #expect(cwNorm < pgdNorm, "CW's mean ‖δ‖₂ \(cwNorm) vs PGD-L2's \(pgdNorm) at the same success")
        #expect(cwNorm <= deepFoolNorm * 1.05, "CW (\(cwNorm)) should be at least about as small as DeepFool (\(deepFoolNorm))")
        // Everything reported is consistent with the returned inputs.
        for result in [deepFool, cw] {
            #expect(result.adversarial.array.allSatisfy { $0 >= 0 && $0 <= 1 })
            #expect(zip(predictions(model.applied(to: result.adversarial)), data.labels).map { $0 != $1 } == result.fooled)
            #expect(zip(ThreatModel.l2(epsilon: 1).norms(of: result.adversarial - data.images), result.norms).allSatisfy { abs($0 - $1) < 1e-5 })
        }
    }

    @Test func deepFoolLInfinityFlipsLabelsWithSmallPerturbations() {
        let (model, data) = Self.trained
        let correct = Self.correctlyClassified(model, data)
        var generator = SplitMix64(seed: 61)
        let result = DeepFool(threatModel: .lInfinity(epsilon: 0.1))
            .minimumNormPerturbation(data.images, labels: data.labels, against: model, using: &generator)
        let (rate, meanNorm) = Self.summary(result, over: correct)
        #expect(rate > 0.95, "DeepFool-L∞ flipped \(rate)")
        let pgdNorm = Self.pgdNormAtEqualSuccess(.lInfinity, grid: 0.01, model, data, indices: correct, fraction: rate)
        #expect(meanNorm < pgdNorm, "DeepFool-L∞'s mean ‖δ‖∞ \(meanNorm) vs PGD-L∞'s \(pgdNorm) at the same success")
        // Misclassified examples are returned untouched with norm 0.
        for index in data.labels.indices where !correct.contains(index) {
            #expect(result.norms[index] == 0 && result.fooled[index])
        }
    }

    @Test(arguments: [Norm.l2, .lInfinity])
    func deepFoolIsExactOnALinearModel(_ norm: Norm) {
        // For logits Wx + b the nearest boundary is at |f'_k| / ‖w'_k‖_q: one step, exactly.
        var generator = SplitMix64(seed: 67)
        var linear = Linear(inputSize: 16, outputSize: 4, using: &generator)
        linear.weight = linear.weight * 10
        linear.bias = linear.bias.map { $0 * 10 }
        let model = Sequential([Flatten(), linear])
        let inputs = Tensor(randomUniform: [32, 1, 4, 4], in: 0.4...0.6, using: &generator)
        let labels = predictions(model.applied(to: inputs))
        let attack = DeepFool(threatModel: ThreatModel(norm: norm, epsilon: 1), candidates: 4)
        let result = attack.minimumNormPerturbation(inputs, labels: labels, against: model, using: &generator)
        let (w, b, x) = (linear.weight.array, linear.bias!.array, inputs.array)
        for row in 0..<32 {
            let y = Int(labels[row])
            var nearest = Float.infinity
            for k in 0..<4 where k != y {
                var difference = b[k] - b[y]
                var dual: Float = 0, squared: Float = 0
                for i in 0..<16 {
                    let wk = w[k * 16 + i] - w[y * 16 + i]
                    difference += wk * x[row * 16 + i]
                    dual += abs(wk)
                    squared += wk * wk
                }
                nearest = min(nearest, abs(difference) / (norm == .l2 ? squared.squareRoot() : dual))
            }
            let expected = 1.02 * (nearest + 1e-4)
            #expect(result.fooled[row])
            #expect(abs(result.norms[row] - expected) < 1e-4 + 1e-3 * expected, "row \(row): ‖δ‖ = \(result.norms[row]), expected \(expected)")
        }
    }

    @Test(arguments: [0, 1])
    func minimumNormAttacksProjectOntoTheBall(_ which: Int) {
        let (model, data) = Self.trained
        let inputs = data.images.slice(alongAxis: 0, 0..<48)
        let labels = Array(data.labels[0..<48])
        let small = ThreatModel.l2(epsilon: 1.4), large = ThreatModel.l2(epsilon: 100)
        func attack(_ threatModel: ThreatModel) -> any MinimumNormAttack {
            which == 0 ? DeepFool(threatModel: threatModel) : CarliniWagnerL2(threatModel: threatModel, binarySearchSteps: 5, maxIterations: 100)
        }
        var generator = SplitMix64(seed: 71)
        let unprojected = attack(small).minimumNormPerturbation(inputs, labels: labels, against: model, using: &generator)
        let above = unprojected.norms.filter { $0 > 1.4 }.count
        #expect(above > 0 && above < 48, "the minimum-norm perturbations should straddle ε = 1.4")
        let projected = attack(small).perturb(inputs, labels: labels, against: model, using: &generator)
        #expect(projected == small.project(unprojected.adversarial, around: inputs))
        #expect(small.norms(of: projected - inputs).allSatisfy { $0 <= 1.4 + 1e-6 })
        // With a ball that contains every result, projection changes nothing but rounding.
        let unchanged = attack(large).perturb(inputs, labels: labels, against: model, using: &generator)
        #expect(zip(unchanged.array, unprojected.adversarial.array).allSatisfy { abs($0 - $1) <= 1e-6 })
        // Robust accuracy at ε from one run: an example whose breaking ε is within the ball
        // stays broken after projection (up to rounding at the decision boundary, which CW
        // with κ = 0 sits on).
        let fooledAtSmall = zip(predictions(model.applied(to: projected)), labels).map { $0 != $1 }
        let within = unprojected.breakingEpsilons.indices.filter { unprojected.breakingEpsilons[$0] <= 1.4 }
        #expect(!within.isEmpty)
        #expect(Float(within.filter { fooledAtSmall[$0] }.count) >= 0.9 * Float(within.count),
                "\(within.filter { fooledAtSmall[$0] }.count) of \(within.count) broken within ε stayed broken")
    }

    @Test func carliniWagnerConfidenceWidensTheMargin() {
        let (model, data) = Self.trained
        let inputs = data.images.slice(alongAxis: 0, 0..<64)
        let labels = Array(data.labels[0..<64])
        var generator = SplitMix64(seed: 73)
        let plain = CarliniWagnerL2(threatModel: .l2(epsilon: 1), binarySearchSteps: 6, maxIterations: 200)
        var confident = plain
        confident.confidence = 5
        let low = plain.minimumNormPerturbation(inputs, labels: labels, against: model, using: &generator)
        let high = confident.minimumNormPerturbation(inputs, labels: labels, against: model, using: &generator)
        let margins = attackLoss(.margin, logits: model.applied(to: high.adversarial), labels: labels, targeted: false).array
        let moved = high.norms.indices.filter { high.norms[$0] > 0 }
        #expect(moved.count > 48)
        for index in moved {
            #expect(margins[index] >= 5 - 1e-3, "example \(index): max other − label = \(margins[index]) < κ = 5")
        }
        let both = moved.filter { low.fooled[$0] }
        let (lowMean, highMean) = (both.map { low.norms[$0] }.reduce(0, +), both.map { high.norms[$0] }.reduce(0, +))
        #expect(highMean > lowMean, "κ = 5 should cost more norm than κ = 0")
    }
}

