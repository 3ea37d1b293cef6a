import BulwarkCore
import BulwarkONNX
import Foundation
import Testing
import _TestSupport

/// Every operator against `onnx.reference.ReferenceEvaluator`'s output, to 1e-4.
@Suite struct ONNXOperatorTests {
    @Test func fixturesArePresent() {
        #expect(ONNXFixtures.operatorCases.count >= 80, "found \(ONNXFixtures.operatorCases.count) operator fixtures")
    }

    @Test(arguments: ONNXFixtures.operatorCases)
    func matchesReference(_ name: String) throws {
        let (model, inputs, outputs) = try ONNXFixtures.testCase("operators/\(name)")
        let actual = try evaluateONNXModel(model, inputs: inputs)
        #expect(actual.count == outputs.count)
        for (value, expected) in zip(actual, outputs) { expectClose(value, expected, name) }
    }

    /// Every supported operator has a fixture, so none is claimed untested.
    @Test func everySupportedOperatorHasAFixture() throws {
        var covered = Set<String>()
        for name in ONNXFixtures.operatorCases {
            let proto = try Onnx_ModelProto(serializedBytes: try ONNXFixtures.testCase("operators/\(name)").model)
            covered.formUnion(proto.graph.node.map(\.opType))
        }
        #expect(ONNXModel.supportedOperators.subtracting(covered).isEmpty, "no fixture for \(ONNXModel.supportedOperators.subtracting(covered).sorted())")
    }

    /// The input gradients of the differentiable operators, by central finite differences at
    /// the fixtures' inputs (none lies within the step of a kink); max pooling at distinct
    /// values spaced wider than the step, so that no window's winner changes.
    @Test(arguments: [
        "conv_basic", "conv_pads_strides_bias", "conv_asymmetric", "conv_dilations", "conv_group", "conv_depthwise",
        "conv_same_upper", "conv_1d", "gemm_default", "gemm_transb", "gemm_transa_alpha_beta", "gemm_no_c",
        "matmul_3d_2d", "matmul_batched", "matmul_vector", "mul_both_ways", "div_trailing", "prelu", "elu", "leakyrelu",
        "hardswish", "softmax", "softmax_opset11", "logsoftmax", "maxpool_rectangular", "maxpool_asymmetric",
        "maxpool_ceil", "maxpool_dilations", "averagepool_exclude_pad", "averagepool_ceil", "averagepool_same_upper",
        "globalmaxpool", "batchnormalization", "reducemean", "reducesum", "pad_constant", "pad_reflect", "pad_edge",
        "gather_axis1", "slice_steps", "expand", "concat", "transpose",
    ])
    func inputGradientsMatchFiniteDifferences(_ name: String) throws {
        let (model, fixtureInputs, _) = try ONNXFixtures.testCase("operators/\(name)")
        let inputs = name.hasPrefix("maxpool") ? fixtureInputs.map { distinctValues($0.shape, seed: 11) } : fixtureInputs
        expectGradientMatchesFiniteDifferences(at: inputs) { traced in
            (try? evaluateONNXModel(model, inputs: traced))?[0] ?? Tensor(.nan)
        }
    }
}
