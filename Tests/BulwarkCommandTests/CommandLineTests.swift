import Bulwark
import Foundation
import Testing
import _TestSupport

/// End-to-end runs of the `bulwark` executable on a small synthetic IDX dataset.
@Suite(.serialized) struct CommandLineTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-cli")
        try writeTwoClassIDX(to: directory + "/data", trainCount: 600, testCount: 200)
    }


    /// Runs `bulwark` with `arguments`; returns the exit status, standard output and error.
    private func bulwark(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        try runBulwark(arguments)
    }

    @Test func trainThenEvaluateWritesModelMetricsAndJSON() throws {
        let run = directory + "/run"
        let train = try bulwark([
            "train", "--dataset", "idx", "--data-dir", directory + "/data", "--model", "mlp", "--method", "fast",
            "--epsilon", "8/255", "--epochs", "2", "--batch-size", "50", "--validation-count", "100",
            "--validation-steps", "3", "--seed", "3", "--out", run, "--quiet", "--json", directory + "/train.json",
        ])
        #expect(train.status == 0, "train failed: \(train.error)")
        #expect(FileManager.default.fileExists(atPath: run + "/model.safetensors"))
        #expect(!train.output.contains("epoch 1/2"), "--quiet prints no progress")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/train.json"))) as? [String: Any]
        let epochs = try #require(summary?["epochs"] as? [[String: Any]])
        #expect(epochs.count == 2 && epochs.last?["validation_robust_accuracy"] != nil)
        #expect((summary?["configuration"] as? [String: String])?["method"] == "fast")
        let metrics = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(metrics.count == 2)
        let configuration = try runManifest(in: run)
        #expect(configuration?["epsilon"].flatMap(Float.init) == Float(8) / 255)

        let json = directory + "/eval.json"
        let eval = try bulwark([
            "eval", "--model", run + "/model.safetensors", "--dataset", "idx", "--data-dir", directory + "/data",
            "--attack", "fgsm,pgd", "gradient-ascent", "--epsilon", "0.1", "--steps", "5", "--count", "150", "--json", json,
        ])
        #expect(eval.status == 0, "eval failed: \(eval.error)")
        #expect(eval.output.contains("clean") && eval.output.contains("pgd-5"))
        let result = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        let clean = try #require(result?["clean_accuracy"] as? Double)
        #expect(clean > 0.9, "the two-class task is easy; clean accuracy \(clean)")
        #expect(result?["count"] as? Int == 150)
        #expect(result?["norm"] as? String == "linf")
        let attacks = try #require(result?["attacks"] as? [String: [String: Any]])
        #expect(Set(attacks.keys) == ["fgsm", "pgd", "gradient-ascent"])
        for (name, entry) in attacks {
            let robust = try #require(entry["robust_accuracy"] as? Double)
            #expect(robust >= 0 && robust <= clean, "\(name)")
            let norm = try #require(entry["max_perturbation_norm"] as? Double)
            #expect(norm <= 0.1 + 1e-6, "\(name)")
        }
    }

    @Test func missingDatasetIsAOneLineErrorWithAFix() throws {
        let result = try bulwark(["train", "--dataset", "mnist", "--data-dir", directory + "/nowhere", "--out", directory + "/x"])
        #expect(result.status != 0)
        #expect(result.error.contains("nowhere"), "the error names the directory: \(result.error)")
        #expect(!result.error.contains("Fatal error"))
    }

    @Test func divergingTrainingStopsWithAClearErrorAndKeepsTheLastGoodModel() throws {
        let run = directory + "/diverge"
        let result = try bulwark(["train", "--dataset", "idx", "--data-dir", directory + "/data", "--model", "mlp", "--method", "standard",
                                  "--optimizer", "sgd", "--learning-rate", "1e12", "--epochs", "3", "--batch-size", "50",
                                  "--validation-count", "50", "--validation-steps", "0", "--out", run])
        #expect(result.status != 0)
        #expect(result.error.contains("NaN or infinite") && result.error.contains("--learning-rate"), "\(result.error)")
        #expect(!result.error.contains("Fatal error"))
        if FileManager.default.fileExists(atPath: run + "/model.safetensors") {
            let kept = try SafeTensorsFile(contentsOf: run + "/model.safetensors")
            let finite = kept.tensors.values.allSatisfy { $0.isFinite }
            #expect(finite, "the checkpoint on disk holds finite weights")
        }
    }

    @Test(arguments: [["--optimizer", "adam", "--learning-rate", "1e6"], ["--optimizer", "sgd", "--learning-rate", "30"]])
    func finiteDivergenceStopsWithAnErrorNamingTheLearningRate(arguments: [String]) throws {
        let run = directory + "/diverge-finite"
        let result = try bulwark(["train", "--dataset", "idx", "--data-dir", directory + "/data", "--model", "mlp", "--method", "standard",
                                  "--epochs", "3", "--batch-size", "50", "--validation-count", "50", "--validation-steps", "0",
                                  "--final-eval-count", "0", "--out", run, "--force"] + arguments)
        #expect(result.status != 0, "a diverged run exits with an error: \(result.output)")
        #expect(result.error.contains("diverged") && result.error.contains("--learning-rate"), "\(result.error)")
        #expect(!FileManager.default.fileExists(atPath: run + "/final-eval.json"))
    }

    @Test(arguments: [
        ["--method", "trades", "--beta", "3", "--steps", "3"], ["--method", "mart", "--steps", "3", "--overfitting-guard"],
        ["--method", "free", "--replays", "2", "--epsilon-warmup", "1"], ["--method", "mix", "--adversarial-ratio", "1/4", "--steps", "2"],
        ["--method", "awp", "--steps", "2", "--awp-gamma", "0.02"],
        ["--method", "awp", "--awp-inner", "trades", "--steps", "2", "--beta", "3", "--awp-warmup", "1"],
        ["--method", "gradalign", "--gradalign-lambda", "0.5"],
    ])
    func newMethodsTrainFromTheCommandLine(arguments: [String]) throws {
        let run = directory + "/" + arguments[1]
        let result = try bulwark([
            "train", "--dataset", "idx", "--data-dir", directory + "/data", "--model", "mlp", "--epsilon", "0.1",
            "--epochs", "2", "--batch-size", "50", "--validation-count", "100", "--validation-steps", "3", "--seed", "3", "--out", run,
        ] + arguments)
        #expect(result.status == 0, "\(arguments): \(result.error)")
        let configuration = try runManifest(in: run)
        #expect(configuration?["method"] == arguments[1])
        let metrics = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(metrics.count == 2)
        let last = try JSONSerialization.jsonObject(with: Data(metrics[1].utf8)) as? [String: Any]
        let clean = try #require(last?["validation_clean_accuracy"] as? Double)
        #expect(clean > 0.9, "\(arguments): the two-class task is easy; clean accuracy \(clean)")
        switch arguments[1] {
        case "trades": #expect(configuration?["beta"] == "3" && configuration?["steps"] == "3")
        case "mart": #expect(configuration?["beta"] == "6" && configuration?["steps"] == "3" && configuration?["overfitting_guard"] == "every epoch")
        case "free":
            #expect(configuration?["replays"] == "2" && configuration?["epsilon_warmup"] == "1")
            let first = try JSONSerialization.jsonObject(with: Data(metrics[0].utf8)) as? [String: Any]
            #expect(first?["epsilon_scale"] as? Double == 1)
        case "mix": #expect(configuration?["adversarial_ratio"] == "0.25")
        case "awp" where arguments.contains("trades"):
            #expect(configuration?["awp_inner"] == "trades" && configuration?["awp_gamma"] == "0.005" && configuration?["awp_warmup"] == "1")
            #expect(configuration?["beta"] == "3" && configuration?["steps"] == "2" && configuration?["random_start"] == nil)
        case "awp":
            #expect(configuration?["awp_inner"] == "pgd" && configuration?["awp_gamma"] == "0.02" && configuration?["awp_warmup"] == "0")
            #expect(configuration?["steps"] == "2" && configuration?["random_start"] == "true" && configuration?["beta"] == nil)
        default:
            #expect(configuration?["gradalign_lambda"] == "0.5" && configuration?["random_start"] == "false")
            #expect(configuration?["step_size"] == "0.1")
        }
    }

    @Test(arguments: [
        (["--method", "trades", "--beta", "-1"], "--beta"),
        (["--method", "fast", "--beta", "6"], "--beta applies to"),
        (["--method", "free", "--replays", "0"], "--replays"),
        (["--method", "pgd", "--replays", "4"], "--replays applies to"),
        (["--method", "mix", "--adversarial-ratio", "1.5"], "--adversarial-ratio"),
        (["--method", "trades", "--adversarial-ratio", "0.5"], "--adversarial-ratio applies to"),
        (["--method", "pgd", "--epsilon-warmup", "-1"], "--epsilon-warmup"),
        (["--method", "pgd", "--epochs", "2", "--epsilon-warmup", "3"], "longer than --epochs"),
        (["--method", "mix", "--epsilon-warmup", "1"], "has no ε to ramp"),
        (["--method", "standard", "--epsilon-warmup", "1"], "has no ε to ramp"),
        (["--method", "standard", "--overfitting-guard"], "--overfitting-guard needs"),
        (["--method", "trades", "--no-random-start"], "--no-random-start apply to"),
        (["--method", "awp", "--awp-inner", "trades", "--random-start"], "not awp on trades"),
        (["--method", "awp", "--beta", "6"], "--beta applies to"),
        (["--method", "pgd", "--awp-gamma", "0.01"], "--awp-gamma"),
        (["--method", "awp", "--awp-gamma=-1"], "--awp-gamma must be"),
        (["--method", "awp", "--epochs", "2", "--awp-warmup", "2"], "--awp-warmup 2 leaves no epoch"),
        (["--method", "fast", "--gradalign-lambda", "0.2"], "--gradalign-lambda applies to"),
        (["--method", "gradalign", "--gradalign-lambda=-0.1"], "--gradalign-lambda must be"),
        (["--method", "fast", "--overfitting-interval", "5"], "--overfitting-interval needs --overfitting-guard"),
        (["--method", "fast", "--overfitting-guard", "--overfitting-interval", "0"], "--overfitting-interval must be"),
    ] as [([String], String)])
    func badMethodOptionsAreRejectedWithTheOptionNamed(arguments: [String], message: String) throws {
        let result = try bulwark(["train", "--dataset", "idx", "--data-dir", directory + "/data", "--out", directory + "/bad"] + arguments)
        #expect(result.status != 0, "\(arguments)")
        #expect(result.error.contains(message), "\(arguments): \(result.error)")
        #expect(!result.error.contains("Fatal error"))
    }

    @Test func corruptCheckpointIsAnErrorNotACrash() throws {
        let file = directory + "/corrupt.safetensors"
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: file))
        let result = try bulwark(["eval", "--model", file, "--dataset", "idx", "--data-dir", directory + "/data"])
        #expect(result.status != 0)
        #expect(result.error.contains("corrupt.safetensors"), "\(result.error)")
    }

    @Test func badArgumentsAreRejected() throws {
        #expect(try bulwark(["train", "--epsilon", "8/0"]).status != 0)
        #expect(try bulwark(["eval", "--model", "x", "--attack", "nonsense"]).status != 0)
        let help = try bulwark(["train", "--help"])
        #expect(help.status == 0 && help.output.contains("--step-size"))
    }

    @Test func attackWritesExamplesThatVerifyAndTamperingIsCaught() throws {
        let run = directory + "/run"
        let train = try bulwark(["train", "--dataset", "idx", "--data-dir", directory + "/data", "--model", "mlp", "--method", "standard",
                                 "--epochs", "1", "--batch-size", "50", "--validation-count", "50", "--validation-steps", "0", "--out", run])
        #expect(train.status == 0, "\(train.error)")
        let examples = directory + "/examples.safetensors"
        let attack = try bulwark(["attack", "--model", run + "/model.safetensors", "--dataset", "idx", "--data-dir", directory + "/data",
                                  "--attack", "pgd", "--epsilon", "0.3", "--steps", "10", "--count", "40", "--out", examples])
        #expect(attack.status == 0, "\(attack.error)")
        let file = try SafeTensorsFile(contentsOf: examples)
        #expect(Set(file.tensors.keys) == ["clean", "adversarial", "labels", "clean_predictions", "adversarial_predictions",
                                           "clean_confidences", "adversarial_confidences", "success", "clean_misclassified", "indices"])
        let confidences = file.tensors["adversarial_confidences"]?.array ?? []
        #expect(confidences.count == 40 && confidences.allSatisfy { $0 >= 0.1 && $0 <= 1 }, "a top-1 softmax probability of 2 classes is in [0.5, 1]")
        #expect(file.metadata["attack"] == "pgd" && file.metadata["epsilon"] == "0.3" && file.metadata["norm"] == "linf")
        let verify = try bulwark(["verify-adversarial", "--model", run + "/model.safetensors", "--file", examples, "--epsilon", "0.3"])
        #expect(verify.status == 0, "\(verify.error)")
        #expect(verify.output.contains("verified 40 examples"))
        // A smaller ε than the attack used must fail the check.
        let strict = try bulwark(["verify-adversarial", "--model", run + "/model.safetensors", "--file", examples, "--epsilon", "0.1"])
        #expect(strict.status != 0 && strict.error.contains("exceeds"), "\(strict.error)")
        // A forged prediction must be caught.
        var forged = file
        var claimed = forged.tensors["adversarial_predictions"]!.array
        claimed[0] = claimed[0] == 0 ? 1 : 0
        forged.tensors["adversarial_predictions"] = Tensor(claimed)
        try forged.write(to: examples)
        let caught = try bulwark(["verify-adversarial", "--model", run + "/model.safetensors", "--file", examples, "--epsilon", "0.3"])
        #expect(caught.status != 0 && caught.error.contains("claimed adversarial predictions"), "\(caught.error)")

        let npy = directory + "/npy"
        let numpy = try bulwark(["attack", "--model", run + "/model.safetensors", "--dataset", "idx", "--data-dir", directory + "/data",
                                 "--attack", "fgsm", "--epsilon", "0.1", "--count", "5", "--format", "npy", "--out", npy])
        #expect(numpy.status == 0, "\(numpy.error)")
        let labels = try Data(contentsOf: URL(fileURLWithPath: npy + "/labels.npy"))
        #expect(labels.count == 128 + 5 * 8, "a 128-byte header and five int64 labels")
        #expect(labels.prefix(6) == Data([0x93] + Array("NUMPY".utf8)))
        let header = String(decoding: labels[10..<128], as: UTF8.self)
        #expect(header.contains("'descr': '<i8'") && header.contains("'shape': (5,)") && header.hasSuffix("\n"))
        let images = try Data(contentsOf: URL(fileURLWithPath: npy + "/adversarial.npy"))
        #expect(images.count == 128 + 5 * 28 * 28 * 4)
    }

    @Test func robustnessCurveAndEnsembleFromTheCommandLine() throws {
        let run = directory + "/run"
        _ = try bulwark(["train", "--dataset", "idx", "--data-dir", directory + "/data", "--model", "mlp", "--method", "standard",
                         "--epochs", "1", "--batch-size", "50", "--validation-count", "50", "--validation-steps", "0", "--out", run])
        let json = directory + "/curve.json"
        let curve = try bulwark(["eval", "--model", run + "/model.safetensors", "--dataset", "idx", "--data-dir", directory + "/data",
                                 "--epsilons", "0,0.05,0.2,0.5", "--attack", "pgd", "deepfool", "--steps", "5", "--count", "60", "--json", json])
        #expect(curve.status == 0, "\(curve.error)")
        let result = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        let robust = try #require(result?["robust_accuracy"] as? [Double])
        #expect(robust.count == 4)
        #expect(zip(robust, robust.dropFirst()).allSatisfy { $0 >= $1 }, "robust accuracy never rises with ε: \(robust)")
        #expect(robust.last! < 0.1, "ε = 0.5 breaks the model: \(robust)")
        let success = try #require(result?["success"] as? [String])
        #expect(success.count == 4 && success.allSatisfy { $0.count == 60 })

        let ensemble = try bulwark(["eval", "--model", run + "/model.safetensors", "--dataset", "idx", "--data-dir", directory + "/data",
                                    "--attack", "standard", "--iterations", "10", "--queries", "50", "--epsilon", "0.1", "--count", "60",
                                    "--json", directory + "/ensemble.json"])
        #expect(ensemble.status == 0, "\(ensemble.error)")
        #expect(ensemble.output.contains("ensemble") && ensemble.output.contains("apgd-t")
                && ensemble.output.contains("fab-t") && ensemble.output.contains("square"))

        // BIM with Kurakin et al.'s schedule (⌊min(25.5 + 4, 1.25 · 25.5)⌋ = 29 steps of 1/255 at
        // ε = 0.1) and MI-FGSM with Dong et al.'s (10 steps of ε/10, μ = 1).
        let iterative = try bulwark(["eval", "--model", run + "/model.safetensors", "--dataset", "idx", "--data-dir", directory + "/data",
                                     "--attack", "bim", "mi-fgsm", "--epsilon", "0.1", "--count", "60"])
        #expect(iterative.status == 0, "\(iterative.error)")
        #expect(iterative.output.contains("bim-29") && iterative.output.contains("mi-fgsm-10"), "\(iterative.output)")

        // FAB by name: untargeted in L2 at each budget of a curve (one run, clipped per ε), and
        // FAB-T's examples to a file.
        let fabCurve = try bulwark(["eval", "--model", run + "/model.safetensors", "--dataset", "idx", "--data-dir", directory + "/data",
                                    "--epsilons", "0,0.5,3", "--norm", "l2", "--attack", "fab", "--iterations", "10", "--count", "30"])
        #expect(fabCurve.status == 0, "\(fabCurve.error)")
        #expect(fabCurve.output.contains("fab"))
        let examples = directory + "/fab-t.safetensors"
        let fabT = try bulwark(["attack", "--model", run + "/model.safetensors", "--dataset", "idx", "--data-dir", directory + "/data",
                                "--attack", "fab-t", "--iterations", "10", "--epsilon", "0.3", "--count", "20", "--out", examples])
        #expect(fabT.status == 0, "\(fabT.error)")
        let verified = try bulwark(["verify-adversarial", "--model", run + "/model.safetensors", "--file", examples, "--epsilon", "0.3"])
        #expect(verified.status == 0, "\(verified.output) \(verified.error)")
    }

    @Test func reportOfARunWithEvaluationsAndExamplesAndPNGs() throws {
        let run = directory + "/reported"
        let data = ["--dataset", "idx", "--data-dir", directory + "/data"]
        let train = try bulwark(["train"] + data + ["--model", "mlp", "--method", "fast", "--epsilon", "0.1", "--epochs", "3",
                                                    "--batch-size", "50", "--validation-count", "100", "--validation-steps", "3", "--out", run])
        #expect(train.status == 0, "\(train.error)")
        let model = ["--model", run + "/model.safetensors"]
        let eval = try bulwark(["eval"] + model + data + ["--attack", "fgsm", "pgd", "--epsilon", "0.1", "--steps", "5", "--count", "100",
                                                          "--json", run + "/evaluation.json"])
        #expect(eval.status == 0, "\(eval.error)")
        let curve = try bulwark(["eval"] + model + data + ["--epsilons", "0,0.1,0.2,0.3", "--attack", "pgd", "--steps", "5", "--count", "100",
                                                           "--json", run + "/curve.json"])
        #expect(curve.status == 0, "\(curve.error)")
        let attack = try bulwark(["attack"] + model + data + ["--attack", "pgd", "--epsilon", "0.3", "--steps", "10", "--count", "30",
                                                              "--out", run + "/examples.safetensors", "--png", run + "/png"])
        #expect(attack.status == 0, "\(attack.error)")

        // --png: one triptych per example, a grid and the labels.
        let pngs = try FileManager.default.contentsOfDirectory(atPath: run + "/png")
        #expect(pngs.filter { $0.hasPrefix("example-") && $0.hasSuffix(".png") }.count == 30)
        #expect(pngs.contains("grid.png") && pngs.contains("examples.csv"))
        let grid = try Data(contentsOf: URL(fileURLWithPath: run + "/png/grid.png"))
        #expect(grid.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let csv = try String(contentsOfFile: run + "/png/examples.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 1 + 30, "a header and one line per example")

        let report = try bulwark(["report", run])
        #expect(report.status == 0, "\(report.error)")
        #expect(report.output.hasSuffix("report.html\n"))
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        for chart in ["training-loss", "training-accuracy", "learning-rate", "robustness-linf"] {
            #expect(html.components(separatedBy: "data-chart=\"\(chart)\"").count == 2, "one \(chart) chart")
        }
        #expect(html.contains("evaluation.json") && html.contains("curve.json") && html.contains("examples.safetensors"))
        #expect(html.components(separatedBy: "<img src=\"data:image/png;base64,").count - 1 == 3 * 12)
        #expect(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("<script"), "no external assets")

        // Another output, a comparison run, and errors that name the problem.
        let compared = try bulwark(["report", run, "--compare", run, "--out", directory + "/compared.html", "--quiet"])
        #expect(compared.status == 0, "\(compared.error)")
        #expect(compared.output == directory + "/compared.html\n")
        let missing = try bulwark(["report", directory + "/no-such-run"])
        #expect(missing.status != 0 && missing.error.contains("no-such-run") && !missing.error.contains("Fatal error"), "\(missing.error)")
    }

    /// `train --resume`: a run stopped after epoch 1 and resumed from its directory alone ends
    /// with the uninterrupted run's weights, metrics continue, the manifest and the final
    /// evaluation are written; conflicting options and bad checkpoints are clear errors.
    @Test func resumeContinuesAStoppedRunToTheSameModel() throws {
        let (full, split) = (directory + "/full", directory + "/split")
        let options = ["train", "--dataset", "idx", "--data-dir", directory + "/data", "--model", "mlp", "--method", "fast",
                       "--epsilon", "0.1", "--epochs", "2", "--batch-size", "50", "--validation-count", "100",
                       "--validation-steps", "3", "--seed", "4", "--final-eval-count", "120"]
        let uninterrupted = try bulwark(options + ["--out", full])
        #expect(uninterrupted.status == 0, "\(uninterrupted.error)")
        let stopped = try bulwark(options + ["--out", split, "--stop-after", "1"])
        #expect(stopped.status == 0, "\(stopped.error)")
        #expect(stopped.output.contains("bulwark train --resume"), "\(stopped.output)")
        #expect(!FileManager.default.fileExists(atPath: split + "/final-eval.json"), "no final evaluation of an unfinished run")

        let conflict = try bulwark(["train", "--resume", split, "--epochs", "3"])
        #expect(conflict.status != 0 && conflict.error.contains("--epochs 3 (the run has --epochs 2)"), "\(conflict.error)")
        let conflicts = try bulwark(["train", "--resume", split, "--method", "pgd", "--no-random-start", "--data-dir", directory + "/data"])
        #expect(conflicts.status != 0 && conflicts.error.contains("--method pgd (the run has --method fast)")
                && conflicts.error.contains("--no-random-start (the run has --random-start)")
                && conflicts.error.contains("--steps 7 (the run has no --steps)") && !conflicts.error.contains("--data-dir"), "\(conflicts.error)")
        let moved = try bulwark(["train", "--resume", directory + "/no-run"])
        #expect(moved.status != 0 && moved.error.contains("no run.json"), "\(moved.error)")

        // Options that agree with the run, or may differ, are accepted.
        let resumed = try bulwark(["train", "--resume", split, "--method", "fast", "--json", directory + "/resumed.json"])
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.error.contains("continuing after epoch 1 of 2"), "\(resumed.error)")
        #expect(!resumed.error.contains("epoch 1:") && resumed.error.contains("epoch 2:"), "only epoch 2 is trained: \(resumed.error)")
        func bits(_ file: String) throws -> [String: [UInt32]] {
            try SafeTensorsFile(contentsOf: file).tensors.mapValues { $0.array.map(\.bitPattern) }
        }
        #expect(try bits(split + "/model.safetensors") == bits(full + "/model.safetensors"), "resumed weights equal the uninterrupted run's")
        #expect(try metricsEpochs(in: split) == [1, 2])
        let summary = try jsonObject(at: directory + "/resumed.json")
        #expect((summary?["epochs"] as? [Any])?.count == 2 && summary?["best_epoch"] as? Int != nil)

        // The manifest: every option resolved, the command, versions; and the final evaluation.
        let manifest = try #require(try runManifest(in: split))
        #expect(manifest["resumed_after_epochs"] == "1")
        #expect(manifest["step_size"] == "0.125" && manifest["validation_steps"] == "3" && manifest["weight_decay"] == "0")
        #expect(manifest["command"]?.hasPrefix("bulwark train --dataset idx --data-dir /") == true, "\(manifest["command"] ?? "")")
        for key in ["bulwark_version", "swift_version", "os", "threads", "blas"] { #expect(manifest[key] != nil, "run.json records \(key)") }
        for run in [full, split] {
            let evaluation = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/final-eval.json"))) as? [String: Any]
            #expect(evaluation?["count"] as? Int == 120 && evaluation?["split"] as? String == "test")
            #expect(evaluation?["clean_accuracy"] as? Double != nil && (evaluation?["attacks"] as? [String: Any])?["pgd"] != nil)
        }
        let record = try RunRecord(directory: split)
        #expect(record.skipped.isEmpty && record.evaluations.map(\.file) == ["final-eval.json"])

        let again = try bulwark(["train", "--resume", split])
        #expect(again.status != 0 && again.error.contains("already completed all 2 epochs"), "\(again.error)")
        let checkpoint = split + "/resume.safetensors"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        try bytes.prefix(100).write(to: URL(fileURLWithPath: checkpoint))
        let damaged = try bulwark(["train", "--resume", split])
        #expect(damaged.status != 0 && damaged.error.contains("damaged") && !damaged.error.contains("Fatal error"), "\(damaged.error)")
    }
}
