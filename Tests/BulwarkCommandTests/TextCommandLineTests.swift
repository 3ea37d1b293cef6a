import Bulwark
import Foundation
import Testing
import _TestSupport

/// End-to-end runs of `bulwark train --task text` on a small synthetic TSV dataset.
@Suite(.serialized) struct TextCommandLineTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-text-cli")
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        // "good" or "bad" decides the label; the other words are noise.
        var generator = SplitMix64(seed: 1)
        let fillers = ["the", "film", "was", "quite", "a", "story", "of", "plot", "and", "acting"]
        for (name, count) in [("train", 300), ("dev", 100)] {
            var lines = ["text\tlabel"]
            for index in 0..<count {
                var words = (0..<Int.random(in: 2...6, using: &generator)).map { _ in fillers[Int.random(in: 0..<fillers.count, using: &generator)] }
                words.insert(index % 2 == 0 ? "bad" : "good", at: Int.random(in: 0...words.count, using: &generator))
                lines.append(words.joined(separator: " ") + "\t" + (index % 2 == 0 ? "negative" : "positive"))
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: "\(directory)/data/\(name).tsv", atomically: true, encoding: .utf8)
        }
    }

    private func bulwark(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        try runBulwark(arguments)
    }

    @Test(arguments: [("bag", "fgm"), ("textcnn", "pgd"), ("bag", "freelb"), ("bag", "vat"), ("bag", "smart"), ("bilstm", "standard"), ("transformer", "freelb")])
    func trainTextWritesModelVocabularyAndMetrics(_ model: String, _ method: String) throws {
        let run = directory + "/run-\(model)-\(method)"
        let result = try bulwark([
            "train", "--task", "text", "--dataset", "tsv", "--data-dir", directory + "/data", "--model", model,
            "--method", method, "--epsilon", "0.5", "--epochs", "4", "--batch-size", "20", "--learning-rate", "0.02",
            "--embedding-dimension", "8", "--filters", "4", "--hidden-size", "6", "--heads", "2", "--layers", "1", "--feedforward-size", "16", "--validation-steps", "2", "--out", run, "--quiet",
        ])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("final epoch"))
        for file in ["model.safetensors", "best.safetensors", "metrics.jsonl", "resume.safetensors", "vocabulary.txt", "run.json"] {
            #expect(FileManager.default.fileExists(atPath: run + "/" + file), "\(file)")
        }
        let vocabulary = try String(contentsOfFile: run + "/vocabulary.txt", encoding: .utf8).split(separator: "\n")
        #expect(Array(vocabulary.prefix(2)) == ["<pad>", "<unk>"])
        let lines = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        let last = try #require(try JSONSerialization.jsonObject(with: Data(lines[3].utf8)) as? [String: Any])
        let accuracy = try #require(last["validation_clean_accuracy"] as? Double)
        #expect(accuracy > 0.9, "\(lines)")
        #expect(last["validation_robust_accuracy"] is Double)
    }

    @Test func missingDatasetDirectoryNamesTheExpectedFiles() throws {
        let result = try bulwark(["train", "--task", "text", "--dataset", "sst2", "--data-dir", directory + "/nowhere", "--out", directory + "/x"])
        #expect(result.status != 0)
        #expect(result.error.contains("train.tsv") && result.error.contains("dev.tsv") && result.error.contains("--data-dir"), "\(result.error)")
    }

    @Test func textHelpListsTheTextOptionsAndImageHelpPointsToIt() throws {
        let text = try bulwark(["train", "--task", "text", "--help"])
        #expect(text.status == 0)
        #expect(text.output.contains("--method") && text.output.contains("fgm") && text.output.contains("--data-dir"))
        let image = try bulwark(["train", "--help"])
        #expect(image.output.contains("--task"))
    }
}

extension TextCommandLineTests {
    @Test func evalTextReportsCleanAndRobustAccuracyAsJSON() throws {
        let run = directory + "/run-eval"
        let train = try bulwark([
            "train", "--task", "text", "--dataset", "tsv", "--data-dir", directory + "/data", "--model", "textcnn",
            "--epochs", "3", "--batch-size", "20", "--learning-rate", "0.02", "--embedding-dimension", "8", "--filters", "4",
            "--out", run, "--quiet",
        ])
        #expect(train.status == 0, "\(train.error)")
        let json = run + "/eval.json"
        let eval = try bulwark([
            "eval", "--task", "text", "--model", run + "/model.safetensors", "--dataset", "tsv", "--data-dir", directory + "/data",
            "--epsilons", "0,50", "--steps", "5", "--json", json, "--quiet",
        ])
        #expect(eval.status == 0, "\(eval.error)")
        #expect(eval.output.contains("clean accuracy"))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let clean = try #require(report["clean_accuracy"] as? Double)
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(report["count"] as? Int == 100)
        #expect(clean > 0.9)
        #expect(results.count == 2)
        #expect(results[0]["robust_accuracy"] as? Double == clean)
        let large = try #require(results[1]["robust_accuracy"] as? Double)
        #expect(large < clean - 0.3, "ε = 50 must break the model: \(results)")
        #expect((results[1]["max_perturbation_norm"] as? Double ?? 99) <= 50.001)

        let missing = try bulwark(["eval", "--task", "text", "--model", run + "/model.safetensors", "--vocabulary", directory + "/none.txt",
                                   "--dataset", "tsv", "--data-dir", directory + "/data"])
        #expect(missing.status != 0)
        #expect(missing.error.contains("--vocabulary"), "\(missing.error)")
    }
}

extension TextCommandLineTests {
    @Test func matrixSiteTrainsWithFGMAndFreeLBAndIsRejectedForOtherMethods() throws {
        for method in ["fgm", "freelb"] {
            let run = directory + "/run-matrix-" + method
            let result = try bulwark([
                "train", "--task", "text", "--dataset", "tsv", "--data-dir", directory + "/data", "--model", "bag",
                "--method", method, "--perturbation-site", "matrix", "--clean-warmup-epochs", "1", "--epsilon", "0.5",
                "--epochs", "3", "--batch-size", "20", "--learning-rate", "0.02", "--embedding-dimension", "8", "--out", run, "--quiet",
            ])
            #expect(result.status == 0, "\(result.error)")
            let configuration = try String(contentsOfFile: run + "/run.json", encoding: .utf8)
            #expect(configuration.contains("\"perturbation_site\" : \"matrix\"") && configuration.contains("\"clean_warmup_epochs\" : 1,"), "\(configuration)")
        }
        let rejected = try bulwark([
            "train", "--task", "text", "--dataset", "tsv", "--data-dir", directory + "/data", "--method", "vat",
            "--perturbation-site", "matrix", "--out", directory + "/never",
        ])
        #expect(rejected.status != 0)
        #expect(rejected.error.contains("fgm, pgd and freelb"), "\(rejected.error)")
    }

    @Test func smartRecordsItsProximalPointSettings() throws {
        let run = directory + "/run-smart"
        let result = try bulwark([
            "train", "--task", "text", "--dataset", "tsv", "--data-dir", directory + "/data", "--model", "bag", "--method", "smart",
            "--epsilon", "0.5", "--steps", "1", "--proximal-weight", "2", "--proximal-momentum", "0.9",
            "--epochs", "2", "--batch-size", "20", "--learning-rate", "0.02", "--embedding-dimension", "8", "--out", run, "--quiet",
        ])
        #expect(result.status == 0, "\(result.error)")
        let configuration = try String(contentsOfFile: run + "/run.json", encoding: .utf8)
        #expect(configuration.contains("\"proximal_weight\" : 2,") && configuration.contains("\"proximal_momentum\" : 0.9,"), "\(configuration)")
        let rejected = try bulwark([
            "train", "--task", "text", "--dataset", "tsv", "--data-dir", directory + "/data", "--method", "smart",
            "--proximal-momentum", "1", "--out", directory + "/never",
        ])
        #expect(rejected.status != 0)
        #expect(rejected.error.contains("--proximal-momentum"), "\(rejected.error)")
    }
}

extension TextCommandLineTests {
    @Test func pwwsUsesTheGivenWordNetAndWritesPairs() throws {
        let run = directory + "/run-pwws"
        let train = try bulwark([
            "train", "--task", "text", "--dataset", "tsv", "--data-dir", directory + "/data", "--model", "bag",
            "--epochs", "3", "--batch-size", "20", "--learning-rate", "0.02", "--embedding-dimension", "8", "--out", run, "--quiet",
        ])
        #expect(train.status == 0, "\(train.error)")
        // A made-up WordNet in which "good" and "bad" share a synset, so swapping them flips the label.
        let wordnet = directory + "/wordnet"
        try FileManager.default.createDirectory(atPath: wordnet, withIntermediateDirectories: true)
        for name in ["data.noun", "data.verb", "data.adv"] { try "".write(toFile: wordnet + "/" + name, atomically: true, encoding: .utf8) }
        try "00000001 00 a 02 good 0 bad 0 000 | test\n".write(toFile: wordnet + "/data.adj", atomically: true, encoding: .utf8)
        let json = run + "/pwws.json", pairs = run + "/pairs.tsv"
        let eval = try bulwark([
            "eval", "--task", "text", "--model", run + "/model.safetensors", "--dataset", "tsv", "--data-dir", directory + "/data",
            "--attack", "pwws", "--wordnet-dir", wordnet, "--pairs", pairs, "--json", json, "--quiet",
        ])
        #expect(eval.status == 0, "\(eval.error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let pwws = try #require(report["pwws"] as? [String: Any])
        #expect((pwws["success_rate"] as? Double ?? 0) > 0.9, "\(pwws)")
        #expect((pwws["accuracy_under_attack"] as? Double ?? 1) < 0.1)
        let lines = try String(contentsOfFile: pairs, encoding: .utf8).split(separator: "\n")
        #expect(lines.count > 90)
        #expect(lines[0] == "label\tsucceeded\tchanged\tqueries\tconfidence\tadversarial_prediction\tadversarial_confidence\toriginal\tadversarial")
        let fields = lines[1].split(separator: "\t").map(String.init)
        #expect(fields.count == 9)
        // Only the synonym swap happens: the two sentences differ in exactly one word, good ↔ bad.
        let (original, adversarial) = (fields[7].split(separator: " "), fields[8].split(separator: " "))
        let differences = zip(original, adversarial).filter { $0 != $1 }
        #expect(differences.count == 1 && Set([differences[0].0, differences[0].1]) == ["good", "bad"], "\(fields)")
        #expect(fields[1] == "true" && fields[5] != fields[0], "a fooled sentence's adversarial prediction is another class: \(fields)")

        // The report of the run shows the pairs with the swapped word marked.
        let built = try bulwark(["report", run, "--quiet"])
        #expect(built.status == 0, "\(built.error)")
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        #expect(html.contains("Text adversarial examples"))
        #expect(html.contains("<mark>bad</mark>") || html.contains("<mark>good</mark>"))
        let missing = try bulwark(["eval", "--task", "text", "--model", run + "/model.safetensors", "--dataset", "tsv",
                                   "--data-dir", directory + "/data", "--attack", "pwws", "--wordnet-dir", directory + "/none"])
        #expect(missing.status != 0 && missing.error.contains("wordnet-base"), "\(missing.error)")
    }
}

extension TextCommandLineTests {
    /// `train --task text --resume`: a run stopped after epoch 1 (SMART on a TextCNN with
    /// dropout) and resumed from its directory alone writes the uninterrupted run's
    /// model.safetensors byte for byte; conflicting options and other data are clear errors.
    @Test func resumeContinuesAStoppedTextRunToTheSameModelFile() throws {
        let run = directory + "/resumed", full = directory + "/uninterrupted"
        let options = [
            "train", "--task", "text", "--dataset", "tsv", "--data-dir", directory + "/data", "--model", "textcnn", "--method", "smart",
            "--epsilon", "0.5", "--steps", "1", "--epochs", "2", "--batch-size", "20", "--learning-rate", "0.02",
            "--embedding-dimension", "8", "--filters", "4", "--validation-steps", "2", "--seed", "3", "--out", run,
        ]
        // The uninterrupted run in the same directory, so that the manifests (and with them the
        // checkpoints' metadata) are the same; then moved aside.
        let uninterrupted = try bulwark(options + ["--quiet"])
        #expect(uninterrupted.status == 0, "\(uninterrupted.error)")
        try FileManager.default.moveItem(atPath: run, toPath: full)

        let stopped = try bulwark(options + ["--stop-after", "1"])
        #expect(stopped.status == 0, "\(stopped.error)")
        #expect(stopped.output.contains("stopped after epoch 1 of 2; continue with: bulwark train --task text --resume"), "\(stopped.output)")
        let conflict = try bulwark(["train", "--task", "text", "--resume", run, "--epochs", "3", "--proximal-momentum", "0.9"])
        #expect(conflict.status != 0, "\(conflict.output)")
        #expect(conflict.error.contains("--epochs 3 (the run has --epochs 2)") && conflict.error.contains("--proximal-momentum 0.9 (the run has --proximal-momentum 0.99)"),
                "\(conflict.error)")

        // Options that agree with the run, or may differ, are accepted.
        let resumed = try bulwark(["train", "--task", "text", "--resume", run, "--method", "smart", "--json", run + "/summary.json"])
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.error.contains("continuing after epoch 1 of 2"), "\(resumed.error)")
        #expect(!resumed.error.contains("epoch 1:") && resumed.error.contains("epoch 2:"), "only epoch 2 is trained: \(resumed.error)")
        for name in ["model.safetensors", "best.safetensors"] {
            let (split, whole) = (try Data(contentsOf: URL(fileURLWithPath: run + "/" + name)), try Data(contentsOf: URL(fileURLWithPath: full + "/" + name)))
            #expect(split == whole, "\(name) of the resumed run is the uninterrupted run's, byte for byte")
        }
        #expect(try metricsEpochs(in: run) == [1, 2])
        let summary = try jsonObject(at: run + "/summary.json")
        #expect((summary?["epochs"] as? [Any])?.count == 2 && summary?["best_epoch"] as? Int != nil)

        // Killed before its first epoch ended, a run holds only its manifest and vocabulary:
        // --resume starts it over and ends with the same model.
        for name in ["model.safetensors", "best.safetensors", "metrics.jsonl", "resume.safetensors", "summary.json"] {
            try FileManager.default.removeItem(atPath: run + "/" + name)
        }
        let restarted = try bulwark(["train", "--task", "text", "--resume", run])
        #expect(restarted.status == 0 && restarted.error.contains("starting it from the beginning"), "\(restarted.error)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors")) == Data(contentsOf: URL(fileURLWithPath: full + "/model.safetensors")))

        // The manifest keeps the keys eval and report read, and gains the command and versions.
        let manifest = try #require(try runManifest(in: run))
        #expect(manifest["resumed_after_epochs"] == "1")
        #expect(manifest["task"] == "text" && manifest["model_configuration"] != nil && manifest["class_names"] == "[\"negative\",\"positive\"]")
        #expect(manifest["command"]?.hasPrefix("bulwark train --task text --dataset tsv --data-dir /") == true, "\(manifest["command"] ?? "")")
        for key in ["bulwark_version", "swift_version", "os", "threads", "blas"] { #expect(manifest[key] != nil, "run.json records \(key)") }

        // Without --task, --resume finds the text run by its manifest.
        let again = try bulwark(["train", "--resume", run])
        #expect(again.status != 0 && again.error.contains("already completed all 2 epochs"), "\(again.error)")
        // Data whose vocabulary differs from the run's.
        let other = directory + "/other-data"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        for name in ["train", "dev"] {
            let lines = ["text\tlabel"] + (0..<40).map { "a great new film \($0 % 2 == 0 ? "bad" : "good")\t" + ($0 % 2 == 0 ? "negative" : "positive") }
            try (lines.joined(separator: "\n") + "\n").write(toFile: "\(other)/\(name).tsv", atomically: true, encoding: .utf8)
        }
        let otherData = try bulwark(["train", "--task", "text", "--resume", run, "--data-dir", other])
        #expect(otherData.status != 0 && otherData.error.contains("vocabulary.txt") && otherData.error.contains("differs"), "\(otherData.error)")
    }
}
