import ArgumentParser
import Bulwark
import Foundation
import Synchronization

// The checks every subcommand makes on its output paths before it starts working, so that
// a bad path fails at once instead of after a long training or evaluation, and no output
// replaces an input.

/// An option naming a path, as `--json`, and its value (`nil` when not given).
typealias PathOption = (option: String, path: String?)

/// Throws unless every file of `files` can be written (see ``OutputFile/checkWritable(_:)``),
/// every directory of `directories` can be created or written into, and none of them is
/// one of `inputs` (after following symbolic links).
func checkOutputs(files: [PathOption] = [], directories: [PathOption] = [], inputs: [PathOption] = []) throws {
    if files.contains(where: { $0.path.map(OutputFile.writesToStandardOutput) ?? false }) {
        messagesGoToStandardError.store(true, ordering: .relaxed)
    }
    for (option, path) in files {
        guard let path else { continue }
        do { try OutputFile.checkWritable(path) } catch {
            throw ValidationError("\(option) \(path): \(error.description)")
        }
    }
    for (option, path) in directories {
        guard let path else { continue }
        do { try OutputFile.checkWritableDirectory(path) } catch {
            throw ValidationError("\(option) \(path): \(error.description)")
        }
    }
    for (option, path) in files + directories {
        guard let path, path != OutputFile.standardOutputPath else { continue }
        for (inputOption, input) in inputs {
            guard let input, OutputFile.isSameFile(path, input) else { continue }
            throw ValidationError("\(option) \(path) is \(inputOption) \(input), an input of this command; writing it would destroy the input. Choose another \(option).")
        }
    }
}

/// The files `bulwark train` writes into a run directory, which `--force` removes before a
/// new run takes the directory over.
let runDirectoryFiles = [RunFile.model, RunFile.best, RunFile.metrics, RunFile.resume, "run.json", "final-eval.json", "vocabulary.txt"]

/// Throws unless `out` can hold a new run: it holds no trained run (no model or resume
/// checkpoint; a manifest alone is of a run that never finished an epoch), or `force` is set,
/// in which case `removing` removes the old run's files.
func claimRunDirectory(_ out: String, force: Bool, resumeCommand: String, removing: Bool) throws {
    let existing = [RunFile.model, RunFile.resume].filter { FileManager.default.fileExists(atPath: path(in: out, $0)) }
    guard let found = existing.first else { return }
    guard force else {
        throw ValidationError("""
            --out \(out) already holds a run (\(found)); a new run would replace its model and manifest. \
            Continue it with \(resumeCommand), pass --force to replace it, or choose another --out.
            """)
    }
    guard removing else { return }
    for name in runDirectoryFiles {
        let file = path(in: out, name)
        guard FileManager.default.fileExists(atPath: file) else { continue }
        do { try FileManager.default.removeItem(atPath: file) } catch {
            throw ValidationError("--force could not remove '\(file)' of the old run: \(error.localizedDescription)")
        }
    }
}
