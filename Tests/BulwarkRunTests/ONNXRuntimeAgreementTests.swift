import BulwarkCore
import BulwarkData
import BulwarkONNX
import BulwarkRun
import Foundation
import Testing

/// A trained graph predicts in onnxruntime as in Bulwark, on a whole test split. Opt-in, as it
/// needs a model, the dataset and a Python with onnxruntime and NumPy: set
/// `BULWARK_AGREEMENT_MODEL` to a `.onnx` file of a Fashion-MNIST classifier (and
/// `BULWARK_AGREEMENT_PYTHON` to that Python, default `python3`).
@Suite struct ONNXRuntimeAgreementTests {
    static let model = ProcessInfo.processInfo.environment["BULWARK_AGREEMENT_MODEL"]
    static let python = ProcessInfo.processInfo.environment["BULWARK_AGREEMENT_PYTHON"] ?? "python3"

    @Test(.enabled(if: model != nil, "skipped: set BULWARK_AGREEMENT_MODEL to a Fashion-MNIST .onnx file"))
    func onnxruntimePredictsAsBulwarkOnTheTestSplit() throws {
        let path = try #require(Self.model)
        let (classifier, _) = try ImageClassifier.load(from: path)
        let test = try ImageDataSelection(dataset: .fashionMNIST).load(.test)
        var logits = [Float]()
        for start in stride(from: 0, to: test.count, by: 500) {
            logits += classifier.applied(to: test.slice(start..<min(start + 500, test.count)).images).array
        }
        let classCount = logits.count / test.count
        let predictions = (0..<test.count).map { row in
            let scores = logits[(row * classCount)..<((row + 1) * classCount)]
            return scores.firstIndex(of: scores.max()!)! - row * classCount
        }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("agreement-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try test.images.array.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: directory.appendingPathComponent("input.bin"))
        try logits.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: directory.appendingPathComponent("bulwark.bin"))
        // The graph's own input, fed as the contract says: standardized, in its layout.
        let contract = try #require(classifier.imported?.contract)
        let script = """
            import numpy, onnxruntime, sys
            d, model = sys.argv[1], sys.argv[2]
            x = numpy.fromfile(d + "/input.bin", dtype=numpy.float32).reshape(\([test.count] + test.imageShape))
            mean, std = \(contract.mean ?? [0]), \(contract.standardDeviation ?? [1])
            x = (x - numpy.array(mean, dtype=numpy.float32).reshape(1, -1, 1, 1)) / numpy.array(std, dtype=numpy.float32).reshape(1, -1, 1, 1)
            if "\((contract.layout ?? .nchw).rawValue)" == "nhwc": x = x.transpose(0, 2, 3, 1)
            session = onnxruntime.InferenceSession(model)
            y = numpy.concatenate([session.run(None, {"\(contract.inputName ?? "input")": x[i:i + 500]})[0] for i in range(0, len(x), 500)])
            b = numpy.fromfile(d + "/bulwark.bin", dtype=numpy.float32).reshape(y.shape)
            open(d + "/result.txt", "w").write(" ".join(map(str, y.argmax(1))) + "\\n" + str(float(abs(y - b).max())))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [Self.python, "-c", script, directory.path, path]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        let lines = try String(contentsOf: directory.appendingPathComponent("result.txt"), encoding: .utf8).split(separator: "\n")
        let runtimePredictions = lines[0].split(separator: " ").map { Int($0)! }
        let disagreements = zip(predictions, runtimePredictions).filter { $0 != $1 }.count
        let accuracy = Double(zip(predictions, test.labels).filter { $0 == Int($1) }.count) / Double(test.count)
        print("onnxruntime agreement: \(test.count) images, \(disagreements) different predictions, largest logit difference \(lines[1]), Bulwark clean accuracy \(accuracy)")
        #expect(disagreements == 0)
    }
}
