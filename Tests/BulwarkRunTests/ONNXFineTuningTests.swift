import BulwarkCore
import BulwarkData
import BulwarkNN
import BulwarkONNX
import BulwarkReport
import BulwarkRun
import BulwarkTraining
import Foundation
import Testing
import _TestSupport

/// Fine-tuning an imported ONNX graph: the run trains it, writes it back as ONNX, and resumes.
@Suite struct ONNXFineTuningTests {
    /// A fresh directory holding `source.onnx` (an exported `mlp`) and 300 training and 40 test
    /// images of three classes as .npy pairs.
    private final class Fixture {
        private let temporary: TemporaryDirectory
        var path: String { temporary.path }
        var source: String { path + "/source.onnx" }

        init() throws {
            temporary = try TemporaryDirectory(prefix: "BulwarkONNXFineTuning")
            var generator = SplitMix64(seed: 5)
            let model = Architecture.mlp.makeModel(classCount: 10, using: &generator)
            try ONNXExport.serializedModel(model, exampleShape: [1, 28, 28]).write(to: URL(fileURLWithPath: source))
            for (name, count) in [("train", 300), ("test", 40)] {
                let labels = (0..<count).map { ($0 * 7) % 3 }
                // Each class brightens its own third of the rows, over a little noise.
                var scalars = [Float]()
                for index in 0..<count {
                    for pixel in 0..<784 {
                        let noise = Float((pixel * 31 + index * 17) % 13) / 40
                        scalars.append((pixel / 28) / 10 == labels[index] ? 0.8 : noise)
                    }
                }
                try Data(NumPyArray.int64Bytes(labels)).write(to: URL(fileURLWithPath: "\(path)/y_\(name).npy"))
                try Data(NumPyArray.float32Bytes(Tensor(shape: [count, 1, 28, 28], scalars: scalars)))
                    .write(to: URL(fileURLWithPath: "\(path)/x_\(name).npy"))
            }
        }

        /// PGD-AT of the imported graph for `epochs` epochs, small enough to run in seconds.
        func configuration(epochs: Int = 1) -> ImageTrainingConfiguration {
            var c = ImageTrainingConfiguration()
            (c.modelPath, c.mean, c.standardDeviation) = (source, [0.25], [0.5])
            (c.dataPath, c.testDataPath) = (path + "/x_train.npy", path + "/x_test.npy")
            (c.method, c.epsilon, c.steps, c.epochs, c.batchSize) = (.pgd, 0.1, 2, epochs, 50)
            (c.validationCount, c.validationSteps, c.finalEvaluationCount) = (50, 2, 40)
            return c
        }

        func run(_ configuration: ImageTrainingConfiguration, in name: String, resuming: Bool = false, stopAfter: Int? = nil) throws -> ImageTrainingOutcome {
            let job = try ImageTrainingJob(configuration: configuration, outputDirectory: path + "/" + name, command: "test",
                                           resuming: resuming, stopAfterEpoch: stopAfter)
            return try job.run(on: job.loadData()) { _ in }
        }
    }

    @Test func theRunFineTunesTheGraphAndWritesItBackAsONNX() throws {
        let fixture = try Fixture()
        let sourceBytes = try Data(contentsOf: URL(fileURLWithPath: fixture.source))
        let outcome = try fixture.run(fixture.configuration(), in: "run")
        #expect(outcome.model.imported != nil && outcome.finalEvaluation != nil, "\(outcome.finalEvaluationSkipped ?? "")")
        #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.source)) == sourceBytes)

        let run = fixture.path + "/run"
        let checkpoint = try SafeTensorsFile(contentsOf: run + "/" + RunFile.model)
        #expect(checkpoint.metadata[Checkpoint.architectureKey] == "onnx")
        #expect(checkpoint.metadata[ImageTrainingJob.sourceModelKey] == fixture.source)
        let source = try ONNXModel(contentsOf: URL(fileURLWithPath: fixture.source))
        #expect(Set(checkpoint.tensors.keys) == Set(source.parameterNames))
        #expect(source.parameters.contains { checkpoint.tensors[$0.key] != $0.value }, "the run trained the imported parameters")

        // The written graph reads back without options and predicts as the trained layer.
        let (reloaded, _) = try ImageClassifier.load(from: run + "/model.onnx")
        #expect(reloaded.imported?.contract.mean == [0.25] && reloaded.imported?.contract.standardDeviation == [0.5])
        let test = try ImageDataSelection(dataPath: fixture.path + "/x_test.npy").load(.test)
        var trained = outcome.model
        trained.mode = .inference
        #expect(reloaded.applied(to: test.images) == trained.applied(to: test.images))
        #expect(reloaded.parameters == trained.parameters)

        let manifest = try RunManifest.decode(Data(contentsOf: URL(fileURLWithPath: run + "/run.json")))
        #expect(manifest["model_path"] == fixture.source && manifest["architecture"] == nil && manifest["mean"] == "0.25")
        let recorded = try TrainingManifest.configuration(
            ImageTrainingConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: run + "/run.json")), in: run)
        #expect(recorded == fixture.configuration().resolved())
    }

    @Test func aStoppedRunResumesToTheUninterruptedModel() throws {
        let fixture = try Fixture()
        let configuration = fixture.configuration(epochs: 2)
        _ = try fixture.run(configuration, in: "whole")
        let stopped = try fixture.run(configuration, in: "parts", stopAfter: 1)
        #expect(stopped.stoppedEarly)
        _ = try fixture.run(configuration, in: "parts", resuming: true)
        for file in [RunFile.model, RunFile.best, "model.onnx"] {
            let read = { (run: String) in try Data(contentsOf: URL(fileURLWithPath: "\(fixture.path)/\(run)/\(file)")) }
            #expect(try read("whole") == read("parts"), "\(file)")
        }
    }

    @Test func theRunNeverWritesOverTheGraphItImports() throws {
        let fixture = try Fixture()
        var configuration = fixture.configuration()
        configuration.modelPath = fixture.path + "/model.onnx"
        try FileManager.default.copyItem(atPath: fixture.source, toPath: fixture.path + "/model.onnx")
        let error = #expect(throws: ConfigurationError.self) {
            try ImageTrainingJob(configuration: configuration, outputDirectory: fixture.path, command: "test")
        }
        #expect(error?.parts.contains(.field("modelPath")) == true)
    }

    @Test func contractFieldsNeedAnImportedModel() throws {
        var configuration = ImageTrainingConfiguration()
        configuration.mean = [0.5]
        let error = #expect(throws: ConfigurationError.self) { try configuration.validate() }
        #expect(error?.parts.contains(.field("mean")) == true)
        var imported = ImageTrainingConfiguration()
        (imported.modelPath, imported.mean) = ("/m.onnx", [0.5])
        let unpaired = #expect(throws: ConfigurationError.self) { try imported.validate() }
        #expect(unpaired?.parts.contains(.field("standardDeviation")) == true)
        #expect(ONNXInputContract.channelValues(in: "[0.5, 0.25,1]") == [0.5, 0.25, 1])
        #expect(ONNXInputContract.channelValues(in: "0.5,x") == nil)
        // The list `train --mean` parses is the one the evaluation commands parse: no empty or non-finite entries.
        #expect(ONNXInputContract.channelValues(in: "0.5,,0.4") == nil && ONNXInputContract.channelValues(in: "nan") == nil)
    }
}
