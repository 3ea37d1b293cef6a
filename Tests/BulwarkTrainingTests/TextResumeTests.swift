import Bulwark
import Foundation
import Testing
import _TestSupport

/// Resume checkpoints of ``TextTrainer``: a run stopped after an epoch and continued ends with
/// the model, optimizer, method and generator state of the uninterrupted run, bit for bit —
/// with SMART's carried θ̃, dropout masks drawn inside the model and length-bucketed batches —
/// each piece of saved state is needed for that, and bad checkpoints are clear errors.
@Suite struct TextResumeTests {
    let training = syntheticText(count: 96, seed: 5)
    let validation = syntheticText(count: 32, seed: 6)
    let threatModel = ThreatModel.embeddedSequence(epsilon: 0.5)
    private let temporary: TemporaryDirectory

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-text-resume")
    }

    /// SMART with its proximal point from the first batch, SMART after a clean warm-up epoch
    /// (so the checkpoint of epoch 1 holds no θ̃ yet), and FGM.
    enum Recipe: String, CaseIterable {
        case smart, smartAfterCleanWarmup, fgm
    }

    /// A TextCNN whose dropout draws masks from a generator inside the model.
    static func model(seed: UInt64) -> TextCNN {
        var generator = SplitMix64(seed: seed)
        return TextCNN(vocabularySize: 30, dimension: 6, classCount: 2, widths: [2, 3], filters: 4, dropoutProbability: 0.3, using: &generator)
    }

    /// Trains `recipe` for three epochs in `directory`, stopping after `stopAfterEpoch` and
    /// resuming from the directory's checkpoint when asked.
    func run(
        _ recipe: Recipe, in directory: String, stopAfterEpoch: Int? = nil, resuming: Bool = false, modelSeed: UInt64 = 3, seed: UInt64 = 11
    ) throws -> (model: TextCNN, history: [EpochMetrics]) {
        var model = Self.model(seed: modelSeed)
        var generator = SplitMix64(seed: seed)
        func fit<Method: TextTrainingMethod>(_ method: Method, cleanWarmupEpochs: Int = 0) throws -> [EpochMetrics] {
            var trainer = TextTrainer(
                method: method, optimizer: Adam(learningRate: 0.02), schedule: .cosine(peak: 0.02, minimum: 0), epochs: 3, batchSize: 16,
                cleanWarmupEpochs: cleanWarmupEpochs, minimumLength: 3, bucketed: true,
                validationAttack: EmbeddingPGD(threatModel: threatModel, steps: 1, stepSize: 0.5), outputDirectory: directory,
                architectureName: "text-test")
            trainer.stopAfterEpoch = stopAfterEpoch
            return try trainer.fit(&model, on: training, validation: validation, using: &generator,
                                   resumingFrom: resuming ? directory + "/" + RunFile.resume : nil)
        }
        let smart = SMART(threatModel: threatModel, steps: 1, stepSize: 0.3, momentum: 0.9)
        let history = switch recipe {
        case .smart: try fit(smart)
        case .smartAfterCleanWarmup: try fit(smart, cleanWarmupEpochs: 1)
        case .fgm: try fit(EmbeddingFGM(threatModel: threatModel))
        }
        return (model, history)
    }

    /// The tensors of the resume checkpoint in `directory` (model, optimizer, method) by bit
    /// pattern, and the generator states of its metadata.
    static func checkpointState(in directory: String) throws -> (tensors: [String: [UInt32]], generators: [String?]) {
        let file = try SafeTensorsFile(contentsOf: directory + "/" + RunFile.resume)
        return (file.tensors.mapValues { $0.array.map(\.bitPattern) }, [file.metadata["generator"], file.metadata["model_generators"]])
    }

    /// The metrics that do not depend on timing.
    static func scores(_ history: [EpochMetrics]) -> [[Float?]] {
        history.map { [Float($0.epoch), $0.trainLoss, $0.trainAccuracy, $0.validationCleanAccuracy, $0.validationRobustAccuracy, $0.learningRate] }
    }

    @Test(arguments: Recipe.allCases)
    func stoppedAndResumedRunEqualsTheUninterruptedRunBitForBit(recipe: Recipe) throws {
        let full = temporary.path + "/full", split = temporary.path + "/split"
        let uninterrupted = try run(recipe, in: full)
        let stopped = try run(recipe, in: split, stopAfterEpoch: 1)
        #expect(stopped.history.map(\.epoch) == [1])
        // Another initialization and seed: the checkpoint must overwrite both.
        let resumed = try run(recipe, in: split, resuming: true, modelSeed: 99, seed: 12345)

        #expect(ResumeTests.bits(resumed.model) == ResumeTests.bits(uninterrupted.model), "\(recipe): resumed weights differ")
        #expect(resumed.model.generators == uninterrupted.model.generators, "the dropout generator continues where it stood")
        #expect(resumed.model.generators != Self.model(seed: 3).generators, "dropout drew masks")
        let (resumedState, fullState) = (try Self.checkpointState(in: split), try Self.checkpointState(in: full))
        #expect(resumedState.tensors == fullState.tensors, "model, optimizer and method tensors agree bit for bit")
        #expect(resumedState.generators == fullState.generators)
        let methodTensors = fullState.tensors.keys.filter { $0.hasPrefix("method.") }
        #expect(methodTensors.isEmpty == (recipe == .fgm), "SMART's θ̃ is in the checkpoint: \(methodTensors.sorted())")
        #expect(fullState.tensors.keys.contains { $0.hasPrefix("optimizer.") })
        for name in [RunFile.model, RunFile.best] {
            let (resumedBytes, fullBytes) = (try Data(contentsOf: URL(fileURLWithPath: split + "/" + name)), try Data(contentsOf: URL(fileURLWithPath: full + "/" + name)))
            #expect(resumedBytes == fullBytes, "\(name) is the same file")
        }
        #expect(Self.scores(resumed.history) == Self.scores(uninterrupted.history), "the metrics of every epoch agree")
        let epochs = try String(contentsOfFile: split + "/" + RunFile.metrics, encoding: .utf8).split(separator: "\n").map { line in
            (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["epoch"] as? Int
        }
        #expect(epochs == [1, 2, 3])
    }

    /// The comparison above can fail: a checkpoint that loses SMART's θ̃, the training
    /// generator's state or the dropout generator's resumes into a different model.
    @Test(arguments: [(Recipe.smart, "method."), (.fgm, "generator"), (.fgm, "model_generators")])
    func everyPieceOfSavedStateMatters(recipe: Recipe, piece: String) throws {
        let full = temporary.path + "/full", split = temporary.path + "/split"
        let uninterrupted = try run(recipe, in: full)
        _ = try run(recipe, in: split, stopAfterEpoch: 1)
        try ResumeTests.removeOrScramble(piece, ofCheckpoint: split + "/" + RunFile.resume)
        let resumed = try run(recipe, in: split, resuming: true)
        #expect(ResumeTests.bits(resumed.model) != ResumeTests.bits(uninterrupted.model), "losing \(piece) must change the result")
    }

    @Test func missingDamagedForeignAndFinishedCheckpointsAreClearErrors() throws {
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch { return String(describing: error) }
            return "no error"
        }
        let directory = temporary.path + "/errors"
        let missing = message { _ = try run(.fgm, in: directory, resuming: true) }
        #expect(missing.contains("does not exist") && missing.contains("instead of resuming"), "\(missing)")

        _ = try run(.fgm, in: directory, stopAfterEpoch: 2)
        let checkpoint = directory + "/" + RunFile.resume
        let stopped = message { _ = try run(.fgm, in: directory, stopAfterEpoch: 1, resuming: true) }
        #expect(stopped.contains("already completed epoch 2") && stopped.contains("would train nothing"), "\(stopped)")
        let foreign = message { _ = try run(.smart, in: directory, resuming: true) }
        #expect(foreign.contains("method 'fgm', not 'smart'"), "\(foreign)")
        let optimizer = message {
            var model = Self.model(seed: 3)
            var generator = SplitMix64(seed: 11)
            var trainer = TextTrainer(method: EmbeddingFGM(threatModel: threatModel), optimizer: SGD(learningRate: 0.1), schedule: .constant(0.1),
                                      epochs: 3, batchSize: 16, minimumLength: 3)
            _ = try trainer.fit(&model, on: training, validation: nil, using: &generator, resumingFrom: checkpoint)
        }
        #expect(optimizer.contains("optimizer Adam, not SGD"), "\(optimizer)")
        let otherModel = message {
            var generator = SplitMix64(seed: 11)
            var model = EmbeddingBagClassifier(vocabularySize: 30, dimension: 6, classCount: 2, using: &generator)
            var trainer = TextTrainer(method: EmbeddingFGM(threatModel: threatModel), optimizer: Adam(learningRate: 0.02),
                                      schedule: .constant(0.02), epochs: 3, batchSize: 16)
            _ = try trainer.fit(&model, on: training, validation: nil, using: &generator, resumingFrom: checkpoint)
        }
        #expect(otherModel.contains("not this run's model"), "\(otherModel)")

        var file = try SafeTensorsFile(contentsOf: checkpoint)
        file.metadata["model_generators"] = nil
        let withoutDropoutState = directory + "/old.safetensors"
        try file.write(to: withoutDropoutState)
        let old = message {
            var model = Self.model(seed: 3)
            var generator = SplitMix64(seed: 11)
            var trainer = TextTrainer(method: EmbeddingFGM(threatModel: threatModel), optimizer: Adam(learningRate: 0.02),
                                      schedule: .constant(0.02), epochs: 3, batchSize: 16, minimumLength: 3)
            _ = try trainer.fit(&model, on: training, validation: nil, using: &generator, resumingFrom: withoutDropoutState)
        }
        #expect(old.contains("no state for the model's random generator 'dropout.generator'"), "\(old)")

        let bytes = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: checkpoint))
        let damaged = message { _ = try run(.fgm, in: directory, resuming: true) }
        #expect(damaged.contains("damaged"), "\(damaged)")

        let finished = temporary.path + "/finished"
        _ = try run(.fgm, in: finished)
        let complete = message { _ = try run(.fgm, in: finished, resuming: true) }
        #expect(complete.contains("already completed all 3 epochs"), "\(complete)")
    }
}
