import Bulwark
import Foundation
import Testing
import _TestSupport

/// End-to-end runs of `bulwark predict` and `bulwark eval` on damaged inputs: a gzip bomb of
/// a dataset and a checkpoint holding a NaN.
@Suite(.serialized) struct ReaderCommandLineTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-readers-cli")
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
    }

    /// A test split of 20 images of 28 × 28 and an MLP checkpoint; `poison` replaces one
    /// weight of the tensor `3.weight`.
    private func writeModelAndData(poison: Float? = nil) throws -> String {
        var images = idxHeader(magic: 0x803, dimensions: [20, 28, 28])
        images += (0..<(20 * 784)).map { UInt8($0 % 251) }
        try Data(images).write(to: URL(fileURLWithPath: directory + "/data/t10k-images-idx3-ubyte"))
        try Data(idxHeader(magic: 0x801, dimensions: [20]) + (0..<20).map { UInt8($0 % 10) })
            .write(to: URL(fileURLWithPath: directory + "/data/t10k-labels-idx1-ubyte"))
        var generator = SplitMix64(seed: 3)
        let model = Architecture.mlp.makeModel(using: &generator)
        var tensors = model.parameters
        if let poison, let weights = tensors["3.weight"] {
            var scalars = weights.array
            scalars[10] = poison
            tensors["3.weight"] = Tensor(shape: weights.shape, scalars: scalars)
        }
        let file = directory + "/model.safetensors"
        try SafeTensorsFile(tensors: tensors, metadata: [Checkpoint.architectureKey: "mlp"]).write(to: file)
        return file
    }

    @Test func predictOnAGzipBombReadsOnlyTheExamplesAskedFor() throws {
        let model = try writeModelAndData()
        // Five million images declared, 200 MiB of zeros present, 3.9 GB needed for all.
        let declared = 5_000_000
        try Data(gzipOfZeros(after: idxHeader(magic: 0x803, dimensions: [declared, 28, 28]), zeroCount: 200 << 20))
            .write(to: URL(fileURLWithPath: directory + "/data/t10k-images-idx3-ubyte"))
        try Data(gzipOfZeros(after: idxHeader(magic: 0x801, dimensions: [declared]), zeroCount: 1000))
            .write(to: URL(fileURLWithPath: directory + "/data/t10k-labels-idx1-ubyte"))
        let json = directory + "/predictions.json"
        let start = Date()
        let result = try runBulwark(["predict", "--model", model, "--dataset", "idx", "--data-dir", directory + "/data",
                                     "--count", "5", "--json", json])
        #expect(result.status == 0, "\(result.error)")
        #expect(Date().timeIntervalSince(start) < 5)
        let logits = try #require(try jsonObject(at: json)?["logits"] as? [[Double]])
        #expect(logits.count == 5)

        // Without a limit the whole split is needed, and the stream holds less than declared.
        let evaluation = try runBulwark(["eval", "--model", model, "--dataset", "idx", "--data-dir", directory + "/data",
                                         "--count", "\(declared)", "--attack", "fgsm", "--no-sanity-checks"])
        #expect(evaluation.status != 0)
        #expect(evaluation.error.contains("is truncated: its IDX header declares 5000008 bytes"), "\(evaluation.error)")
    }

    @Test(arguments: [Float.nan, .infinity])
    func nonFiniteWeightMakesPredictAndEvalFailNamingTheTensor(_ value: Float) throws {
        let model = try writeModelAndData(poison: value)
        let json = directory + "/predictions.json"
        let data = ["--dataset", "idx", "--data-dir", directory + "/data"]
        let predict = try runBulwark(["predict", "--model", model] + data + ["--count", "5", "--json", json])
        #expect(predict.status != 0)
        #expect(predict.error.contains("tensor '3.weight' holds \(value.isNaN ? "NaN" : "+infinity") at index 10"), "\(predict.error)")
        #expect(!FileManager.default.fileExists(atPath: json))
        let eval = try runBulwark(["eval", "--model", model] + data + ["--count", "5", "--attack", "fgsm", "--no-sanity-checks"])
        #expect(eval.status != 0)
        #expect(eval.error.contains("tensor '3.weight'"), "\(eval.error)")
        #expect(!eval.output.contains("accuracy"), "\(eval.output)")
    }

    @Test func textTrainingRefusesBooleanLabelsAndAnEmptyClassFile() throws {
        let jsonl = directory + "/jsonl"
        try FileManager.default.createDirectory(atPath: jsonl, withIntermediateDirectories: true)
        try Data("{\"text\": \"good film\", \"label\": 1}\n{\"text\": \"bad film\", \"label\": true}\n".utf8)
            .write(to: URL(fileURLWithPath: jsonl + "/train.jsonl"))
        try Data("{\"text\": \"fine\", \"label\": 0}\n".utf8).write(to: URL(fileURLWithPath: jsonl + "/dev.jsonl"))
        let boolean = try runBulwark(["train", "--task", "text", "--dataset", "jsonl", "--data-dir", jsonl, "--out", directory + "/run-jsonl"])
        #expect(boolean.status != 0)
        #expect(boolean.error.contains(jsonl + "/train.jsonl:2: 'label' is true"), "\(boolean.error)")

        let mr = directory + "/mr"
        try FileManager.default.createDirectory(atPath: mr, withIntermediateDirectories: true)
        try Data("dull\nflat\nslow\n".utf8).write(to: URL(fileURLWithPath: mr + "/rt-polarity.neg"))
        try Data().write(to: URL(fileURLWithPath: mr + "/rt-polarity.pos"))
        let empty = try runBulwark(["train", "--task", "text", "--dataset", "mr", "--data-dir", mr, "--out", directory + "/run-mr"])
        #expect(empty.status != 0)
        #expect(empty.error.contains(mr + "/rt-polarity.pos holds no examples"), "\(empty.error)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/run-mr/model.safetensors"))
    }
}
