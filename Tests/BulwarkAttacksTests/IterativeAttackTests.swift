import Bulwark
import BulwarkAttacks
import Testing
import _TestSupport

/// BIM's schedule and MI-FGSM's momentum, against Kurakin et al.'s rule and an independent
/// implementation of Dong et al.'s Algorithm 1.
@Suite struct IterativeAttackTests {
    static let trained = Fixtures.trainedMLP()

    @Test(arguments: [
        // ε, N = ⌊min(ε + 4, 1.25 ε)⌋ with ε in 1/255 levels
        (Float(0.1), 29), (Float(8) / 255, 10), (Float(4) / 255, 5), (Float(0.3), 80), (Float(1) / 255, 1),
    ])
    func bimFollowsKurakinsSchedule(_ epsilon: Float, _ steps: Int) {
        let schedule = BIM.schedule(for: .lInfinity(epsilon: epsilon))
        #expect(schedule.steps == steps, "ε = \(epsilon * 255)/255")
        #expect(abs(schedule.stepSize - 1 / 255) < 1e-9)
        let attack = BIM(threatModel: .lInfinity(epsilon: epsilon))
        #expect(attack.steps == steps && attack.stepSize == schedule.stepSize)
    }

    /// Both attacks' examples for the first 32 fixture images, each drawn with `seed`.
    static func perturbed(_ first: any Attack, _ second: any Attack, seed: UInt64) -> (Tensor, Tensor) {
        let (model, data) = trained
        let inputs = data.images.slice(alongAxis: 0, 0..<32)
        let labels = Array(data.labels[0..<32])
        var generators = (SplitMix64(seed: seed), SplitMix64(seed: seed))
        return (first.perturb(inputs, labels: labels, against: model, using: &generators.0),
                second.perturb(inputs, labels: labels, against: model, using: &generators.1))
    }

    @Test func bimIsPGDFromTheCleanInput() {
        let (bim, pgd) = Self.perturbed(BIM(threatModel: .lInfinity(epsilon: 0.2)),
                                        PGD(threatModel: .lInfinity(epsilon: 0.2), steps: 55, stepSize: 1 / 255, randomStart: false), seed: 3)
        #expect(BIM.schedule(for: .lInfinity(epsilon: 0.2)).steps == 55, "⌊min(51 + 4, 1.25 · 51)⌋")
        #expect(bim == pgd)
    }

    @Test func miFGSMWithoutMomentumIsTheIterativeSignMethod() {
        let (momentumless, bim) = Self.perturbed(MIFGSM(threatModel: .lInfinity(epsilon: 0.3), decay: 0),
                                                 BIM(threatModel: .lInfinity(epsilon: 0.3), steps: 10, stepSize: Float(0.3) / 10), seed: 5)
        #expect(momentumless == bim)
    }

    /// Algorithm 1 written out with the public API, in Double where it accumulates.
    @Test(arguments: [Norm.lInfinity, .l2])
    func miFGSMMatchesAlgorithmOne(_ norm: Norm) {
        let (model, data) = Self.trained
        let count = 16
        let inputs = data.images.slice(alongAxis: 0, 0..<count)
        let labels = Array(data.labels[0..<count])
        let threatModel = ThreatModel(norm: norm, epsilon: norm == .l2 ? 1.5 : 0.3)
        let (steps, decay) = (6, Float(0.8))
        let alpha = threatModel.epsilon / Float(steps)
        var generator = SplitMix64(seed: 7)
        let attacked = MIFGSM(threatModel: threatModel, steps: steps, decay: decay)
            .perturb(inputs, labels: labels, against: model, using: &generator)

        var inference = model
        inference.mode = .inference
        let width = inputs.scalarCount / count
        var x = inputs
        var g = [Float](repeating: 0, count: inputs.scalarCount)
        for _ in 0..<steps {
            let slope = gradient(at: x) { x in
                softmaxCrossEntropy(logits: inference(x), labels: labels, reduction: .none).sum()
            }.array
            var direction = [Float](repeating: 0, count: g.count)
            for row in 0..<count {
                let range = (row * width)..<((row + 1) * width)
                let l1 = slope[range].reduce(0) { $0 + abs($1) }
                for i in range { g[i] = decay * g[i] + (l1 > 0 ? slope[i] / l1 : 0) }
                let l2 = g[range].reduce(0) { $0 + $1 * $1 }.squareRoot()
                for i in range { direction[i] = norm == .lInfinity ? (g[i] > 0 ? 1 : (g[i] < 0 ? -1 : 0)) : (l2 > 0 ? g[i] / l2 : 0) }
            }
            x = threatModel.project(x + Tensor(shape: x.shape, scalars: direction) * alpha, around: inputs)
        }
        let difference = zip(attacked.array, x.array).map { abs($0 - $1) }.max() ?? 0
        #expect(difference < 1e-4, "largest difference \(difference)")
        #expect(attacked != inputs)
    }

    @Test func momentumChangesTheResult() {
        let (with, without) = Self.perturbed(MIFGSM(threatModel: .lInfinity(epsilon: 0.3)),
                                             MIFGSM(threatModel: .lInfinity(epsilon: 0.3), decay: 0), seed: 9)
        #expect(with != without)
    }
}
