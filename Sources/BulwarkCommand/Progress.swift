import Foundation

/// Progress on standard error: a live bar with rate and ETA on a terminal; plain lines at most
/// every few seconds when piped or under CI; nothing with `--quiet`.
final class Progress {
    private let interactive: Bool
    private let quiet: Bool
    private var lastPrint = Date.distantPast
    private var start = Date()
    private var label = ""
    private var lineOpen = false

    init(quiet: Bool) {
        self.quiet = quiet
        interactive = isatty(STDERR_FILENO) != 0 && ProcessInfo.processInfo.environment["CI"] == nil
    }

    /// Starts timing a new phase.
    func begin(_ label: String) {
        self.label = label
        start = Date()
        lastPrint = .distantPast
    }

    /// Reports `done` of `total` units with optional detail (loss, accuracy).
    func update(done: Int, total: Int, unit: String = "images", detail: String = "") {
        guard !quiet else { return }
        let now = Date()
        let finished = done >= total
        let interval = interactive ? 0.1 : 10
        guard finished || now.timeIntervalSince(lastPrint) >= interval else { return }
        lastPrint = now
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let remaining = rate > 0 ? Double(total - done) / rate : 0
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
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

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
