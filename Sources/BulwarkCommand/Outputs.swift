import ArgumentParser
import Bulwark
import Foundation
import Synchronization

// The checks every subcommand makes on its output paths before it starts working, so that
// a bad path fails at once instead of after a long training or evaluation, and no output
// replaces an input; and the writers of its output files.

/// An option naming a path, as `--json`, and its value (`nil` when not given).
typealias PathOption = (option: String, path: String?)

/// Throws unless every file of `files` can be written (see ``OutputFile/checkWritable(_:)``),
/// every directory of `directories` can be created or written into, and none of them is
/// one of `inputs` (after following symbolic links).
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

/// Writes `value` as pretty JSON through ``OutputFile`` (atomically to a file, straight through
/// to `-`, a device or a pipe) unless `file` is `nil` (an output not asked for); `snakeCase`
/// converts Swift's property names (as `metrics.jsonl` does).
func writeJSON(_ value: @autoclosure () -> any Encodable, to file: String?, snakeCase: Bool = false) throws {
    guard let file else { return }
    let data: Data
    do {
        data = try JSONOutput.encode(value()) { encoder in
            if snakeCase { encoder.keyEncodingStrategy = .convertToSnakeCase }
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        }
    } catch {
        throw ValidationError("Cannot encode '\(file)' as JSON: \(error.localizedDescription)")
    }
    try writeOutput(Array(data), to: file)
}

/// Writes `bytes` to `file` through ``OutputFile``, as a one-line error that names the file.
func writeOutput(_ bytes: [UInt8], to file: String) throws {
    do { try OutputFile.write(bytes, to: file) } catch { throw ValidationError(error.description) }
}
