import BulwarkAttacks
import BulwarkReport
import Foundation
import Synchronization

/// Progress for people: a live bar with rate and ETA on a terminal; plain lines at most every
/// 10 seconds when piped or under CI (`BULWARK_PROGRESS_INTERVAL` seconds if set); nothing
/// when quiet. The front end gives the function that shows the text (standard error for the
/// command line). Its state sits behind a mutex, so attacks' ``IterationProgress`` closures
/// (which must be `Sendable`) may hold it.
public final class ProgressDisplay: Sendable {
    private let quiet: Bool
    private let meter: Mutex<ProgressMeter>
    private let write: @Sendable (String) -> Void

    /// A display that shows nothing when `quiet`, else writes through `write` as
    /// ``ProgressMeter/init(environment:isTerminal:)`` chooses.
    public init(quiet: Bool, environment: [String: String], isTerminal: Bool, write: @escaping @Sendable (String) -> Void) {
        self.quiet = quiet
        meter = Mutex(ProgressMeter(environment: environment, isTerminal: isTerminal))
        self.write = write
    }

    private func report(done: Int, total: Int, unit: String, detail: String, finished: Bool) {
        guard !quiet else { return }
        meter.withLock { meter in
            if let text = meter.report(done: done, total: total, unit: unit, detail: detail, finished: finished) { write(text) }
        }
    }

    /// An ``IterationProgress`` that shows an attack's iterations, naming them `unit`, beside
    /// the last count shown (the batch under way).
    public func iterations(_ unit: String) -> IterationProgress {
        { [self] done, total in
            let last = meter.withLock { $0.last }
            report(done: last.done, total: last.total, unit: last.unit, detail: "\(unit) \(done)/\(total)", finished: false)
        }
    }

    /// Shows a step of the work (nothing for `nil`): a line, the start of a timed phase, or the
    /// count of units done (the phase finished when they reach the total).
    public func show(_ step: ProgressStep?) {
        switch step {
        case .line(let text): line(text)
        case let .begin(label, total, unit): meter.withLock { $0.begin(label, total: total, unit: unit) }
        case let .update(done, total, unit, detail): report(done: done, total: total, unit: unit, detail: detail, finished: done >= total)
        case nil: break
        }
    }

    /// Shows a whole line (closing any live bar first).
    public func line(_ text: String) {
        guard !quiet else { return }
        meter.withLock { write($0.line(text)) }
    }
}
