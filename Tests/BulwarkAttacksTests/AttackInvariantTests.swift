import Bulwark
import BulwarkAttacks
import Testing
import _TestSupport

/// One case of the invariant sweep.
struct AttackCase: Sendable, CustomTestStringConvertible {
    var name: String
    var attack: any Attack
    /// Whether the attack draws from its generator (a different seed must then change it).
    var randomized: Bool
    var testDescription: String { name }
}

/// The invariants every attack must keep, checked on a trained model: the one sweep every
/// attack of the library goes through.
@Suite struct AttackInvariantTests {
    static let trained = Fixtures.trainedMLP()

    // The fixture model is robust up to ε ≈ 0.2 (L∞) and ≈ 1.2 (L2); every case's budget
    // breaks some examples and not others. The minimum-norm attacks' perturbations are 1.2-1.8
    // in L2 and 0.2-0.3 in L∞, so their budgets make the projection matter.
    static let cases: [AttackCase] = [
        AttackCase(name: "fgsm-linf", attack: FGSM(threatModel: .lInfinity(epsilon: 0.3)), randomized: false),
        AttackCase(name: "fgsm-l2", attack: FGSM(threatModel: .l2(epsilon: 1.5)), randomized: false),
        AttackCase(name: "fgsm-random-start", attack: FGSM(threatModel: .lInfinity(epsilon: 0.3), stepSize: 0.375, randomStart: true), randomized: true),
        AttackCase(name: "pgd-linf", attack: PGD(threatModel: .lInfinity(epsilon: 0.3), steps: 10, stepSize: 0.05), randomized: true),
        AttackCase(name: "pgd-l2", attack: PGD(threatModel: .l2(epsilon: 1.5), steps: 10, stepSize: 0.3), randomized: true),
        AttackCase(name: "pgd-restarts", attack: PGD(threatModel: .lInfinity(epsilon: 0.3), steps: 5, stepSize: 0.1, restarts: 3), randomized: true),
        AttackCase(name: "pgd-margin", attack: PGD(threatModel: .lInfinity(epsilon: 0.3), steps: 10, stepSize: 0.05, loss: .margin), randomized: true),
        AttackCase(name: "pgd-targeted", attack: PGD(threatModel: .lInfinity(epsilon: 0.3), steps: 10, stepSize: 0.05, objective: .targeted(.random)), randomized: true),
        AttackCase(name: "pgd-least-likely", attack: PGD(threatModel: .lInfinity(epsilon: 0.3), steps: 10, stepSize: 0.05, objective: .targeted(.leastLikely)), randomized: true),
        AttackCase(name: "bim-linf", attack: BIM(threatModel: .lInfinity(epsilon: 0.3), steps: 10, stepSize: 0.05), randomized: false),
        AttackCase(name: "bim-schedule", attack: BIM(threatModel: .lInfinity(epsilon: 0.25)), randomized: false),
        AttackCase(name: "bim-l2", attack: BIM(threatModel: .l2(epsilon: 1.5)), randomized: false),
        AttackCase(name: "bim-least-likely", attack: BIM(threatModel: .lInfinity(epsilon: 0.3), steps: 10, stepSize: 0.05, objective: .targeted(.leastLikely)), randomized: false),
        AttackCase(name: "mi-fgsm-linf", attack: MIFGSM(threatModel: .lInfinity(epsilon: 0.3)), randomized: false),
        AttackCase(name: "mi-fgsm-l2", attack: MIFGSM(threatModel: .l2(epsilon: 1.5)), randomized: false),
        AttackCase(name: "mi-fgsm-targeted", attack: MIFGSM(threatModel: .lInfinity(epsilon: 0.3), objective: .targeted(.random)), randomized: true),
        AttackCase(name: "gradient-ascent", attack: GradientAscent(threatModel: .lInfinity(epsilon: 0.3), steps: 10, stepSize: 0.05, loss: .margin), randomized: false),
        AttackCase(name: "gradient-ascent-l2", attack: GradientAscent(threatModel: .l2(epsilon: 1.5), steps: 10, stepSize: 0.5, loss: .margin), randomized: false),
        AttackCase(name: "apgd-ce-linf", attack: APGD(threatModel: .lInfinity(epsilon: 0.25)), randomized: true),
        AttackCase(name: "apgd-ce-linf-short", attack: APGD(threatModel: .lInfinity(epsilon: 0.3), iterations: 20), randomized: true),
        AttackCase(name: "apgd-ce-l2", attack: APGD(threatModel: .l2(epsilon: 1.5)), randomized: true),
        AttackCase(name: "apgd-dlr-linf", attack: APGD(threatModel: .lInfinity(epsilon: 0.25), loss: .dlr), randomized: true),
        AttackCase(name: "apgd-dlr-l2", attack: APGD(threatModel: .l2(epsilon: 1.5), loss: .dlr), randomized: true),
        AttackCase(name: "apgd-t-linf", attack: APGD(threatModel: .lInfinity(epsilon: 0.25), loss: .dlr, objective: .targeted()), randomized: true),
        AttackCase(name: "apgd-t-l2", attack: APGD(threatModel: .l2(epsilon: 1.5), iterations: 30, loss: .dlr, objective: .targeted(targetCount: 2)), randomized: true),
        AttackCase(name: "apgd-ce-restarts", attack: APGD(threatModel: .lInfinity(epsilon: 0.25), iterations: 20, restarts: 3), randomized: true),
        AttackCase(name: "apgd-margin-linf", attack: APGD(threatModel: .lInfinity(epsilon: 0.25), iterations: 20, loss: .margin), randomized: true),
        AttackCase(name: "square-linf", attack: SquareAttack(threatModel: .lInfinity(epsilon: 0.3), queries: 300), randomized: true),
        AttackCase(name: "square-l2", attack: SquareAttack(threatModel: .l2(epsilon: 2), queries: 300), randomized: true),
        AttackCase(name: "deepfool-l2", attack: DeepFool(threatModel: .l2(epsilon: 1.35)), randomized: false),
        AttackCase(name: "deepfool-linf", attack: DeepFool(threatModel: .lInfinity(epsilon: 0.23)), randomized: false),
        AttackCase(name: "fab-linf", attack: FAB(threatModel: .lInfinity(epsilon: 0.23)), randomized: false),
        AttackCase(name: "fab-l2", attack: FAB(threatModel: .l2(epsilon: 1.35)), randomized: false),
        AttackCase(name: "fab-t-linf", attack: FAB(threatModel: .lInfinity(epsilon: 0.23), objective: .targeted()), randomized: false),
        AttackCase(name: "fab-t-l2", attack: FAB(threatModel: .l2(epsilon: 1.35), iterations: 30, objective: .targeted(targetCount: 2)), randomized: false),
        // Later runs start at random points at distance min(‖δ_best‖, ε)/2; in L2 some of them
        // beat the first run on these examples, so the seed shows in the result.
        AttackCase(name: "fab-restarts", attack: FAB(threatModel: .l2(epsilon: 1.35), restarts: 3), randomized: true),
        AttackCase(name: "cw-l2", attack: CarliniWagnerL2(threatModel: .l2(epsilon: 1.35), binarySearchSteps: 6, maxIterations: 100), randomized: false),
    ]

    @Test(arguments: cases)
    func staysInsideTheBallAndTheBox(_ testCase: AttackCase) {
        let (model, data) = Self.trained
        let inputs = data.images.slice(alongAxis: 0, 0..<64)
        var generator = SplitMix64(seed: 9)
        let adversarial = testCase.attack.perturb(inputs, labels: Array(data.labels[0..<64]), against: model, using: &generator)
        let threatModel = testCase.attack.threatModel
        #expect(adversarial.shape == inputs.shape)
        let largest = threatModel.norms(of: adversarial - inputs).max() ?? 0
        #expect(largest <= threatModel.epsilon + 1e-6, "‖δ‖ = \(largest) > ε = \(threatModel.epsilon)")
        #expect(adversarial.array.allSatisfy { $0 >= 0 && $0 <= 1 }, "left [0, 1]")
        #expect(adversarial.isFinite, "produced NaN")
        #expect(adversarial != inputs, "did not move")
    }

    @Test(arguments: cases)
    func isDeterministicForASeed(_ testCase: AttackCase) {
        let (model, data) = Self.trained
        let inputs = data.images.slice(alongAxis: 0, 0..<32)
        let labels = Array(data.labels[0..<32])
        var first = SplitMix64(seed: 11), second = SplitMix64(seed: 11), third = SplitMix64(seed: 12)
        let a = testCase.attack.perturb(inputs, labels: labels, against: model, using: &first)
        let b = testCase.attack.perturb(inputs, labels: labels, against: model, using: &second)
        #expect(a == b, "differs between runs with the same seed")
        if testCase.randomized {
            let c = testCase.attack.perturb(inputs, labels: labels, against: model, using: &third)
            #expect(a != c, "ignores its generator")
        }
    }

    @Test(arguments: cases)
    func lowersButNeverRaisesAccuracy(_ testCase: AttackCase) {
        let (model, data) = Self.trained
        var generator = SplitMix64(seed: 13)
        let report = evaluateRobustness(model, inputs: data.images, labels: data.labels, attacks: [testCase.attack],
                                        threatModel: testCase.attack.threatModel, batchSize: 100, using: &generator)
        #expect(report.cleanAccuracy > 0.95, "the fixture model should be accurate, got \(report.cleanAccuracy)")
        #expect(report.attacks[0].robustAccuracy <= report.cleanAccuracy)
        #expect(report.attacks[0].robustAccuracy < report.cleanAccuracy, "broke nothing")
    }

    @Test func untargetedAttacksLowerAccuracyOfATrainedModel() {
        let (model, data) = Self.trained
        var generator = SplitMix64(seed: 17)
        let fgsm = FGSM(threatModel: .lInfinity(epsilon: 0.3))
        let pgd = PGD(threatModel: .lInfinity(epsilon: 0.3), steps: 20, stepSize: 0.03)
        // Raw gradients of a saturated cross-entropy vanish; the margin loss keeps them alive.
        let ascent = GradientAscent(threatModel: .lInfinity(epsilon: 0.3), steps: 20, stepSize: 0.05, loss: .margin)
        let report = evaluateRobustness(model, inputs: data.images, labels: data.labels, attacks: [fgsm, pgd, ascent],
                                        threatModel: .lInfinity(epsilon: 0.3), using: &generator)
        let (fgsmAccuracy, pgdAccuracy, ascentAccuracy) = (report.attacks[0].robustAccuracy, report.attacks[1].robustAccuracy, report.attacks[2].robustAccuracy)
        #expect(fgsmAccuracy < report.cleanAccuracy - 0.2, "FGSM barely hurt: \(fgsmAccuracy) vs clean \(report.cleanAccuracy)")
        #expect(pgdAccuracy < fgsmAccuracy, "PGD (\(pgdAccuracy)) must beat FGSM (\(fgsmAccuracy)) on a trained model")
        #expect(pgdAccuracy < 0.1, "PGD at ε = 0.3 should break the fixture model, got \(pgdAccuracy)")
        #expect(ascentAccuracy < report.cleanAccuracy - 0.2, "gradient ascent barely hurt: \(ascentAccuracy)")
        #expect(report.worstCaseRobustAccuracy <= pgdAccuracy)
    }

    @Test func targetedAttackReachesItsTarget() {
        let (model, data) = Self.trained
        let inputs = data.images.slice(alongAxis: 0, 0..<64)
        let labels = Array(data.labels[0..<64])
        var generator = SplitMix64(seed: 19)
        let attack = PGD(threatModel: .lInfinity(epsilon: 0.3), steps: 30, stepSize: 0.03, objective: .targeted(.fixed(2)))
        let adversarial = attack.perturb(inputs, labels: labels, against: model, using: &generator)
        let predicted = predictions(model.applied(to: adversarial))
        let hits = zip(predicted, labels).filter { $1 != 2 }.filter { $0.0 == 2 }.count
        let candidates = labels.filter { $0 != 2 }.count
        #expect(Double(hits) / Double(candidates) > 0.9, "targeted PGD reached class 2 for \(hits) of \(candidates)")
    }

    @Test func restartsAreAtLeastAsStrongAsOneRun() {
        let (model, data) = Self.trained
        var generatorA = SplitMix64(seed: 21), generatorB = SplitMix64(seed: 21)
        let weak = PGD(threatModel: .lInfinity(epsilon: 0.15), steps: 3, stepSize: 0.05)
        var strong = weak
        strong.restarts = 5
        let one = evaluateRobustness(model, inputs: data.images, labels: data.labels, attacks: [weak], threatModel: weak.threatModel, using: &generatorA)
        let five = evaluateRobustness(model, inputs: data.images, labels: data.labels, attacks: [strong], threatModel: weak.threatModel, using: &generatorB)
        #expect(five.attacks[0].robustAccuracy <= one.attacks[0].robustAccuracy)
    }

    @Test func attackLeavesTheCallersModelUntouched() {
        var (model, data) = Self.trained
        model.mode = .training
        let before = model.parameters
        var generator = SplitMix64(seed: 23)
        _ = PGD(threatModel: .lInfinity(epsilon: 0.3), steps: 3, stepSize: 0.1)
            .perturb(data.images.slice(alongAxis: 0, 0..<8), labels: Array(data.labels[0..<8]), against: model, using: &generator)
        #expect(model.mode == .training)
        #expect(model.parameters == before)
    }
}

/// Projection, steepest ascent and random starts of the threat model.
@Suite struct ThreatModelTests {
    @Test func lInfinityProjectionClipsPerCoordinateAndToTheBox() {
        let original = Tensor(shape: [1, 4], scalars: [0.5, 0.95, 0.05, 0.5])
        let moved = Tensor(shape: [1, 4], scalars: [0.9, 1.2, -0.4, 0.45])
        let projected = ThreatModel.lInfinity(epsilon: 0.1).project(moved, around: original)
        let expected: [Float] = [0.6, 1.0, 0.0, 0.45]
        #expect(zip(projected.array, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(projected.array)")
    }

    @Test func l2ProjectionScalesEachExampleOntoTheBall() {
        let original = Tensor(zeros: [2, 2]) + 0.5
        let moved = Tensor(shape: [2, 2], scalars: [0.5 + 0.3, 0.5 + 0.4, 0.5 + 0.03, 0.5 + 0.04])
        let projected = ThreatModel.l2(epsilon: 0.1).project(moved, around: original)
        let norms = ThreatModel.l2(epsilon: 0.1).norms(of: projected - original)
        #expect(abs(norms[0] - 0.1) < 1e-5, "a perturbation of norm 0.5 is scaled to ε")
        #expect(abs(norms[1] - 0.05) < 1e-5, "a perturbation inside the ball is kept")
    }

    @Test func steepestAscentDirections() {
        let gradient = Tensor(shape: [2, 2], scalars: [3, -4, 0, 0])
        #expect(ThreatModel.lInfinity(epsilon: 1).steepestAscentDirection(gradient).array == [1, -1, 0, 0])
        let l2 = ThreatModel.l2(epsilon: 1).steepestAscentDirection(gradient).array
        #expect(abs(l2[0] - 0.6) < 1e-6 && abs(l2[1] + 0.8) < 1e-6 && l2[2] == 0 && l2[3] == 0)
    }

    @Test(arguments: [ThreatModel.lInfinity(epsilon: 0.2), .l2(epsilon: 0.7)])
    func fusedStepEqualsStepThenProjection(_ threatModel: ThreatModel) {
        let original = seededTensor([3, 1, 5, 5], in: 0...1, seed: 30)
        let adversarial = threatModel.project(original + seededTensor([3, 1, 5, 5], in: -0.3...0.3, seed: 31), around: original)
        // Zeros in the gradient: sign(0) = 0 must hold in the fused step too.
        let gradient = seededTensor([3, 1, 5, 5], seed: 32) * Tensor(shape: [5, 5], scalars: (0..<25).map { $0 % 4 == 0 ? 0 : 1 })
        let fused = threatModel.ascended(adversarial, along: gradient, stepSize: 0.15, around: original)
        let reference = threatModel.project(adversarial + threatModel.steepestAscentDirection(gradient) * 0.15, around: original)
        #expect(fused.array == reference.array)
        #expect(fused.array != adversarial.array)
    }

    @Test(arguments: [ThreatModel.lInfinity(epsilon: 0.2), .l2(epsilon: 0.7)])
    func randomStartsLieInTheBallAndTheBox(_ threatModel: ThreatModel) {
        var generator = SplitMix64(seed: 3)
        let original = Tensor(randomUniform: [16, 1, 6, 6], in: 0...1, using: &generator)
        let start = threatModel.randomStart(around: original, using: &generator)
        #expect(threatModel.norms(of: start - original).allSatisfy { $0 <= threatModel.epsilon + 1e-6 })
        #expect(start.array.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(start != original)
    }

    @Test func marginLossMatchesHandComputation() {
        let logits = Tensor(shape: [2, 3], scalars: [1, 4, 2, 0, -1, 3])
        let untargeted = attackLoss(.margin, logits: logits, labels: [0, 2], targeted: false).array
        #expect(untargeted == [3, -3], "max other − label: 4 − 1 and 0 − 3")
        let targeted = attackLoss(.margin, logits: logits, labels: [2, 0], targeted: true).array
        #expect(targeted == [-2, -3], "target − max other: 2 − 4 and 0 − 3")
    }
}
