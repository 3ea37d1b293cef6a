import BulwarkAttacks
import BulwarkReport
import BulwarkRun
import BulwarkTraining
import Foundation
import Testing

/// What a front end shows of runs: the lines on epochs, training events and evaluations, and
/// how people write budgets and norms.
@Suite struct RunSummaryTests {
    @Test func budgetsAreDecimalsOrFractionsAndNormsTakeOtherLibrariesSpellings() {
        #expect(Float(decimalOrFraction: "0.25") == 0.25 && Float(decimalOrFraction: "8/255") == Float(8) / 255)
        for text in ["", "1/0", "1e39", "1e39/1", "1/2/3", "a/2", "inf"] { #expect(Float(decimalOrFraction: text) == nil, "\(text)") }
        for name in ["linf", "Linf", "LINF", "inf", "l-inf", "linfinity"] { #expect(Norm(spelling: name) == .lInfinity, "\(name)") }
        #expect(Norm(spelling: "L2") == .l2 && Norm(spelling: "l1") == nil)
    }

    @Test func resumingTakesTheGivenFieldsAndReportsThoseARunCannotChange() throws {
        var recorded = ImageTrainingConfiguration()
        (recorded.method, recorded.epochs, recorded.dataDirectory) = (.pgd, 3, "/data")
        let data = try TrainingManifest.encode(recorded.resolved(), facts: [:], command: "")
        var options = ImageTrainingConfiguration()
        (options.epochs, options.dataDirectory, options.seed) = (4, "/elsewhere", 9)
        let (moved, none) = try ImageTrainingConfiguration.resuming(recordedIn: data, in: "run", replacing: ["dataDirectory"], from: options)
        #expect(moved.dataDirectory == "/elsewhere" && moved.epochs == 3 && moved.seed == 0 && none.isEmpty)
        let (changed, conflicts) = try ImageTrainingConfiguration.resuming(recordedIn: data, in: "run", replacing: ["epochs"], from: options)
        #expect(changed.epochs == 4 && conflicts == [ConfigurationDifference(field: "epochs", value: "4", otherValue: "3")])
        #expect(throws: ConfigurationError.self) {
            try TextTrainingConfiguration.resuming(recordedIn: data, in: "run", replacing: [], from: TextTrainingConfiguration(dataset: .mr, dataDirectory: "/mr"))
        }
    }

    @Test func epochLinesNameImagesOrExamples() throws {
        let json = #"{"epoch": 2, "trainLoss": 0.5, "trainAccuracy": 0.8, "validationCleanAccuracy": 0.75, "validationRobustAccuracy": 0.5,"#
            + #""learningRate": 0.001, "epsilonScale": 0.5, "trainSeconds": 1.25, "validationSeconds": 0.5, "imagesPerSecond": 400}"#
        let metrics = try JSONDecoder().decode(EpochMetrics.self, from: Data(json.utf8))
        #expect(metrics.summaryLine()
                == "epoch 2: loss 0.5000 train acc 80.00% | val clean 75.00% robust 50.00% | ε warm-up 50% | lr 1.00e-03 | 1.2 s (400 img/s)")
        #expect(metrics.summaryLine(examples: true)
                == "epoch 2: loss 0.5000 train acc 80.00% | eval clean 75.00% robust 50.00% | ε warm-up 50% | lr 1.00e-03 | 1.2 s (400 examples/s)")
        #expect(TrainingJobEvent.training(.epoch(metrics)).progressStep(epochs: 3, directory: "out", examples: false) == .line(metrics.summaryLine()))
    }

    @Test func trainingEventsBecomeProgressSteps() {
        func step(_ event: TrainingJobEvent, examples: Bool = false) -> ProgressStep? {
            event.progressStep(epochs: 3, directory: "/runs/a", examples: examples)
        }
        #expect(step(.training(.epochStarted(epoch: 2, batches: 10))) == .begin("epoch 2/3"))
        #expect(step(.training(.batch(epoch: 2, batch: 4, of: 10, loss: 0.25, accuracy: 0.5, imagesPerSecond: 1)))
                == .update(done: 4, total: 10, unit: "batches", detail: "loss 0.2500 acc 50.00%"))
        #expect(step(.training(.resumed(epoch: 1))) == .line("continuing after epoch 1 of 3 from /runs/a/resume.safetensors"))
        #expect(step(.training(.validating(epoch: 2, done: 0, of: 8)), examples: true) == .begin("evaluate 2"))
        #expect(step(.training(.validating(epoch: 2, done: 4, of: 8))) == .update(done: 4, total: 8))
        #expect(step(.training(.validating(epoch: 2, done: 4, of: 8)), examples: true) == nil)
        #expect(step(.finalEvaluation(phase: "pgd", done: 0, total: 8)) == .begin("final pgd"))
        #expect(step(.finishing(epochs: 3, evaluationDone: false)) == .line("all 3 epochs were completed; running the missing final evaluation"))
        #expect(step(.restarting) == .line("the run completed no epoch before it stopped; starting it from the beginning"))
        #expect(step(.started) == nil)
    }

    @Test func textEvaluationLinesGiveEachAttacksResult() {
        let record = TextEvaluationRecord(
            model: nil, dataset: nil, classNames: nil, count: 200, cleanAccuracy: 0.8, attack: "embedding-pgd",
            results: [.init(epsilon: 0.5, steps: 10, stepSize: 0.125, robustAccuracy: 0.4, maxPerturbationNorm: 0.5, seconds: 2)],
            pwws: .init(accuracyUnderAttack: 0.3, successRate: 0.625, meanChangedFraction: 0.1, meanQueries: 42, maximumChangeFraction: 0.25,
                        queryBudget: 2000, seconds: 3))
        #expect(record.summaryLines == [
            "clean accuracy: 80.00% of 200",
            "embedding PGD-10 at ε = 0.5 (step 0.125): robust accuracy 40.00%, max ‖δ‖₂ 0.5, 2.0 s",
            "PWWS (WordNet synonyms, ≤ 0.25 of the words, ≤ 2000 queries): accuracy under attack 30.00%, success rate 62.50%, "
                + "mean fraction of words changed 0.100, mean queries 42.0, 3.0 s",
        ])
    }
}

extension RunSummaryTests {
    @Test func progressShowsALiveBarOnlyOnATerminalOutsideCI() {
        let terminal = ProgressMeter(environment: [:], isTerminal: true)
        #expect(terminal.interactive && terminal.pipedInterval == 10)
        #expect(!ProgressMeter(environment: ["CI": "true"], isTerminal: true).interactive)
        #expect(!ProgressMeter(environment: [:], isTerminal: false).interactive)
        #expect(ProgressMeter(environment: ["BULWARK_PROGRESS_INTERVAL": "2.5"], isTerminal: false).pipedInterval == 2.5)
        #expect(ProgressMeter(environment: ["BULWARK_PROGRESS_INTERVAL": "-1"], isTerminal: false).pipedInterval == 0)
        #expect(ProgressMeter(environment: ["BULWARK_PROGRESS_INTERVAL": "soon"], isTerminal: false).pipedInterval == 10)
    }
}

extension RunSummaryTests {
    @Test func listsOfNumbersReadAsTheirFieldsOrNameTheField() throws {
        #expect(try EvaluationConfiguration.budgets(in: "0,4/255,0.1") == [0, Float(4) / 255, 0.1])
        #expect(throws: ConfigurationError("`epsilons`: '-1' is not a non-negative number or fraction")) {
            try EvaluationConfiguration.budgets(in: "0,-1")
        }
        #expect(try TextEvaluationConfiguration.radii(in: "0.5, 1,2") == [0.5, 1, 2])
        #expect(throws: ConfigurationError("`epsilons` must be numbers separated by commas, such as 0.5,1,2")) {
            try TextEvaluationConfiguration.radii(in: "0.5,one")
        }
        #expect(TextTrainingConfiguration.widths(in: "3, 4,5") == [3, 4, 5] && TextTrainingConfiguration.widths(in: "3,x").isEmpty)
    }
}

extension RunSummaryTests {
    @Test func aSingleAttackMustBeRegisteredAndFitTheBudget() throws {
        try EvaluationConfiguration.validate(singleAttack: "pgd", norm: .l2, epsilon: 0.5)
        #expect(throws: ConfigurationError("Unknown attack 'nope'. Choose from: \(AttackRegistry.list).")) {
            try EvaluationConfiguration.validate(singleAttack: "nope", norm: .lInfinity, epsilon: 0.1)
        }
        #expect(throws: ConfigurationError.self) { try EvaluationConfiguration.validate(singleAttack: "", norm: .lInfinity, epsilon: 0.1) }
        #expect(throws: ConfigurationError.self) { try EvaluationConfiguration.validate(singleAttack: "pgd", norm: .lInfinity, epsilon: -1) }
    }

    @Test func aReportReadsEveryFileOfItsRunsButEarlierReports() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-inputs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for name in ["run.json", "metrics.jsonl", "report.html"] { FileManager.default.createFile(atPath: directory + "/" + name, contents: nil) }
        #expect(Set(RunRecord.inputFiles(of: [directory, directory + "/missing"])) == [directory + "/run.json", directory + "/metrics.jsonl"])
    }
}
