import Bulwark
import Foundation
import Testing
import _TestSupport

/// End-to-end runs of `bulwark train` and `bulwark eval` on a tiny synthetic CIFAR-10
/// directory laid out as the binary archive extracts (`cifar-10-batches-bin/…`): 64 training
/// records over the five batches and 32 test records.
@Suite(.serialized) struct CIFARCommandLineTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }
    var data: String { directory + "/cifar" }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-cifar-cli")
        let batches = directory + "/cifar/cifar-10-batches-bin"
        try FileManager.default.createDirectory(atPath: batches, withIntermediateDirectories: true)
        var generator = SplitMix64(seed: 1)
        func records(_ count: Int, first: Int) -> Data {
            var bytes = [UInt8]()
            for index in first..<(first + count) {
                bytes.append(UInt8(index % 10))
                for _ in 0..<3072 { bytes.append(UInt8(truncatingIfNeeded: generator.next())) }
            }
            return Data(bytes)
        }
        var first = 0
        for (batch, count) in [13, 13, 13, 13, 12].enumerated() {
            try records(count, first: first).write(to: URL(fileURLWithPath: "\(batches)/data_batch_\(batch + 1).bin"))
            first += count
        }
        try records(32, first: 0).write(to: URL(fileURLWithPath: "\(batches)/test_batch.bin"))
    }

    @Test func trainAndEvaluatePreActResNet18() throws {
        let run = directory + "/resnet"
        let train = try runBulwark([
            // One batch of 8: a ResNet-18 step is costly, and the path, not the learning, is under test.
            "train", "--dataset", "cifar10", "--data-dir", data, "--model", "preact-resnet18", "--method", "standard",
            "--epochs", "1", "--batch-size", "8", "--optimizer", "sgd", "--learning-rate", "0.01",
            "--train-count", "12", "--validation-count", "4", "--validation-steps", "0", "--final-eval-count", "4",
            "--seed", "2", "--out", run, "--quiet",
        ])
        #expect(train.status == 0, "train failed: \(train.error)")
        let configuration = try runManifest(in: run)
        #expect(configuration?["dataset"] == "cifar10" && configuration?["architecture"] == "preact-resnet18")
        #expect(configuration?["train_count"] == "8")
        #expect(configuration?["augmentation"] != nil, "cifar10 augments by default")
        let stored = try SafeTensorsFile(contentsOf: run + "/model.safetensors")
        #expect(stored.tensors["layer2.0.shortcut.0.weight"]?.shape == [128, 64, 1, 1])
        #expect(stored.tensors["bn.running_mean"]?.shape == [512])

        let json = directory + "/resnet-eval.json"
        let eval = try runBulwark([
            "eval", "--model", run + "/model.safetensors", "--dataset", "cifar10", "--data-dir", data + "/cifar-10-batches-bin",
            "--attack", "fgsm", "--epsilon", "8/255", "--count", "4", "--no-sanity-checks", "--json", json, "--quiet",
        ])
        #expect(eval.status == 0, "eval failed: \(eval.error)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        #expect(report?["count"] as? Int == 4)
        #expect((report?["attacks"] as? [String: Any])?["fgsm"] != nil)
    }

    @Test func augmentationCanBeTurnedOff() throws {
        let run = directory + "/cnn"
        let train = try runBulwark([
            "train", "--dataset", "cifar10", "--data-dir", data, "--model", "cifar-cnn", "--method", "fast", "--epsilon", "8/255",
            "--no-augment", "--epochs", "1", "--batch-size", "16", "--validation-count", "8", "--validation-steps", "1",
            "--final-eval-count", "4", "--out", run, "--quiet",
        ])
        #expect(train.status == 0, "train failed: \(train.error)")
        let configuration = try runManifest(in: run)
        #expect(configuration?["architecture"] == "cifar-cnn")
        #expect(configuration?["augmentation"] == nil)
        #expect(configuration?["command"]?.contains("--no-augment") == true, "resume compares it")
        #expect(FileManager.default.fileExists(atPath: run + "/final-eval.json"))
    }

    @Test func missingDataAndMismatchedModelsAreClearErrors() throws {
        let empty = directory + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let missing = try runBulwark(["train", "--dataset", "cifar10", "--data-dir", empty, "--model", "cifar-cnn", "--out", directory + "/none"])
        #expect(missing.status != 0)
        #expect(missing.error.contains("data_batch_1.bin"))
        #expect(missing.error.contains("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"))

        let mismatch = try runBulwark(["train", "--dataset", "cifar10", "--data-dir", data, "--model", "smallcnn", "--out", directory + "/none"])
        #expect(mismatch.status != 0)
        #expect(mismatch.error.contains("expects [1, 28, 28]"))
        #expect(mismatch.error.contains("cifar-cnn, preact-resnet18"))
    }
}
