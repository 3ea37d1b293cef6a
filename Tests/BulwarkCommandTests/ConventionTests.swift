import Bulwark
import Foundation
import Testing
import _TestSupport

/// The command line's conventions: options validated with messages naming the accepted range,
/// the spellings of torchattacks and AutoAttack accepted, a checkpoint's dataset used by
/// default, and progress and warnings for long runs.
@Suite(.serialized) struct ConventionTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-conventions")
        try writeTwoClassIDX(to: directory + "/data", trainCount: 300, testCount: 100, seed: 5)
    }

    /// Trains a small MLP on the IDX fixture for one epoch; returns its checkpoint.
    private func trainedModel(_ extra: [String] = ["--architecture", "mlp"]) throws -> String {
        let run = directory + "/run"
        let result = try runBulwark([
            "train", "--dataset", "idx", "--data-dir", directory + "/data", "--method", "standard",
            "--epochs", "1", "--batch-size", "50", "--validation-count", "50", "--validation-steps", "0",
            "--final-eval-count", "0", "--out", run, "--quiet",
        ] + extra)
        try #require(result.status == 0, "train failed: \(result.error)")
        return run + "/model.safetensors"
    }

    // MARK: - Values out of range

    @Test func errorsFoundWhileRunningHaveNoUsageLine() throws {
        let model = try trainedModel()
        let result = try runBulwark(["eval", "--model", model, "--dataset", "idx", "--data-dir", directory + "/data",
                                     "--count", "5", "--json", directory + "/missing/eval.json"])
        #expect(result.status == 64, "\(result.error)")
        #expect(result.error.hasPrefix("Error: --json"), "\(result.error)")
        #expect(!result.error.contains("Usage:"), "a usage line after an error found while running: \(result.error)")
    }

    @Test(arguments: [
        (["train", "--weight-decay", "-1"], "--weight-decay", "-1"),
        (["train", "--epochs", "-2"], "--epochs", "-2"),
        (["train", "--momentum", "-0.5"], "--momentum", "-0.5"),
        (["train", "--learning-rate", "-0.1"], "--learning-rate", "-0.1"),
        (["train", "--train-count", "0"], "--train-count", "0"),
        (["train", "--batch-size", "0"], "--batch-size", "0"),
        (["train", "--epsilon", "1e39/1"], "--epsilon", "1e39/1"),
        (["eval", "--model", "m.safetensors", "--count", "-1"], "--count", "-1"),
        (["eval", "--model", "m.safetensors", "--steps", "-5"], "--steps", "-5"),
        (["eval", "--model", "m.safetensors", "--queries", "0"], "--queries", "0"),
        (["eval", "--model", "m.safetensors", "--restarts", "0"], "--restarts", "0"),
        (["eval", "--model", "m.safetensors", "--batch-size", "-3"], "--batch-size", "-3"),
        (["eval", "--model", "m.safetensors", "--momentum-decay", "-1"], "--momentum-decay", "-1"),
        (["attack", "--model", "m.safetensors", "--out", "o.safetensors", "--count", "-3"], "--count", "-3"),
        (["predict", "--model", "m.safetensors", "--json", "p.json", "--count", "0"], "--count", "0"),
        (["report", "nowhere", "--examples", "-1"], "--examples", "-1"),
        (["train", "--task", "text", "--dataset", "sst2", "--data-dir", "nowhere", "--epochs", "-1"], "--epochs", "-1"),
        (["eval", "--task", "text", "--model", "m", "--dataset", "sst2", "--data-dir", "nowhere", "--count", "-1"], "--count", "-1"),
    ])
    func outOfRangeValuesAreRejectedNamingTheOptionAndTheValue(arguments: [String], option: String, value: String) throws {
        // Image training gets a missing data directory, so that nothing trains if the value passes.
        let missingData = arguments.first == "train" && !arguments.contains("--data-dir") ? ["--data-dir", directory + "/nowhere"] : []
        let result = try runBulwark(arguments + missingData)
        #expect(result.status != 0, "\(arguments) was accepted")
        #expect(result.error.contains(option) && result.error.contains(value) && !result.error.contains("Missing value"),
                "\(arguments): \(result.error)")
    }

    @Test(arguments: [["eval", "--model", "m.safetensors"], ["attack", "--model", "m.safetensors", "--out", "o.safetensors"]])
    func anEmptyAttackNameIsRejected(command: [String]) throws {
        let result = try runBulwark(command + ["--attack", ""])
        #expect(result.status != 0)
        #expect(result.error.contains("--attack") && result.error.contains("empty"), "\(result.error)")
    }

    // MARK: - Spellings of other libraries

    @Test func torchattacksAndAutoAttackSpellingsAreAccepted() throws {
        let model = try trainedModel()
        for norm in ["Linf", "LINF", "inf", "linf", "L2", "l2"] {
            let json = directory + "/eval-\(norm).json"
            let result = try runBulwark([
                "eval", "--model", model, "--dataset", "idx", "--data-dir", directory + "/data", "--attack", "pgd",
                "--eps", "8/255", "--alpha", "2/255", "--n-restarts", "2", "--steps", "2", "--norm", norm,
                "--count", "10", "--no-sanity-checks", "--json", json, "--quiet",
            ])
            try #require(result.status == 0, "--norm \(norm): \(result.error)")
            let written = try #require(try jsonObject(at: json))
            #expect(written["norm"] as? String == (norm.lowercased() == "l2" ? "l2" : "linf"))
            #expect(abs((written["epsilon"] as? Double ?? 0) - 8.0 / 255) < 1e-6)
            #expect(abs((written["step_size"] as? Double ?? 0) - 2.0 / 255) < 1e-6)
            #expect(written["restarts"] as? Int == 2)
        }
    }

    @Test func evalVersionStandardRunsTheStandardEnsemble() throws {
        let model = try trainedModel()
        let result = try runBulwark([
            "eval", "--model", model, "--dataset", "idx", "--data-dir", directory + "/data", "--version", "standard",
            "--iterations", "3", "--queries", "20", "--count", "10", "--no-sanity-checks", "--quiet",
        ])
        #expect(result.status == 0, "\(result.error)")
        for name in ["apgd-ce", "apgd-t", "fab-t", "square"] { #expect(result.output.contains(name), "\(result.output)") }
        #expect(!result.output.contains(toolVersionText), "eval --version standard is not the tool's version")

        let rand = try runBulwark(["eval", "--model", model, "--version", "rand"])
        #expect(rand.status != 0)
        #expect(rand.error.contains("--version") && rand.error.contains("standard"), "\(rand.error)")

        let version = try runBulwark(["--version"])
        #expect(version.status == 0 && version.output.contains(toolVersionText))
    }

    private var toolVersionText: String { "0.1.0" }

    @Test func helpOfTextTrainingIsPrintedByTheHelpCommand() throws {
        for command in [["help", "train", "--task", "text"], ["help", "train", "--task=text"]] {
            let result = try runBulwark(command)
            #expect(result.status == 0, "\(command): \(result.error)")
            #expect(result.output.contains("--embedding-dimension"), "\(command): \(result.output)")
        }
        let evaluation = try runBulwark(["help", "eval", "--task", "text"])
        #expect(evaluation.status == 0 && evaluation.output.contains("--wordnet-dir"), "\(evaluation.error)")
    }

    @Test func trainTakesTheArchitectureAsArchitectureAndStillAcceptsModel() throws {
        let model = try trainedModel(["--architecture", "mlp"])
        let manifest = try #require(try runManifest(in: directory + "/run"))
        #expect(manifest["architecture"] == "mlp")
        #expect(manifest["command"]?.contains("--architecture mlp") == true, "\(manifest["command"] ?? "")")
        #expect(FileManager.default.fileExists(atPath: model))

        let old = try runBulwark([
            "train", "--dataset", "idx", "--data-dir", directory + "/data", "--model", "mlp", "--method", "standard",
            "--epochs", "1", "--batch-size", "50", "--validation-count", "50", "--validation-steps", "0",
            "--final-eval-count", "0", "--out", directory + "/old", "--quiet",
        ])
        #expect(old.status == 0, "\(old.error)")
        #expect(old.error.contains("--model") && old.error.contains("deprecated") && old.error.contains("--architecture"), "\(old.error)")
        #expect(try runManifest(in: directory + "/old")?["architecture"] == "mlp")
    }

    // MARK: - The checkpoint's dataset

    @Test func evaluationDefaultsToTheDatasetTheCheckpointWasTrainedOn() throws {
        let model = try trainedModel()
        let withDirectory = try runBulwark(["eval", "--model", model, "--data-dir", directory + "/data", "--attack", "none", "--count", "20", "--no-sanity-checks"])
        #expect(withDirectory.status == 0, "\(withDirectory.error)")
        #expect(withDirectory.output.contains("data: idx"), "\(withDirectory.output)")
        // Without --data-dir, the directory the model was trained from.
        let bare = try runBulwark(["eval", "--model", model, "--attack", "none", "--count", "20", "--no-sanity-checks"])
        #expect(bare.status == 0, "\(bare.error)")
        #expect(bare.output.contains("data: idx"), "\(bare.output)")

        let json = directory + "/predict.json"
        let predict = try runBulwark(["predict", "--model", model, "--count", "5", "--json", json])
        #expect(predict.status == 0, "\(predict.error)")

        // Another dataset named explicitly is used, with a note.
        let other = try runBulwark(["eval", "--model", model, "--dataset", "mnist", "--data-dir", directory + "/data", "--attack", "none", "--count", "20", "--no-sanity-checks"])
        #expect(other.status == 0, "\(other.error)")
        #expect(other.output.contains("data: mnist"))
        #expect(other.error.contains("trained on idx"), "\(other.error)")
    }

    // MARK: - Long runs

    @Test func longPhasesReportProgressWhenPiped() throws {
        let model = try trainedModel()
        let everyUpdate = ["BULWARK_PROGRESS_INTERVAL": "0"]
        let attack = try runBulwark([
            "attack", "--model", model, "--data-dir", directory + "/data", "--attack", "pgd", "--steps", "30",
            "--count", "10", "--out", directory + "/examples.safetensors",
        ], environment: everyUpdate)
        #expect(attack.status == 0, "\(attack.error)")
        #expect(attack.error.contains("pgd 15/30") && attack.error.contains("iterations/s"), "\(attack.error)")

        let eval = try runBulwark([
            "eval", "--model", model, "--data-dir", directory + "/data", "--attack", "apgd-t", "square",
            "--iterations", "10", "--queries", "30", "--epsilon", "0.01", "--count", "10",
        ], environment: everyUpdate)
        #expect(eval.status == 0, "\(eval.error)")
        #expect(eval.error.contains("iteration 5/"), "APGD-T reports its iterations within a batch: \(eval.error)")
        #expect(eval.error.contains("query 10/30"), "Square reports its queries within a batch: \(eval.error)")
        #expect(eval.error.contains("sanity checks 1/41") && eval.error.contains("sanity checks 21/41"), "\(eval.error)")
    }

    @Test(arguments: [["--steps", "1000000000"], ["--queries", "1000000000"], ["--iterations", "50000"]])
    func budgetsFarBeyondThePapersAreWarnedAboutBeforeAnyWork(budget: [String]) throws {
        // The model does not exist: the warning comes before anything is loaded.
        for command in [["eval", "--model", directory + "/none.safetensors"],
                        ["attack", "--model", directory + "/none.safetensors", "--out", directory + "/x.safetensors"]] {
            let result = try runBulwark(command + budget)
            #expect(result.status != 0)
            #expect(result.error.contains("warning: \(budget[0]) \(budget[1])") && result.error.contains("none.safetensors"), "\(result.error)")
        }
        let modest = try runBulwark(["eval", "--model", directory + "/none.safetensors", "--steps", "1000", "--queries", "10000"])
        #expect(!modest.error.contains("warning"), "\(modest.error)")
    }

    // MARK: - Text reports

    @Test func textEvaluationNamesTheClassesAndKeepsTheSentencesAsWritten() throws {
        // SST-2's layout: labels 0 and 1; "Good" or "bad" decides the label, "Zanzibar" is seen
        // once and so is outside the vocabulary.
        let data = directory + "/sst2"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let fillers = ["the", "film", "was", "quite", "a", "story"]
        for (name, count) in [("train", 200), ("dev", 40)] {
            var lines = ["sentence\tlabel"]
            for index in 0..<count {
                let words = [fillers[index % fillers.count], index % 2 == 0 ? "bad" : "Good", fillers[(index / 2) % fillers.count]]
                    + (name == "dev" && index == 1 ? ["Zanzibar"] : [])
                lines.append(words.joined(separator: " ") + "\t" + (index % 2 == 0 ? "0" : "1"))
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: "\(data)/\(name).tsv", atomically: true, encoding: .utf8)
        }
        let run = directory + "/text-run"
        let train = try runBulwark([
            "train", "--task", "text", "--dataset", "sst2", "--data-dir", data, "--architecture", "bag", "--epochs", "3",
            "--batch-size", "20", "--learning-rate", "0.02", "--embedding-dimension", "8", "--out", run, "--quiet",
        ])
        try #require(train.status == 0, "\(train.error)")
        let wordnet = directory + "/wordnet"
        try FileManager.default.createDirectory(atPath: wordnet, withIntermediateDirectories: true)
        for name in ["data.noun", "data.verb", "data.adv"] { try "".write(toFile: wordnet + "/" + name, atomically: true, encoding: .utf8) }
        try "00000001 00 a 02 good 0 bad 0 000 | test\n".write(toFile: wordnet + "/data.adj", atomically: true, encoding: .utf8)
        let eval = try runBulwark([
            "eval", "--task", "text", "--model", run + "/model.safetensors", "--dataset", "sst2", "--data-dir", data,
            "--attack", "pwws", "--wordnet-dir", wordnet, "--pairs", run + "/pairs.tsv", "--json", run + "/eval.json", "--quiet",
        ])
        try #require(eval.status == 0, "\(eval.error)")
        #expect(try jsonObject(at: run + "/eval.json")?["class_names"] as? [String] == ["negative", "positive"])
        let pairs = try String(contentsOfFile: run + "/pairs.tsv", encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: "\t").map(String.init) }
        #expect(Set(pairs.map { $0[0] }) == ["negative", "positive"], "labels by name: \(pairs.prefix(3))")
        let zanzibar = try #require(pairs.first { $0[7].contains("Zanzibar") }, "the unknown word is kept as written: \(pairs.prefix(3))")
        #expect(zanzibar[7].contains("Good") && zanzibar[8].contains("bad") && !zanzibar[7].contains("<unk>"), "\(zanzibar)")

        let report = try runBulwark(["report", run, "--quiet", "--no-attack"])
        #expect(report.status == 0, "\(report.error)")
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        #expect(html.contains("classes negative, positive") && html.contains("validation sentences") && html.contains("PWWS"))
    }
}
