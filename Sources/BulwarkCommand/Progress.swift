import Bulwark
import Foundation
import Synchronization

/// Progress on standard error: a live bar with rate and ETA on a terminal; plain lines at most
/// every 10 seconds when piped or under CI (`BULWARK_PROGRESS_INTERVAL` seconds if set);
/// nothing with `--quiet`.
///
/// Its state sits behind a mutex, so attacks' ``IterationProgress`` closures (which must be
/// `Sendable`) may hold it.
final class Progress: Sendable {
    private let quiet: Bool
    private let meter: Mutex<ProgressMeter>

    init(quiet: Bool) {
        self.quiet = quiet
        let environment = ProcessInfo.processInfo.environment
        meter = Mutex(ProgressMeter(
            interactive: isatty(STDERR_FILENO) != 0 && environment["CI"] == nil,
            pipedInterval: environment["BULWARK_PROGRESS_INTERVAL"].flatMap(Double.init).map { Swift.max($0, 0) } ?? 10))
    }

    /// Starts timing a new phase.
    func begin(_ label: String, total: Int = 0, unit: String = "images") {
        meter.withLock { $0.begin(label, total: total, unit: unit) }
    }

    /// Reports `done` of `total` units with optional detail (loss, accuracy).
    func update(done: Int, total: Int, unit: String = "images", detail: String = "") {
        report(done: done, total: total, unit: unit, detail: detail, finished: done >= total)
    }

    private func report(done: Int, total: Int, unit: String, detail: String, finished: Bool) {
        guard !quiet else { return }
        meter.withLock { meter in
            if let text = meter.report(done: done, total: total, unit: unit, detail: detail, finished: finished) { Self.write(text) }
        }
    }

    /// Reports work within the current unit (an attack's iterations on the batch under way)
    /// beside the count of the last ``update(done:total:unit:detail:)``.
    func detail(_ text: String) {
        let last = meter.withLock { $0.last }
        report(done: last.done, total: last.total, unit: last.unit, detail: text, finished: false)
    }

    /// An ``IterationProgress`` that shows an attack's iterations as detail of the current
    /// phase, naming them `unit`.
    func iterations(_ unit: String) -> IterationProgress {
        { [self] done, total in detail("\(unit) \(done)/\(total)") }
    }

    /// Prints a whole line (closing any live bar first).
    func line(_ text: String) {
        guard !quiet else { return }
        meter.withLock { Self.write($0.line(text)) }
    }

    private static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// Prints results to standard output.
func output(_ text: String) {
    let handle = messagesGoToStandardError.load(ordering: .relaxed) ? FileHandle.standardError : FileHandle.standardOutput
    handle.write(Data((text + "\n").utf8))
}

/// Set when a command writes its data to standard output (`--json -`), so that `output`'s
/// messages for people go to standard error and the data stays readable by a program.
let messagesGoToStandardError = Atomic<Bool>(false)

func percent(_ value: Float) -> String { EvaluationSummary.percent(value) }

/// One line on an epoch for the progress output.
func describe(_ metrics: EpochMetrics) -> String {
    var text = String(format: "epoch %d: loss %.4f train acc %.2f%%", metrics.epoch, metrics.trainLoss, metrics.trainAccuracy * 100)
    if let clean = metrics.validationCleanAccuracy { text += " | val clean \(percent(clean))" }
    if let robust = metrics.validationRobustAccuracy { text += " robust \(percent(robust))" }
    if let scale = metrics.epsilonScale, scale < 1 { text += String(format: " | ε warm-up %.0f%%", scale * 100) }
    text += String(format: " | lr %.2e | %.1f s (%.0f img/s)", metrics.learningRate, metrics.trainSeconds, metrics.imagesPerSecond)
    return text
}
