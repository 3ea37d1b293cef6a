import BulwarkCore
import BulwarkNN
import Foundation

/// How the attacks of an evaluation share the examples.
public enum EvaluationStrategy: String, Sendable, Codable {
    /// Every attack runs on every example; each attack's robust accuracy stands alone.
    case independent
    /// AutoAttack-style (Croce and Hein 2020): attacks run in order, each only on the examples
    /// that are still robust, so each attack's robust accuracy is the accuracy after it and
    /// the previous ones, and the last is the ensemble's.
    case ensemble
}

/// The attacks of AutoAttack's standard version (Croce and Hein 2020, "Reliable evaluation of
/// adversarial robustness with an ensemble of diverse parameter-free attacks", ICML), in its
/// order: APGD-CE, APGD-T (9 targets), FAB-T (9 targets) and Square. Run them with
/// ``EvaluationStrategy/ensemble`` so each attacks only the examples still robust.
///
/// - Parameters:
///   - iterations: the iterations of APGD-CE, APGD-T (per target) and FAB-T (per target);
///     AutoAttack's 100.
///   - queries: Square's query budget; AutoAttack's 5,000.
public func standardAttacks(threatModel: ThreatModel, iterations: Int = 100, queries: Int = 5000) -> [any Attack] {
    [
        APGD(threatModel: threatModel, iterations: iterations),
        APGD(threatModel: threatModel, iterations: iterations, loss: .dlr, objective: .targeted()),
        FAB(threatModel: threatModel, iterations: iterations, objective: .targeted()),
        SquareAttack(threatModel: threatModel, queries: queries),
    ]
}

/// What one attack achieved over an evaluation set.
public struct AttackResult: Sendable, Codable, Equatable {
    /// The attack's name.
    public var name: String
    /// Independent: the fraction classified correctly both clean and under this attack.
    /// Ensemble: the fraction still robust after this attack and the ones before it.
    public var robustAccuracy: Float
    /// The fraction classified correctly under this attack, whether or not it was correct
    /// clean (independent strategy; equals ``robustAccuracy`` for the ensemble). Above clean
    /// accuracy it is a sign of gradient masking.
    public var adversarialAccuracy: Float
    /// The largest perturbation norm (in the threat model's norm) over the attacked examples.
    public var maximumPerturbationNorm: Float
    /// The mean perturbation norm over the attacked examples.
    public var meanPerturbationNorm: Float
    /// How many examples the attack was run on.
    public var attackedCount: Int
    /// Wall-clock seconds spent attacking.
    public var seconds: Double
    /// Per example: whether it is still robust (correct clean and under attack).
    public var robust: [Bool]
}

/// Clean and robust accuracy of a model over a set of examples.
public struct RobustnessReport: Sendable, Codable, Equatable {
    /// The number of examples evaluated.
    public var count: Int
    /// The threat model the attacks used.
    public var threatModel: ThreatModel
    /// How the attacks shared the examples.
    public var strategy: EvaluationStrategy
    /// The fraction classified correctly without attack.
    public var cleanAccuracy: Float
    /// One result per attack, in the order given.
    public var attacks: [AttackResult]
    /// The fraction correct under every attack: the worst case per example.
    public var worstCaseRobustAccuracy: Float
    /// Per example: the first attack (in order) that broke it, `"clean"` if it was
    /// misclassified without attack, `nil` if it stayed robust.
    public var brokenBy: [String?]
    /// Seconds for the clean pass.
    public var cleanSeconds: Double
    /// Warning signs found by the sanity checks (empty when they were not run or found
    /// nothing).
    public var flags: [SanityFlag]
}

/// Called by a long attack as it works through one call of `perturb`, with the iterations (or
/// queries) done and the most it will do, so that a caller can show progress within a batch.
/// The attack calls it synchronously, on the thread that called `perturb`.
public typealias IterationProgress = @Sendable (_ done: Int, _ total: Int) -> Void

/// Evaluates `model` on `inputs`/`labels` clean and under each attack, in batches.
///
/// An example counts as robust for an attack only if it is classified correctly both clean and
/// under that attack, so robust accuracy never exceeds clean accuracy. Each attack starts from
/// its own generator split from `generator`, so results do not depend on the order of attacks.
///
/// - Parameters:
///   - strategy: independent attacks, or an AutoAttack-style ensemble that attacks only the
///     examples still robust.
///   - sanityChecks: also run ``sanityFlags(for:model:inputs:labels:using:)`` and attach the
///     flags (costs roughly two PGD-20 runs on one batch).
///   - progress: called with (phase, examples done, total): once with 0 done as each phase
///     ("clean", then each attack's name) starts, then after each batch; for the sanity
///     checks ("sanity checks") with their steps done of all.
public func evaluateRobustness<Model: Layer, G: RandomNumberGenerator>(
    _ model: Model, inputs: Tensor, labels: [Int32], attacks: [any Attack], threatModel: ThreatModel,
    strategy: EvaluationStrategy = .independent, sanityChecks: Bool = false,
    batchSize: Int = 256, using generator: inout G,
    progress: (_ phase: String, _ done: Int, _ total: Int) -> Void = { _, _, _ in }
) -> RobustnessReport {
    precondition(inputs.shape.first == labels.count, "inputs and labels differ in count")
    precondition(batchSize >= 1, "batch size must be positive")
    var model = model.with(mode: .inference)
    let count = labels.count

    progress("clean", 0, count)
    let cleanStart = Date()
    var cleanCorrect = [Bool]()
    for start in stride(from: 0, to: count, by: batchSize) {
        let range = start..<Swift.min(start + batchSize, count)
        let predicted = predictions(model(inputs.slice(alongAxis: 0, range)))
        cleanCorrect += zip(predicted, labels[range]).map { $0 == $1 }
        progress("clean", range.upperBound, count)
    }
    let cleanSeconds = Date().timeIntervalSince(cleanStart)

    var stillRobust = cleanCorrect
    var brokenBy: [String?] = cleanCorrect.map { $0 ? nil : "clean" }
    var results = [AttackResult]()
    for attack in attacks {
        var attackGenerator = SplitMix64(seed: generator.next())
        // The ensemble attacks only what no earlier attack broke.
        let targets = strategy == .ensemble ? (0..<count).filter { stillRobust[$0] } : Array(0..<count)
        progress(attack.name, 0, targets.count)
        let start = Date()
        var robust = strategy == .ensemble ? stillRobust : cleanCorrect
        var adversarialCorrect = 0
        var maximumNorm: Float = 0
        var normSum: Double = 0
        for batchStart in stride(from: 0, to: targets.count, by: batchSize) {
            let indices = Array(targets[batchStart..<Swift.min(batchStart + batchSize, targets.count)])
            let batch = inputs.gathering(atIndices: indices, alongAxis: 0)
            let batchLabels = indices.map { labels[$0] }
            let adversarial = attack.perturb(batch, labels: batchLabels, against: model, using: &attackGenerator)
            let norms = attack.threatModel.norms(of: adversarial - batch)
            maximumNorm = Swift.max(maximumNorm, norms.max() ?? 0)
            normSum += norms.reduce(0.0) { $0 + Double($1) }
            let predicted = predictions(model(adversarial))
            for (offset, index) in indices.enumerated() {
                let correct = predicted[offset] == batchLabels[offset]
                if correct { adversarialCorrect += 1 }
                robust[index] = robust[index] && correct
                if !robust[index] && stillRobust[index] {
                    stillRobust[index] = false
                    brokenBy[index] = attack.name
                }
            }
            progress(attack.name, Swift.min(batchStart + batchSize, targets.count), targets.count)
        }
        results.append(AttackResult(
            name: attack.name, robustAccuracy: fraction(robust),
            adversarialAccuracy: strategy == .ensemble ? fraction(robust) : Float(adversarialCorrect) / Float(Swift.max(count, 1)),
            maximumPerturbationNorm: maximumNorm,
            meanPerturbationNorm: targets.isEmpty ? 0 : Float(normSum / Double(targets.count)), attackedCount: targets.count,
            seconds: Date().timeIntervalSince(start), robust: robust))
    }
    var report = RobustnessReport(
        count: count, threatModel: threatModel, strategy: strategy, cleanAccuracy: fraction(cleanCorrect),
        attacks: results, worstCaseRobustAccuracy: fraction(stillRobust), brokenBy: brokenBy,
        cleanSeconds: cleanSeconds, flags: [])
    if sanityChecks {
        progress("sanity checks", 0, sanityCheckSteps)
        let probe = 0..<Swift.min(count, batchSize)
        report.flags = sanityFlags(
            for: report, model: model, inputs: inputs.slice(alongAxis: 0, probe), labels: Array(labels[probe]),
            using: &generator, progress: { done, total in progress("sanity checks", done, total) })
    }
    return report
}

private func fraction(_ flags: [Bool]) -> Float {
    flags.isEmpty ? 0 : Float(flags.filter { $0 }.count) / Float(flags.count)
}
