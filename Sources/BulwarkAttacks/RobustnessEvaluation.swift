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
/// Batches hold consecutive examples (the ensemble's: consecutive survivors of all examples)
/// and each attack's generator is consumed batch after batch, so an example's outcome depends
/// on the batch size; ``evaluateRobustness(_:inputs:labels:attacks:threatModel:strategy:sanityChecks:batchSize:seed:chunkSize:communicator:progress:)``
/// gives outcomes that do not, and shards them.
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
    let model = model.with(mode: .inference)
    let attackSeeds = attacks.map { _ in generator.next() }
    let outcomes = evaluateExamples(
        model, inputs: inputs, labels: labels, attacks: attacks, strategy: strategy, batchSize: batchSize,
        chunks: [(index: 0, range: 0..<labels.count)], attackSeed: { attack, _ in attackSeeds[attack] }, progress: progress)
    var report = outcomes.report(attacks: attacks.map(\.name), threatModel: threatModel, strategy: strategy)
    if sanityChecks {
        report.flags = sanityFlags(on: report, model: model, inputs: inputs, labels: labels, batchSize: batchSize,
                                   using: &generator, progress: progress)
    }
    return report
}

/// The sanity checks of an evaluation, on its first batch of examples.
package func sanityFlags<Model: Layer, G: RandomNumberGenerator>(
    on report: RobustnessReport, model: Model, inputs: Tensor, labels: [Int32], batchSize: Int, using generator: inout G,
    progress: (_ phase: String, _ done: Int, _ total: Int) -> Void
) -> [SanityFlag] {
    progress("sanity checks", 0, sanityCheckSteps)
    let probe = 0..<Swift.min(labels.count, batchSize)
    return sanityFlags(
        for: report, model: model, inputs: inputs.slice(alongAxis: 0, probe), labels: Array(labels[probe]),
        using: &generator, progress: { done, total in progress("sanity checks", done, total) })
}

/// Evaluates the examples of `chunks` (consecutive ranges of example indices) clean and under
/// each attack, every batch inside one chunk, the attack `a` on chunk `c` (the chunk's index in
/// the whole evaluation) drawing from `SplitMix64(seed: attackSeed(a, c))` batch after batch.
/// With the ensemble, an attack runs on a chunk's examples that no earlier attack broke.
package func evaluateExamples<Model: Layer>(
    _ model: Model, inputs: Tensor, labels: [Int32], attacks: [any Attack], strategy: EvaluationStrategy,
    batchSize: Int, chunks: [(index: Int, range: Range<Int>)], attackSeed: (_ attack: Int, _ chunk: Int) -> UInt64,
    progress: (_ phase: String, _ done: Int, _ total: Int) -> Void
) -> ExampleOutcomes {
    var model = model
    let examples = chunks.flatMap { Array($0.range) }
    // Each chunk's first slot in the per-example arrays, which follow `examples`.
    let firstSlots = chunks.reduce(into: [0]) { $0.append(($0.last ?? 0) + $1.range.count) }
    func batches(of slots: [Int]) -> [ArraySlice<Int>] {
        stride(from: 0, to: slots.count, by: batchSize).map { slots[$0..<Swift.min($0 + batchSize, slots.count)] }
    }

    progress("clean", 0, examples.count)
    let cleanStart = Date()
    var cleanCorrect = [Bool]()
    for chunk in chunks {
        for start in stride(from: chunk.range.lowerBound, to: chunk.range.upperBound, by: batchSize) {
            let range = start..<Swift.min(start + batchSize, chunk.range.upperBound)
            let predicted = predictions(model(inputs.slice(alongAxis: 0, range)))
            cleanCorrect += zip(predicted, labels[range]).map { $0 == $1 }
            progress("clean", cleanCorrect.count, examples.count)
        }
    }
    var outcomes = ExampleOutcomes(
        indices: examples, cleanCorrect: cleanCorrect, attacks: [], cleanSeconds: Date().timeIntervalSince(cleanStart))

    var stillRobust = cleanCorrect
    for (attackIndex, attack) in attacks.enumerated() {
        // The ensemble attacks only what no earlier attack broke; `targets` holds slots.
        let targets = chunks.indices.map { position in
            (firstSlots[position]..<firstSlots[position + 1]).filter { strategy != .ensemble || stillRobust[$0] }
        }
        let total = targets.reduce(0) { $0 + $1.count }
        progress(attack.name, 0, total)
        let start = Date()
        var result = ExampleOutcomes.AttackOutcomes(examples: examples.count)
        var done = 0
        for (chunk, chunkTargets) in zip(chunks, targets) {
            var attackGenerator = SplitMix64(seed: attackSeed(attackIndex, chunk.index))
            for slots in batches(of: chunkTargets) {
                let indices = slots.map { examples[$0] }
                let batch = inputs.gathering(atIndices: indices, alongAxis: 0)
                let batchLabels = indices.map { labels[$0] }
                let adversarial = attack.perturb(batch, labels: batchLabels, against: model, using: &attackGenerator)
                let norms = attack.threatModel.norms(of: adversarial - batch)
                let predicted = predictions(model(adversarial))
                for (offset, slot) in slots.enumerated() {
                    let correct = predicted[offset] == batchLabels[offset]
                    result.attacked[slot] = true
                    result.correct[slot] = correct
                    result.normBits[slot] = norms[offset].bitPattern
                    if !correct { stillRobust[slot] = false }
                }
                done += slots.count
                progress(attack.name, done, total)
            }
        }
        result.seconds = Date().timeIntervalSince(start)
        outcomes.attacks.append(result)
    }
    return outcomes
}

/// What an evaluation found for each example it evaluated: clean correctness, and per attack
/// whether it attacked the example, whether the model was still correct and the perturbation's
/// norm. Ranks exchange these, so they are what the report of a sharded evaluation is built
/// from.
package struct ExampleOutcomes: Sendable, Codable, Equatable {
    /// One attack's outcomes, per example of ``ExampleOutcomes/indices``.
    package struct AttackOutcomes: Sendable, Codable, Equatable {
        package var attacked: [Bool]
        package var correct: [Bool]
        /// The norms' bit patterns, so that exchanging them is exact.
        package var normBits: [UInt32]
        package var seconds: Double = 0

        init(examples: Int) {
            attacked = Array(repeating: false, count: examples)
            correct = attacked
            normBits = Array(repeating: 0, count: examples)
        }
    }

    /// The examples' indices, in the order of the per-example arrays.
    package var indices: [Int]
    package var cleanCorrect: [Bool]
    package var attacks: [AttackOutcomes]
    package var cleanSeconds: Double

    /// The report of these outcomes, which must cover the examples `0..<indices.count` in
    /// order: aggregates are accumulated in example order, so they do not depend on which
    /// process evaluated which example.
    package func report(attacks names: [String], threatModel: ThreatModel, strategy: EvaluationStrategy) -> RobustnessReport {
        precondition(indices == Array(indices.indices), "the outcomes do not cover the examples in order")
        let count = indices.count
        var stillRobust = cleanCorrect
        var brokenBy: [String?] = cleanCorrect.map { $0 ? nil : "clean" }
        var results = [AttackResult]()
        for (name, outcomes) in zip(names, attacks) {
            var robust = strategy == .ensemble ? stillRobust : cleanCorrect
            var adversarialCorrect = 0, attackedCount = 0
            var maximumNorm: Float = 0
            var normSum: Double = 0
            for index in 0..<count where outcomes.attacked[index] {
                let norm = Float(bitPattern: outcomes.normBits[index])
                attackedCount += 1
                maximumNorm = Swift.max(maximumNorm, norm)
                normSum += Double(norm)
                if outcomes.correct[index] { adversarialCorrect += 1 }
                robust[index] = robust[index] && outcomes.correct[index]
                if !robust[index] && stillRobust[index] {
                    stillRobust[index] = false
                    brokenBy[index] = name
                }
            }
            results.append(AttackResult(
                name: name, robustAccuracy: fraction(robust),
                adversarialAccuracy: strategy == .ensemble ? fraction(robust) : Float(adversarialCorrect) / Float(Swift.max(count, 1)),
                maximumPerturbationNorm: maximumNorm,
                meanPerturbationNorm: attackedCount == 0 ? 0 : Float(normSum / Double(attackedCount)), attackedCount: attackedCount,
                seconds: outcomes.seconds, robust: robust))
        }
        return RobustnessReport(
            count: count, threatModel: threatModel, strategy: strategy, cleanAccuracy: fraction(cleanCorrect),
            attacks: results, worstCaseRobustAccuracy: fraction(stillRobust), brokenBy: brokenBy,
            cleanSeconds: cleanSeconds, flags: [])
    }
}

private func fraction(_ flags: [Bool]) -> Float {
    flags.isEmpty ? 0 : Float(flags.filter { $0 }.count) / Float(flags.count)
}
