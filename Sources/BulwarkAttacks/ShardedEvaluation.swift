import BulwarkCore
import BulwarkNN
import Foundation

/// The examples in a chunk of a seeded evaluation: the unit of work whose outcome does not
/// depend on how many processes share the evaluation.
public let evaluationChunkSize = 25

/// Evaluates `model` on `inputs`/`labels` clean and under each attack, with every random
/// choice seeded per chunk of examples, so that the report is the same however many processes
/// of `communicator` share the work.
///
/// The examples are cut into chunks of `chunkSize` consecutive examples, in example order, and
/// each chunk is evaluated on its own: its clean pass and every attack run in batches inside
/// the chunk, the ensemble attacks the chunk's examples still robust, and attack `a` on chunk
/// `c` draws from a generator derived from (`seed`, `a`, `c`). Chunks are dealt to the ranks
/// round-robin (chunk `c` to rank `c mod size`); every rank then gathers every rank's
/// per-example outcomes and builds the same report from them in example order.
///
/// Why chunks rather than per-example generators with free batching: an example's arithmetic
/// is not independent of its batch. Measured on a `smallcnn` (oneDNN convolutions, OpenBLAS
/// GEMM), the logits of 19 of 25 examples differ in their low bits when each is evaluated alone
/// rather than in one batch of 25, and of 8 when in batches of 7 (for a 784-256-256-10 MLP: all
/// 25 and 12, and the input gradients of 11 alone), since the kernels change their blocking and
/// summation order with the batch's shape. One such bit decides a loss comparison in APGD's
/// checkpoints or a Square acceptance, and the run diverges. A fixed chunk gives every example
/// the same batch-mates for any number of ranks, so results match bit for bit; the price is
/// that results depend on `chunkSize` (and on `batchSize` when it is smaller), which is why
/// both are parameters independent of the rank count. With chunks of 25, 200 examples make 8
/// units of work, which two ranks share evenly enough that the robust examples Square attacks
/// longest are spread between them.
///
/// Timings are per rank: each attack's `seconds` and `cleanSeconds` are the largest of the
/// ranks' own totals, the wall-clock time of the slowest rank. They are the only fields that
/// can differ between runs with different numbers of ranks.
///
/// - Parameters:
///   - seed: the seed of every random choice: attack `a`'s seed is the `a`-th output of
///     `SplitMix64(seed: seed)`, its generator on chunk `c` is seeded from that and `c`, and the
///     sanity checks draw from the generator that follows.
///   - chunkSize: examples per chunk (``evaluationChunkSize`` by default).
///   - sanityChecks: also run ``sanityFlags(for:model:inputs:labels:using:)`` on the first
///     batch of examples (on rank 0, whatever the number of ranks) and attach the flags.
///   - communicator: the processes sharing the evaluation; every rank passes the same model,
///     examples and parameters and receives the same report.
///   - progress: called with (phase, examples done, total) for this rank's examples, as
///     ``evaluateRobustness(_:inputs:labels:attacks:threatModel:strategy:sanityChecks:batchSize:using:progress:)``
///     calls it.
/// - Throws: ``CommunicatorError`` when exchanging the outcomes fails.
public func evaluateRobustness<Model: Layer>(
    _ model: Model, inputs: Tensor, labels: [Int32], attacks: [any Attack], threatModel: ThreatModel,
    strategy: EvaluationStrategy = .independent, sanityChecks: Bool = false,
    batchSize: Int = 256, seed: UInt64, chunkSize: Int = evaluationChunkSize,
    communicator: any Communicator = SingleProcessCommunicator(),
    progress: (_ phase: String, _ done: Int, _ total: Int) -> Void = { _, _, _ in }
) throws -> RobustnessReport {
    precondition(inputs.shape.first == labels.count, "inputs and labels differ in count")
    precondition(batchSize >= 1 && chunkSize >= 1, "batch and chunk sizes must be positive")
    let model = model.with(mode: .inference)
    var generator = SplitMix64(seed: seed)
    let attackSeeds = attacks.map { _ in generator.next() }
    let chunks = stride(from: 0, to: labels.count, by: chunkSize).enumerated()
        .filter { $0.offset % communicator.size == communicator.rank }
        .map { (index: $0.offset, range: $0.element..<Swift.min($0.element + chunkSize, labels.count)) }
    let mine = evaluateExamples(
        model, inputs: inputs, labels: labels, attacks: attacks, strategy: strategy, batchSize: batchSize, chunks: chunks,
        attackSeed: { attack, chunk in chunkSeed(attackSeeds[attack], chunk: chunk) }, progress: progress)
    let outcomes = try gathered(mine, communicator: communicator)
    var report = outcomes.report(attacks: attacks.map(\.name), threatModel: threatModel, strategy: strategy)
    if sanityChecks {
        // One rank runs the checks on the same probe examples for any number of ranks, and
        // shares its flags.
        var flags = communicator.isWriter
            ? sanityFlags(on: report, model: model, inputs: inputs, labels: labels, batchSize: batchSize,
                          using: &generator, progress: progress)
            : []
        if communicator.size > 1 {
            let shared = try communicator.gatherOnEveryRank(Array(try JSONEncoder().encode(flags)))[0]
            flags = try JSONDecoder().decode([SanityFlag].self, from: Data(shared))
        }
        report.flags = flags
    }
    return report
}

/// The seed of an attack's generator on chunk `chunk`: a mix of the attack's seed and the
/// chunk's index, so that chunks draw unrelated streams (seeding `SplitMix64` with
/// `seed + chunk` would give chunk `c` chunk 0's stream shifted by `c` draws).
package func chunkSeed(_ attackSeed: UInt64, chunk: Int) -> UInt64 {
    var mixer = SplitMix64(seed: attackSeed ^ (UInt64(chunk) &* 0xD1B5_4A32_D192_ED03))
    return mixer.next()
}

/// Every rank's outcomes merged in example order, with each timing the largest rank's.
private func gathered(_ mine: ExampleOutcomes, communicator: any Communicator) throws -> ExampleOutcomes {
    guard communicator.size > 1 else { return mine }
    let all = try communicator.gatherOnEveryRank(Array(try JSONEncoder().encode(mine)))
        .map { try JSONDecoder().decode(ExampleOutcomes.self, from: Data($0)) }
    var merged = ExampleOutcomes(
        indices: [], cleanCorrect: [], attacks: mine.attacks.map { _ in .init(examples: 0) },
        cleanSeconds: all.map(\.cleanSeconds).max() ?? 0)
    var rows = all.flatMap { part in part.indices.indices.map { (part, $0) } }
    rows.sort { $0.0.indices[$0.1] < $1.0.indices[$1.1] }
    for (part, row) in rows {
        merged.indices.append(part.indices[row])
        merged.cleanCorrect.append(part.cleanCorrect[row])
        for attack in merged.attacks.indices {
            merged.attacks[attack].attacked.append(part.attacks[attack].attacked[row])
            merged.attacks[attack].correct.append(part.attacks[attack].correct[row])
            merged.attacks[attack].normBits.append(part.attacks[attack].normBits[row])
        }
    }
    for attack in merged.attacks.indices {
        merged.attacks[attack].seconds = all.map { $0.attacks[attack].seconds }.max() ?? 0
    }
    return merged
}
