import Bulwark
import BulwarkONNX
import Foundation
import Testing
import _TestSupport

/// Export of the built-in architectures and write-back of an imported model's parameters.
@Suite struct ONNXExportTests {
    static func exported(_ architecture: Architecture) throws -> (model: Sequential, imported: ONNXModel, pixels: Tensor) {
        var generator = SplitMix64(seed: 5)
        let model = architecture.makeModel(classCount: 10, using: &generator).with(mode: .inference)
        let data = try ONNXExport.serializedModel(model, exampleShape: architecture.inputShape)
        let imported = try ONNXModel(serializedData: data).with(mode: .inference)
        return (model, imported, seededTensor([2] + architecture.inputShape, in: 0...1, seed: 9))
    }

    @Test(arguments: Architecture.allCases)
    func exportThenImportGivesTheSameLogits(_ architecture: Architecture) throws {
        let (model, imported, pixels) = try Self.exported(architecture)
        #expect(imported.parameterPaths == model.parameterPaths)
        #expect(Set(imported.state.keys) == Set(model.state.keys.filter { !$0.hasSuffix("num_batches_tracked") }))
        expectClose(imported.applied(to: pixels), model.applied(to: pixels), tolerance: 1e-5, "\(architecture.rawValue) logits")
    }

    /// The imported graph runs the built-in layers' kernels in the same order (ReLU then max
    /// pooling fused as `Sequential` fuses them), so logits and input gradients agree to the bit.
    @Test(arguments: [Architecture.mlp, .lenet, .smallcnn, .fastcnn, .cifarCNN])
    func importedExportRunsTheSameKernels(_ architecture: Architecture) throws {
        let (model, imported, pixels) = try Self.exported(architecture)
        let labels: [Int32] = [1, 7]
        #expect(imported.applied(to: pixels) == model.applied(to: pixels))
        let builtInGradient = gradient(at: pixels) { softmaxCrossEntropy(logits: model.applied(to: $0), labels: labels) }
        let importedGradient = gradient(at: pixels) { softmaxCrossEntropy(logits: imported.applied(to: $0), labels: labels) }
        #expect(importedGradient == builtInGradient)
    }

    /// In training mode imported batch normalization normalizes with the batch's statistics and
    /// updates the running ones as the built-in `BatchNorm2D` does.
    @Test func trainingModeBatchNormalizationMatchesTheBuiltInLayer() throws {
        let (model, imported, pixels) = try Self.exported(.preactResNet18)
        var (builtIn, onnx) = (model.with(mode: .training), imported.with(mode: .training))
        expectClose(onnx(pixels), builtIn(pixels), tolerance: 1e-4, "training-mode logits")
        for (name, value) in onnx.state {
            expectClose(value, try #require(builtIn.state[name]), tolerance: 1e-5, name)
        }
    }

    /// Dropout draws masks in training mode only.
    @Test func dropoutActsInTrainingModeOnly() throws {
        let (_, imported, pixels) = try Self.exported(.cifarCNN)
        var training = imported.with(mode: .training)
        let (first, second) = (training(pixels), training(pixels))
        #expect(first != second)
        #expect(imported.applied(to: pixels) == imported.applied(to: pixels))
    }

    @Test func importedParametersAreWrittenBackIntoTheirGraph() throws {
        let (_, original, pixels) = try Self.exported(.lenet)
        var tuned = original
        tuned.visitParameters { _, value in value = value * 0.5 }
        let reloaded = try ONNXModel(serializedData: try tuned.serializedModel()).with(mode: .inference)
        #expect(reloaded.parameters == tuned.parameters)
        #expect(reloaded.applied(to: pixels) == tuned.applied(to: pixels))
        #expect(reloaded.applied(to: pixels) != original.applied(to: pixels))
    }

    @Test func layersWithoutAnExportAreNamed() throws {
        let model = Sequential(named: ["features": Sequential([ReLU(), GELU()])])
        #expect(throws: ONNXError.unsupportedAttribute(node: "features.1", opType: "GELU", detail: "this layer has no ONNX export")) {
            try ONNXExport.serializedModel(model, exampleShape: [1, 4, 4])
        }
    }

    /// onnxruntime (PyPI) runs the exported file and agrees with Bulwark.
    @Test(.enabled(if: ONNXRuntime.isAvailable, "skipped: onnxruntime is not importable by the python3 on PATH (pip install onnxruntime enables this test)"))
    func onnxruntimeAgreesWithTheExport() throws {
        for architecture in [Architecture.smallcnn, .preactResNet18] {
            var generator = SplitMix64(seed: 5)
            let model = architecture.makeModel(classCount: 10, using: &generator).with(mode: .inference)
            let pixels = seededTensor([2] + architecture.inputShape, in: 0...1, seed: 9)
            let logits = try ONNXRuntime.run(try ONNXExport.serializedModel(model, exampleShape: architecture.inputShape), pixels)
            expectClose(logits, model.applied(to: pixels), tolerance: 1e-4, "onnxruntime \(architecture.rawValue)")
        }
    }
}

/// onnxruntime through the python3 on PATH, when it is installed there.
enum ONNXRuntime {
    static let isAvailable: Bool = (try? python(["-c", "import onnxruntime"])) == 0

    @discardableResult
    static func python(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// The first output of `model` on `input`, both passed as raw float32 files.
    static func run(_ model: Data, _ input: Tensor) throws -> Tensor {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("onnxruntime-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try model.write(to: directory.appendingPathComponent("model.onnx"))
        try input.array.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: directory.appendingPathComponent("input.bin"))
        let script = """
            import numpy, onnxruntime, sys
            d = sys.argv[1]
            x = numpy.fromfile(d + "/input.bin", dtype=numpy.float32).reshape(\(input.shape))
            y = onnxruntime.InferenceSession(d + "/model.onnx").run(None, {"input": x})[0]
            y.astype(numpy.float32).tofile(d + "/output.bin")
            open(d + "/shape.txt", "w").write(",".join(map(str, y.shape)))
            """
        try #require(try python(["-c", script, directory.path]) == 0)
        let shape = try String(contentsOf: directory.appendingPathComponent("shape.txt"), encoding: .utf8).split(separator: ",").map { Int($0)! }
        let bytes = try Data(contentsOf: directory.appendingPathComponent("output.bin"))
        let scalars = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return Tensor(shape: shape, scalars: scalars)
    }
}
