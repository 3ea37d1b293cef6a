import Bulwark
import Foundation
import Testing
import _TestSupport

/// Resume checkpoints: a run interrupted after an epoch and continued ends with the model of
/// the uninterrupted run, bit for bit (dropout's generator inside the model included); each
/// piece of saved state is needed for that; damaged,
/// missing and foreign checkpoints are clear errors; and best-robust-accuracy checkpointing
/// (Rice et al. 2020) keeps the best epoch.
@Suite struct ResumeTests {
    let data = Fixtures.templates(count: 160, noise: 0.15)
    let heldOut = Fixtures.templates(count: 64, noise: 0.15, seed: 42)
    let threatModel = ThreatModel.lInfinity(epsilon: 0.2)
    private let temporary: TemporaryDirectory

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-resume")
    }

    /// A small CNN with batch normalization, so that layer state (running statistics) is part
    /// of what must survive a resume, and optionally dropout, whose generator is too.
    static func model(seed: UInt64 = 3, dropout: Bool = false) -> Sequential {
        var generator = SplitMix64(seed: seed)
        let dropoutLayers: [any Layer] = dropout ? [Dropout(probability: 0.3, seed: generator.next())] : []
        return Sequential([
            Conv2D(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1, using: &generator), BatchNorm2D(channels: 4), ReLU(),
            MaxPool2D(kernelSize: 2), Flatten(),
        ] + dropoutLayers + [Linear(inputSize: 4 * 4 * 4, outputSize: 4, using: &generator)])
    }


    /// Every scalar's bit pattern, parameters and layer state, and the state of every generator
    /// the model keeps (dropout's), keyed by path.
    static func bits<Model: Layer>(_ model: Model) -> [String: [UInt32]] {
        var result = [String: [UInt32]]()
        for (name, tensor) in model.parameters { result[name] = tensor.array.map(\.bitPattern) }
        for (name, tensor) in model.state { result["state " + name] = tensor.array.map(\.bitPattern) }
        for (name, generator) in model.generators {
            result["generator " + name] = [UInt32(truncatingIfNeeded: generator.state), UInt32(generator.state >> 32)]
        }
        return result
    }

    /// Takes `piece` out of the resume checkpoint at `path`: the training generator's state
    /// (`generator`) or the model's generators' (`model_generators`) are replaced by others,
    /// tensors named with the prefix `piece` removed.
    static func removeOrScramble(_ piece: String, ofCheckpoint path: String) throws {
        var file = try SafeTensorsFile(contentsOf: path)
        switch piece {
        case "generator":
            file.metadata["generator"] = "{\"state\":12345}"
        case "model_generators":
            let states = try JSONDecoder().decode([String: String].self, from: Data((file.metadata[piece] ?? "").utf8))
            #expect(!states.isEmpty, "the checkpoint holds the model's generators")
            file.metadata[piece] = String(decoding: try JSONEncoder().encode(states.mapValues { _ in "12345" }), as: UTF8.self)
        default:
            let removed = file.tensors.keys.filter { $0.hasPrefix(piece) }
            #expect(!removed.isEmpty, "the checkpoint holds \(piece) state")
            for name in removed { file.tensors[name] = nil }
        }
        try file.write(to: path)
    }

    /// The recipes the resume must reproduce, and the tensor-name prefix of the state whose
    /// loss the comparison must notice (the optimizer's, or the method's carried δ).
    enum Recipe: String, CaseIterable {
        case standardSGDMomentum, fastAdamCyclicWarmup, freeCarriedPerturbation, standardAugmented, standardDropout
    }

    /// Trains `recipe` for two epochs in `directory`, resuming from `checkpoint` if given;
    /// `afterEpoch` runs after each epoch's files are written.
    func run(
        _ recipe: Recipe, in directory: String, resumingFrom checkpoint: String? = nil, modelSeed: UInt64 = 3, seed: UInt64 = 11,
        afterEpoch: (Int) -> Void = { _ in }
    ) throws -> (model: Sequential, history: [EpochMetrics]) {
        var model = Self.model(seed: modelSeed, dropout: recipe == .standardDropout)
        var generator = SplitMix64(seed: seed)
        func fit<Method: TrainingMethod, Opt: Optimizer>(
            _ method: Method, _ optimizer: Opt, schedule: LearningRateSchedule, warmup: Double = 0, augmentation: ImageAugmentation? = nil
        ) throws -> [EpochMetrics] {
            var trainer = Trainer(
                method: method, optimizer: optimizer, schedule: schedule, epochs: 2, batchSize: 32,
                validationAttack: PGD(threatModel: threatModel, steps: 2, stepSize: 0.1), outputDirectory: directory,
                architectureName: "test", epsilonWarmupEpochs: warmup, augmentation: augmentation)
            return try trainer.fit(&model, on: data, validation: heldOut, using: &generator, resumingFrom: checkpoint) { event in
                if case .epoch(let metrics) = event { afterEpoch(metrics.epoch) }
            }
        }
        let history: [EpochMetrics] = switch recipe {
        case .standardSGDMomentum:
            try fit(StandardTraining(), SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4), schedule: .piecewise(rates: [0.05, 0.01], boundaries: [1.5]))
        case .fastAdamCyclicWarmup:
            // The warm-up ends within epoch 2, after the interruption.
            try fit(FastAdversarialTraining(threatModel: threatModel), Adam(learningRate: 1e-2), schedule: .cyclic(peak: 1e-2, peakFraction: 0.4), warmup: 1.5)
        case .freeCarriedPerturbation:
            try fit(FreeAdversarialTraining(threatModel: threatModel, replays: 2), Adam(learningRate: 5e-3), schedule: .constant(5e-3))
        case .standardAugmented:
            // Crops and flips draw from the run's generator within each epoch.
            try fit(StandardTraining(), SGD(learningRate: 0.05, momentum: 0.9), schedule: .constant(0.05), augmentation: ImageAugmentation(padding: 2))
        case .standardDropout:
            // Dropout draws its masks from a generator inside the model.
            try fit(StandardTraining(), SGD(learningRate: 0.05, momentum: 0.9), schedule: .constant(0.05))
        }
        return (model, history)
    }

    /// Copies the run files of `source` into a new directory, as a kill would leave them.
    static func snapshot(_ source: String, into destination: String) {
        try? FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        for name in [RunFile.model, RunFile.best, RunFile.metrics, RunFile.resume] {
            let target = destination + "/" + name
            try? FileManager.default.removeItem(atPath: target)
            try? FileManager.default.copyItem(atPath: source + "/" + name, toPath: target)
        }
    }

    @Test(arguments: Recipe.allCases)
    func resumedRunEqualsTheUninterruptedRunBitForBit(recipe: Recipe) throws {
        let full = temporary.path + "/full", interrupted = temporary.path + "/interrupted"
        let uninterrupted = try run(recipe, in: full) { epoch in
            if epoch == 1 { Self.snapshot(full, into: interrupted) }
        }
        // A kill after epoch 2's metrics line reached the disk but before its checkpoint did.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: interrupted + "/" + RunFile.metrics))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"epoch\":2}\n".utf8))
        try handle.close()

        // Another initialization and seed: the checkpoint must overwrite both.
        var resumedEvents = [Int]()
        let resumed = try run(recipe, in: interrupted, resumingFrom: interrupted + "/" + RunFile.resume, modelSeed: 99, seed: 12345) {
            resumedEvents.append($0)
        }
        #expect(resumedEvents == [2], "only epoch 2 is trained again")
        #expect(Self.bits(resumed.model) == Self.bits(uninterrupted.model), "\(recipe): resumed weights differ from the uninterrupted run's")
        #expect(!resumed.model.state.isEmpty, "the batch-norm running statistics are compared too")
        let stored = try SafeTensorsFile(contentsOf: interrupted + "/" + RunFile.model)
        #expect(stored.tensors.mapValues { $0.array.map(\.bitPattern) } == (try SafeTensorsFile(contentsOf: full + "/" + RunFile.model)).tensors.mapValues { $0.array.map(\.bitPattern) })
        #expect(resumed.history.map(\.epoch) == [1, 2])
        #expect(resumed.history.first == uninterrupted.history.first, "the metrics of epoch 1 come from the checkpoint")
        let lines = try String(contentsOfFile: interrupted + "/" + RunFile.metrics, encoding: .utf8).split(separator: "\n")
        let epochs = try lines.map { line in try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])["epoch"] as? Int }
        #expect(epochs == [1, 2], "metrics.jsonl continues without duplicate epochs")
        #expect(lines.last?.contains("train_loss") == true)
    }

    /// The comparison above can fail: a checkpoint missing one piece of state (the random
    /// generator's, the optimizer's, the method's δ) resumes into a different model.
    @Test(arguments: [
        (Recipe.fastAdamCyclicWarmup, "generator"), (.standardSGDMomentum, "optimizer."), (.freeCarriedPerturbation, "method."),
        (.standardDropout, "model_generators"),
    ])
    func everyPieceOfSavedStateMatters(recipe: Recipe, piece: String) throws {
        let full = temporary.path + "/full", interrupted = temporary.path + "/interrupted"
        let uninterrupted = try run(recipe, in: full) { epoch in
            if epoch == 1 { Self.snapshot(full, into: interrupted) }
        }
        let path = interrupted + "/" + RunFile.resume
        try Self.removeOrScramble(piece, ofCheckpoint: path)
        let resumed = try run(recipe, in: interrupted, resumingFrom: path)
        #expect(Self.bits(resumed.model) != Self.bits(uninterrupted.model), "losing \(piece) must change the result")
    }

    @Test func missingDamagedForeignAndFinishedCheckpointsAreClearErrors() throws {
        let directory = temporary.path + "/errors"
        _ = try run(.standardSGDMomentum, in: directory)
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch { return String(describing: error) }
            return "no error"
        }
        let checkpoint = directory + "/" + RunFile.resume
        let finished = message { _ = try run(.standardSGDMomentum, in: directory, resumingFrom: checkpoint) }
        #expect(finished.contains("already completed all 2 epochs"), "\(finished)")
        let missing = message { _ = try run(.standardSGDMomentum, in: directory, resumingFrom: directory + "/nothing.safetensors") }
        #expect(missing.contains("does not exist") && missing.contains("instead of resuming"), "\(missing)")

        // A checkpoint of epoch 1, then damaged copies of it.
        let partial = temporary.path + "/partial"
        _ = try run(.standardSGDMomentum, in: directory) { epoch in if epoch == 1 { Self.snapshot(directory, into: partial) } }
        let good = try Data(contentsOf: URL(fileURLWithPath: partial + "/" + RunFile.resume))
        let truncated = partial + "/truncated.safetensors"
        try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: truncated))
        let damaged = message { _ = try run(.standardSGDMomentum, in: partial, resumingFrom: truncated) }
        #expect(damaged.contains("damaged"), "\(damaged)")
        // The library names the field to change, not an option of the command line.
        #expect(damaged.contains("`outputDirectory`") && !missing.contains("--") && !damaged.contains("--"), "\(missing) \(damaged)")
        let foreign = message { _ = try run(.freeCarriedPerturbation, in: partial, resumingFrom: partial + "/" + RunFile.resume) }
        #expect(foreign.contains("method 'standard', not 'free'"), "\(foreign)")
        let model = message { _ = try run(.standardSGDMomentum, in: partial, resumingFrom: partial + "/" + RunFile.model) }
        #expect(model.contains("not a resume checkpoint"), "\(model)")
        var otherModel = Fixtures.cnn()
        var trainer = Trainer(method: StandardTraining(), optimizer: SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4),
                              schedule: .constant(0.05), epochs: 2, batchSize: 32)
        var generator = SplitMix64(seed: 1)
        let shapes = message { _ = try trainer.fit(&otherModel, on: data, validation: nil, using: &generator, resumingFrom: partial + "/" + RunFile.resume) }
        #expect(shapes.contains("not this run's model"), "\(shapes)")
    }

    /// A trainer can stop after an epoch and a second fit continue the same run.
    @Test func stopAfterEpochThenResumeEqualsOneRun() throws {
        let whole = temporary.path + "/whole", split = temporary.path + "/split"
        let reference = try run(.fastAdamCyclicWarmup, in: whole)
        func fit(resuming: Bool) throws -> Sequential {
            var model = Self.model()
            var generator = SplitMix64(seed: 11)
            var trainer = Trainer(
                method: FastAdversarialTraining(threatModel: threatModel), optimizer: Adam(learningRate: 1e-2),
                schedule: .cyclic(peak: 1e-2, peakFraction: 0.4), epochs: 2, batchSize: 32,
                validationAttack: PGD(threatModel: threatModel, steps: 2, stepSize: 0.1), outputDirectory: split,
                architectureName: "test", epsilonWarmupEpochs: 1.5)
            trainer.stopAfterEpoch = resuming ? nil : 1
            let history = try trainer.fit(&model, on: data, validation: heldOut, using: &generator,
                                          resumingFrom: resuming ? split + "/" + RunFile.resume : nil)
            #expect(history.count == (resuming ? 2 : 1))
            return model
        }
        _ = try fit(resuming: false)
        #expect(try Self.bits(fit(resuming: true)) == Self.bits(reference.model))
    }

    /// Rice, Wong and Kolter 2020: `best.safetensors` holds the epoch of best validation robust
    /// accuracy, not the last one, when robustness falls later in training.
    @Test func bestCheckpointKeepsTheMostRobustEpoch() throws {
        /// Standard steps in epoch 1, then weights set to zero (every input gets class 0).
        struct Degrading: TrainingMethod {
            var steps = 0
            var name: String { "degrading" }
            mutating func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
                _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
            ) -> StepMetrics {
                steps += 1
                if steps <= 10 { return descend(&model, optimizer: &optimizer, inputs: batch.inputs, labels: batch.labels) }
                model.visitParameters { _, tensor in tensor = Tensor(zeros: tensor.shape) }
                return StepMetrics(loss: 1, accuracy: 0, count: batch.count)
            }
        }
        let directory = temporary.path + "/best"
        var model = Fixtures.cnn()
        var generator = SplitMix64(seed: 1)
        var afterFirst: [String: Tensor] = [:]
        let weak = ThreatModel.lInfinity(epsilon: 0.05)
        var trainer = Trainer(method: Degrading(), optimizer: Adam(learningRate: 1e-2), schedule: .constant(1e-2), epochs: 3, batchSize: 16,
                              validationAttack: PGD(threatModel: weak, steps: 3, stepSize: 0.02), outputDirectory: directory)
        let history = try trainer.fit(&model, on: data, validation: heldOut, using: &generator) { event in
            if case .epoch(let metrics) = event, metrics.epoch == 1 {
                afterFirst = (try? SafeTensorsFile(contentsOf: directory + "/" + RunFile.model))?.tensors ?? [:]
            }
        }
        let robust = history.compactMap(\.validationRobustAccuracy)
        #expect(robust.count == 3 && robust[0] > robust[1] && robust[0] > robust[2], "\(robust)")
        #expect(trainer.bestEpoch == 1)
        let best = try SafeTensorsFile(contentsOf: directory + "/" + RunFile.best)
        #expect(best.metadata["epoch"] == "1")
        #expect(!afterFirst.isEmpty && best.tensors == afterFirst, "best.safetensors holds the model after epoch 1")
        #expect(try SafeTensorsFile(contentsOf: directory + "/" + RunFile.model).tensors != afterFirst)
    }
}
