import Bulwark
import Testing
import _TestSupport

/// A layer that hides its input's gradient: the forward value is unchanged, the backward pass
/// sees a constant. The textbook case of gradient masking.
struct StopGradient: ParameterlessLayer {
    func forward(_ input: Tensor) -> Tensor { input.detached }
}

@Suite struct EvaluationTests {
    static let trained = Fixtures.trainedMLP()
    let threat = ThreatModel.lInfinity(epsilon: 0.25)

    @Test func ensembleIsAtLeastAsStrongAsEachMember() {
        let (model, data) = Self.trained
        let attacks: [any Attack] = [
            FGSM(threatModel: threat),
            PGD(threatModel: threat, steps: 10, stepSize: 0.0625),
            PGD(threatModel: threat, steps: 10, stepSize: 0.0625, loss: .margin),
        ]
        var first = SplitMix64(seed: 1), second = SplitMix64(seed: 1)
        let independent = evaluateRobustness(model, inputs: data.images, labels: data.labels, attacks: attacks, threatModel: threat, using: &first)
        let ensemble = evaluateRobustness(model, inputs: data.images, labels: data.labels, attacks: attacks, threatModel: threat,
                                          strategy: .ensemble, using: &second)
        let final = ensemble.attacks.last!.robustAccuracy
        for member in independent.attacks { #expect(final <= member.robustAccuracy, "\(member.name)") }
        // FGSM moves every pixel by ε unless clamped: the mean norm is close to, never above, the maximum.
        let fgsm = independent.attacks[0]
        #expect(fgsm.meanPerturbationNorm <= fgsm.maximumPerturbationNorm + 1e-6)
        #expect(fgsm.meanPerturbationNorm > 0.9 * threat.epsilon)
        #expect(final == ensemble.worstCaseRobustAccuracy)
        // Cumulative: robust accuracy never rises along the ensemble, and later attacks see fewer examples.
        for (earlier, later) in zip(ensemble.attacks, ensemble.attacks.dropFirst()) {
            #expect(later.robustAccuracy <= earlier.robustAccuracy)
            #expect(later.attackedCount <= earlier.attackedCount)
        }
        // Every example that is not robust names what broke it.
        let robustCount = ensemble.brokenBy.filter { $0 == nil }.count
        #expect(Float(robustCount) / Float(data.count) == final)
        #expect(Set(ensemble.brokenBy.compactMap { $0 }).isSubset(of: ["clean", "fgsm", "pgd"]))
    }

    @Test func standardEnsembleWithFABTIsAtLeastAsStrongAsEachMember() {
        let (model, data) = Self.trained
        // A budget at which the members differ: APGD leaves some examples for FAB-T and Square.
        let threat = ThreatModel.lInfinity(epsilon: 0.25)
        let attacks = standardAttacks(threatModel: threat, iterations: 20, queries: 200)
        #expect(attacks.map(\.name) == ["apgd-ce", "apgd-t", "fab-t", "square"])
        var first = SplitMix64(seed: 3), second = SplitMix64(seed: 3)
        let independent = evaluateRobustness(model, inputs: data.images, labels: data.labels, attacks: attacks, threatModel: threat, using: &first)
        let ensemble = evaluateRobustness(model, inputs: data.images, labels: data.labels, attacks: attacks, threatModel: threat,
                                          strategy: .ensemble, using: &second)
        #expect(ensemble.attacks.map(\.name) == ["apgd-ce", "apgd-t", "fab-t", "square"])
        for member in independent.attacks {
            #expect(ensemble.worstCaseRobustAccuracy <= member.robustAccuracy, "\(member.name)")
        }
        let fabT = independent.attacks[2]
        #expect(fabT.robustAccuracy < independent.cleanAccuracy, "FAB-T alone broke nothing: \(independent.attacks.map { ($0.name, $0.robustAccuracy) }), ensemble \(ensemble.attacks.map(\.robustAccuracy))")
        #expect(fabT.maximumPerturbationNorm <= threat.epsilon + 1e-6)
        // FAB-T attacked exactly what APGD-CE and APGD-T left robust.
        #expect(ensemble.attacks[2].attackedCount == Int((ensemble.attacks[1].robustAccuracy * Float(data.count)).rounded()))
        #expect(Set(ensemble.brokenBy.compactMap { $0 }).isSubset(of: ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]))
    }

    @Test func healthyModelRaisesNoFlag() {
        let (model, data) = Self.trained
        var generator = SplitMix64(seed: 2)
        let report = evaluateRobustness(model, inputs: data.images, labels: data.labels,
                                        attacks: [FGSM(threatModel: threat), PGD(threatModel: threat, steps: 10, stepSize: 0.0625)],
                                        threatModel: threat, sanityChecks: true, using: &generator)
        #expect(report.flags.isEmpty, "\(report.flags.map(\.kind))")
    }

    @Test func maskedGradientsRaiseTheirFlags() {
        let (trained, data) = Self.trained
        let masked = Sequential([StopGradient(), trained])
        var generator = SplitMix64(seed: 3)
        let report = evaluateRobustness(masked, inputs: data.images, labels: data.labels,
                                        attacks: [FGSM(threatModel: threat), PGD(threatModel: threat, steps: 10, stepSize: 0.0625)],
                                        threatModel: threat, sanityChecks: true, using: &generator)
        let kinds = Set(report.flags.map(\.kind))
        #expect(report.attacks[1].robustAccuracy == report.cleanAccuracy, "PGD cannot move inputs without gradients")
        #expect(kinds.contains(.zeroGradients))
        #expect(kinds.contains(.lossNotIncreasing))
        #expect(kinds.contains(.largeEpsilonNotBreaking))
        #expect(report.flags.allSatisfy { !$0.message.isEmpty && !$0.advice.isEmpty })
    }

    @Test func fgsmBeatingPGDIsFlagged() {
        let (model, data) = Self.trained
        var generator = SplitMix64(seed: 4)
        // A PGD whose steps are far too small to reach the budget is weaker than FGSM.
        let report = evaluateRobustness(model, inputs: data.images, labels: data.labels,
                                        attacks: [FGSM(threatModel: threat), PGD(threatModel: threat, steps: 2, stepSize: 0.001, randomStart: false)],
                                        threatModel: threat, sanityChecks: true, using: &generator)
        #expect(report.flags.contains { $0.kind == .fgsmStrongerThanPGD },
                "FGSM \(report.attacks[0].robustAccuracy), PGD \(report.attacks[1].robustAccuracy), clean \(report.cleanAccuracy)")
    }
}

extension EvaluationTests {
    /// A curve's column for an attack is that attack's own robust accuracy, not the accuracy
    /// left after the attacks listed before it; the curve itself is the worst case.
    @Test func eachCurveColumnIsThatAttacksOwnRobustAccuracy() {
        let (model, data) = Self.trained
        let epsilons: [Float] = [0, 0.1, 0.2, 0.3]
        func curve(_ names: [String]) -> RobustnessCurve {
            var generator = SplitMix64(seed: 3)
            return evaluateRobustnessCurve(
                model, inputs: data.images, labels: data.labels, epsilons: epsilons, norm: .lInfinity,
                attacks: { threat in
                    names.map { name -> any Attack in
                        name == "fgsm" ? FGSM(threatModel: threat)
                            : PGD(threatModel: threat, steps: 10, stepSize: threat.epsilon / 4, randomStart: false)
                    }
                },
                using: &generator)
        }
        let both = curve(["pgd", "fgsm"]), fgsm = curve(["fgsm"]), pgd = curve(["pgd"])
        let fgsmAlone = fgsm.attackRobustAccuracy["fgsm"] ?? [], pgdAlone = pgd.attackRobustAccuracy["pgd"] ?? []
        #expect(fgsmAlone != pgdAlone, "the fixture: PGD breaks examples FGSM does not")
        #expect(both.attackRobustAccuracy["fgsm"] == fgsmAlone, "\(both.attackRobustAccuracy) against FGSM alone \(fgsmAlone)")
        #expect(both.attackRobustAccuracy["pgd"] == pgdAlone)
        for position in epsilons.indices {
            #expect(both.robustAccuracy[position] <= Swift.min(fgsmAlone[position], pgdAlone[position]))
        }
    }
}
