import BulwarkCore
import BulwarkData
import BulwarkNN
import Foundation

/// The epoch loop ``Trainer`` and ``TextTrainer`` share. For each epoch left in `run`: the
/// epoch's `batches` (drawn from `generator`: the shuffle), then per batch the schedule's
/// learning rate, one `step` (a non-finite loss stops the run with
/// ``TrainingError/nonFiniteLoss(epoch:batch:lastGoodCheckpoint:)``), the batch event and
/// `afterBatch`; after the batches the divergence check, `validate`, the epoch's metrics and
/// the run's record of the epoch (files and resume checkpoint), and the epoch event.
///
/// What differs between images and text comes in as functions: the batches, the step (ε
/// warm-up, augmentation or clean warm-up), a check after each batch that may end the run
/// (the overfitting guard, which returns `true` to end it), validation, the ε scale reported and
/// the state the resume checkpoint keeps.
///
/// **Data parallelism.** With several ranks in `communicator`, every rank draws the same
/// shuffle from `generator`, the batch size must divide by the number of ranks, and rank r of
/// N trains on examples [r·B/N, (r+1)·B/N) of each batch of B (a short last batch may leave a
/// rank none: it then steps on a stand-in example with no weight). The step's updates go
/// through ``DataParallelOptimizer``, which sums the ranks' gradients weighted by their share
/// of the batch. Before each step every rank draws one step seed from `generator`, and the
/// step draws from a generator seeded by it and the rank (``StepGenerator``): the ranks'
/// shared generators stay in step while their random starts and noise differ. With one rank
/// the step draws from `generator` itself, as it always has. The epoch's loss and accuracy are
/// summed over every rank's examples (the progress of each batch is this rank's); every rank
/// validates the same model with the same seeds, and only rank 0 writes files.
///
func trainEpochs<Model: Layer, Opt: Optimizer, Batches: Sequence, G: RandomNumberGenerator>(
    _ model: inout Model, optimizer: inout Opt, run: inout TrainingRun, using generator: inout G, communicator: any Communicator,
    schedule: LearningRateSchedule, trainingCount: Int, batchSize: Int, classCount: Int, stopAfterEpoch: Int?,
    observer: (TrainingEvent) -> Void,
    batches: (_ generator: inout G) -> Batches,
    step: (_ model: inout Model, _ optimizer: inout DataParallelOptimizer<Opt>, _ batch: Batch, _ epoch: Int, _ index: Int,
           _ generator: inout StepGenerator<G>) -> StepMetrics,
    afterBatch: (_ model: inout Model, _ run: TrainingRun, _ epoch: Int, _ index: Int, _ batchesPerEpoch: Int) throws -> Bool,
    validate: (_ model: Model, _ epoch: Int) -> (clean: Float?, robust: Float?),
    epsilonScale: () -> Float?,
    methodState: () -> [String: Tensor],
    guardBest: () -> TrainingCheckpoint.GuardBest?
) throws where Batches.Element == Batch {
    try checkBatchSize(batchSize, divisibleBy: communicator)
    var parallel = DataParallelOptimizer(optimizer, communicator: communicator)
    defer { optimizer = parallel.base }
    let batchesPerEpoch = (trainingCount + batchSize - 1) / batchSize
    for epoch in try run.remainingEpochs(stoppingAfter: stopAfterEpoch) {
        observer(.epochStarted(epoch: epoch, batches: batchesPerEpoch))
        var tally = EpochTally()
        for (index, globalBatch) in batches(&generator).enumerated() {
            parallel.learningRate = schedule.learningRate(
                atEpoch: Double(epoch - 1) + Double(index) / Double(batchesPerEpoch), of: run.epochs)
            var batch = globalBatch
            let slice = globalBatch.rankSlice(rank: communicator.rank, of: communicator.size, batchSize: batchSize)
            if communicator.size > 1 {
                parallel.share = Float(slice.count) / Float(globalBatch.count)
                // A rank without examples steps on a stand-in with no weight, so that it takes
                // part in every collective of the step.
                batch = globalBatch.examples(slice.isEmpty ? 0..<1 : slice)
            }
            parallel.beginStep()
            var stepGenerator = StepGenerator(shared: generator, communicator: communicator)
            var metrics = step(&model, &parallel, batch, epoch, index, &stepGenerator)
            generator = stepGenerator.shared
            if let failure = parallel.failure { throw failure }
            if parallel.skippedUpdate { throw run.nonFiniteLoss(epoch: epoch, batch: index + 1) }
            if slice.isEmpty { metrics = StepMetrics(loss: 0, accuracy: 0, count: 0) }
            guard metrics.loss.isFinite else { throw run.nonFiniteLoss(epoch: epoch, batch: index + 1) }
            tally.add(metrics)
            observer(tally.batchEvent(epoch: epoch, batch: index + 1, of: batchesPerEpoch))
            if try afterBatch(&model, run, epoch, index, batchesPerEpoch) { return }
        }
        tally = try tally.summed(across: communicator)
        try run.checkDivergence(epoch: epoch, loss: tally.loss, classCount: classCount)
        let trainSeconds = Date().timeIntervalSince(tally.start)
        let validationStart = Date()
        let (clean, robust) = validate(model, epoch)
        let metrics = tally.metrics(
            epoch: epoch, validationCleanAccuracy: clean, validationRobustAccuracy: robust, learningRate: parallel.learningRate,
            epsilonScale: epsilonScale(), trainSeconds: trainSeconds, validationStart: validationStart)
        // Without validation the newest model counts as the best; ties keep the earlier.
        try run.record(
            metrics, score: robust ?? clean ?? Float(epoch), model: model, generator: generator,
            optimizerState: parallel.stateTensors, methodState: methodState(), guardBest: guardBest())
        observer(.epoch(metrics))
    }
}
