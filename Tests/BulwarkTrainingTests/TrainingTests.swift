import Bulwark
import Foundation
import Testing
import _TestSupport

@Suite struct TrainingTests {
    let data = Fixtures.templates(count: 512, noise: 0.15)
    let test = Fixtures.templates(count: 256, noise: 0.15, seed: 99)
    let threatModel = ThreatModel.lInfinity(epsilon: 0.2)
    private let temporary: TemporaryDirectory

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-trainer")
    }

    func train<Method: TrainingMethod>(_ method: Method, epochs: Int = 8, seed: UInt64 = 1, directory: String? = nil) throws -> (Sequential, [EpochMetrics]) {
        var model = Fixtures.cnn()
        var trainer = Trainer(method: method, optimizer: Adam(learningRate: 1e-2), schedule: .constant(1e-2),
                              epochs: epochs, batchSize: 32, outputDirectory: directory, architectureName: "custom")
        var generator = SplitMix64(seed: seed)
        let history = try trainer.fit(&model, on: data, validation: test, using: &generator)
        return (model, history)
    }

    func robustAccuracy(_ model: Sequential) -> (clean: Float, robust: Float) {
        var generator = SplitMix64(seed: 7)
        let report = evaluateRobustness(model, inputs: test.images, labels: test.labels,
                                        attacks: [PGD(threatModel: threatModel, steps: 20, stepSize: 0.02)],
                                        threatModel: threatModel, using: &generator)
        return (report.cleanAccuracy, report.attacks[0].robustAccuracy)
    }

    @Test func standardTrainingConverges() throws {
        let (model, history) = try train(StandardTraining())
        #expect(history.count == 8)
        #expect(history.last!.trainLoss < history.first!.trainLoss)
        #expect(robustAccuracy(model).clean > 0.95)
    }

    @Test func adversarialTrainingIsMoreRobustThanStandard() throws {
        let (standard, _) = try train(StandardTraining())
        let (fast, _) = try train(FastAdversarialTraining(threatModel: threatModel))
        let (pgd, _) = try train(PGDAdversarialTraining(threatModel: threatModel, steps: 5, stepSize: 0.05))
        let standardRobust = robustAccuracy(standard).robust
        let fastResult = robustAccuracy(fast), pgdResult = robustAccuracy(pgd)
        #expect(fastResult.robust > standardRobust + 0.2, "Fast-AT \(fastResult) vs standard \(standardRobust)")
        #expect(pgdResult.robust > standardRobust + 0.2, "PGD-AT \(pgdResult) vs standard \(standardRobust)")
        #expect(fastResult.clean > 0.8 && pgdResult.clean > 0.8)
    }

    @Test func sameSeedGivesIdenticalWeights() throws {
        let (first, _) = try train(FastAdversarialTraining(threatModel: threatModel), epochs: 2, seed: 5)
        let (second, _) = try train(FastAdversarialTraining(threatModel: threatModel), epochs: 2, seed: 5)
        let (other, _) = try train(FastAdversarialTraining(threatModel: threatModel), epochs: 2, seed: 6)
        #expect(first.parameters == second.parameters)
        #expect(first.parameters != other.parameters)
    }

    @Test func trainerWritesCheckpointsAndMetrics() throws {
        let directory = temporary.path + "/trainer"
        let (model, history) = try train(StandardTraining(), epochs: 3, directory: directory)
        let lines = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(first?["epoch"] as? Int == 1)
        #expect(first?["train_loss"] != nil && first?["validation_clean_accuracy"] != nil)
        let stored = try SafeTensorsFile(contentsOf: directory + "/model.safetensors")
        #expect(stored.metadata["epoch"] == "3")
        #expect(stored.tensors == model.parameters)
        #expect(FileManager.default.fileExists(atPath: directory + "/best.safetensors"))
        #expect(history.count == 3)
    }

    @Test func nonFiniteLossStopsTrainingWithAClearError() throws {
        var model = Fixtures.cnn()
        var poisoned = data
        var scalars = poisoned.images.array
        scalars[5] = .nan
        poisoned.images = Tensor(shape: poisoned.images.shape, scalars: scalars)
        var trainer = Trainer(method: StandardTraining(), optimizer: Adam(), schedule: .constant(1e-3), epochs: 1, batchSize: 600)
        var generator = SplitMix64(seed: 1)
        let before = model.parameters
        #expect(throws: TrainingError.nonFiniteLoss(epoch: 1, batch: 1, lastGoodCheckpoint: nil)) {
            try trainer.fit(&model, on: poisoned, validation: nil, using: &generator)
        }
        #expect(model.parameters == before, "a NaN loss must not reach the weights")
    }

    /// A learning rate far too large drives the loss to 10¹⁸ and more while it stays finite:
    /// the trainer stops after the first such epoch and keeps the last good model on disk.
    @Test(arguments: [("adam", Float(1e6)), ("sgd", Float(1000))])
    func finiteDivergenceStopsTrainingAndKeepsTheLastGoodModel(optimizer: String, learningRate: Float) throws {
        let directory = temporary.path + "/diverge"
        var model = Fixtures.mlp()
        var generator = SplitMix64(seed: 1)
        func fit<Opt: Optimizer>(_ optimizer: Opt) throws {
            var trainer = Trainer(method: StandardTraining(), optimizer: optimizer, schedule: .constant(learningRate), epochs: 3,
                                  batchSize: 32, outputDirectory: directory)
            _ = try trainer.fit(&model, on: data, validation: nil, using: &generator)
        }
        do {
            try optimizer == "adam" ? fit(Adam(learningRate: learningRate)) : fit(SGD(learningRate: learningRate, momentum: 0.9))
            Issue.record("training at learning rate \(learningRate) with \(optimizer) ended without an error")
        } catch let error as TrainingError {
            guard case let .diverged(epoch, loss, _, kept) = error else {
                Issue.record("expected divergence, got \(error)")
                return
            }
            #expect(loss.isFinite && loss > 100)
            #expect(error.description.contains("`learningRate`"))
            #expect(kept == (epoch > 1 ? directory + "/model.safetensors" : nil))
            let saved = try? SafeTensorsFile(contentsOf: directory + "/model.safetensors")
            #expect(saved.map { Int($0.metadata["epoch"] ?? "") == epoch - 1 } ?? (epoch == 1), "the diverged epoch was not saved")
        }
    }
}

/// A method that only records the batches the trainer hands it.
private struct RecordingMethod: TrainingMethod {
    var name: String { "recording" }
    var seen: [Batch] = []

    mutating func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
        _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
    ) -> StepMetrics {
        seen.append(batch)
        return StepMetrics(loss: 0, accuracy: 0, count: batch.count)
    }
}

@Suite struct TrainerAugmentationTests {
    let data = Fixtures.templates(count: 70, noise: 0.15)

    func seenBatches(augmentation: ImageAugmentation?) throws -> [Batch] {
        var model = Fixtures.mlp()
        var trainer = Trainer(method: RecordingMethod(), optimizer: SGD(learningRate: 0.1), schedule: .constant(0.1),
                              epochs: 2, batchSize: 32, augmentation: augmentation)
        var generator = SplitMix64(seed: 3)
        _ = try trainer.fit(&model, on: data, validation: nil, using: &generator)
        return trainer.method.seen
    }

    /// Every training batch is cropped and flipped with draws from the trainer's generator,
    /// right after the epoch's shuffle; the labels stay those of the shuffled batch.
    @Test func everyBatchIsAugmentedFromTheTrainersGenerator() throws {
        let augmentation = ImageAugmentation(padding: 2)
        let seen = try seenBatches(augmentation: augmentation)
        var generator = SplitMix64(seed: 3)
        var expected = [Batch]()
        for _ in 0..<2 {
            for batch in data.batches(ofSize: 32, shuffledUsing: &generator) {
                expected.append(augmentation.augmented(batch, using: &generator))
            }
        }
        #expect(seen.count == 6)
        #expect(seen.map(\.inputs) == expected.map(\.inputs))
        #expect(seen.map(\.labels) == expected.map(\.labels))
        #expect(try seenBatches(augmentation: augmentation).map(\.inputs) == seen.map(\.inputs), "deterministic for a seed")

        let plain = try seenBatches(augmentation: nil)
        #expect(plain[0].labels == seen[0].labels, "the first shuffle comes before any augmentation draw")
        #expect(plain[0].inputs != seen[0].inputs)
    }
}
