import Bulwark
import Foundation
import Testing
import _TestSupport

/// `bulwark train --model FILE.onnx`: fine-tuning an imported graph from the command line.
@Suite(.serialized) struct ONNXTrainCommandTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }
    var source: String { directory + "/source.onnx" }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-onnx-train")
        try writeTwoClassIDX(to: directory + "/data", trainCount: 300, testCount: 50)
        var generator = SplitMix64(seed: 5)
        let model = Architecture.mlp.makeModel(classCount: 10, using: &generator)
        try ONNXExport.serializedModel(model, exampleShape: [1, 28, 28]).write(to: URL(fileURLWithPath: source))
    }

    /// The words of a one-epoch PGD-AT run of `model` into `out`.
    private func train(_ model: String, out: String, _ extra: [String] = []) -> [String] {
        ["train", "--dataset", "idx", "--data-dir", directory + "/data", "--model", model, "--method", "pgd", "--epsilon", "0.1",
         "--steps", "2", "--epochs", "1", "--batch-size", "50", "--validation-count", "50", "--validation-steps", "2",
         "--final-eval-count", "50", "--quiet", "--out", out] + extra
    }

    @Test func trainFineTunesAnONNXFileAndWritesTheTrainedGraph() throws {
        let run = directory + "/run"
        let result = try runBulwark(train(source, out: run, ["--mean", "0.5", "--std", "0.5"]))
        #expect(result.status == 0, "\(result.error)")
        #expect(FileManager.default.fileExists(atPath: run + "/model.onnx"))
        let manifest = try runManifest(in: run)
        #expect(manifest?["model_path"] == source && manifest?["architecture"] == nil)
        #expect(manifest?["mean"] == "0.5" && manifest?["standard_deviation"] == "0.5" && manifest?["layout"] == nil, "the graph decides its layout when none is given")
        #expect(manifest?["command"]?.contains("--model \(source) --mean 0.5 --std 0.5") == true && manifest?["command"]?.contains("--layout") == false, "\(manifest?["command"] ?? "")")
        let final = try jsonObject(at: run + "/final-eval.json")
        #expect(final?["architecture"] as? String == "onnx")

        // The trained graph reads back with its standardization and predicts as the checkpoint's tensors do.
        let (trained, _) = try ImageClassifier.load(from: run + "/model.onnx")
        #expect(trained.imported?.contract.mean == [0.5])
        let checkpoint = try SafeTensorsFile(contentsOf: run + "/model.safetensors")
        #expect(trained.parameters == checkpoint.tensors)

        // Options that disagree with the run are refused when resuming.
        let resumed = try runBulwark(["train", "--resume", run, "--model", "mlp"])
        #expect(resumed.status != 0 && resumed.error.contains("--model"), "\(resumed.error)")
    }

    @Test func trainReadsTheUsersOwnData() throws {
        let count = 120
        let labels = (0..<count).map { $0 % 2 }
        let scalars = (0..<(count * 784)).map { index in Float((index % 28 < 14) == (labels[index / 784] == 0) ? 0.8 : 0.1) }
        try Data(NumPyArray.int64Bytes(labels)).write(to: URL(fileURLWithPath: directory + "/y_train.npy"))
        try Data(NumPyArray.float32Bytes(Tensor(shape: [count, 1, 28, 28], scalars: scalars))).write(to: URL(fileURLWithPath: directory + "/x_train.npy"))
        let run = directory + "/own"
        var arguments = train(source, out: run)
        arguments.replaceSubrange(1...4, with: ["--data", directory + "/x_train.npy"])
        let result = try runBulwark(arguments)
        #expect(result.status == 0, "\(result.error)")
        // One file is the training split only: the run does not pass it off as test images.
        #expect(result.output.contains("final evaluation skipped: --data is one file") && result.output.contains("--test-data"), "\(result.output)")
        let manifest = try runManifest(in: run)
        #expect(manifest?["data_path"] == directory + "/x_train.npy" && manifest?["dataset"] == nil)
        // With a test file the final evaluation runs on it and its record names it.
        for name in ["x", "y"] {
            try FileManager.default.copyItem(atPath: directory + "/\(name)_train.npy", toPath: directory + "/\(name)_test.npy")
        }
        let tested = try runBulwark(arguments.map { $0 == run ? directory + "/tested" : $0 } + ["--test-data", directory + "/x_test.npy"])
        #expect(tested.status == 0 && tested.output.contains("final evaluation on 50 test images"), "\(tested.output)\(tested.error)")
        let record = try #require(try jsonObject(at: directory + "/tested/final-eval.json"))
        #expect(record["dataset"] as? String == "x_test.npy" && record["data_path"] as? String == directory + "/x_test.npy", "\(record)")
        let both = try runBulwark(train(source, out: directory + "/both", ["--data", directory + "/x_train.npy"]))
        #expect(both.status != 0 && both.error.contains("--data"), "\(both.error)")
    }

    @Test func theSummaryMayNotReplaceTheImportedGraph() throws {
        let result = try runBulwark(train(source, out: directory + "/json", ["--json", source]))
        #expect(result.status == 64 && result.error.contains("is --model \(source)"), "\(result.error)")
    }

    @Test func contractOptionsNeedAnONNXModel() throws {
        let mean = try runBulwark(train("mlp", out: directory + "/a", ["--mean", "0.5", "--std", "0.5"]))
        #expect(mean.status != 0 && mean.error.contains("--mean") && mean.error.contains("--model"), "\(mean.error)")
        let both = try runBulwark(train(source, out: directory + "/b", ["--architecture", "mlp"]))
        #expect(both.status != 0 && both.error.contains("--architecture"), "\(both.error)")
        let list = try runBulwark(train(source, out: directory + "/c", ["--mean", "a,b", "--std", "1,1"]))
        #expect(list.status != 0 && list.error.contains("--mean"), "\(list.error)")
    }
}
