import Bulwark
import Foundation
import Testing
import _TestSupport

/// End-to-end checks of ONNX models and the user's own data on `eval`, `attack`, `predict`,
/// `verify-adversarial` and `export`.
@Suite(.serialized) struct ONNXCommandTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }
    /// A safetensors file of 40 images of 28×28 pixels in ten classes (class c is bright in
    /// row band c).
    var images: String { directory + "/images.safetensors" }
    /// An untrained ten-class MLP for the images.
    var model: String { directory + "/mlp.safetensors" }
    /// A small ResNet exported by PyTorch whose graph ends in Softmax; it takes 3×6×6 images
    /// of five classes.
    static let softmaxModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("BulwarkONNXTests/Fixtures/models/small_resnet_softmax/model.onnx").path

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-onnx")
        try Self.writeImages(count: 40, shape: [1, 28, 28], to: images)
        var generator = SplitMix64(seed: 3)
        try Checkpoint.save(Architecture.mlp.makeModel(classCount: 10, using: &generator), architecture: "mlp", to: model)
    }

    /// Writes `count` images of `shape` (`[C, H, W]`), labelled `index % classes`, as a
    /// safetensors file.
    static func writeImages(count: Int, shape: [Int], classes: Int = 10, to path: String) throws {
        let size = shape.reduce(1, *)
        let pixels = (0..<count).flatMap { index in
            (0..<size).map { position -> Float in
                let row = position / shape[2] % shape[1]
                return row * classes / shape[1] == index % classes ? 0.9 : Float((position * 7 + index) % 13) / 40
            }
        }
        try SafeTensorsFile(tensors: ["images": Tensor(shape: [count] + shape, scalars: pixels),
                                      "labels": Tensor((0..<count).map { Float($0 % classes) })],
                            integerTensorNames: ["labels"]).write(to: path)
    }

    private func json(_ path: String) throws -> [String: Any] { try #require(try jsonObject(at: path)) }

    @Test func exportedModelsEvaluateAsTheirCheckpoints() throws {
        let onnx = directory + "/mlp.onnx"
        let exported = try runBulwark(["export", "--model", model, "--onnx", onnx])
        #expect(exported.status == 0 && exported.output.contains("(mlp)"), "\(exported.error)")
        for (name, file) in [("checkpoint", model), ("onnx", onnx)] {
            let result = try runBulwark(["eval", "--model", file, "--data", images, "--attack", "none", "--no-sanity-checks",
                                         "--json", directory + "/\(name).json"])
            #expect(result.status == 0, "\(result.error)")
        }
        let (fromCheckpoint, fromONNX) = (try json(directory + "/checkpoint.json"), try json(directory + "/onnx.json"))
        #expect(fromONNX["clean_accuracy"] as? Double == fromCheckpoint["clean_accuracy"] as? Double)
        #expect(fromONNX["architecture"] as? String == "onnx" && fromCheckpoint["architecture"] as? String == "mlp")
        let overwrite = try runBulwark(["export", "--model", model, "--onnx", model])
        #expect(overwrite.status != 0 && overwrite.error.contains("--model"), "\(overwrite.error)")
        let again = try runBulwark(["export", "--model", onnx, "--onnx", directory + "/again.onnx"])
        #expect(again.status == 64 && again.error.contains("--architecture") && !again.error.contains("`"), "\(again.error)")
    }

    @Test func contractOptionsAreParsedByTheLibraryAndRefusedForCheckpoints() throws {
        let forCheckpoint = try runBulwark(["eval", "--model", model, "--data", images, "--attack", "none", "--mean", "0.5", "--std", "0.2"])
        #expect(forCheckpoint.status == 64 && forCheckpoint.error.contains("--mean, --std describe the input of an ONNX model"),
                "\(forCheckpoint.error)")
        let badMean = try runBulwark(["predict", "--model", Self.softmaxModel, "--data", images, "--mean", "0.5,x", "--json", "-"])
        #expect(badMean.status == 1 && badMean.error.contains("--mean 0.5,x is not a comma-separated list"), "\(badMean.error)")
        let badDeviation = try runBulwark(["predict", "--model", Self.softmaxModel, "--data", images, "--mean", "0.5", "--std", "0.2;0.3", "--json", "-"])
        #expect(badDeviation.status == 1 && badDeviation.error.contains("--std 0.2;0.3 is not"), "\(badDeviation.error)")
    }

    @Test func softmaxGraphsAreAttackedOnTheirLogitsAndRecordSo() throws {
        let colour = directory + "/colour.safetensors"
        try Self.writeImages(count: 12, shape: [3, 6, 6], classes: 5, to: colour)
        let evaluation = try runBulwark(["eval", "--model", Self.softmaxModel, "--data", colour, "--attack", "fgsm", "--no-sanity-checks",
                                         "--json", directory + "/softmax.json"])
        #expect(evaluation.status == 0, "\(evaluation.error)")
        #expect(evaluation.error.contains("note: the model's final Softmax is left out: attacks run on the logits before it"))
        #expect(evaluation.output.contains("data: colour.safetensors test"), "\(evaluation.output)")
        let record = try json(directory + "/softmax.json")
        #expect(record["final_softmax_dropped"] as? Bool == true && record["architecture"] as? String == "onnx")
        #expect(record["dataset"] as? String == "colour.safetensors" && record["data_path"] as? String == colour)

        let examples = directory + "/softmax-examples.safetensors"
        let attack = try runBulwark(["attack", "--model", Self.softmaxModel, "--data", colour, "--attack", "fgsm", "--count", "12",
                                     "--out", examples])
        #expect(attack.status == 0, "\(attack.error)")
        let metadata = try SafeTensorsFile(contentsOf: examples).metadata
        #expect(metadata["final_softmax_dropped"] == "true" && metadata["architecture"] == "onnx")
        #expect(metadata["data_path"] == colour && metadata["dataset"] == "colour.safetensors")
        let verified = try runBulwark(["verify-adversarial", "--model", Self.softmaxModel, "--file", examples])
        #expect(verified.status == 0 && verified.output.contains("verified 12 examples of colour.safetensors test"),
                "\(verified.output) \(verified.error)")
        let givenData = try runBulwark(["verify-adversarial", "--model", Self.softmaxModel, "--file", examples, "--data", images])
        #expect(givenData.status == 1, "the examples did not come from --data: \(givenData.output)")
    }

    @Test func userDataIsNamedAndNeverOverwritten() throws {
        let predicted = try runBulwark(["predict", "--model", model, "--data", images, "--count", "10", "--json", directory + "/p.json"])
        #expect(predicted.status == 0 && predicted.output.contains("on 10 examples of images.safetensors"), "\(predicted.output)")
        #expect(try json(directory + "/p.json")["data_path"] as? String == images)
        let overwrite = try runBulwark(["attack", "--model", model, "--data", images, "--attack", "fgsm", "--out", images])
        #expect(overwrite.status == 64 && overwrite.error.contains("is --data \(images)"), "\(overwrite.error)")
        for command in ["eval", "predict"] {
            let replaced = try runBulwark([command, "--model", model, "--data", images, "--json", images])
            #expect(replaced.status == 64 && replaced.error.contains("is --data \(images)"), "\(command): \(replaced.error)")
        }
        let test = directory + "/test.safetensors"
        try Self.writeImages(count: 10, shape: [1, 28, 28], to: test)
        let overwriteTest = try runBulwark(["attack", "--model", model, "--data", images, "--test-data", test, "--attack", "fgsm", "--out", test])
        #expect(overwriteTest.status == 64 && overwriteTest.error.contains("is --test-data \(test)"), "\(overwriteTest.error)")
    }

    /// Evaluating the file `attack` wrote, with no attack, scores the model's predictions on
    /// the adversarial images: exactly the attack's robust accuracy, since an example the model
    /// already misclassifies is kept as its own adversarial example.
    @Test func evaluatingAttackOutputReproducesTheAttacksAccuracy() throws {
        let examples = directory + "/adversarial.safetensors"
        let attack = try runBulwark(["attack", "--model", model, "--data", images, "--attack", "pgd", "--steps", "5", "--epsilon", "0.05",
                                     "--count", "40", "--out", examples])
        #expect(attack.status == 0, "\(attack.error)")
        let result = try runBulwark(["eval", "--model", model, "--data", examples, "--attack", "none", "--no-sanity-checks",
                                     "--json", directory + "/round-trip.json"])
        #expect(result.status == 0, "\(result.error)")
        let file = try AdversarialExampleFile(contentsOf: examples)
        let misclassified = file.cleanMisclassified ?? []
        let robust = zip(zip(file.adversarialPredictions, file.labels).map { $0 == $1 }, misclassified).filter { $0 && !$1 }.count
        let accuracy = try #require(try json(directory + "/round-trip.json")["clean_accuracy"] as? Double)
        #expect(Float(accuracy) == Float(robust) / Float(file.count))
        #expect(misclassified.contains(true), "some examples are misclassified before the attack, so the identity is tested")
        #expect(robust < file.count, "the attack flipped some correct predictions")
    }
}
