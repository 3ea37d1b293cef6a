import ArgumentParser
import Bulwark
import Foundation
import Synchronization

/// Progress on standard error: a live bar with rate and ETA on a terminal; plain lines at most
/// every 10 seconds when piped or under CI (`BULWARK_PROGRESS_INTERVAL` seconds if set);
/// nothing with `--quiet`. Its state sits behind a mutex, so attacks' ``IterationProgress``
/// closures (which must be `Sendable`) may hold it.
final class Progress: Sendable {
    private let quiet: Bool
    private let meter: Mutex<ProgressMeter>

    init(quiet: Bool) {
        self.quiet = quiet
        meter = Mutex(ProgressMeter(environment: ProcessInfo.processInfo.environment, isTerminal: isatty(STDERR_FILENO) != 0))
    }

    private func report(done: Int, total: Int, unit: String, detail: String, finished: Bool) {
        guard !quiet else { return }
        meter.withLock { meter in
            if let text = meter.report(done: done, total: total, unit: unit, detail: detail, finished: finished) { Self.write(text) }
        }
    }

    /// An ``IterationProgress`` that shows an attack's iterations, naming them `unit`, beside
    /// the last count shown (the batch under way).
    func iterations(_ unit: String) -> IterationProgress {
        { [self] done, total in
            let last = meter.withLock { $0.last }
            report(done: last.done, total: last.total, unit: last.unit, detail: "\(unit) \(done)/\(total)", finished: false)
        }
    }

    /// Shows a step of the work (nothing for `nil`): a line, the start of a timed phase, or the
    /// count of units done (the phase finished when they reach the total).
    func show(_ step: ProgressStep?) {
        switch step {
        case .line(let text): line(text)
        case let .begin(label, total, unit): meter.withLock { $0.begin(label, total: total, unit: unit) }
        case let .update(done, total, unit, detail): report(done: done, total: total, unit: unit, detail: detail, finished: done >= total)
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

/// An option naming a path, as `--json`, and its value (`nil` when not given).
typealias PathOption = (option: String, path: String?)

/// Throws unless every file of `files` can be written (see ``OutputFile/checkWritable(_:)``),
/// every directory of `directories` can be created or written into, and none of them is
/// one of `inputs` (after following symbolic links). Every command checks its outputs before it
/// starts working, so that a bad path fails at once instead of after a long run.
func checkOutputs(files: [PathOption] = [], directories: [PathOption] = [], inputs: [PathOption] = []) throws {
    if files.contains(where: { $0.path.map(OutputFile.writesToStandardOutput) ?? false }) {
        messagesGoToStandardError.store(true, ordering: .relaxed)
    }
    typealias Check = (String) throws(OutputFileError) -> Void
    let checks = files.map { ($0, OutputFile.checkWritable as Check) } + directories.map { ($0, OutputFile.checkWritableDirectory as Check) }
    for ((option, path), check) in checks {
        guard let path else { continue }
        do { try check(path) } catch { throw ValidationError("\(option) \(path): \(error.description)") }
    }
    for (option, path) in files + directories {
        guard let path, path != OutputFile.standardOutputPath else { continue }
        for (inputOption, input) in inputs {
            guard let input, OutputFile.isSameFile(path, input) else { continue }
            throw ValidationError("\(option) \(path) is \(inputOption) \(input), an input of this command; writing it would destroy the input. Choose another \(option).")
        }
    }
}

/// Writes `value` as JSON (see ``JSONOutput/pretty(_:snakeCase:)``) through ``OutputFile``
/// (atomically to a file, straight through to `-`, a device or a pipe) unless `file` is `nil`
/// (an output not asked for).
func writeJSON(_ value: @autoclosure () -> any Encodable, to file: String?, snakeCase: Bool = false) throws {
    guard let file else { return }
    let data: Data
    do { data = try JSONOutput.pretty(value(), snakeCase: snakeCase) } catch {
        throw ValidationError("Cannot encode '\(file)' as JSON: \(error.localizedDescription)")
    }
    try writeOutput(Array(data), to: file)
}

/// Writes `bytes` to `file` through ``OutputFile``, as a one-line error that names the file.
func writeOutput(_ bytes: [UInt8], to file: String) throws {
    do { try OutputFile.write(bytes, to: file) } catch { throw ValidationError(error.description) }
}
