import BulwarkCore
import BulwarkONNX
import Foundation
import Testing

/// The fixtures `scripts/make-onnx-fixtures.py` writes: models with inputs and expected outputs
/// in ONNX's test-data layout.
enum ONNXFixtures {
    static var root: URL {
        get throws { try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)) }
    }

    /// The single-operator cases, by directory name.
    static let operatorCases: [String] = {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil),
              let names = try? FileManager.default.contentsOfDirectory(atPath: url.appendingPathComponent("operators").path) else { return [] }
        return names.sorted()
    }()

    static func directory(_ path: String) throws -> URL { try root.appendingPathComponent(path) }

    /// The model bytes, inputs and expected outputs of the case at `path`.
    static func testCase(_ path: String) throws -> (model: Data, inputs: [Tensor], outputs: [Tensor]) {
        let directory = try directory(path)
        let data = directory.appendingPathComponent("test_data_set_0")
        func tensors(_ prefix: String) throws -> [Tensor] {
            var result = [Tensor]()
            while let contents = try? Data(contentsOf: data.appendingPathComponent("\(prefix)_\(result.count).pb")) {
                result.append(try readONNXTensor(contents))
            }
            return result
        }
        return (try Data(contentsOf: directory.appendingPathComponent("model.onnx")), try tensors("input"), try tensors("output"))
    }

    static func model(_ path: String) throws -> Data { try Data(contentsOf: directory(path)) }
}

/// `|actual − expected| ≤ tolerance · max(1, |expected|)` everywhere, with matching shapes.
func expectClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float = 1e-4, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(comment): shape \(actual.shape), expected \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    var worst: Float = 0, worstIndex = 0
    for (index, (a, e)) in zip(actual.array, expected.array).enumerated() {
        let error = Swift.abs(a - e) / Swift.max(1, Swift.abs(e))
        if !(error <= worst) { (worst, worstIndex) = (error, index) }
    }
    #expect(worst <= tolerance, "\(comment): scalar \(worstIndex) is \(actual.array[worstIndex]), expected \(expected.array[worstIndex])", sourceLocation: sourceLocation)
}
