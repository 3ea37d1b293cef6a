import Bulwark
import BulwarkAttacks
import Testing
import _TestSupport

/// FAB and FAB-T: the box-constrained projection, exactness on a linear model, and strength on
/// the fixture model.
@Suite struct FABTests {
    static let trained = Fixtures.trainedMLP()

    // MARK: The projection

    /// Random instances: points in the box, normals with some zero coordinates, offsets of
    /// hyperplanes through a random point of the box (so the intersection is not empty).
    static func instances(rows: Int, width: Int, seed: UInt64) -> (points: [Float], weights: [Float], offsets: [Float], through: [Float]) {
        var generator = SplitMix64(seed: seed)
        var points = [Float](), weights = [Float](), offsets = [Float](), through = [Float]()
        for row in 0..<rows {
            // Some points on the box's faces, where a coordinate cannot move one way.
            let p = (0..<width).map { _ -> Float in
                let u = generator.nextUnitFloat()
                return u < 0.1 ? 0 : u > 0.9 ? 1 : generator.nextUnitFloat()
            }
            let w = (0..<width).map { i -> Float in i == row % width ? 0 : 4 * generator.nextUnitFloat() - 2 }
            let q = (0..<width).map { _ in generator.nextUnitFloat() }
            points += p
            weights += w
            through += q
            offsets.append(zip(w, q).map { $0 * $1 }.reduce(0, +))
        }
        return (points, weights, offsets, through)
    }

    static func norm(_ values: ArraySlice<Float>, _ norm: Norm) -> Float {
        norm == .l2 ? values.reduce(0) { $0 + $1 * $1 }.squareRoot() : values.reduce(0) { max($0, abs($1)) }
    }

    @Test(arguments: [Norm.l2, .lInfinity])
    func projectionMeetsTheHyperplaneInTheBoxWithTheSmallestNorm(_ norm: Norm) {
        let (rows, width) = (60, 6)
        let (points, weights, offsets, through) = Self.instances(rows: rows, width: width, seed: 81)
        let delta = boxConstrainedProjection(of: points, onto: weights, offsets: offsets, width: width, norm: norm, bounds: 0...1)
        var generator = SplitMix64(seed: 82)
        var improved = 0
        for row in 0..<rows {
            let range = (row * width)..<((row + 1) * width)
            let moved = range.map { points[$0] + delta[$0] }
            #expect(moved.allSatisfy { $0 >= -1e-6 && $0 <= 1 + 1e-6 }, "row \(row) left the box: \(moved)")
            let value = zip(range.map { weights[$0] }, moved).map { $0 * $1 }.reduce(0, +)
            #expect(abs(value - offsets[row]) < 1e-4, "row \(row): ⟨w, p + δ⟩ = \(value), b = \(offsets[row])")
            // Feasible points by a hit-and-run walk on the hyperplane inside the box, from the
            // point the hyperplane was drawn through: each step moves along a random direction
            // orthogonal to w by a random amount that stays inside the box.
            let w = range.map { weights[$0] }
            let p = range.map { points[$0] }
            var z = range.map { through[$0] }
            let first = Self.norm(zip(z, p).map { $0 - $1 }[...], norm)
            var smallestFeasible = first
            let squared = w.reduce(0) { $0 + $1 * $1 }
            for _ in 0..<1000 {
                var u = (0..<width).map { _ in 2 * generator.nextUnitFloat() - 1 }
                let along = zip(u, w).map { $0 * $1 }.reduce(0, +) / squared
                u = zip(u, w).map { $0 - along * $1 }
                var (lowest, highest) = (-Float.infinity, Float.infinity)
                for i in 0..<width where abs(u[i]) > 1e-6 {
                    let (a, b) = ((0 - z[i]) / u[i], (1 - z[i]) / u[i])
                    lowest = max(lowest, min(a, b))
                    highest = min(highest, max(a, b))
                }
                guard lowest.isFinite, highest.isFinite, lowest < highest else { continue }
                let t = lowest + (highest - lowest) * generator.nextUnitFloat()
                z = (0..<width).map { min(max(z[$0] + t * u[$0], 0), 1) }
                smallestFeasible = min(smallestFeasible, Self.norm(zip(z, p).map { $0 - $1 }[...], norm))
            }
            if smallestFeasible < 0.9 * first { improved += 1 }
            let projected = Self.norm(delta[range], norm)
            #expect(projected <= smallestFeasible + 1e-5, "row \(row): ‖δ‖ = \(projected) > a feasible point's \(smallestFeasible)")
        }
        // The walk explores: a projection that merely returned some feasible point would fail.
        #expect(improved > rows / 2, "the walk improved on its start in only \(improved) of \(rows) rows")
    }

    @Test(arguments: [Norm.l2, .lInfinity])
    func projectionWithoutBoxConstraintsIsTheClosedForm(_ norm: Norm) {
        // Far from the faces, δ = c·w/‖w‖₂² (L2) and δ = c·sign(w)/‖w‖₁ (L∞).
        let points: [Float] = [0.5, 0.5, 0.5, 0.5]
        let weights: [Float] = [1, -2, 0, 0.5]
        let delta = boxConstrainedProjection(of: points, onto: weights, offsets: [0.1], width: 4, norm: norm, bounds: 0...1)
        let gap: Float = 0.1 - (0.5 - 1 + 0.25)
        let expected: [Float] = norm == .l2
            ? weights.map { gap * $0 / 5.25 }
            : weights.map { gap * ($0 > 0 ? 1 : $0 < 0 ? -1 : 0) / 3.5 }
        #expect(zip(delta, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(delta) vs \(expected)")
    }

    @Test(arguments: [Norm.l2, .lInfinity])
    func projectionOntoAnUnreachableHyperplaneGoesToTheNearestCorner(_ norm: Norm) {
        // ⟨w, z⟩ ≤ 1 + 0 + 2 = 3 in the box, so ⟨w, z⟩ = 10 is out of reach; ⟨w, p⟩ = b gives 0.
        let points: [Float] = [0.25, 0.5, 0.75]
        let weights: [Float] = [1, 0, 2]
        let far = boxConstrainedProjection(of: points, onto: weights, offsets: [10], width: 3, norm: norm, bounds: 0...1)
        #expect(far == [0.75, 0, 0.25])
        let here = boxConstrainedProjection(of: points, onto: weights, offsets: [1.75], width: 3, norm: norm, bounds: 0...1)
        #expect(here == [0, 0, 0])
    }

    // MARK: The attack

    @Test(arguments: [Norm.l2, .lInfinity], [false, true])
    func reachesTheNearestBoundaryOfALinearModel(_ norm: Norm, targeted: Bool) {
        // Two classes: the boundary is the hyperplane f_1 − f_0 = 0 at distance |f_1 − f_0| / ‖w_1 − w_0‖_q.
        var generator = SplitMix64(seed: 87)
        var linear = Linear(inputSize: 16, outputSize: 2, using: &generator)
        linear.weight = linear.weight * 10
        linear.bias = linear.bias.map { $0 * 10 }
        let model = Sequential([Flatten(), linear])
        let inputs = Tensor(randomUniform: [64, 1, 4, 4], in: 0.4...0.6, using: &generator)
        let labels = predictions(model.applied(to: inputs))
        let attack = FAB(threatModel: ThreatModel(norm: norm, epsilon: 1), objective: targeted ? .targeted() : .untargeted)
        let result = attack.minimumNormPerturbation(inputs, labels: labels, against: model, using: &generator)
        let (w, b, x) = (linear.weight.array, linear.bias!.array, inputs.array)
        var checked = 0
        for row in 0..<64 {
            var difference = b[1] - b[0]
            var dual: Float = 0, squared: Float = 0
            var direction = [Float]()
            for i in 0..<16 {
                let wi = w[16 + i] - w[i]
                difference += wi * x[row * 16 + i]
                dual += abs(wi)
                squared += wi * wi
                direction.append(wi)
            }
            let distance = abs(difference) / (norm == .l2 ? squared.squareRoot() : dual)
            // Only where the unconstrained nearest point lies inside the box is this the minimum.
            let largestMove = norm == .l2 ? direction.map { abs($0) }.max()! * distance / squared.squareRoot() : distance
            guard largestMove < 0.39 else { continue }
            checked += 1
            #expect(result.fooled[row], "row \(row) not fooled")
            #expect(result.norms[row] >= distance * (1 - 1e-3), "row \(row): ‖δ‖ = \(result.norms[row]) below the minimum \(distance)")
            #expect(result.norms[row] <= distance * 1.01 + 1e-5, "row \(row): ‖δ‖ = \(result.norms[row]), minimum \(distance)")
        }
        #expect(checked >= 16, "only \(checked) rows with the boundary inside the box")
    }

    @Test(arguments: [Norm.l2, .lInfinity])
    func targetedIsAtLeastAsStrongAsUntargetedAndBeatsDeepFool(_ norm: Norm) {
        let (model, data) = Self.trained
        let threatModel = norm == .l2 ? ThreatModel.l2(epsilon: 1.35) : .lInfinity(epsilon: 0.23)
        var generator = SplitMix64(seed: 89)
        let fab = FAB(threatModel: threatModel).minimumNormPerturbation(data.images, labels: data.labels, against: model, using: &generator)
        let fabT = FAB(threatModel: threatModel, objective: .targeted())
            .minimumNormPerturbation(data.images, labels: data.labels, against: model, using: &generator)
        let deepFool = DeepFool(threatModel: threatModel).minimumNormPerturbation(data.images, labels: data.labels, against: model, using: &generator)
        let predicted = predictions(model.applied(to: data.images))
        let correct = data.labels.indices.filter { predicted[$0] == data.labels[$0] }
        func robustAccuracy(_ result: MinimumNormResult) -> Float {
            Float(result.breakingEpsilons.filter { $0 > threatModel.epsilon }.count) / Float(data.count)
        }
        func meanNorm(_ result: MinimumNormResult) -> Float {
            correct.map { result.norms[$0] }.reduce(0, +) / Float(correct.count)
        }
        #expect(correct.allSatisfy { fab.fooled[$0] && fabT.fooled[$0] }, "FAB and FAB-T fool every correctly classified example")
        #expect(robustAccuracy(fabT) <= robustAccuracy(fab), "FAB-T \(robustAccuracy(fabT)) vs FAB \(robustAccuracy(fab)) at ε = \(threatModel.epsilon)")
        #expect(meanNorm(fabT) <= meanNorm(fab) * 1.001, "FAB-T's mean ‖δ‖ \(meanNorm(fabT)) vs FAB's \(meanNorm(fab))")
        #expect(meanNorm(fab) < meanNorm(deepFool), "FAB's mean ‖δ‖ \(meanNorm(fab)) vs DeepFool's \(meanNorm(deepFool))")
        // What is reported describes the returned inputs.
        for result in [fab, fabT] {
            #expect(zip(predictions(model.applied(to: result.adversarial)), data.labels).map { $0 != $1 } == result.fooled)
            #expect(zip(threatModel.norms(of: result.adversarial - data.images), result.norms).allSatisfy { abs($0 - $1) < 1e-6 })
            #expect(result.adversarial.array.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
    }

    @Test func restartsNeverLoseASuccessAndSometimesFindSmallerOnes() {
        let (model, data) = Self.trained
        let inputs = data.images.slice(alongAxis: 0, 0..<64)
        let labels = Array(data.labels[0..<64])
        var first = SplitMix64(seed: 91), second = SplitMix64(seed: 91)
        let one = FAB(threatModel: .lInfinity(epsilon: 0.23), iterations: 100)
            .minimumNormPerturbation(inputs, labels: labels, against: model, using: &first)
        let three = FAB(threatModel: .lInfinity(epsilon: 0.23), iterations: 100, restarts: 3)
            .minimumNormPerturbation(inputs, labels: labels, against: model, using: &second)
        for row in 0..<64 where one.fooled[row] {
            #expect(three.fooled[row] && three.norms[row] <= one.norms[row], "row \(row): \(three.norms[row]) vs \(one.norms[row])")
        }
        let better = (0..<64).filter { three.norms[$0] < one.norms[$0] }
        #expect(!better.isEmpty, "random restarts never found a smaller perturbation")
    }

    @Test(arguments: [ThreatModel.lInfinity(epsilon: 0.25), .l2(epsilon: 1.4)])
    func perturbSkipsExamplesFooledWithinEpsilonWithoutChangingWhichAreFooled(_ threatModel: ThreatModel) {
        let (model, data) = Self.trained
        let inputs = data.images.slice(alongAxis: 0, 0..<96)
        let labels = Array(data.labels[0..<96])
        let attack = FAB(threatModel: threatModel, iterations: 30, objective: .targeted())
        var first = SplitMix64(seed: 93), second = SplitMix64(seed: 93)
        let full = attack.minimumNormPerturbation(inputs, labels: labels, against: model, using: &first)
        let projected = full.projected(onto: threatModel, around: inputs)
        let perturbed = attack.perturb(inputs, labels: labels, against: model, using: &second)
        let fooled = { (x: Tensor) in zip(predictions(model.applied(to: x)), labels).map { $0 != $1 } }
        #expect(fooled(perturbed) == fooled(projected))
        let withinEpsilon = full.breakingEpsilons.filter { $0 <= threatModel.epsilon }.count
        #expect(withinEpsilon > 0 && withinEpsilon < 96, "ε should split the examples, \(withinEpsilon) of 96 within it")
        #expect(threatModel.norms(of: perturbed - inputs).allSatisfy { $0 <= threatModel.epsilon + 1e-6 })
    }

    @Test func namesAndTheStandardEnsemble() {
        let threatModel = ThreatModel.lInfinity(epsilon: 0.1)
        #expect(FAB(threatModel: threatModel).name == "fab")
        #expect(FAB(threatModel: threatModel, objective: .targeted()).name == "fab-t")
        #expect(standardAttacks(threatModel: threatModel).map(\.name) == ["apgd-ce", "apgd-t", "fab-t", "square"])
        let fabT = standardAttacks(threatModel: threatModel)[2] as? FAB
        #expect(fabT?.objective == .targeted(targetCount: 9) && fabT?.iterations == 100)
    }
}
