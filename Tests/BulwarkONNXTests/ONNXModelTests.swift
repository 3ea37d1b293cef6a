import Bulwark
import BulwarkONNX
import Foundation
import Testing
import _TestSupport

/// Whole models as layers: a small ResNet in its variants, gradients, modes and attacks.
@Suite struct ONNXModelTests {
    static func load(_ name: String, contract: ONNXInputContract = ONNXInputContract()) throws -> (model: ONNXModel, pixels: Tensor, logits: Tensor) {
        let (data, inputs, outputs) = try ONNXFixtures.testCase("models/\(name)")
        let model = try ONNXModel(serializedData: data, contract: contract).with(mode: .inference)
        return (model, inputs[0], outputs[0])
    }

    @Test func smallResNetMatchesReferenceLogits() throws {
        let (model, pixels, logits) = try Self.load("small_resnet")
        expectClose(model.applied(to: pixels), logits, "logits")
        #expect(!model.droppedFinalSoftmax)
        #expect(model.contract.inputName == "input")
        #expect(model.contract.exampleShape == [3, 6, 6])
        #expect(model.opset == 17)
    }

    /// A small ResNet as `torch.onnx.export` writes it (opset 17, batch normalization folded
    /// into the convolutions), against PyTorch's own logits.
    @Test func pytorchExportMatchesPyTorchLogits() throws {
        let (model, pixels, logits) = try Self.load("torch_resnet")
        #expect(model.contract.exampleShape == [3, 16, 16])
        #expect(model.parameterPaths.first == "linear.weight")
        expectClose(model.applied(to: pixels), logits, "logits")
        expectGradientMatchesFiniteDifferences(at: [pixels.slice(alongAxis: 0, 0..<1)], step: 1e-3) { model.applied(to: $0[0]) }
    }

    /// Shape arithmetic that does not depend on the batch size is folded at load; the batch
    /// size read by the flatten pattern stays, so another batch size still runs.
    @Test func shapeArithmeticIsFoldedExceptWhatReadsTheBatchSize() throws {
        let (data, inputs, outputs) = try ONNXFixtures.testCase("operators/shape_chain")
        var model = try ONNXModel(serializedData: data)
        #expect(model.runtimeOperatorTypes == ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "Mul"])
        expectClose(model(inputs[0]), outputs[0], "folded")
        let three = Tensor.concatenating([inputs[0], inputs[0].slice(alongAxis: 0, 0..<1)], alongAxis: 0)
        expectClose(model(three).slice(alongAxis: 0, 0..<2), outputs[0], "batch of 3")
    }

    @Test func parametersAndStateKeepTheirONNXNamesInInitializerOrder() throws {
        let (model, _, _) = try Self.load("small_resnet")
        #expect(model.parameterPaths == [
            "stem.weight", "stem.bias", "bn1.weight", "bn1.bias", "block.weight", "bn2.weight", "bn2.bias", "fc.weight", "fc.bias",
        ])
        #expect(model.state.keys.sorted() == ["bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"])
        #expect(model.parameters["block.weight"]?.shape == [4, 4, 3, 3])
    }

    @Test func nhwcGraphTakesNCHWPixels() throws {
        let (model, pixels, logits) = try Self.load("small_resnet_nhwc", contract: ONNXInputContract(layout: .nhwc))
        #expect(model.contract.exampleShape == [3, 6, 6])
        expectClose(model.applied(to: pixels), logits, "logits")
    }

    @Test func finalSoftmaxIsDroppedAndSaid() throws {
        let (model, pixels, logits) = try Self.load("small_resnet_softmax")
        #expect(model.droppedFinalSoftmax)
        expectClose(model.applied(to: pixels), logits, "logits")
    }

    @Test func normalizationComesFromMetadataOrTheContract() throws {
        let (model, pixels, logits) = try Self.load("small_resnet_normalized")
        #expect(model.contract.mean == [0.4, 0.5, 0.6])
        #expect(model.contract.standardDeviation == [0.2, 0.25, 0.3])
        expectClose(model.applied(to: pixels), logits, "logits")
        // The contract overrides the metadata: standardizing by nothing changes the logits.
        let (plain, _, _) = try Self.load("small_resnet_normalized", contract: ONNXInputContract(mean: [0], standardDeviation: [1]))
        #expect(plain.contract.mean == [0, 0, 0])
        #expect(Swift.abs(plain.applied(to: pixels).array[0] - logits.array[0]) > 1e-3)
    }

    @Test func inputGradientMatchesFiniteDifferences() throws {
        let (model, pixels, _) = try Self.load("small_resnet")
        // A step of 1e-3: wider steps cross the ReLUs' kinks.
        expectGradientMatchesFiniteDifferences(at: [pixels.slice(alongAxis: 0, 0..<1)], step: 1e-3) { model.applied(to: $0[0]) }
    }

    @Test func parameterGradientMatchesFiniteDifferences() throws {
        let (model, pixels, _) = try Self.load("small_resnet")
        let weight = try #require(model.parameters["block.weight"]).slice(alongAxis: 0, 0..<1)
        let rest = try #require(model.parameters["block.weight"]).slice(alongAxis: 0, 1..<4)
        expectGradientMatchesFiniteDifferences(at: [weight], step: 1e-3) { traced in
            var copy = model
            copy.visitParameters { name, value in
                if name == "block.weight" { value = Tensor.concatenating([traced[0], rest], alongAxis: 0) }
            }
            return copy(pixels)
        }
    }

    @Test func trainingModeUsesBatchStatisticsAndUpdatesRunningOnes() throws {
        let (inference, pixels, _) = try Self.load("small_resnet")
        var training = inference.with(mode: .training)
        let before = training.state["bn1.running_mean"]
        let output = training(pixels)
        #expect(output != inference.applied(to: pixels))
        let after = try #require(training.state["bn1.running_mean"])
        #expect(after != before)
        // ONNX's momentum 0.9 keeps 90% of the old statistics.
        let batchMean = try #require(before).array.enumerated().map { index, old in (after.array[index] - 0.9 * old) / 0.1 }
        #expect(batchMean.allSatisfy { $0.isFinite })
    }

    @Test func pgdRunsOnAnImportedModel() throws {
        let (model, pixels, logits) = try Self.load("small_resnet")
        let labels = logits.argmax(alongAxis: 1).map { Int32($0) }
        var generator = SplitMix64(seed: 1)
        let attack = PGD(threatModel: .lInfinity(epsilon: 8 / 255), steps: 5, stepSize: 2 / 255)
        let adversarial = attack.perturb(pixels, labels: labels, against: model, using: &generator)
        let distance = zip(adversarial.array, pixels.array).map { Swift.abs($0 - $1) }.max() ?? 0
        #expect(distance <= 8 / 255 + 1e-6)
        #expect(distance > 0)
        let clean = softmaxCrossEntropy(logits: model.applied(to: pixels), labels: labels).scalar
        let attacked = softmaxCrossEntropy(logits: model.applied(to: adversarial), labels: labels).scalar
        #expect(attacked > clean)
    }
}
