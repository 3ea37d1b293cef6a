import BulwarkCore
import BulwarkONNX
import Foundation
import SwiftProtobuf
import Testing

/// Each way a model can fail to load throws the ``ONNXError`` that names the fix.
@Suite struct ONNXErrorTests {
    @Test func unsupportedOperatorNamesNodeTypeAndOpset() throws {
        #expect(throws: ONNXError.unsupportedOperator(node: "mystery", opType: "LRN", domain: "", opset: 17)) {
            try ONNXModel(serializedData: try ONNXFixtures.model("errors/unsupported_operator.onnx"))
        }
        let message = ONNXError.unsupportedOperator(node: "mystery", opType: "LRN", domain: "", opset: 17).description
        #expect(message.contains("'mystery'") && message.contains("LRN") && message.contains("opset 17"))
    }

    @Test func dynamicDimensionNeedsAnExampleShape() throws {
        let data = try ONNXFixtures.model("errors/dynamic_dimension.onnx")
        #expect(throws: ONNXError.dynamicDimension(input: "x", axis: 2, name: "height")) {
            try ONNXModel(serializedData: data)
        }
        let model = try ONNXModel(serializedData: data, contract: ONNXInputContract(exampleShape: [3, 5, 4]))
        #expect(model.applied(to: Tensor(zeros: [2, 3, 5, 4])).shape == [2, 2, 3, 2])
        #expect(throws: ONNXError.self) {
            try ONNXModel(serializedData: data, contract: ONNXInputContract(exampleShape: [2, 5, 4]))
        }
    }

    @Test func nonFloatInputIsRefused() throws {
        #expect(throws: ONNXError.nonFloatInput(name: "x", elementType: "int64")) {
            try ONNXModel(serializedData: try ONNXFixtures.model("errors/non_float_input.onnx"))
        }
    }

    @Test func undefinedValueIsNamed() throws {
        #expect(throws: ONNXError.undefinedValue(node: "haunted", value: "ghost")) {
            try ONNXModel(serializedData: try ONNXFixtures.model("errors/undefined_value.onnx"))
        }
    }

    @Test func truncatedAndCorruptBytesAreRefused() throws {
        let data = try ONNXFixtures.testCase("models/small_resnet").model
        for broken in [data.prefix(data.count / 2), data.prefix(7), Data([0xFF, 0xFF, 0xFF, 0xFF, 0x0F])] {
            #expect {
                try ONNXModel(serializedData: broken)
            } throws: { error in
                guard case ONNXError.corruptModel = error else { return false }
                return true
            }
        }
        #expect(throws: ONNXError.invalidModel("it has no graph")) { try ONNXModel(serializedData: Data()) }
    }

    @Test func externalDataIsReadBesideTheModelAndItsAbsenceNamed() throws {
        let source = try ONNXFixtures.directory("errors/external")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-external-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: directory)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("model.onnx")
        let model = try ONNXModel(contentsOf: url).with(mode: .inference)
        let expected = try readONNXTensor(try Data(contentsOf: directory.appendingPathComponent("expected.pb")))
        expectClose(model.applied(to: Tensor(repeating: 1, shape: [1, 3, 4, 4])), expected, "external weights")

        try FileManager.default.removeItem(at: directory.appendingPathComponent("weights.bin"))
        #expect(throws: ONNXError.missingExternalData(tensor: "w", path: directory.appendingPathComponent("weights.bin").path)) {
            try ONNXModel(contentsOf: url)
        }
        #expect(throws: ONNXError.missingExternalData(tensor: "w", path: "weights.bin")) {
            try ONNXModel(serializedData: try Data(contentsOf: url))
        }
    }

    @Test func hostileTensorsAreRefusedWithoutTrapping() throws {
        let source = try Onnx_ModelProto(serializedBytes: try ONNXFixtures.testCase("models/small_resnet").model)
        var huge = source
        huge.graph.initializer[0].dims = [1 << 40, 1 << 40]
        #expect(throws: ONNXError.self) { try ONNXModel(serializedData: try huge.serializedData()) }

        var escaping = source
        escaping.graph.initializer[0].dataLocation = .external
        escaping.graph.initializer[0].externalData = [.with { $0.key = "location"; $0.value = "../../etc/passwd" }]
        let directory = FileManager.default.temporaryDirectory
        #expect {
            try ONNXModel(serializedData: try escaping.serializedData(), directory: directory)
        } throws: { error in
            guard case ONNXError.invalidModel(let reason) = error else { return false }
            return reason.contains("outside the model's folder")
        }
    }

    @Test func contractMustFitTheModel() throws {
        let data = try ONNXFixtures.testCase("models/small_resnet").model
        #expect(throws: ONNXError.self) { try ONNXModel(serializedData: data, contract: ONNXInputContract(inputName: "pixels")) }
        #expect(throws: ONNXError.self) { try ONNXModel(serializedData: data, contract: ONNXInputContract(mean: [0.5, 0.5])) }
        #expect(throws: ONNXError.self) {
            try ONNXModel(serializedData: data, contract: ONNXInputContract(mean: [0.5], standardDeviation: [0]))
        }
        var model = try ONNXModel(serializedData: data)
        #expect(throws: ONNXError.self) { try model.output(for: Tensor(zeros: [1, 3, 5, 5])) }
    }
}
