/// Why a report could not be built.
public enum ReportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The run directory does not exist or is not a directory.
    case notARunDirectory(path: String)
    /// The run directory holds nothing a report could show.
    case emptyRun(path: String)
    /// A file could not be read or parsed.
    case unreadable(path: String, reason: String)
    /// A `.safetensors` file is not a file of adversarial examples.
    case notAdversarialExamples(path: String, reason: String)
    /// The report could not be written.
    case cannotWrite(path: String, reason: String)

    /// A sentence naming the problem and what to do.
    public var description: String {
        switch self {
        case .notARunDirectory(let path):
            return "'\(path)' is not a directory. Pass the --out directory of bulwark train."
        case .emptyRun(let path):
            return "'\(path)' holds no metrics.jsonl, evaluation JSON or adversarial examples. Train into it with bulwark train --out, evaluate with bulwark eval --json, or attack with bulwark attack --out."
        case let .unreadable(path, reason):
            return "Cannot read '\(path)': \(reason)."
        case let .notAdversarialExamples(path, reason):
            return "'\(path)' is not a file of adversarial examples written by bulwark attack: \(reason)."
        case let .cannotWrite(path, reason):
            return "Cannot write '\(path)': \(reason). Check that the directory exists and is writable."
        }
    }
}
