import Bulwark
import BulwarkTraining
import Foundation
import Testing
import _TestSupport

/// Data-parallel training with ranks as threads (``LocalCommunicatorGroup``): N ranks train
/// like one process on the same global batch, stay identical, agree on stopping, and only
/// rank 0 writes files.
@Suite struct DataParallelTests {
    private let temporary: TemporaryDirectory

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-data-parallel")
    }

    typealias Weights = [String: [Float]]

    static func weights(_ model: Sequential) -> Weights {
        model.parameters.mapValues(\.array)
    }

    /// Trains ``Fixtures/mlp(side:hidden:classCount:seed:)`` with `method` on `data`, on
    /// `communicator`, and returns the weights, the history and the output directory's files.
    static func train<Method: TrainingMethod>(
        _ method: Method, on data: ImageDataset, validation: ImageDataset? = nil, epochs: Int = 1, batchSize: Int = 16,
        stopAfterEpoch: Int? = nil, directory: String? = nil, resuming: Bool = false,
        communicator: any Communicator = SingleProcessCommunicator()
    ) throws -> (weights: Weights, history: [EpochMetrics]) {
        var model = Fixtures.mlp()
        var trainer = Trainer(
            method: method, optimizer: SGD(learningRate: 0.1, momentum: 0.9), schedule: .constant(0.1), epochs: epochs,
            batchSize: batchSize, outputDirectory: directory, communicator: communicator)
        trainer.stopAfterEpoch = stopAfterEpoch
        var generator = SplitMix64(seed: 11)
        let history = try trainer.fit(
            &model, on: data, validation: validation, using: &generator,
            resumingFrom: resuming ? directory.map { path(in: $0, RunFile.resume) } : nil)
        return (weights(model), history)
    }

    /// What an epoch measured, without its timings.
    static func measured(_ history: [EpochMetrics]) -> [[Float?]] {
        history.map { [Float($0.epoch), $0.trainLoss, $0.trainAccuracy, $0.validationCleanAccuracy, $0.learningRate] }
    }

    static func path(in directory: String, _ name: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent(name).path
    }

    static func expectClose(_ a: Weights, _ b: Weights, tolerance: Float) {
        #expect(Set(a.keys) == Set(b.keys))
        let largest = a.keys.map { key in zip(a[key]!, b[key]!).map { abs($0 - $1) }.max() ?? 0 }.max() ?? 0
        #expect(largest <= tolerance, "largest difference \(largest)")
    }

    static let pgdWithoutRandomStart = PGDAdversarialTraining(
        threatModel: .lInfinity(epsilon: 0.1), steps: 3, stepSize: 0.04, randomStart: false)

    @Test func oneStepOnTwoRanksEqualsOneProcessOnTheSameBatch() throws {
        let data = Fixtures.templates(count: 16, noise: 0.15)
        for method in [AnyMethod(StandardTraining()), AnyMethod(Self.pgdWithoutRandomStart)] {
            let single = try method.train(data, communicator: SingleProcessCommunicator())
            let ranks = try LocalCommunicatorGroup(size: 2).run { try method.train(data, communicator: $0) }
            #expect(ranks[0] != Self.weights(Fixtures.mlp()), "the step moved the weights")
            Self.expectClose(ranks[0], single, tolerance: 1e-6)
            #expect(ranks[0] == ranks[1])
        }
    }

    @Test func aShortLastBatchIsWeightedByEachRanksShare() throws {
        // 28 examples in batches of 16: the last batch of 12 splits 8 and 4; 17 leaves rank 1 none.
        for count in [28, 17] {
            let data = Fixtures.templates(count: count, noise: 0.15)
            let single = try Self.train(StandardTraining(), on: data)
            let ranks = try LocalCommunicatorGroup(size: 2).run { try Self.train(StandardTraining(), on: data, communicator: $0) }
            Self.expectClose(ranks[0].weights, single.weights, tolerance: 1e-5)
            #expect(ranks[0].weights == ranks[1].weights)
            #expect(abs(ranks[0].history[0].trainLoss - single.history[0].trainLoss) < 1e-5)
            #expect(Self.measured(ranks[0].history) == Self.measured(ranks[1].history))
        }
    }

    @Test func anEpochOnTwoRanksLearnsLikeOneProcess() throws {
        let data = Fixtures.templates(count: 256, noise: 0.15)
        let heldOut = Fixtures.templates(count: 128, noise: 0.15, seed: 42)
        let method = PGDAdversarialTraining(threatModel: .lInfinity(epsilon: 0.1), steps: 3, stepSize: 0.04)
        let single = try Self.train(method, on: data, validation: heldOut, batchSize: 32)
        let ranks = try LocalCommunicatorGroup(size: 2).run {
            try Self.train(method, on: data, validation: heldOut, batchSize: 32, communicator: $0)
        }
        let (one, two) = (single.history[0], ranks[0].history[0])
        print("one epoch of PGD-AT, 1 process: train accuracy \(one.trainAccuracy), validation \(one.validationCleanAccuracy!); 2 ranks: train accuracy \(two.trainAccuracy), validation \(two.validationCleanAccuracy!)")
        #expect(ranks[0].weights == ranks[1].weights)
        #expect(Self.measured(ranks[0].history) == Self.measured(ranks[1].history))
        #expect(abs(one.trainAccuracy - two.trainAccuracy) < 0.1)
        #expect(abs(one.validationCleanAccuracy! - two.validationCleanAccuracy!) < 0.1)
        #expect(two.validationCleanAccuracy! > 0.5)
    }

    @Test func theRanksDrawDifferentNoiseAndKeepTheSharedGeneratorInStep() throws {
        let draws = try LocalCommunicatorGroup(size: 2).run { communicator -> ([UInt64], UInt64) in
            var generator = StepGenerator(shared: SplitMix64(seed: 5), communicator: communicator)
            let own = (0..<4).map { _ in generator.next() }
            var shared = generator.shared
            return (own, shared.next())
        }
        #expect(draws[0].0 != draws[1].0)
        #expect(draws[0].1 == draws[1].1)
        // One process draws from the shared generator itself.
        var single = StepGenerator(shared: SplitMix64(seed: 5), communicator: SingleProcessCommunicator())
        var reference = SplitMix64(seed: 5)
        #expect((0..<4).map { _ in single.next() } == (0..<4).map { _ in reference.next() })
    }

    @Test func aBatchSizeTheRanksCannotSplitIsAnError() throws {
        let data = Fixtures.templates(count: 16, noise: 0.15)
        let expected = TrainingError.invalidConfiguration(
            "`batchSize` 16 does not divide by the 3 processes of the run; each process trains on an equal slice of every batch, so choose a `batchSize` that is a multiple of 3.")
        #expect(throws: expected) {
            _ = try LocalCommunicatorGroup(size: 3).run { try Self.train(StandardTraining(), on: data, communicator: $0) }
        }
    }

    @Test func aNonFiniteLossOnOneRankStopsEveryRank() throws {
        let clean = Fixtures.templates(count: 16, noise: 0.15)
        var scalars = clean.images.array
        scalars[5 * 64] = .nan
        let data = ImageDataset(images: Tensor(shape: clean.images.shape, scalars: scalars), labels: clean.labels, classCount: 4)
        let group = LocalCommunicatorGroup(size: 2, timeout: 10)
        let outcomes = try group.run { communicator -> String in
            do {
                _ = try Self.train(StandardTraining(), on: data, communicator: communicator)
                return "trained"
            } catch let error as TrainingError {
                return "\(error)"
            }
        }
        let expected = "\(TrainingError.nonFiniteLoss(epoch: 1, batch: 1, lastGoodCheckpoint: nil))"
        #expect(outcomes == [expected, expected])
    }

    @Test func onlyRankZeroWritesFiles() throws {
        let data = Fixtures.templates(count: 32, noise: 0.15)
        let directories = [temporary.path + "/rank0", temporary.path + "/rank1"]
        _ = try LocalCommunicatorGroup(size: 2).run { communicator in
            try Self.train(StandardTraining(), on: data, directory: directories[communicator.rank], communicator: communicator)
        }
        let written = try FileManager.default.contentsOfDirectory(atPath: directories[0])
        #expect(Set(written).isSuperset(of: [RunFile.model, RunFile.best, RunFile.metrics, RunFile.resume]))
        #expect(!FileManager.default.fileExists(atPath: directories[1]))
    }

    @Test func aTwoRankRunResumesOnTwoRanksExactlyAndOnOneProcess() throws {
        let data = Fixtures.templates(count: 64, noise: 0.15)
        let method = PGDAdversarialTraining(threatModel: .lInfinity(epsilon: 0.1), steps: 2, stepSize: 0.06)
        let whole = try LocalCommunicatorGroup(size: 2).run { try Self.train(method, on: data, epochs: 2, communicator: $0) }
        let directory = temporary.path + "/run"
        _ = try LocalCommunicatorGroup(size: 2).run {
            try Self.train(method, on: data, epochs: 2, stopAfterEpoch: 1, directory: directory, communicator: $0)
        }
        let resumed = try LocalCommunicatorGroup(size: 2).run {
            try Self.train(method, on: data, epochs: 2, directory: directory, resuming: true, communicator: $0)
        }
        #expect(resumed[0].weights == whole[0].weights)
        #expect(resumed[1].weights == whole[0].weights)
        // The killed run's checkpoint after epoch 1 is still there: continue it on one process.
        _ = try LocalCommunicatorGroup(size: 2).run {
            try Self.train(method, on: data, epochs: 2, stopAfterEpoch: 1, directory: directory, communicator: $0)
        }
        let single = try Self.train(method, on: data, epochs: 2, directory: directory, resuming: true)
        #expect(single.history.count == 2)
        #expect(Self.measured(single.history)[0] == Self.measured(whole[0].history)[0])
        #expect(single.weights != Self.weights(Fixtures.mlp()))
    }

    @Test func textTrainingOnTwoRanksKeepsTheRanksIdentical() throws {
        let (training, validation) = (syntheticText(count: 64, seed: 5), syntheticText(count: 32, seed: 6))
        let results = try LocalCommunicatorGroup(size: 2).run { communicator -> ([String: [Float]], [[Float?]]) in
            var generator = SplitMix64(seed: 3)
            var model = TextCNN(vocabularySize: 30, dimension: 6, classCount: 2, widths: [2, 3], filters: 4, using: &generator)
            var trainer = TextTrainer(
                method: FreeLB(steps: 2, stepSize: 0.1, initialMagnitude: 0.1), optimizer: Adam(learningRate: 0.02),
                schedule: .constant(0.02), epochs: 2, batchSize: 16, minimumLength: 3, bucketed: true, communicator: communicator)
            let history = try trainer.fit(&model, on: training, validation: validation, using: &generator)
            return (model.parameters.mapValues(\.array), Self.measured(history))
        }
        #expect(results[0].0 == results[1].0)
        #expect(results[0].1 == results[1].1)
        #expect(results[0].1.count == 2)
    }

    @Test func bytesExchangedPerUpdateOfEachArchitecture() throws {
        let mlp = Fixtures.mlp()
        let parameters = mlp.parameters.values.map(\.scalarCount).reduce(0, +)
        #expect(DataParallelOptimizer<SGD>.bytesExchangedPerUpdate(for: mlp) == 4 * (parameters + 1))
        for architecture in Architecture.allCases {
            var generator = SplitMix64(seed: 1)
            let model = architecture.makeModel(classCount: 10, using: &generator)
            let bytes = DataParallelOptimizer<SGD>.bytesExchangedPerUpdate(for: model)
            print("data-parallel exchange per update, \(architecture.rawValue): \(bytes) bytes")
            #expect(bytes > 4 * model.parameters.values.map(\.scalarCount).reduce(0, +))
        }
    }
}

/// A training method behind a closure, so that one test can loop over methods of different types.
private struct AnyMethod: Sendable {
    let body: @Sendable (ImageDataset, any Communicator) throws -> DataParallelTests.Weights

    init<Method: TrainingMethod>(_ method: Method) {
        body = { data, communicator in try DataParallelTests.train(method, on: data, communicator: communicator).weights }
    }

    func train(_ data: ImageDataset, communicator: any Communicator) throws -> DataParallelTests.Weights {
        try body(data, communicator)
    }
}
