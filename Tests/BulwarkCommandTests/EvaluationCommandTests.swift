import Bulwark
import Foundation
import Testing
import _TestSupport

/// End-to-end checks of `eval`, `attack`, `predict` and `verify-adversarial` on bad input: a
/// model that does not fit the data, impossible budgets and files that lie about themselves.
@Suite(.serialized) struct EvaluationCommandTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }
    /// IDX files of 28×28 images in ten classes (class c is bright in column band c).
    var data: [String] { ["--dataset", "idx", "--data-dir", directory + "/data"] }
    /// An untrained ten-class MLP for the data.
    var model: String { directory + "/ten.safetensors" }
    /// An untrained two-class MLP: too few outputs for the data.
    var twoClassModel: String { directory + "/two.safetensors" }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-evaluation")
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        for (name, count) in [("train", 100), ("t10k", 100)] {
            var images = idxHeader(magic: 0x803, dimensions: [count, 28, 28])
            var labels = idxHeader(magic: 0x801, dimensions: [count])
            for index in 0..<count {
                let label = index % 10
                labels.append(UInt8(label))
                for row in 0..<28 { for column in 0..<28 {
                    images.append(column / 3 == label ? 220 : UInt8(truncatingIfNeeded: (row * 7 + column * 13 + index) % 40))
                }}
            }
            try Data(images).write(to: URL(fileURLWithPath: "\(directory)/data/\(name)-images-idx3-ubyte"))
            try Data(labels).write(to: URL(fileURLWithPath: "\(directory)/data/\(name)-labels-idx1-ubyte"))
        }
        for (path, classes) in [(directory + "/ten.safetensors", 10), (directory + "/two.safetensors", 2)] {
            var generator = SplitMix64(seed: UInt64(classes))
            try Checkpoint.save(Architecture.mlp.makeModel(classCount: classes, using: &generator), architecture: "mlp", to: path)
        }
    }

    private func bulwark(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        try runBulwark(arguments)
    }

    /// A failure the user can act on: non-zero status, no crash, no usage line.
    private func expectCleanFailure(_ result: (status: Int32, output: String, error: String), mentioning words: [String],
                                    sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 1, "exit status \(result.status): \(result.error)", sourceLocation: sourceLocation)
        #expect(!result.error.contains("Fatal error") && !result.error.contains("Precondition"), "\(result.error)", sourceLocation: sourceLocation)
        #expect(!result.error.contains("Usage:"), "not a usage error: \(result.error)", sourceLocation: sourceLocation)
        for word in words {
            #expect(result.error.contains(word), "the error names \(word): \(result.error)", sourceLocation: sourceLocation)
        }
    }

    @Test func aModelWithFewerClassesThanTheDataIsAnErrorNamingBothCounts() throws {
        let common = ["--model", twoClassModel] + data
        expectCleanFailure(try bulwark(["eval"] + common + ["--attack", "none", "--count", "20"]), mentioning: ["2 classes", "10"])
        expectCleanFailure(try bulwark(["eval"] + common + ["--attack", "pgd", "--steps", "2", "--count", "20"]), mentioning: ["2 classes", "10"])
        expectCleanFailure(try bulwark(["eval"] + common + ["--epsilons", "0,0.1", "--steps", "2", "--count", "20"]), mentioning: ["2 classes"])
        expectCleanFailure(try bulwark(["attack"] + common + ["--steps", "2", "--count", "20", "--out", directory + "/x.safetensors"]),
                           mentioning: ["2 classes", "10"])
        expectCleanFailure(try bulwark(["predict"] + common + ["--count", "20", "--json", directory + "/p.json"]), mentioning: ["2 classes", "10"])
        #expect(!FileManager.default.fileExists(atPath: directory + "/p.json"), "no accuracy is reported for a model that cannot fit")
        let fitting = try bulwark(["predict", "--model", model] + data + ["--count", "20", "--json", directory + "/p.json"])
        #expect(fitting.status == 0, "\(fitting.error)")
    }

    @Test(arguments: [["eval", "--epsilon=-0.1"], ["eval", "--epsilon=8/-255"], ["attack", "--epsilon=-0.1"],
                      ["eval", "--epsilons=0.1,-0.1"], ["eval", "--epsilon=-0.1", "--epsilons=0.1"]])
    func aNegativeBudgetIsAnError(arguments: [String]) throws {
        var command = arguments + ["--model", model] + data + ["--steps", "2", "--count", "10"]
        if arguments[0] == "attack" { command += ["--out", directory + "/x.safetensors"] }
        let result = try bulwark(command)
        #expect(result.status == 64, "a usage error, not a crash (exit status \(result.status)): \(result.error)")
        #expect(!result.error.contains("Fatal error") && !result.error.contains("Precondition"), "\(result.error)")
        #expect(result.error.contains("--epsilon") && result.error.contains("negative"), "\(result.error)")
    }

    /// The library's errors name configuration fields; the command line names the options.
    @Test func libraryErrorsNameTheOptions() throws {
        let noData = try bulwark(["eval", "--model", model, "--dataset", "mnist", "--data-dir", directory + "/nowhere", "--count", "5"])
        #expect(noData.status == 1 && noData.error.contains("pass --data-dir DIR containing") && !noData.error.contains("`"),
                "\(noData.error)")
        let header = Array(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.utf8)
        let bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header + [0, 0, 0, 0]
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/pytorch.safetensors"))
        let noArchitecture = try bulwark(["predict", "--model", directory + "/pytorch.safetensors"] + data + ["--json", directory + "/q.json"])
        #expect(noArchitecture.status == 1 && noArchitecture.error.contains("Pass --architecture NAME, one of: mlp"), "\(noArchitecture.error)")
        let tooSmall = try bulwark(["eval", "--model", model] + data + ["--count", "5", "--steps=0"])
        #expect(tooSmall.status == 64 && tooSmall.error.contains("--steps must be at least 1, got 0"), "\(tooSmall.error)")
        let standardAttack = try bulwark(["attack", "--model", model] + data + ["--attack", "standard", "--out", directory + "/s.safetensors"])
        #expect(standardAttack.status == 64 && standardAttack.error.contains("Unknown attack 'standard'. Choose from: fgsm,"), "\(standardAttack.error)")
        #expect(!standardAttack.error.contains("standard, none"), "\(standardAttack.error)")
    }

    @Test func verifyingAFileOfNoExamplesIsAnError() throws {
        let empty = directory + "/empty.safetensors"
        let none = Tensor(shape: [0, 1, 28, 28], scalars: [])
        let nothing = Tensor(shape: [0], scalars: [])
        try SafeTensorsFile(tensors: ["clean": none, "adversarial": none, "labels": nothing, "clean_predictions": nothing,
                                      "adversarial_predictions": nothing, "success": nothing, "indices": nothing],
                            metadata: ["attack": "pgd", "norm": "linf", "epsilon": "0.1", "dataset": "idx", "split": "test"]).write(to: empty)
        expectCleanFailure(try bulwark(["verify-adversarial", "--model", model, "--file", empty] + data + ["--epsilon", "0.1"]),
                           mentioning: ["empty.safetensors", "no examples"])
    }

    /// A file altered after `bulwark attack` wrote it, with `change` applied to its tensors and
    /// metadata.
    private func forged(_ source: String, _ name: String, _ change: (inout SafeTensorsFile) -> Void) throws -> String {
        var file = try SafeTensorsFile(contentsOf: source)
        change(&file)
        let path = directory + "/" + name + ".safetensors"
        try file.write(to: path)
        return path
    }

    @Test func verifyingAgainstAModelOfAnotherInputShapeIsAnError() throws {
        let examples = directory + "/shape.safetensors"
        let attack = try bulwark(["attack", "--model", model] + data + ["--attack", "fgsm", "--epsilon", "0.1", "--count", "4", "--out", examples])
        #expect(attack.status == 0, "\(attack.error)")
        var generator = SplitMix64(seed: 1)
        let colour = directory + "/colour.safetensors"
        try Checkpoint.save(Architecture.cifarCNN.makeModel(using: &generator), architecture: "cifar-cnn", to: colour)
        expectCleanFailure(try bulwark(["verify-adversarial", "--model", colour, "--file", examples] + data),
                           mentioning: ["shape.safetensors", "[1, 28, 28]", "[3, 32, 32]"])
    }

    @Test func verifyRederivesEverythingFromTheDatasetAndTheModel() throws {
        let examples = directory + "/examples.safetensors"
        let attack = try bulwark(["attack", "--model", model] + data + ["--attack", "pgd", "--epsilon", "0.1", "--steps", "5",
                                                                      "--count", "30", "--out", examples])
        #expect(attack.status == 0, "\(attack.error)")
        // Dataset, split, norm and ε come from the file.
        let verified = try bulwark(["verify-adversarial", "--model", model, "--file", examples])
        #expect(verified.status == 0, "\(verified.error)")
        #expect(verified.output.contains("verified 30 examples") && verified.output.contains("ε = 0.1"), "\(verified.output)")
        let npy = directory + "/examples-npy"
        let numpy = try bulwark(["attack", "--model", model] + data + ["--attack", "fgsm", "--epsilon", "0.05", "--count", "12",
                                                                     "--format", "npy", "--out", npy])
        #expect(numpy.status == 0, "\(numpy.error)")
        let fromNumPy = try bulwark(["verify-adversarial", "--model", model, "--file", npy])
        #expect(fromNumPy.status == 0 && fromNumPy.output.contains("verified 12 examples"), "\(fromNumPy.output) \(fromNumPy.error)")

        let original = try SafeTensorsFile(contentsOf: examples)
        let adversarialPredictions = try #require(original.tensors["adversarial_predictions"]?.array)
        // A failed attack relabelled as a success: the label moved off the adversarial prediction.
        let relabelled = try forged(examples, "relabelled") { file in
            var labels = file.tensors["labels"]?.array ?? []
            labels[0] = Float((Int(adversarialPredictions[0]) + 1) % 10)
            file.tensors["labels"] = Tensor(labels)
            var success = file.tensors["success"]?.array ?? []
            success[0] = 1
            file.tensors["success"] = Tensor(success)
        }
        let cleanReplaced = try forged(examples, "clean-replaced") { file in file.tensors["clean"] = file.tensors["adversarial"] }
        let outOfRange = try forged(examples, "out-of-range") { file in
            var indices = file.tensors["indices"]?.array ?? []
            indices[0] = 99999
            file.tensors["indices"] = Tensor(indices)
        }
        let fractional = try forged(examples, "fractional") { file in
            var labels = file.tensors["labels"]?.array ?? []
            labels[1] += 0.5
            file.tensors["labels"] = Tensor(labels)
        }
        let smallerBudget = try forged(examples, "smaller-budget") { file in file.metadata["epsilon"] = "0.01" }
        for (file, words) in [(relabelled, ["labels differ from the dataset's"]), (cleanReplaced, ["clean images differ"]),
                              (outOfRange, ["indices outside"]), (fractional, ["labels"]), (smallerBudget, ["exceeds ε = 0.01"])] {
            expectCleanFailure(try bulwark(["verify-adversarial", "--model", model, "--file", file]), mentioning: [file] + words)
        }
    }

    /// `success` counts only the correct predictions the attack changed; mistakes the model
    /// made before the attack are recorded and reported apart.
    @Test func attackSuccessesAreFlipsOfCorrectPredictions() throws {
        let examples = directory + "/flips.safetensors"
        let attack = try bulwark(["attack", "--model", model] + data + ["--attack", "fgsm", "--epsilon", "0.05", "--count", "40", "--out", examples])
        #expect(attack.status == 0, "\(attack.error)")
        let file = try SafeTensorsFile(contentsOf: examples)
        let labels = try #require(file.tensors["labels"]?.array)
        let clean = try #require(file.tensors["clean_predictions"]?.array)
        let adversarial = try #require(file.tensors["adversarial_predictions"]?.array)
        let success = try #require(file.tensors["success"]?.array)
        let mistaken = try #require(file.tensors["clean_misclassified"]?.array, "the clean mistakes are recorded")
        let correct = labels.indices.filter { clean[$0] == labels[$0] }
        #expect(correct.count < 40, "the fixture: the untrained model makes mistakes before the attack")
        #expect(success == labels.indices.map { clean[$0] == labels[$0] && adversarial[$0] != labels[$0] ? 1 : 0 })
        #expect(mistaken == labels.indices.map { clean[$0] != labels[$0] ? 1 : 0 })
        let flipped = success.filter { $0 == 1 }.count
        #expect(attack.output.contains("\(40 - correct.count) of 40 misclassified before the attack; the attack flipped \(flipped) of the \(correct.count) correct ones"),
                "\(attack.output)")
    }

    /// The header of a safetensors file: its tensors' entries and `__metadata__`.
    private func safeTensorsHeader(_ path: String) throws -> [String: Any] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        return try #require(try JSONSerialization.jsonObject(with: bytes[8..<(8 + length)]) as? [String: Any])
    }

    @Test func attackFilesStoreIntegersAsIntegersAndTheAttacksSettings() throws {
        let examples = directory + "/settings.safetensors"
        let png = directory + "/png"
        let attack = try bulwark(["attack", "--model", model] + data + ["--attack", "pgd", "--epsilon", "0.1", "--steps", "7",
                                                                      "--step-size", "0.02", "--restarts", "2", "--count", "9",
                                                                      "--out", examples, "--png", png])
        #expect(attack.status == 0, "\(attack.error)")
        let header = try safeTensorsHeader(examples)
        for name in ["labels", "clean_predictions", "adversarial_predictions", "indices", "success", "clean_misclassified"] {
            #expect((header[name] as? [String: Any])?["dtype"] as? String == "I64", "\(name): \(header[name] ?? "missing")")
        }
        #expect((header["clean"] as? [String: Any])?["dtype"] as? String == "F32")
        let metadata = try #require(header["__metadata__"] as? [String: String])
        #expect(metadata["attack"] == "pgd" && metadata["steps"] == "7" && metadata["step_size"] == "0.02" && metadata["restarts"] == "2",
                "\(metadata)")
        // Still read back and verified (older F32 files are read by the verification tests).
        let verified = try bulwark(["verify-adversarial", "--model", model, "--file", examples])
        #expect(verified.status == 0, "\(verified.error)")
        // examples.csv starts with its header, as CSV readers expect.
        let csv = try String(contentsOfFile: png + "/examples.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.first?.hasPrefix("index,true_label,") == true && csv.count == 1 + 9, "\(csv.prefix(2))")

        // npy output is a directory: a .npy name is refused before anything is written.
        let refused = try bulwark(["attack", "--model", model] + data + ["--attack", "fgsm", "--count", "3", "--format", "npy",
                                                                       "--out", directory + "/adv.npy"])
        #expect(refused.status == 64 && refused.error.contains("directory") && refused.error.contains("adv-npy"), "\(refused.error)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/adv.npy"))
    }
}
