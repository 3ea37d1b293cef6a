import BulwarkCore
import BulwarkNN
import BulwarkReport
import BulwarkONNX
import Foundation
import Testing

@Suite struct ReportTests {
    @Test func epsilonWarmupGetsItsOwnChart() throws {
        let fixture = try RunFixture(epochs: 4, examples: 4, epsilonWarmupEpochs: 2)
        defer { fixture.remove() }
        let report = RunReport(run: try RunRecord(directory: fixture.directory), maximumExamples: 4)
        let parsed = try XMLOutline(try report.html())
        let charts = parsed.elements("svg").compactMap { $0.attributes["data-chart"] }
        #expect(charts.contains("training-epsilon"))
        #expect(parsed.series(ofChart: "training-epsilon").map(\.points) == [fixture.epochs])
        #expect(parsed.series(ofChart: "training-epsilon").map(\.name) == ["training ε"])
    }

    @Test func reportIsWellFormedWithOneSVGPerChartAndEveryPoint() throws {
        let fixture = try RunFixture(epochs: 4, examples: 20)
        defer { fixture.remove() }
        let report = RunReport(run: try RunRecord(directory: fixture.directory), maximumExamples: 12)
        let parsed = try XMLOutline(try report.html())

        let charts = parsed.elements("svg").compactMap { $0.attributes["data-chart"] }
        #expect(charts == ["training-loss", "training-accuracy", "learning-rate", "robustness-linf"])
        let loss = parsed.series(ofChart: "training-loss")
        #expect(loss.map(\.points) == [fixture.epochs])
        let accuracy = parsed.series(ofChart: "training-accuracy")
        #expect(accuracy.map(\.name) == ["training", "validation clean", "validation PGD, ε = 0.1"])
        #expect(accuracy.allSatisfy { $0.points == fixture.epochs && !$0.dashed })
        #expect(parsed.series(ofChart: "learning-rate").map(\.points) == [fixture.epochs])
        // The curve's last robust accuracy is NaN and is left out; the attacks have every ε.
        let robustness = parsed.series(ofChart: "robustness-linf")
        #expect(robustness.map(\.name) == ["all attacks", "fgsm", "pgd"])
        #expect(robustness.map(\.points) == [fixture.epsilons.count - 1, fixture.epsilons.count, fixture.epsilons.count])

        // Twelve triptychs of embedded PNGs, each decodable, with labels and the colour scale.
        let images = parsed.elements("img")
        #expect(images.count == 3 * 12)
        for image in images.prefix(3) {
            let source = try #require(image.attributes["src"])
            #expect(source.hasPrefix("data:image/png;base64,"))
            let bytes = try #require(Data(base64Encoded: String(source.dropFirst("data:image/png;base64,".count))))
            let decoded = try ReferencePNGDecoder([UInt8](bytes))
            #expect(decoded.width == 28 && decoded.height == 28)
        }
        let text = parsed.text
        #expect(text.contains("true: T-shirt/top"))
        #expect(text.contains("±0.1"))
        // The flag and its advice, escaped and read back.
        #expect(text.contains("Try more steps & restarts <now>."))
        // The per-attack table: clean, fgsm, pgd, worst case.
        let firstTable = try #require(parsed.elements.firstIndex { $0.name == "table" })
        #expect(parsed.elements.filter { $0.name == "tr" && $0.ancestors.contains(firstTable) }.count == 5)
        // Self-contained: no scripts, no external sources.
        #expect(parsed.elements("script").isEmpty && parsed.elements("link").isEmpty)
        #expect(images.allSatisfy { $0.attributes["src"]?.hasPrefix("data:") == true })
    }

    @Test func comparisonRunIsDrawnDashedBesideTheFirst() throws {
        let robust = try RunFixture(name: "fast", epochs: 3)
        let standard = try RunFixture(name: "standard", epochs: 2, method: "standard")
        defer { robust.remove(); standard.remove() }
        let report = RunReport(run: try RunRecord(directory: robust.directory), comparison: try RunRecord(directory: standard.directory))
        let parsed = try XMLOutline(try report.html())
        let robustness = parsed.series(ofChart: "robustness-linf")
        #expect(robustness.count == 6)
        #expect(robustness.filter(\.dashed).map(\.name) == ["all attacks (standard)", "fgsm (standard)", "pgd (standard)"])
        let loss = parsed.series(ofChart: "training-loss")
        #expect(loss.map(\.points) == [3, 2] && loss.map(\.dashed) == [false, true])
    }

    @Test func singleEpsilonEvaluationsBecomeCurvesFromCleanAccuracy() throws {
        let fixture = try RunFixture()
        defer { fixture.remove() }
        try FileManager.default.removeItem(at: fixture.url("curve.json"))
        let parsed = try XMLOutline(try RunReport(run: try RunRecord(directory: fixture.directory)).html())
        // ε = 0 (clean accuracy) and ε = 0.1 for each attack of the evaluation.
        #expect(parsed.series(ofChart: "robustness-linf").map(\.points) == [2, 2])
    }

    @Test func evaluationsWithOtherAttackSettingsAreSeparateSeries() throws {
        let fixture = try RunFixture()
        defer { fixture.remove() }
        try FileManager.default.removeItem(at: fixture.url("curve.json"))
        func evaluation(epsilon: Double, steps: Int, count: Int, robust: Double) -> [String: Any] {
            ["clean_accuracy": 0.9, "count": count, "epsilon": epsilon, "norm": "linf", "strategy": "independent", "steps": steps,
             "restarts": 1, "attack_order": ["pgd"],
             "attacks": ["pgd": ["robust_accuracy": robust, "max_perturbation_norm": epsilon, "seconds": 1.0]]]
        }
        try JSONSerialization.data(withJSONObject: evaluation(epsilon: 0.1, steps: 20, count: 100, robust: 0.5))
            .write(to: fixture.url("evaluation.json"))
        try JSONSerialization.data(withJSONObject: evaluation(epsilon: 0.2, steps: 10, count: 1000, robust: 0.4))
            .write(to: fixture.url("evaluation-pgd10.json"))
        let charts = try RunReport(run: try RunRecord(directory: fixture.directory)).robustnessCharts()
        let series = try #require(charts.first?.series)
        #expect(series.map(\.name).sorted() == ["pgd (10 steps, 1000 examples)", "pgd (20 steps, 100 examples)"], "\(series.map(\.name))")
        #expect(series.map(\.points.count) == [2, 2], "each series: clean accuracy at ε = 0 and its own evaluation")
    }

    /// The slowest case: the example file lacks confidences, so the report runs the run's
    /// smallcnn on the examples it shows.
    @Test func reportOfAThousandEvaluatedExamplesTakesUnderTwoSeconds() throws {
        let fixture = try RunFixture(epochs: 30, examples: 1000, confidences: false, model: .smallcnn)
        defer { fixture.remove() }
        let start = Date()
        let report = try RunReport.gathering(run: try RunRecord(directory: fixture.directory))
        try report.write(to: fixture.url("report.html").path)
        let seconds = Date().timeIntervalSince(start)
        #expect(seconds < 2, "building the report took \(seconds) s")
        let examples = try #require(report.run.exampleFiles.first?.examples)
        #expect(examples.count == 1000)
        // Computed for the twelve shown, unknown (NaN) for the rest.
        #expect(examples.cleanConfidences?.filter(\.isFinite).count == 12)
        #expect(examples.adversarialConfidences?.filter(\.isFinite).count == 12)
        let html = try String(contentsOf: fixture.url("report.html"), encoding: .utf8)
        #expect(html.components(separatedBy: "%)<br/>").count - 1 == 12, "every shown clean prediction states its confidence")
    }

    /// Without a model the confidences stay unknown; a model that exists but cannot be read is
    /// an error naming it rather than a silently poorer report.
    @Test func confidencesNeedAReadableModelAndAnUnreadableOneIsAnError() throws {
        let fixture = try RunFixture(epochs: 2, examples: 6, confidences: false)
        defer { fixture.remove() }
        let withoutModel = try RunReport.gathering(run: try RunRecord(directory: fixture.directory))
        #expect(withoutModel.run.exampleFiles.first?.examples.cleanConfidences == nil)
        try Data("not a checkpoint".utf8).write(to: fixture.url("model.safetensors"))
        let record = try RunRecord(directory: fixture.directory)
        #expect(record.modelPath != nil)
        #expect {
            try RunReport.gathering(run: record)
        } throws: { error in
            guard case .unreadable(let path, _) = error as? ReportError else { return false }
            return path.hasSuffix("model.safetensors")
        }
        #expect(RunReport(run: record).run.exampleFiles.first?.examples.cleanConfidences == nil, "the initializer runs no model")
    }

    /// A run trained from an ONNX model holds the graph as `model.onnx` beside a checkpoint
    /// of architecture `onnx` with the trained parameters; the report runs that model.
    @Test func confidencesOfAnONNXRunComeFromItsGraphAndCheckpoint() throws {
        let fixture = try RunFixture(epochs: 2, examples: 6, confidences: false)
        defer { fixture.remove() }
        var generator = SplitMix64(seed: 7)
        let graph = Architecture.mlp.makeModel(using: &generator).with(mode: .inference)
        let trained = Architecture.mlp.makeModel(using: &generator).with(mode: .inference)
        try ONNXExport.serializedModel(graph, exampleShape: [1, 28, 28]).write(to: fixture.url("model.onnx"))
        try Checkpoint.save(trained, architecture: "onnx", to: fixture.url("model.safetensors").path)
        let report = try RunReport.gathering(run: try RunRecord(directory: fixture.directory))
        let examples = try #require(report.run.exampleFiles.first?.examples)
        var expected = examples
        (expected.cleanConfidences, expected.adversarialConfidences) = (nil, nil)
        expected.computeConfidences(with: trained, at: ExampleGrid.defaultPositions(in: expected, maximum: 12))
        #expect(examples.cleanConfidences != nil)
        #expect(examples.cleanConfidences?.count == expected.cleanConfidences?.count && examples.cleanConfidences?.isEmpty == false)
        #expect(zip(examples.cleanConfidences ?? [], expected.cleanConfidences ?? []).allSatisfy { abs($0 - $1) < 1e-5 || ($0.isNaN && $1.isNaN) })
    }

    @Test func unusableDirectoriesAreRejectedWithTheirPath() throws {
        let missing = "/nonexistent/bulwark-run"
        #expect(throws: ReportError.notARunDirectory(path: missing)) { try RunRecord(directory: missing) }
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-empty-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: ReportError.emptyRun(path: empty)) { try RunRecord(directory: empty) }
        try Data("{\"epoch\": 1}\n".utf8).write(to: URL(fileURLWithPath: empty).appendingPathComponent("metrics.jsonl"))
        #expect(throws: ReportError.self) { try RunRecord(directory: empty) }
    }

    @Test func leadNamesTheBestEpochAndAResumeAndTheResumeCheckpointIsNoExampleFile() throws {
        let fixture = try RunFixture(epochs: 4, examples: 4)
        defer { fixture.remove() }
        // Validation robust accuracy peaks at epoch 2 (and is tied later by nothing).
        let lines = [0.3, 0.5, 0.4, 0.45].enumerated().map { index, robust in
            "{\"epoch\":\(index + 1),\"learning_rate\":0.001,\"train_accuracy\":0.5,\"train_loss\":1,\"train_seconds\":1,"
                + "\"validation_clean_accuracy\":0.8,\"validation_robust_accuracy\":\(robust),\"validation_seconds\":1,\"images_per_second\":10}"
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: fixture.url("metrics.jsonl"))
        let configuration = ["method": "fast", "epsilon": "0.1", "epochs": "4", "resumed_after_epochs": "1"]
        try JSONSerialization.data(withJSONObject: configuration).write(to: fixture.url("run.json"))
        try Data("a resume checkpoint is not an example file".utf8).write(to: fixture.url("resume.safetensors"))
        let record = try RunRecord(directory: fixture.directory)
        #expect(record.bestEpoch?.epoch == 2)
        #expect(record.skipped.isEmpty, "\(record.skipped)")
        let html = try RunReport(run: record, maximumExamples: 4).html()
        #expect(html.contains("best epoch 2 (validation robust accuracy 50.00%, best.safetensors)"))
        #expect(html.contains("resumed after epoch 1"))
    }

    @Test func brokenExampleFilesAreSkippedNotFatal() throws {
        let fixture = try RunFixture()
        defer { fixture.remove() }
        try Data("not safetensors".utf8).write(to: fixture.url("broken.safetensors"))
        let record = try RunRecord(directory: fixture.directory)
        #expect(record.skipped.map(\.file) == ["broken.safetensors"])
        #expect(record.exampleFiles.count == 1)
    }

    @Test func examplePositionsPreferFooledExamples() throws {
        let fixture = try RunFixture(examples: 30)
        defer { fixture.remove() }
        let examples = try AdversarialExampleFile(contentsOf: fixture.url("examples.safetensors").path)
        let positions = ExampleGrid.defaultPositions(in: examples, maximum: 6)
        // Every third example is fooled: 4 fooled (two thirds of 6), then 2 that resisted.
        #expect(positions == [0, 3, 6, 9, 1, 2])
        let grid = try ExampleGrid(file: examples, positions: positions)
        #expect(abs(grid.perturbationScale - 0.1) < 1e-6)
        #expect(grid.triptychs.map(\.fooled) == [true, true, true, true, false, false])
        let image = grid.image(columns: 3, scale: 2)
        #expect(image.width == 3 * (3 * 56 + 2 * 2) + 2 * 12 && image.height == 2 * 56 + 8)
    }
}

@Suite struct RunManifestTests {
    @Test func numbersAndBooleansAreTypedAndTextStaysText() throws {
        let configuration = ["epochs": "3", "epsilon": "0.1", "beta": "6.0", "random_start": "true", "seed": "007",
                             "data_dir": "1e3", "swift_version": "6.10", "command": "bulwark train --epochs 3",
                             "resumed_after_epochs": "1,2"]
        let data = try RunManifest.encode(configuration)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["epochs"] as? Int == 3 && object["epsilon"] as? Double == 0.1 && object["beta"] as? Int == 6)
        #expect(object["random_start"] as? Bool == true && object["resumed_after_epochs"] as? [Int] == [1, 2])
        // Text that only looks like a number is kept as written.
        #expect(object["seed"] as? String == "007" && object["data_dir"] as? String == "1e3"
                && object["swift_version"] as? String == "6.10", "\(object)")
        let decoded = try RunManifest.decode(data)
        #expect(decoded["data_dir"] == "1e3" && decoded["swift_version"] == "6.10" && decoded["beta"] == "6")
    }
}
