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
    private struct State {
        var lastPrint = Date.distantPast
        var start = Date()
        var label = ""
        var lineOpen = false
        var last: (done: Int, total: Int, unit: String) = (0, 0, "images")
    }

    private let interactive: Bool
    private let quiet: Bool
    private let pipedInterval: Double
    private let state = Mutex(State())

    init(quiet: Bool) {
        self.quiet = quiet
        let environment = ProcessInfo.processInfo.environment
        interactive = isatty(STDERR_FILENO) != 0 && environment["CI"] == nil
        pipedInterval = environment["BULWARK_PROGRESS_INTERVAL"].flatMap(Double.init).map { Swift.max($0, 0) } ?? 10
    }

    /// Starts timing a new phase.
    func begin(_ label: String, total: Int = 0, unit: String = "images") {
        state.withLock { state in
            state.label = label
            state.last = (0, total, unit)
            state.start = Date()
            state.lastPrint = .distantPast
        }
    }

    /// Reports `done` of `total` units with optional detail (loss, accuracy).
    func update(done: Int, total: Int, unit: String = "images", detail: String = "") {
        report(done: done, total: total, unit: unit, detail: detail, finished: done >= total)
    }

    private func report(done: Int, total: Int, unit: String, detail: String, finished: Bool) {
        guard !quiet else { return }
        state.withLock { state in
            state.last = (done, total, unit)
            let now = Date()
            let interval = interactive ? 0.1 : pipedInterval
            guard finished || now.timeIntervalSince(state.lastPrint) >= interval else { return }
            state.lastPrint = now
            let elapsed = now.timeIntervalSince(state.start)
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            // Before the first unit is done there is no rate to estimate from.
            let remaining = rate > 0 ? Double(total - done) / rate : done < total ? Double.infinity : 0
            let fraction = total > 0 ? Double(done) / Double(total) : 1
            let pace = "\(String(format: rate < 10 ? "%.1f" : "%.0f", rate)) \(unit)/s ETA \(formatDuration(remaining))"
            let summary = "\(state.label) \(done)/\(total) \(pace)\(detail.isEmpty ? "" : "  " + detail)"
            if interactive {
                let width = 24
                let filled = Swift.min(width, Swift.max(0, Int(fraction * Double(width))))
                let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
                Self.write("\r\u{1B}[K[\(bar)] \(summary)")
                state.lineOpen = true
                if finished { Self.endLine(&state) }
            } else {
                Self.write(summary + "\n")
            }
        }
    }

    /// Reports work within the current unit (an attack's iterations on the batch under way)
    /// beside the count of the last ``update(done:total:unit:detail:)``.
    func detail(_ text: String) {
        let last = state.withLock { $0.last }
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
        state.withLock { state in
            Self.endLine(&state)
            Self.write(text + "\n")
        }
    }

    private static func endLine(_ state: inout State) {
        if state.lineOpen { write("\n"); state.lineOpen = false }
    }

    private static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let total = Int(seconds.rounded())
    return total >= 3600 ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
        : String(format: "%d:%02d", total / 60, total % 60)
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
