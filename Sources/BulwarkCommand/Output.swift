import ArgumentParser
import Bulwark
import Foundation
import Synchronization

/// Progress on standard error (see ``ProgressDisplay``).
typealias Progress = ProgressDisplay

extension ProgressDisplay {
    /// Progress on standard error, as a bar on a terminal; nothing with `quiet`.
    convenience init(quiet: Bool) {
        self.init(quiet: quiet || !printsResults, environment: ProcessInfo.processInfo.environment, isTerminal: isatty(STDERR_FILENO) != 0) { text in
            FileHandle.standardError.write(Data(text.utf8))
        }
    }
}

/// Whether this process prints results and progress: under mpirun only rank 0 does.
let printsResults = (try? worldCommunicator().isWriter) ?? true

/// Prints results to standard output.
func output(_ text: String) {
    guard printsResults else { return }
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
typealias PathOption = NamedPath

/// Throws unless the outputs can be written and none is an input (see
/// ``OutputFile/checkOutputs(files:directories:inputs:)``); every command checks its outputs
/// before it starts working.
func checkOutputs(files: [PathOption] = [], directories: [PathOption] = [], inputs: [PathOption] = []) throws {
    if files.contains(where: { $0.path.map(OutputFile.writesToStandardOutput) ?? false }) {
        messagesGoToStandardError.store(true, ordering: .relaxed)
    }
    do { try OutputFile.checkOutputs(files: files, directories: directories, inputs: inputs) } catch { throw ValidationError(error.description) }
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
