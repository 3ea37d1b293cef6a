import BulwarkCore
import BulwarkNN
import BulwarkONNX
import BulwarkRun
import Foundation
import Testing
import _TestSupport

/// Loading, checking and exporting the model a command names.
@Suite struct ModelSelectionTests {
    private static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ModelSelectionTests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func contractListsAreParsedAndBadOnesNameTheirField() throws {
        let contract = try ModelSelection(path: "m.onnx", mean: "0.485, 0.456,0.406", standardDeviation: "0.5", layout: .nhwc).contract()
        #expect(contract.mean == [0.485, 0.456, 0.406] && contract.standardDeviation == [0.5] && contract.layout == .nhwc)
        // Without a layout the graph's metadata or input shape decides (a Keras graph is NHWC).
        #expect(try ModelSelection(path: "m.onnx").contract().layout == nil)
        for (selection, field) in [(ModelSelection(path: "m.onnx", mean: "0.5,,0.4"), "`mean`"),
                                   (ModelSelection(path: "m.onnx", standardDeviation: "nan"), "`standardDeviation`")] {
            #expect { try selection.contract() } throws: { "\($0)".contains(field) }
        }
    }

    @Test func aTrainingModelNameIsAnONNXFileOrAnArchitecture() {
        #expect(TrainingModelName("nets/Model.ONNX") == .file("nets/Model.ONNX") && TrainingModelName("a.onnx")?.architecture == nil)
        #expect(TrainingModelName("smallcnn") == .architecture(.smallcnn) && TrainingModelName("mlp")?.file == nil)
        #expect(TrainingModelName("model.safetensors") == nil && TrainingModelName("resnet") == nil)
    }

    @Test func contractFieldsForACheckpointAreAnError() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var generator = SplitMix64(seed: 1)
        let path = directory + "/mlp.safetensors"
        try Checkpoint.save(Architecture.mlp.makeModel(using: &generator), architecture: "mlp", to: path)
        #expect(try ModelSelection(path: path).load().classifier.kind == "mlp")
        #expect { try ModelSelection(path: path, layout: .nchw).load() } throws: { error in
            (error as? ConfigurationError).map { "\($0)".contains("`layout` describe") } == true
        }
    }

    /// Every built-in architecture exports to a graph that computes what the checkpoint does.
    @Test(arguments: Architecture.allCases) func everyArchitectureExports(architecture: Architecture) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var generator = SplitMix64(seed: 2)
        let path = directory + "/model.safetensors"
        try Checkpoint.save(architecture.makeModel(using: &generator), architecture: architecture.rawValue, to: path)
        let (data, exported) = try ModelSelection(path: path).exportedONNX()
        #expect(exported == architecture)
        let pixels = seededTensor([2] + architecture.inputShape, in: 0...1, seed: 3)
        let expected = try ModelSelection(path: path).load().classifier.applied(to: pixels)
        let actual = try ONNXModel(serializedData: data).with(mode: .inference).applied(to: pixels)
        #expect(zip(expected.array, actual.array).allSatisfy { abs($0 - $1) < 1e-3 }, "\(architecture)")
    }

    /// A run trained from an ONNX model keeps the graph as `model.onnx` and the trained
    /// parameters, under the graph's names, in a checkpoint of architecture `onnx`.
    @Test func aCheckpointOfAnONNXRunLoadsTheGraphBesideItWithItsParameters() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var generator = SplitMix64(seed: 4)
        let original = Architecture.mlp.makeModel(using: &generator).with(mode: .inference)
        let trained = Architecture.mlp.makeModel(using: &generator).with(mode: .inference)
        try ONNXExport.serializedModel(original, exampleShape: [1, 28, 28]).write(to: URL(fileURLWithPath: directory + "/model.onnx"))
        try Checkpoint.save(trained, architecture: "onnx", metadata: ["epoch": "3"], to: directory + "/model.safetensors")
        let (classifier, metadata) = try ModelSelection(path: directory + "/model.safetensors").load()
        #expect(classifier.kind == "onnx" && metadata["epoch"] == "3")
        let pixels = seededTensor([3, 1, 28, 28], in: 0...1, seed: 5)
        let (expected, actual) = (trained.applied(to: pixels).array, classifier.applied(to: pixels).array)
        #expect(expected.count == actual.count && zip(expected, actual).allSatisfy { abs($0 - $1) < 1e-4 })
        // Without the graph beside it the checkpoint cannot be read, and the error says why.
        try FileManager.default.removeItem(atPath: directory + "/model.onnx")
        #expect { try ModelSelection(path: directory + "/model.safetensors").load() } throws: { "\($0)".contains("model.onnx beside it") }
    }
}
