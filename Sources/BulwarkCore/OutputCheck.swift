/// A path of a command's, with the name its caller knows it by (an option such as `--json`,
/// or a configuration field); `path` is `nil` when the output or input was not asked for.
public typealias NamedPath = (name: String, path: String?)

/// Why a command's outputs cannot be written: the message names the path and its name.
public struct OutputCheckError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

extension OutputFile {
    /// Throws unless every file of `files` can be written (see ``checkWritable(_:)``), every
    /// directory of `directories` can be created or written into (see
    /// ``checkWritableDirectory(_:)``), and none of them is one of `inputs` (after following
    /// symbolic links). Checking outputs before a command starts working makes a bad path
    /// fail at once instead of after a long run.
    public static func checkOutputs(files: [NamedPath] = [], directories: [NamedPath] = [], inputs: [NamedPath] = []) throws(OutputCheckError) {
        typealias Check = (String) throws(OutputFileError) -> Void
        let checks = files.map { ($0, checkWritable as Check) } + directories.map { ($0, checkWritableDirectory as Check) }
        for ((name, path), check) in checks {
            guard let path else { continue }
            do { try check(path) } catch { throw OutputCheckError(description: "\(name) \(path): \(error.description)") }
        }
        for (name, path) in files + directories {
            guard let path, path != standardOutputPath else { continue }
            for (inputName, input) in inputs {
                guard let input, isSameFile(path, input) else { continue }
                throw OutputCheckError(
                    description: "\(name) \(path) is \(inputName) \(input), an input of this command; writing it would destroy the input. Choose another \(name).")
            }
        }
    }
}
