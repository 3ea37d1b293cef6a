import Foundation

/// The text of a progress display: a live bar with rate and ETA for a terminal, or plain lines
/// at most every `pipedInterval` seconds otherwise. It only composes the text; the caller
/// writes it where people see it.
public struct ProgressMeter: Sendable {
    /// Whether the display is a terminal, where the bar is redrawn in place.
    public var interactive: Bool
    /// Seconds between lines when not interactive.
    public var pipedInterval: Double
    private var lastPrint = Date.distantPast
    private var start = Date()
    private var label = ""
    private var lineOpen = false
    /// The last count reported: units done, their total and their name.
    public private(set) var last: (done: Int, total: Int, unit: String) = (0, 0, "images")

    /// A meter for a terminal (`interactive`) or a pipe.
    public init(interactive: Bool, pipedInterval: Double) {
        self.interactive = interactive
        self.pipedInterval = pipedInterval
    }

    /// Starts timing a new phase called `label`.
    public mutating func begin(_ label: String, total: Int = 0, unit: String = "images") {
        self.label = label
        last = (0, total, unit)
        start = Date()
        lastPrint = .distantPast
    }

    /// The text that shows `done` of `total` units with `detail`, or `nil` when too little time
    /// has passed since the last (a finished phase always shows).
    public mutating func report(done: Int, total: Int, unit: String, detail: String, finished: Bool) -> String? {
        last = (done, total, unit)
        let now = Date()
        guard finished || now.timeIntervalSince(lastPrint) >= (interactive ? 0.1 : pipedInterval) else { return nil }
        lastPrint = now
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        // Before the first unit is done there is no rate to estimate from.
        let remaining = rate > 0 ? Double(total - done) / rate : done < total ? Double.infinity : 0
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let pace = "\(String(format: rate < 10 ? "%.1f" : "%.0f", rate)) \(unit)/s ETA \(Self.duration(remaining))"
        let summary = "\(label) \(done)/\(total) \(pace)\(detail.isEmpty ? "" : "  " + detail)"
        guard interactive else { return summary + "\n" }
        let width = 24
        let filled = Swift.min(width, Swift.max(0, Int(fraction * Double(width))))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        lineOpen = !finished
        return "\r\u{1B}[K[\(bar)] \(summary)" + (finished ? "\n" : "")
    }

    /// `text` as a whole line, ending the live bar first if one is open.
    public mutating func line(_ text: String) -> String {
        defer { lineOpen = false }
        return (lineOpen ? "\n" : "") + text + "\n"
    }

    /// `seconds` as m:ss or h:mm:ss, `?` when unknown.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let total = Int(seconds.rounded())
        return total >= 3600 ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
            : String(format: "%d:%02d", total / 60, total % 60)
    }
}
