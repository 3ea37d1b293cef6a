import Bulwark
import Foundation
import Testing
import _TestSupport

/// The catastrophic-overfitting guard: its rule, and the trainer's rollback on a constructed
/// collapse (a method that swaps a robust model for a non-robust one).
@Suite struct OverfittingGuardTests {
    let threatModel = ThreatModel.lInfinity(epsilon: 0.2)
    let data = Fixtures.templates(count: 128, noise: 0.15)
    let heldOut = Fixtures.templates(count: 128, noise: 0.15, seed: 42)
    private let temporary: TemporaryDirectory

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-guard")
    }

    /// Installs `robust`'s parameters for the first `robustSteps` steps and `collapsed`'s after.
    struct Swapper: TrainingMethod {
        var robust: [String: Tensor]
        var collapsed: [String: Tensor]
        var robustSteps: Int
        var steps = 0
        var name: String { "swapper" }

        mutating func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
            _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
        ) -> StepMetrics {
            let parameters = steps < robustSteps ? robust : collapsed
            model.visitParameters { path, tensor in if let value = parameters[path] { tensor = value } }
            steps += 1
            return StepMetrics(loss: 1, accuracy: 0, count: batch.count)
        }

        var stateTensors: [String: Tensor] { ["steps": Tensor(Float(steps))] }

        mutating func loadStateTensors(_ tensors: [String: Tensor]) {
            steps = Int(tensors["steps"]?.scalar ?? 0)
        }
    }

    func trained<Method: TrainingMethod>(_ method: Method) throws -> Sequential {
        var model = Fixtures.cnn()
        var trainer = Trainer(method: method, optimizer: Adam(learningRate: 1e-2), schedule: .constant(1e-2), epochs: 8, batchSize: 32)
        var generator = SplitMix64(seed: 1)
        _ = try trainer.fit(&model, on: Fixtures.templates(count: 512, noise: 0.15), validation: nil, using: &generator)
        return model
    }

    @Test func ruleNeedsAPGDCollapseWithFGSMStayingUp() {
        let guardian = CatastrophicOverfittingGuard(threatModel: threatModel)
        #expect(guardian.isCatastrophicOverfitting(pgdAccuracy: 0.05, fgsmAccuracy: 0.9, bestPGDAccuracy: 0.6))
        #expect(!guardian.isCatastrophicOverfitting(pgdAccuracy: 0.45, fgsmAccuracy: 0.9, bestPGDAccuracy: 0.6), "a drop of 0.15 is noise")
        #expect(!guardian.isCatastrophicOverfitting(pgdAccuracy: 0.05, fgsmAccuracy: 0.1, bestPGDAccuracy: 0.6), "both falling is divergence, not CO")
        let wong = CatastrophicOverfittingGuard(threatModel: threatModel, minimumFGSMGap: nil)
        #expect(wong.isCatastrophicOverfitting(pgdAccuracy: 0.05, fgsmAccuracy: 0.01, bestPGDAccuracy: 0.6))
        #expect(!wong.isCatastrophicOverfitting(pgdAccuracy: 0.45, fgsmAccuracy: 0.01, bestPGDAccuracy: 0.6))
        #expect(guardian.pgdStepSize == 0.05 && guardian.pgdSteps == 5 && guardian.drop == 0.2)
    }

    @Test func collapseStopsTrainingAndRestoresTheMostRobustModel() throws {
        let robust = try trained(PGDAdversarialTraining(threatModel: threatModel, steps: 5, stepSize: 0.05))
        let standard = try trained(StandardTraining())
        let directory = temporary.path + "/run"
        // Four batches per epoch: epoch 1 ends robust, epoch 2 ends collapsed.
        let swapper = Swapper(robust: robust.parameters, collapsed: standard.parameters, robustSteps: 4)
        var trainer = Trainer(method: swapper, optimizer: Adam(), schedule: .constant(1e-3), epochs: 3, batchSize: 32,
                              outputDirectory: directory, overfittingGuard: CatastrophicOverfittingGuard(threatModel: threatModel, minimumFGSMGap: nil))
        var model = Fixtures.cnn()
        var generator = SplitMix64(seed: 1)
        var events = [OverfittingReport]()
        let history = try trainer.fit(&model, on: data, validation: heldOut, using: &generator) { event in
            if case .catastrophicOverfitting(let report) = event { events.append(report) }
        }
        let report = try #require(trainer.overfitting)
        #expect(events == [report])
        #expect(history.count == 1, "training stops in epoch 2")
        #expect((report.epoch, report.batch, report.bestEpoch, report.bestBatch) == (2, 4, 1, 4))
        #expect(report.bestPGDAccuracy > 0.5 && report.pgdAccuracy < 0.1, "\(report)")
        #expect(model.parameters == robust.parameters, "the most robust model is restored")
        let stored = try SafeTensorsFile(contentsOf: directory + "/model.safetensors")
        #expect(stored.tensors == robust.parameters)
        #expect(stored.metadata["catastrophic_overfitting"] != nil)

        // With the default FGSM-gap condition the same collapse (FGSM falls too) is not
        // catastrophic overfitting, and training runs to the end.
        var patient = Trainer(method: swapper, optimizer: Adam(), schedule: .constant(1e-3), epochs: 3, batchSize: 32,
                              overfittingGuard: CatastrophicOverfittingGuard(threatModel: threatModel))
        var other = Fixtures.cnn()
        let full = try patient.fit(&other, on: data, validation: heldOut, using: &generator)
        #expect(patient.overfitting == nil && full.count == 3)
        #expect(other.parameters == standard.parameters)

        // Interrupted after epoch 1 and resumed, the guard still remembers epoch 1's model (from
        // the checkpoint), detects the collapse and restores it; the stopped run cannot resume.
        let split = temporary.path + "/split"
        func splitTrainer() -> Trainer<Swapper, Adam> {
            Trainer(method: swapper, optimizer: Adam(), schedule: .constant(1e-3), epochs: 3, batchSize: 32, outputDirectory: split,
                    overfittingGuard: CatastrophicOverfittingGuard(threatModel: threatModel, minimumFGSMGap: nil))
        }
        var first = splitTrainer()
        first.stopAfterEpoch = 1
        var firstModel = Fixtures.cnn()
        _ = try first.fit(&firstModel, on: data, validation: heldOut, using: &generator)
        var second = splitTrainer()
        var resumed = Fixtures.cnn(seed: 8)
        let resumedHistory = try second.fit(&resumed, on: data, validation: heldOut, using: &generator, resumingFrom: split + "/" + RunFile.resume)
        let resumedReport = try #require(second.overfitting)
        #expect(resumedReport == report)
        #expect(resumedHistory.count == 1 && resumed.parameters == robust.parameters)
        var third = splitTrainer()
        #expect(throws: TrainingError.self) {
            try third.fit(&resumed, on: data, validation: heldOut, using: &generator, resumingFrom: split + "/" + RunFile.resume)
        }
        do {
            _ = try third.fit(&resumed, on: data, validation: heldOut, using: &generator, resumingFrom: split + "/" + RunFile.resume)
        } catch {
            #expect(String(describing: error).contains("overfitting guard stopped it at epoch 2, batch 4"), "\(error)")
        }
    }

    @Test func intervalChecksWithinAnEpoch() throws {
        let robust = try trained(PGDAdversarialTraining(threatModel: threatModel, steps: 5, stepSize: 0.05))
        let standard = try trained(StandardTraining())
        // Robust for two steps, collapsed from the third: caught after batch 4 with checks every 2.
        let swapper = Swapper(robust: robust.parameters, collapsed: standard.parameters, robustSteps: 2)
        var trainer = Trainer(method: swapper, optimizer: Adam(), schedule: .constant(1e-3), epochs: 2, batchSize: 32,
                              overfittingGuard: CatastrophicOverfittingGuard(threatModel: threatModel, interval: 2, minimumFGSMGap: nil))
        var model = Fixtures.cnn()
        var generator = SplitMix64(seed: 1)
        let history = try trainer.fit(&model, on: data, validation: nil, using: &generator)
        let report = try #require(trainer.overfitting)
        #expect((report.epoch, report.batch, report.bestEpoch, report.bestBatch) == (1, 4, 1, 2))
        #expect(history.isEmpty)
        #expect(model.parameters == robust.parameters)
    }
}
