import BulwarkCore
import BulwarkData
import BulwarkNN

/// An optimizer shared by the ranks of a data-parallel run: every update of a step exchanges
/// the ranks' gradients in one sum, and every rank then applies `base`'s update to the same
/// weights with the same summed gradient, so the ranks' models stay identical bit for bit.
///
/// Each rank trains on its slice of the global batch and weights its gradient (a mean over its
/// slice) by its share of the batch, n_r / n, so that the sum over ranks is the gradient of the
/// global batch's mean loss. One buffer carries, in order: a flag that is 1 when this rank's
/// step is finite, every parameter's weighted gradient (zeros where the model has no gradient,
/// or the step is not finite), and rank 0's layer state (batch-norm running statistics; zeros on
/// the other ranks), so that one ``Communicator/sumAcrossRanks(_:)`` per update both averages
/// the gradients and tells every rank whether all of them are finite. The ranks then update
/// together, or skip together and report a non-finite loss, which stops every rank with
/// ``TrainingError/nonFiniteLoss(epoch:batch:lastGoodCheckpoint:)`` at the same batch.
///
/// **Batch norm.** Each rank normalizes its slice with its slice's statistics (local batch
/// statistics, as in PyTorch's `DistributedDataParallel` without `SyncBatchNorm`); the running
/// statistics every rank keeps after an update are rank 0's.
///
/// With one rank, updates are `base`'s own, unchanged.
public struct DataParallelOptimizer<Base: Optimizer>: Optimizer {
    /// The optimizer that moves the weights.
    public var base: Base
    /// The ranks that sum their gradients.
    public let communicator: any Communicator
    /// This rank's weight in the sum: its examples over the global batch's (0 for a rank
    /// without examples in a short last batch, which then contributes zeros).
    package var share: Float = 1
    /// Whether the ranks agreed to skip an update since ``beginStep()``.
    package private(set) var skippedUpdate = false
    /// The error of a collective that failed since ``beginStep()``; later updates of the step
    /// skip without communicating.
    package private(set) var failure: (any Error)?

    /// Wraps `base` for the ranks of `communicator`.
    public init(_ base: Base, communicator: any Communicator) {
        self.base = base
        self.communicator = communicator
    }

    public var learningRate: Float {
        get { base.learningRate }
        set { base.learningRate = newValue }
    }

    public var stateTensors: [String: Tensor] { base.stateTensors }

    public mutating func loadStateTensors(_ tensors: [String: Tensor]) { base.loadStateTensors(tensors) }

    /// Clears the step's ``skippedUpdate`` and ``failure``.
    package mutating func beginStep() {
        skippedUpdate = false
        failure = nil
    }

    public mutating func update<Model: Layer>(_ model: inout Model, along gradients: Gradients) {
        _ = update(&model, along: gradients, ifFinite: gradients.isFinite)
    }

    public mutating func update<Model: Layer>(_ model: inout Model, along gradients: Gradients, ifFinite isFinite: Bool) -> Bool {
        guard communicator.size > 1 else { return base.update(&model, along: gradients, ifFinite: isFinite) }
        guard failure == nil else { return false }
        // A rank without examples trained on a stand-in example; its step counts as finite.
        let contributes = isFinite && share > 0
        // Copied through pointers: appending element by element from inside the generic
        // walk was, in a profile, most of a smallcnn step's time.
        var buffer = [Float](repeating: 0, count: Self.scalarsExchanged(for: model))
        buffer[0] = isFinite || share == 0 ? 1 : 0
        var offset = 1
        let share = self.share
        buffer.withUnsafeMutableBufferPointer { out in
            model.visitParameters { path, parameter in
                let count = parameter.scalarCount
                if contributes, let gradient = gradients[path] {
                    gradient.scalars.withUnsafeBufferPointer { source in
                        for index in 0..<count { out[offset + index] = source[index] * share }
                    }
                }
                offset += count
            }
            guard communicator.rank == 0 else { return }
            model.visitState { _, state in
                state.scalars.withUnsafeBufferPointer { source in
                    for index in 0..<source.count { out[offset + index] = source[index] }
                }
                offset += state.scalarCount
            }
        }
        do { try communicator.sumAcrossRanks(&buffer) } catch {
            failure = error
            return false
        }
        guard buffer[0] == Float(communicator.size) else {
            skippedUpdate = true
            return false
        }
        offset = 1
        var summed = Gradients()
        model.visitParameters { path, parameter in
            let count = parameter.scalarCount
            if gradients[path] != nil {
                summed[path] = Tensor(shape: parameter.shape, scalars: Array(buffer[offset..<(offset + count)]))
            }
            offset += count
        }
        model.visitState { _, state in
            let count = state.scalarCount
            state = Tensor(shape: state.shape, scalars: Array(buffer[offset..<(offset + count)]))
            offset += count
        }
        base.update(&model, along: summed)
        return true
    }

    /// The scalars one update exchanges for `model`: the flag, one per parameter, and one
    /// per scalar of layer state.
    public static func scalarsExchanged<Model: Layer>(for model: Model) -> Int {
        var model = model
        var count = 1
        model.visitParameters { _, parameter in count += parameter.scalarCount }
        model.visitState { _, state in count += state.scalarCount }
        return count
    }

    /// The bytes each rank sends to one sum per update for `model` (4 per exchanged scalar,
    /// ``scalarsExchanged(for:)``), for estimating how a run scales with the number of ranks.
    public static func bytesExchangedPerUpdate<Model: Layer>(for model: Model) -> Int {
        4 * scalarsExchanged(for: model)
    }
}

/// The generator a training step draws from: the run's shared generator in a single-process
/// run, or, with several ranks, a generator of this rank's own seeded from a step seed that
/// every rank draws from the shared generator (``init(shared:communicator:)``), so that the
/// ranks' shared generators stay in step while their random starts and noise differ.
package struct StepGenerator<Shared: RandomNumberGenerator>: RandomNumberGenerator {
    /// The run's generator (the shuffle's), as the step leaves it.
    package private(set) var shared: Shared
    private var own: SplitMix64?

    /// The generator of the next step of the rank of `communicator`.
    package init(shared: Shared, communicator: any Communicator) {
        self.shared = shared
        guard communicator.size > 1 else { return }
        let stepSeed = self.shared.next()
        var seeder = SplitMix64(seed: stepSeed ^ (UInt64(communicator.rank) &* 0xD1B5_4A32_D192_ED03))
        own = seeder.split()
    }

    package mutating func next() -> UInt64 {
        if own != nil { return own!.next() }
        return shared.next()
    }
}

extension Batch {
    /// The slice of this batch (of a run whose full batches hold `batchSize` examples) that
    /// rank r of `size` trains on: examples [r·batchSize/size, (r+1)·batchSize/size), clipped
    /// to the batch, which may leave a rank of a short last batch without any.
    func rankSlice(rank: Int, of size: Int, batchSize: Int) -> Range<Int> {
        let perRank = batchSize / size
        return Swift.min(count, rank * perRank)..<Swift.min(count, (rank + 1) * perRank)
    }

    /// The examples at `range`.
    func examples(_ range: Range<Int>) -> Batch {
        Batch(inputs: inputs.slice(alongAxis: 0, range).detached, labels: Array(labels[range]))
    }
}

extension EpochTally {
    /// The tally over every rank's examples, added in rank order so that every rank gets the
    /// same bits.
    func summed(across communicator: any Communicator) throws -> EpochTally {
        guard communicator.size > 1 else { return self }
        let mine = [lossSum, correct, Double(seen)].withUnsafeBytes { Array($0) }
        var total = self
        (total.lossSum, total.correct, total.seen) = (0, 0, 0)
        for bytes in try communicator.gatherOnEveryRank(mine) {
            let values = bytes.withUnsafeBytes { raw in (0..<3).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self) } }
            total.lossSum += values[0]
            total.correct += values[1]
            total.seen += Int(values[2])
        }
        return total
    }
}

/// The error for a batch size the ranks cannot split evenly.
func checkBatchSize(_ batchSize: Int, divisibleBy communicator: any Communicator) throws {
    guard batchSize % communicator.size != 0 else { return }
    throw TrainingError.invalidConfiguration(
        "`batchSize` \(batchSize) does not divide by the \(communicator.size) processes of the run; each process trains on an equal slice of every batch, so choose a `batchSize` that is a multiple of \(communicator.size).")
}
