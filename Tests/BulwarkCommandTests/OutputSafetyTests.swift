import Bulwark
import Foundation
import Testing
import _TestSupport

/// How `bulwark` writes its output files and protects its inputs and finished runs.
@Suite(.serialized) struct OutputSafetyTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }
    var data: String { directory + "/data" }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-outputs")
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
        let parsed = try? JSONSerialization.jsonObject(with: Data(predicted.output.utf8)) as? [String: Any]
        #expect(parsed?["predictions"] != nil, "standard output holds the JSON alone, messages go to standard error: \(predicted.output)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory + "/run").filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func badOutputPathsFailBeforeAnyWork() throws {
        let missing = directory + "/missing/x.json"
        let trained = try runBulwark(trainOptions + ["--out", directory + "/run", "--json", missing])
        #expect(trained.status != 0 && trained.error.contains("--json") && trained.error.contains("does not exist"), "\(trained.error)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/run"), "nothing was trained")
        let intoDirectory = try runBulwark(trainOptions + ["--out", directory + "/run", "--json", directory])
        #expect(intoDirectory.status != 0 && intoDirectory.error.contains("is a directory"), "\(intoDirectory.error)")
        let notADirectory = try runBulwark(trainOptions + ["--out", data + "/train-images-idx3-ubyte/run"])
        #expect(notADirectory.status != 0 && notADirectory.error.contains("--out"), "\(notADirectory.error)")

        let model = try trainedModel()
        let evaluated = try runBulwark(["eval", "--model", model, "--dataset", "idx", "--data-dir", data, "--attack", "pgd",
                                        "--epsilon", "0.1", "--steps", "2", "--count", "20", "--json", missing])
        #expect(evaluated.status != 0 && evaluated.error.contains(missing) && evaluated.error.contains("does not exist"), "\(evaluated.error)")
        #expect(!evaluated.output.contains("clean"), "the evaluation did not run: \(evaluated.output)")
        let attacked = try runBulwark(["attack", "--model", model, "--dataset", "idx", "--data-dir", data, "--attack", "fgsm",
                                       "--epsilon", "0.1", "--count", "5", "--out", directory + "/missing/x.safetensors"])
        #expect(attacked.status != 0 && attacked.error.contains("does not exist") && !attacked.output.contains("misclassified"), "\(attacked.error)")
    }

    @Test func inputsAndFinishedRunsAreNotOverwritten() throws {
        let run = directory + "/run"
        let model = try trainedModel(run: run)
        let modelBytes = try Data(contentsOf: URL(fileURLWithPath: model))
        let again = try runBulwark(trainOptions + ["--out", run])
        #expect(again.status != 0 && again.error.contains("--resume") && again.error.contains("--force"), "\(again.error)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == modelBytes, "the finished run is untouched")

        let attacked = try runBulwark(["attack", "--model", model, "--dataset", "idx", "--data-dir", data, "--attack", "fgsm",
                                       "--epsilon", "0.1", "--count", "5", "--out", model])
        #expect(attacked.status != 0 && attacked.error.contains("--model"), "\(attacked.error)")
        let link = directory + "/model-link.safetensors"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: model)
        let predicted = try runBulwark(["predict", "--model", model, "--dataset", "idx", "--data-dir", data, "--count", "3", "--json", link])
        #expect(predicted.status != 0 && predicted.error.contains("--model"), "\(predicted.error)")
        let manifest = try Data(contentsOf: URL(fileURLWithPath: run + "/run.json"))
        let reported = try runBulwark(["report", run, "--no-attack", "--out", run + "/run.json"])
        #expect(reported.status != 0 && reported.error.contains("run.json"), "\(reported.error)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == modelBytes, "the model is untouched")
        #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/run.json")) == manifest, "the manifest is untouched")

        // --force with a dataset that does not load fails before it removes anything.
        let misdirected = try runBulwark(trainOptions.map { $0 == data ? directory + "/nowhere" : $0 } + ["--out", run, "--force"])
        #expect(misdirected.status != 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == modelBytes, "a failed --force run leaves the old run whole")

        let forced = try runBulwark(trainOptions + ["--out", run, "--force", "--seed", "2"])
        #expect(forced.status == 0, "\(forced.error)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) != modelBytes, "--force replaces the run")
    }

    @Test func resumeTakesNoOutputPathFromTheManifest() throws {
        let run = directory + "/stopped"
        let stopped = try runBulwark(trainOptions.map { $0 == "1" ? "2" : $0 } + ["--out", run, "--stop-after", "1"])
        #expect(stopped.status == 0, "\(stopped.error)")
        var manifest = try #require(try jsonObject(at: run + "/run.json"))
        let hijacked = directory + "/hijacked.json"
        manifest["command"] = try #require(manifest["command"] as? String) + " --json " + hijacked
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: run + "/run.json"))
        // What a kill during a checkpoint's write leaves behind (no process has that number).
        let orphan = run + "/.resume.safetensors.tmp-2147483646-5eed"
        try Data(count: 1000).write(to: URL(fileURLWithPath: orphan))
        let resumed = try runBulwark(["train", "--resume", run])
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(!FileManager.default.fileExists(atPath: hijacked), "the manifest's --json was not followed")
        #expect(!FileManager.default.fileExists(atPath: orphan), "resuming removes the temporary files of killed writes")
    }

    @Test func resumingACompletedRunWritesAMissingSummary() throws {
        let run = directory + "/summary-run"
        _ = try trainedModel(run: run)
        // Killed after its final evaluation, before --json was written: resume writes the summary.
        let summary = directory + "/late-summary.json"
        let resumed = try runBulwark(["train", "--resume", run, "--json", summary, "--quiet"])
        #expect(resumed.status == 0, "\(resumed.error)")
        let object = try #require(try jsonObject(at: summary))
        #expect(object["model"] as? String == run + "/model.safetensors" && object["final_evaluation"] as? String == run + "/final-eval.json",
                "\(object)")
        // Without an output missing there is still nothing to continue.
        let again = try runBulwark(["train", "--resume", run, "--quiet"])
        #expect(again.status != 0 && again.error.contains("nothing to continue"), "\(again.error)")
    }

    @Test func resumingFromACheckpointHoldingNaNSaysItIsDamaged() throws {
        let run = directory + "/poisoned"
        let stopped = try runBulwark(trainOptions.map { $0 == "1" ? "2" : $0 } + ["--out", run, "--stop-after", "1"])
        #expect(stopped.status == 0, "\(stopped.error)")
        let checkpoint = run + "/resume.safetensors"
        var file = try SafeTensorsFile(contentsOf: checkpoint)
        let name = try #require(file.tensors.keys.sorted().first { $0.hasPrefix("model.") && $0.hasSuffix(".weight") })
        var poisoned = try #require(file.tensors[name]).array
        poisoned[0] = .nan
        file.tensors[name] = Tensor(shape: try #require(file.tensors[name]).shape, scalars: poisoned)
        try file.write(to: checkpoint)
        let resumed = try runBulwark(["train", "--resume", run])
        #expect(resumed.status != 0 && resumed.error.contains("damaged") && resumed.error.contains("'" + name.dropFirst("model.".count) + "'")
                && !resumed.error.contains("not this run's model"), "\(resumed.error)")
    }

    @Test func manifestStoresNumbersAndExplainsTheTrainingCount() throws {
        let run = directory + "/typed"
        let options = ["train", "--dataset", "idx", "--data-dir", data, "--model", "mlp", "--method", "fast", "--epsilon", "0.1",
                       "--epochs", "2", "--batch-size", "50", "--train-count", "300", "--validation-count", "100",
                       "--validation-steps", "2", "--final-eval-count", "20", "--seed", "3", "--quiet", "--out", run]
        let stopped = try runBulwark(options + ["--stop-after", "1"])
        #expect(stopped.status == 0, "\(stopped.error)")
        let manifest = try #require(try jsonObject(at: run + "/run.json"))
        #expect(manifest["epochs"] as? Int == 2 && manifest["seed"] as? Int == 3 && manifest["epsilon"] as? Double == 0.1)
        #expect(manifest["random_start"] as? Bool == true && manifest["method"] as? String == "fast")
        #expect(manifest["train_count"] as? Int == 200 && manifest["validation_count"] as? Int == 100
                && manifest["requested_train_count"] as? Int == 300, "\(manifest)")

        // A manifest of an earlier version, every value a string, still reads and resumes.
        var old = manifest.mapValues { value in (value as? String) ?? "\(value)" }
        old["random_start"] = "true"
        // whose command named the architecture --model, not the default smallcnn
        old["command"] = old["command"]?.replacingOccurrences(of: "--architecture mlp", with: "--model mlp")
        #expect(old["command"]?.contains("--model mlp") == true, "\(old)")
        try JSONSerialization.data(withJSONObject: old).write(to: URL(fileURLWithPath: run + "/run.json"))
        #expect(try RunRecord(directory: run).configuration["epochs"] == "2")
        let resumed = try runBulwark(["train", "--resume", run])
        #expect(resumed.status == 0, "\(resumed.error)")
        let after = try #require(try jsonObject(at: run + "/run.json"))
        #expect(after["resumed_after_epochs"] as? [Int] == [1], "\(after)")
        #expect(try runManifest(in: run)?["resumed_after_epochs"] == "1")
    }

    /// Trains the short run into `run` and returns its model's path.
    private func trainedModel(run: String? = nil) throws -> String {
        let out = run ?? directory + "/model-run"
        let trained = try runBulwark(trainOptions + ["--out", out])
        #expect(trained.status == 0, "\(trained.error)")
        return out + "/model.safetensors"
    }
}
