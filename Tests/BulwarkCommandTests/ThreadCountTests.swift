import Bulwark
import Foundation
import Testing
import _TestSupport

/// `--threads`: the count runs use and record, and the results the engine promises not to
/// depend on it (fully connected training, inference).
@Suite(.serialized) struct ThreadCountTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-threads")
        try writeTwoClassIDX(to: directory + "/data", trainCount: 300, testCount: 100, seed: 3)
    }

    private func train(threads: String, architecture: String = "mlp", extra: [String] = []) throws -> (run: String, result: (status: Int32, output: String, error: String)) {
        let run = directory + "/run-\(architecture)-\(threads)"
        let result = try runBulwark([
            "train", "--dataset", "idx", "--data-dir", directory + "/data", "--architecture", architecture, "--method", "pgd", "--steps", "2",
            "--epochs", "1", "--batch-size", "50", "--validation-count", "50", "--validation-steps", "0",
            "--final-eval-count", "0", "--out", run, "--quiet", "--threads", threads,
        ] + extra)
        return (run, result)
    }

    @Test func oneAndTwoThreadsTrainAndPredictTheSameAndTheRunRecordsTheCount() throws {
        var models: [Data] = [], predictions: [String] = []
        for threads in ["1", "2"] {
            let (run, result) = try train(threads: threads)
            try #require(result.status == 0, "train --threads \(threads) failed: \(result.error)")
            #expect(try runManifest(in: run)?["threads"] == threads)
            models.append(try tensorBytes(of: run + "/model.safetensors"))
            let predicted = try runBulwark(["predict", "--model", run + "/model.safetensors", "--dataset", "idx", "--data-dir", directory + "/data",
                                            "--count", "20", "--json", "-", "--threads", threads])
            try #require(predicted.status == 0, "predict failed: \(predicted.error)")
            predictions.append(predicted.output)
        }
        #expect(models[0] == models[1])
        #expect(predictions[0] == predictions[1])
    }

    /// A safetensors file's tensor data, without its header (whose metadata records the
    /// environment, thread count included).
    private func tensorBytes(of file: String) throws -> Data {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        try #require(bytes.count >= 8)
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        try #require(bytes.count >= 8 + headerLength)
        return bytes.dropFirst(8 + headerLength)
    }

    @Test func aConvolutionalModelPredictsTheSameOnOneAndTwoThreads() throws {
        let (run, result) = try train(threads: "1", architecture: "lenet", extra: ["--train-count", "100"])
        try #require(result.status == 0, "train failed: \(result.error)")
        let outputs = try ["1", "2"].map { threads in
            let predicted = try runBulwark(["predict", "--model", run + "/model.safetensors", "--dataset", "idx", "--data-dir", directory + "/data",
                                            "--count", "50", "--json", "-", "--threads", threads])
            try #require(predicted.status == 0, "predict failed: \(predicted.error)")
            return predicted.output
        }
        #expect(outputs[0] == outputs[1])
    }

    @Test func theEnvironmentVariableSetsTheCountAndBadCountsAreRefused() throws {
        let run = directory + "/run-environment"
        let result = try runBulwark([
            "train", "--dataset", "idx", "--data-dir", directory + "/data", "--architecture", "mlp", "--method", "standard",
            "--epochs", "1", "--batch-size", "50", "--validation-count", "50", "--validation-steps", "0",
            "--final-eval-count", "0", "--out", run, "--quiet",
        ], environment: ["BULWARK_THREADS": "3"])
        try #require(result.status == 0, "train failed: \(result.error)")
        #expect(try runManifest(in: run)?["threads"] == "3")
        let zero = try train(threads: "0")
        #expect(zero.result.status != 0)
        #expect(zero.result.error.contains("--threads must be between 1 and 1024, got 0"), "\(zero.result.error)")
        let bad = try runBulwark(["export", "--model", "m.safetensors", "--onnx", directory + "/m.onnx"], environment: ["BULWARK_THREADS": "lots"])
        #expect(bad.status != 0)
        #expect(bad.error.contains("BULWARK_THREADS must be a whole number of threads between 1 and 1024, not 'lots'"), "\(bad.error)")
    }
}
