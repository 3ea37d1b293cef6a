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
        meter = Mutex(ProgressMeter(environment: ProcessInfo.processInfo.environment, isTerminal: isatty(STDERR_FILENO) != 0))
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

    /// An ``IterationProgress`` that shows an attack's iterations, naming them `unit`, beside
    /// the count of the last ``update(done:total:unit:detail:)`` (the batch under way).
    func iterations(_ unit: String) -> IterationProgress {
        { [self] done, total in
            let last = meter.withLock { $0.last }
            report(done: last.done, total: last.total, unit: last.unit, detail: "\(unit) \(done)/\(total)", finished: false)
        }
    }

    /// Shows a step of a library job's work (nothing for `nil`).
    func show(_ step: ProgressStep?) {
        switch step {
        case .line(let text): line(text)
        case let .begin(label, total, unit): begin(label, total: total, unit: unit)
        case let .update(done, total, unit, detail): update(done: done, total: total, unit: unit, detail: detail)
        case nil: break
        }
    }

    /// Prints a whole line (closing any live bar first).
    func line(_ text: String) {
        guard !quiet else { return }
        meter.withLock { Self.write($0.line(text)) }
    }

    private static func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}

/// Prints results to standard output.
func output(_ text: String) {
    let handle = messagesGoToStandardError.load(ordering: .relaxed) ? FileHandle.standardError : FileHandle.standardOutput
    handle.write(Data((text + "\n").utf8))
}

/// Prints a message for people (an error, a note, a warning) on standard error.
func writeToStandardError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Set when a command writes its data to standard output (`--json -`), so that `output`'s
/// messages for people go to standard error and the data stays readable by a program.
let messagesGoToStandardError = Atomic<Bool>(false)
