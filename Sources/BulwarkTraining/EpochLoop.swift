import BulwarkCore
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
func trainEpochs<Model: Layer, Opt: Optimizer, Batches: Sequence, G: RandomNumberGenerator>(
    _ model: inout Model, optimizer: inout Opt, run: inout TrainingRun, using generator: inout G,
    schedule: LearningRateSchedule, trainingCount: Int, batchSize: Int, classCount: Int, stopAfterEpoch: Int?,
    observer: (TrainingEvent) -> Void,
    batches: (_ generator: inout G) -> Batches,
    step: (_ model: inout Model, _ optimizer: inout Opt, _ batch: Batches.Element, _ epoch: Int, _ index: Int, _ generator: inout G) -> StepMetrics,
    afterBatch: (_ model: inout Model, _ run: TrainingRun, _ epoch: Int, _ index: Int, _ batchesPerEpoch: Int) throws -> Bool,
    validate: (_ model: Model, _ epoch: Int) -> (clean: Float?, robust: Float?),
    epsilonScale: () -> Float?,
    methodState: () -> [String: Tensor],
    guardBest: () -> TrainingCheckpoint.GuardBest?
) throws {
    let batchesPerEpoch = (trainingCount + batchSize - 1) / batchSize
    for epoch in try run.remainingEpochs(stoppingAfter: stopAfterEpoch) {
        observer(.epochStarted(epoch: epoch, batches: batchesPerEpoch))
        var tally = EpochTally()
        for (index, batch) in batches(&generator).enumerated() {
            optimizer.learningRate = schedule.learningRate(
                atEpoch: Double(epoch - 1) + Double(index) / Double(batchesPerEpoch), of: run.epochs)
            let metrics = step(&model, &optimizer, batch, epoch, index, &generator)
            guard metrics.loss.isFinite else { throw run.nonFiniteLoss(epoch: epoch, batch: index + 1) }
            tally.add(metrics)
            observer(tally.batchEvent(epoch: epoch, batch: index + 1, of: batchesPerEpoch))
            if try afterBatch(&model, run, epoch, index, batchesPerEpoch) { return }
        }
        try run.checkDivergence(epoch: epoch, loss: tally.loss, classCount: classCount)
        let trainSeconds = Date().timeIntervalSince(tally.start)
        let validationStart = Date()
        let (clean, robust) = validate(model, epoch)
        let metrics = tally.metrics(
            epoch: epoch, validationCleanAccuracy: clean, validationRobustAccuracy: robust, learningRate: optimizer.learningRate,
            epsilonScale: epsilonScale(), trainSeconds: trainSeconds, validationStart: validationStart)
        // Without validation the newest model counts as the best; ties keep the earlier.
        try run.record(
            metrics, score: robust ?? clean ?? Float(epoch), model: model, generator: generator,
            optimizerState: optimizer.stateTensors, methodState: methodState(), guardBest: guardBest())
        observer(.epoch(metrics))
    }
}
