import Bulwark
import Foundation
import Synchronization

/// Progress on standard error: a live bar with rate and ETA on a terminal; plain lines at most
/// every 10 seconds when piped or under CI (`BULWARK_PROGRESS_INTERVAL` seconds if set);
/// nothing with `--quiet`.
///
/// `@unchecked Sendable` so that attacks' ``IterationProgress`` closures may hold it: they call
/// back synchronously on the thread that runs the command, the only one that uses it.
final class Progress: @unchecked Sendable {
    private let interactive: Bool
    private let quiet: Bool
    private let pipedInterval: Double
    private var lastPrint = Date.distantPast
    private var start = Date()
    private var label = ""
    private var lineOpen = false
    private var last: (done: Int, total: Int, unit: String) = (0, 0, "images")

    init(quiet: Bool) {
        self.quiet = quiet
        let environment = ProcessInfo.processInfo.environment
        interactive = isatty(STDERR_FILENO) != 0 && environment["CI"] == nil
        pipedInterval = environment["BULWARK_PROGRESS_INTERVAL"].flatMap(Double.init).map { Swift.max($0, 0) } ?? 10
    }

    /// Starts timing a new phase.
    func begin(_ label: String, total: Int = 0, unit: String = "images") {
        self.label = label
        last = (0, total, unit)
        start = Date()
        lastPrint = .distantPast
    }

    /// Reports `done` of `total` units with optional detail (loss, accuracy).
    func update(done: Int, total: Int, unit: String = "images", detail: String = "") {
        report(done: done, total: total, unit: unit, detail: detail, finished: done >= total)
    }

    private func report(done: Int, total: Int, unit: String, detail: String, finished: Bool) {
        guard !quiet else { return }
        last = (done, total, unit)
        let now = Date()
        let interval = interactive ? 0.1 : pipedInterval
        guard finished || now.timeIntervalSince(lastPrint) >= interval else { return }
        lastPrint = now
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        // Before the first unit is done there is no rate to estimate from.
        let remaining = rate > 0 ? Double(total - done) / rate : done < total ? Double.infinity : 0
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let pace = "\(String(format: rate < 10 ? "%.1f" : "%.0f", rate)) \(unit)/s ETA \(formatDuration(remaining))"
        let summary = "\(label) \(done)/\(total) \(pace)\(detail.isEmpty ? "" : "  " + detail)"
        if interactive {
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            write("\r\u{1B}[K[\(bar)] \(summary)")
            lineOpen = true
            if finished { endLine() }
        } else {
            write(summary + "\n")
        }
    }

    /// Reports work within the current unit (an attack's iterations on the batch under way)
    /// beside the count of the last ``update(done:total:unit:detail:)``.
    func detail(_ text: String) {
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
        endLine()
        write(text + "\n")
    }

    private func endLine() {
        if lineOpen { write("\n"); lineOpen = false }
    }

    private func write(_ text: String) {
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

func percent(_ value: Float) -> String { String(format: "%.2f%%", Double(value) * 100) }

/// Rows of cells as aligned columns: the first column left-aligned, the others right-aligned.
func formatTable(_ rows: [[String]]) -> String {
    let columns = rows.map(\.count).max() ?? 0
    let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { column, cell in
            let padding = String(repeating: " ", count: widths[column] - cell.count)
            return column == 0 ? cell + padding : padding + cell
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}
