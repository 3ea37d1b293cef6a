import Bulwark
import Foundation
import Testing

/// How `bulwark` writes its output files and protects its inputs and finished runs.
@Suite(.serialized) struct OutputSafetyTests {
    let directory: String
    var data: String { directory + "/data" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-outputs-\(UUID().uuidString)").path
        try writeTwoClassIDX(to: directory + "/data", trainCount: 400, testCount: 100)
    }

    /// A short seeded training run's options, without `--out`.
    var trainOptions: [String] {
        ["train", "--dataset", "idx", "--data-dir", data, "--model", "mlp", "--method", "standard", "--epochs", "1",
         "--batch-size", "50", "--validation-count", "100", "--validation-steps", "0", "--final-eval-count", "50", "--seed", "1", "--quiet"]
    }

    @Test func outputsWriteThroughSymbolicLinksAndToStandardOutput() throws {
        let target = directory + "/summary-target.json", link = directory + "/summary.json"
        try Data("old".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let trained = try runBulwark(trainOptions + ["--out", directory + "/run", "--json", link])
        #expect(trained.status == 0, "\(trained.error)")
        let type = try FileManager.default.attributesOfItem(atPath: link)[.type] as? FileAttributeType
        #expect(type == .typeSymbolicLink, "the link stays a link")
        #expect(try jsonObject(at: target)?["model"] != nil, "its target holds the summary")

        let predicted = try runBulwark(["predict", "--model", directory + "/run/model.safetensors", "--dataset", "idx",
                                        "--data-dir", data, "--count", "3", "--json", "-"])
        #expect(predicted.status == 0, "\(predicted.error)")
        #expect(predicted.output.contains("\"predictions\""), "--json - writes to standard output: \(predicted.output)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory + "/run").filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}

/// Writes a two-class IDX dataset (a bright left or right half, seeded noise) of 28×28 images
/// to `directory`: `train-*` with `trainCount` and `t10k-*` with `testCount` images.
func writeTwoClassIDX(to directory: String, trainCount: Int, testCount: Int) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var state: UInt64 = 1
    func noise() -> UInt8 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 59)
    }
    func header(magic: UInt32, dimensions: [Int]) -> [UInt8] {
        ([magic] + dimensions.map(UInt32.init)).flatMap { value in (0..<4).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
    }
    for (name, count) in [("train", trainCount), ("t10k", testCount)] {
        var images = header(magic: 0x803, dimensions: [count, 28, 28])
        var labels = header(magic: 0x801, dimensions: [count])
        for index in 0..<count {
            let label = UInt8(index % 2)
            labels.append(label)
            for _ in 0..<28 { for column in 0..<28 {
                let bright = (column < 14) == (label == 0)
                images.append((bright ? 200 : 30) + noise())
            }}
        }
        try Data(images).write(to: URL(fileURLWithPath: "\(directory)/\(name)-images-idx3-ubyte"))
        try Data(labels).write(to: URL(fileURLWithPath: "\(directory)/\(name)-labels-idx1-ubyte"))
    }
}
