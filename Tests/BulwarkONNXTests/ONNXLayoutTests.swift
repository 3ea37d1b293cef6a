import Bulwark
import BulwarkONNX
import Foundation
import SwiftProtobuf
import Testing
import _TestSupport

/// Channels-last graphs: the layout inferred from the input's shape or read from the
/// metadata, and a Keras model as tf2onnx exports it.
@Suite struct ONNXLayoutTests {
    /// The fixture's model with its input's extents replaced (`nil` for a symbolic one) and
    /// `metadata` added.
    static func modified(_ name: String, inputShape: [Int?]? = nil, metadata: [String: String] = [:]) throws -> Data {
        var proto = try Onnx_ModelProto(serializedBytes: try ONNXFixtures.testCase("models/\(name)").model)
        if let inputShape, case .tensorType(var type)? = proto.graph.input[0].type.value {
            type.shape.dim = inputShape.map { extent in
                var dimension = Onnx_TensorShapeProto.Dimension()
                if let extent { dimension.dimValue = Int64(extent) } else { dimension.dimParam = "unk__0" }
                return dimension
            }
            proto.graph.input[0].type.value = .tensorType(type)
        }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            var entry = Onnx_StringStringEntryProto()
            (entry.key, entry.value) = (key, value)
            proto.metadataProps.append(entry)
        }
        return try proto.serializedData()
    }

    /// A Keras CNN exported by tf2onnx at opsets 17 and 11 (input `[N, 12, 12, 1]` with a
    /// symbolic batch, a Reshape to channels-first, batch normalization as Mul and Add, a
    /// Transpose back before a channels-last Flatten built from Shape, Gather, Cast, Slice and
    /// Concat, then MatMul and Add) against TensorFlow's logits, with the layout inferred.
    @Test(arguments: ["keras_cnn", "keras_cnn_opset11"])
    func kerasExportMatchesTensorFlowLogits(name: String) throws {
        let (model, pixels, logits) = try ONNXModelTests.load(name)
        #expect(model.contract.layout == .nhwc)
        #expect(model.contract.exampleShape == [1, 12, 12])
        expectClose(model.applied(to: pixels), logits, "logits")
        // Another batch size runs: the batch dimension is symbolic.
        expectClose(model.applied(to: pixels.slice(alongAxis: 0, 0..<1)), logits.slice(alongAxis: 0, 0..<1), "batch of 1")
        expectGradientMatchesFiniteDifferences(at: [pixels.slice(alongAxis: 0, 0..<1)], step: 1e-3) { model.applied(to: $0[0]) }
    }

    @Test func layoutIsInferredFromTheInputShape() throws {
        let (nhwc, pixels, logits) = try ONNXModelTests.load("small_resnet_nhwc")
        #expect(nhwc.contract.layout == .nhwc)
        #expect(nhwc.contract.exampleShape == [3, 6, 6])
        expectClose(nhwc.applied(to: pixels), logits, "logits")
        let (nchw, _, _) = try ONNXModelTests.load("small_resnet")
        #expect(nchw.contract.layout == .nchw)
        // A symbolic height and width: the channels alone decide.
        let symbolic = try ONNXModel(serializedData: try Self.modified("small_resnet_nhwc", inputShape: [nil, nil, nil, 3]),
                                     contract: ONNXInputContract(exampleShape: [3, 6, 6]))
        #expect(symbolic.contract.layout == .nhwc)
    }

    @Test func metadataGivesTheLayoutAndTheContractOverridesIt() throws {
        let data = try Self.modified("small_resnet", metadata: ["bulwark.layout": "NHWC"])
        let fromMetadata = try ONNXModel(serializedData: data)
        #expect(fromMetadata.contract.layout == .nhwc)
        #expect(fromMetadata.contract.exampleShape == [6, 3, 6])
        let given = try ONNXModel(serializedData: data, contract: ONNXInputContract(layout: .nchw))
        #expect(given.contract.layout == .nchw)
        #expect(given.contract.exampleShape == [3, 6, 6])
        #expect(throws: ONNXError.invalidModel("metadata bulwark.layout must be nchw or nhwc, got 'hwc'")) {
            try ONNXModel(serializedData: try Self.modified("small_resnet", metadata: ["bulwark.layout": "hwc"]))
        }
    }

    /// An input of shape `[N, 3, 6, 3]` fits either layout: loading asks for it, and either
    /// answer loads.
    @Test func ambiguousInputAsksForTheLayout() throws {
        let data = try Self.modified("small_resnet_nhwc", inputShape: [nil, 3, 6, 3])
        #expect(throws: ONNXError.invalidContract(
            "input 'input' of shape [?, 3, 6, 3] could be channels-first or channels-last; give the layout (nchw or nhwc) in the input contract's layout or the model's metadata bulwark.layout"
        )) {
            try ONNXModel(serializedData: data)
        }
        let nhwc = try ONNXModel(serializedData: data, contract: ONNXInputContract(layout: .nhwc))
        #expect(nhwc.contract.exampleShape == [3, 3, 6])
        let fromMetadata = try ONNXModel(serializedData: try Self.modified("small_resnet_nhwc", inputShape: [nil, 3, 6, 3], metadata: ["bulwark.layout": "nhwc"]))
        #expect(fromMetadata.contract.layout == .nhwc)
    }
}
