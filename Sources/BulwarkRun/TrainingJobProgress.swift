import BulwarkCore
import BulwarkAttacks
import BulwarkData
import BulwarkReport
import BulwarkTraining
import Foundation

// What a front end shows while a training job runs and once it ends: one line per event or
// result, worded the same for every front end so that logs of runs compare.

/// A step of work to show: a line of its own, the start of a timed phase, or progress within it
/// (as ``ProgressMeter`` draws them).
public enum ProgressStep: Equatable, Sendable {
    /// A whole line.
    case line(String)
    /// A new phase named `label`, of `total` units (0 when not known yet).
    case begin(String, total: Int = 0, unit: String = "images")
    /// `done` of `total` units of the current phase, with `detail` (loss, accuracy).
    case update(done: Int, total: Int, unit: String = "images", detail: String = "")

    /// The step that reports `done` of `total` units of `phase`: its beginning when none is
    /// done yet.
    public static func phase(_ phase: String, done: Int, total: Int, unit: String) -> ProgressStep {
        done == 0 ? .begin(phase, total: total, unit: unit) : .update(done: done, total: total, unit: unit)
    }
}

/// A training job as a front end drives it: it loads its data, trains with a report of each
/// event, and says what to show of each event.
public protocol TrainingJob {
    /// The data the job trains on.
    associatedtype TrainingData
    /// How the job ended.
    associatedtype Outcome
    /// The run directory.
    var outputDirectory: String { get }
    /// Whether the job continues the run in ``outputDirectory``.
    var resuming: Bool { get }
    /// The processes that train together; rank 0 alone writes the run directory.
    var communicator: any Communicator { get }
    /// Loads the data the job trains on.
    func loadData() throws -> TrainingData
    /// Trains on `data`, reporting each event to `observer`.
    func run(on data: TrainingData, observer: (TrainingJobEvent) -> Void) throws -> Outcome
    /// What to show of `event`, a report of the job training on `data`.
    func progressStep(for event: TrainingJobEvent, on data: TrainingData) -> ProgressStep?
}

extension ImageTrainingJob: TrainingJob {}
extension TextTrainingJob: TrainingJob {}

extension EpochMetrics {
    /// One line on the epoch: loss and accuracy, validation, the ε warm-up and the learning
    /// rate; `examples` names examples and evaluation as the text task does (images and
    /// validation otherwise).
    public func summaryLine(examples: Bool = false) -> String {
        let percent = EvaluationSummary.percent
        var text = String(format: "epoch %d: loss %.4f train acc %.2f%%", epoch, trainLoss, trainAccuracy * 100)
        if let clean = validationCleanAccuracy { text += (examples ? " | eval clean " : " | val clean ") + percent(clean) }
        if let robust = validationRobustAccuracy { text += " robust \(percent(robust))" }
        if let scale = epsilonScale, scale < 1 { text += String(format: " | ε warm-up %.0f%%", scale * 100) }
        text += String(format: " | lr %.2e | %.1f s (%.0f ", learningRate, trainSeconds, imagesPerSecond)
        return text + (examples ? "examples/s)" : "img/s)")
    }
}

extension TrainingJobEvent {
    /// What to show of the event in a run of `epochs` epochs writing into `directory`, but for
    /// the start, which only the job can describe; `examples` words it as the text task does.
    public func progressStep(epochs: Int, directory: String, examples: Bool) -> ProgressStep? {
        switch self {
        case .restarting: return .line("the run completed no epoch before it stopped; starting it from the beginning")
        case .finishing(let epochs, let evaluationDone):
            return .line("all \(epochs) epochs were completed; "
                         + (evaluationDone ? "writing the missing summary" : "running the missing final evaluation"))
        case let .finalEvaluation(phase, done, total):
            return done == 0 ? .begin("final \(phase)") : .update(done: done, total: total)
        case .training(.resumed(let completed)):
            return .line("continuing after epoch \(completed) of \(epochs) from \(path(in: directory, RunFile.resume))")
        case let .training(.epochStarted(epoch, _)): return .begin("epoch \(epoch)/\(epochs)")
        case let .training(.batch(_, batch, batches, loss, accuracy, _)):
            return .update(done: batch, total: batches, unit: "batches", detail: String(format: "loss %.4f acc %.2f%%", loss, accuracy * 100))
        case let .training(.validating(epoch, done, total)):
            if done == 0 { return .begin((examples ? "evaluate " : "validate ") + "\(epoch)") }
            return examples ? nil : .update(done: done, total: total)
        case .training(.epoch(let metrics)): return .line(metrics.summaryLine(examples: examples))
        case .training(.catastrophicOverfitting(let report)):
            let percent = EvaluationSummary.percent
            return .line(String(
                format: "catastrophic overfitting at epoch %d, batch %d: PGD accuracy %@ (best %@ at epoch %d, batch %d) while FGSM "
                    + "accuracy is %@; stopped and restored the model of the best check",
                report.epoch, report.batch, percent(report.pgdAccuracy), percent(report.bestPGDAccuracy),
                report.bestEpoch, report.bestBatch, percent(report.fgsmAccuracy)))
        case .started: return nil
        }
    }
}

extension ImageTrainingJob {
    /// What to show of `event`, a report of this job training on `data`.
    public func progressStep(for event: TrainingJobEvent, on data: ImageTrainingData) -> ProgressStep? {
        let c = configuration
        guard case .started = event else { return event.progressStep(epochs: c.epochs, directory: outputDirectory, examples: false) }
        return .line((resuming ? "Resuming " : "Training ")
                     + "\(c.modelName) on \(data.training.count) images (\(data.validation.count) held out), method \(c.method)"
                     + (c.method == .standard ? "" : ", ε = \(c.epsilon) \(c.norm.rawValue)") + ", seed \(c.seed)")
    }

    /// The lines on how the run went: the model's file, the last epoch, and the best epoch
    /// when validation chose one (`data` the run trained on).
    public func summaryLines(of outcome: ImageTrainingOutcome, on data: ImageTrainingData) -> [String] {
        let (c, history, percent) = (configuration, outcome.history, EvaluationSummary.percent)
        var lines = ["model: \(path(in: outputDirectory, RunFile.model))"]
        if let last = history.last {
            lines.append(String(format: "final epoch: train loss %.4f, validation clean %@, validation PGD-%d %@, %.1f s/epoch",
                                last.trainLoss, last.validationCleanAccuracy.map(percent) ?? "-", c.validationSteps,
                                last.validationRobustAccuracy.map(percent) ?? "-", meanEpochSeconds(history)))
        }
        if let bestEpoch = outcome.bestEpoch, data.validation.count > 0, let best = history.first(where: { $0.epoch == bestEpoch }) {
            let score = best.validationRobustAccuracy.map { "validation PGD-\(c.validationSteps) \(percent($0))" }
                ?? best.validationCleanAccuracy.map { "validation clean \(percent($0))" } ?? ""
            lines.append("best: epoch \(bestEpoch) (\(score)) in \(path(in: outputDirectory, RunFile.best))")
        }
        return lines
    }

    /// The summary of the run that ended with `outcome` (`finalEvaluation` the final
    /// evaluation's file, if it ran).
    public func summary(of outcome: ImageTrainingOutcome, finalEvaluation: String?) -> TrainingSummary {
        TrainingSummary(directory: outputDirectory, manifest: outcome.manifest, history: outcome.history, bestEpoch: outcome.bestEpoch,
                        overfitting: outcome.overfitting, finalEvaluation: finalEvaluation)
    }

    /// The final evaluation's file in the run directory.
    public var finalEvaluationFile: String { path(in: outputDirectory, "final-eval.json") }

    /// The final evaluation as an evaluation of the run's model writes it (`report` of the
    /// validation attack on the test split).
    public func finalEvaluationRecord(_ report: RobustnessReport) -> EvaluationRecord {
        let c = configuration
        var record = EvaluationRecord(
            report: report, model: path(in: outputDirectory, RunFile.model), architecture: c.modelName,
            dataset: c.dataSelection.dataName(of: .test), split: DatasetSplit.test.rawValue, seed: c.seed, steps: c.validationSteps,
            stepSize: c.validationStepSize, restarts: 1, sanityChecks: c.validationAttack != nil)
        record.dataPath = c.dataSelection.dataPath(for: .test)
        return record
    }

    /// Writes the final evaluation that ended the run with `outcome`, when one ran, to
    /// ``finalEvaluationFile``; returns the lines on it, or on why it was skipped, and the file
    /// that holds the run's final evaluation (`nil` when none does).
    ///
    /// - Throws: what encoding the record or ``OutputFile/write(_:to:)-([UInt8],_)`` throws.
    public func writeFinalEvaluation(of outcome: ImageTrainingOutcome) throws -> (lines: [String], file: String?) {
        let skipped = outcome.finalEvaluationSkipped.map { ["final evaluation skipped: \($0)"] } ?? []
        guard let report = outcome.finalEvaluation else { return (skipped, outcome.existingFinalEvaluation) }
        try OutputFile.write(Array(JSONOutput.pretty(finalEvaluationRecord(report))), to: finalEvaluationFile)
        return (skipped + [finalEvaluationLine(report)], finalEvaluationFile)
    }

    /// The line on the final evaluation `report`, written to ``finalEvaluationFile``.
    public func finalEvaluationLine(_ report: RobustnessReport) -> String {
        let percent = EvaluationSummary.percent
        var line = "final evaluation on \(report.count) test images: clean \(percent(report.cleanAccuracy))"
        if let result = report.attacks.first { line += ", PGD-\(configuration.validationSteps) \(percent(result.robustAccuracy))" }
        if !report.flags.isEmpty { line += "; sanity checks raised \(report.flags.count) flag(s), see \(finalEvaluationFile)" }
        return line + " (\(finalEvaluationFile))"
    }
}

extension TextTrainingJob {
    /// What to show of `event`, a report of this job training on `data`.
    public func progressStep(for event: TrainingJobEvent, on data: TextTrainingData) -> ProgressStep? {
        let c = configuration
        guard case .started = event else { return event.progressStep(epochs: c.epochs, directory: outputDirectory, examples: true) }
        return .line((resuming ? "Resuming " : "Training ") + "\(c.architecture.rawValue) on \(data.training.count) examples "
                     + "(vocabulary \(data.vocabulary.count), \(data.classNames.count) classes), evaluating on \(data.evaluation.count), "
                     + "method \(c.method)" + (c.method == .standard ? "" : ", ε = \(c.epsilon)") + ", seed \(c.seed)")
    }

    /// The summary of the run that ended with `outcome`.
    public func summary(of outcome: TextTrainingOutcome) -> TrainingSummary {
        TrainingSummary(directory: outputDirectory, manifest: outcome.manifest, history: outcome.history, bestEpoch: outcome.bestEpoch)
    }

    /// The lines on how the run went: the model's file and the last epoch.
    public func summaryLines(of outcome: TextTrainingOutcome) -> [String] {
        let (c, history, percent) = (configuration, outcome.history, EvaluationSummary.percent)
        var lines = ["model: \(path(in: outputDirectory, RunFile.model))"]
        if let last = history.last {
            lines.append(String(format: "final epoch: train loss %.4f, evaluation accuracy %@%@, %.1f s/epoch",
                                last.trainLoss, last.validationCleanAccuracy.map(percent) ?? "-",
                                last.validationRobustAccuracy.map { ", embedding PGD-\(c.validationSteps) at ε = \(c.epsilon): " + percent($0) } ?? "",
                                meanEpochSeconds(history)))
        }
        return lines
    }
}

/// The mean training time of the epochs of `history`.
private func meanEpochSeconds(_ history: [EpochMetrics]) -> Double {
    history.map(\.trainSeconds).reduce(0, +) / Double(history.count)
}
