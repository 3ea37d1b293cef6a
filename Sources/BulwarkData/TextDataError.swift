/// An error reading a text dataset: each case names the file (and line) involved, and its
/// ``description`` says what is wrong and how to fix it.
public enum TextDataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No file exists at `path`.
    case fileNotFound(path: String)
    /// The file exists but could not be read; `reason` is the system's explanation.
    case unreadableFile(path: String, reason: String)
    /// Line `line` (1-based) is not valid UTF-8.
    case invalidUTF8(path: String, line: Int)
    /// The file holds no header line where one is required.
    case missingHeader(path: String)
    /// The header lacks a column the reader needs.
    case missingColumn(path: String, column: String, available: [String])
    /// A line does not have the expected layout.
    case malformedLine(path: String, line: Int, reason: String)
    /// A label that is not one of the known classes.
    case unknownLabel(path: String, line: Int, label: String, known: [String])
    /// The file holds no examples.
    case noExamples(path: String)
    /// A training file holds examples of fewer than two classes (`present` lists them), from
    /// which no classifier can be learnt.
    case tooFewClasses(path: String, present: [String])
    /// The dataset directory does not exist.
    case directoryNotFound(dataset: String, directory: String, expected: [String])
    /// The dataset directory lacks files the dataset needs.
    case filesNotFound(dataset: String, directory: String, missing: [String])
    /// A saved vocabulary is not usable.
    case invalidVocabulary(String)

    /// What is wrong, naming the file and line, and how to fix it.
    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return FileProblem.notFound(path)
        case .unreadableFile(let path, let reason):
            return FileProblem.unreadable(path, reason: reason)
        case .invalidUTF8(let path, let line):
            return "\(path):\(line) is not valid UTF-8; convert the file to UTF-8 (for example with iconv -f latin1 -t utf-8)"
        case .missingHeader(let path):
            return "\(path) is empty but needs a header line naming its columns (for example sentence<TAB>label)"
        case .missingColumn(let path, let column, let available):
            return "\(path) has no column '\(column)' (its header has \(available.map { "'\($0)'" }.joined(separator: ", "))); "
                + "pass the right name with `textColumn` or `labelColumn`"
        case .malformedLine(let path, let line, let reason):
            return "\(path):\(line): \(reason)"
        case .unknownLabel(let path, let line, let label, let known):
            return "\(path):\(line): label '\(label)' is not one of the classes \(known.joined(separator: ", ")) "
                + "seen in the training split; fix the label or add examples of that class to the training file"
        case .noExamples(let path):
            return "\(path) holds no examples; check that it is the right file"
        case .tooFewClasses(let path, let present):
            let classes = present.isEmpty ? "no class" : "only one class ('\(present.joined(separator: "', '"))')"
            return "\(path) holds examples of \(classes), but training needs at least two; check that the label column "
                + "(`labelColumn`) names the labels and that the file holds every class"
        case .directoryNotFound(let dataset, let directory, let expected):
            return "\(dataset) directory \(directory) not found; pass `dataDirectory` DIR containing \(expected.joined(separator: ", "))"
        case .filesNotFound(let dataset, let directory, let missing):
            return "\(dataset): \(missing.joined(separator: ", ")) not found in \(directory); pass `dataDirectory` DIR containing them"
        case .invalidVocabulary(let reason):
            return "the vocabulary is not usable: \(reason); rebuild it from the training split"
        }
    }
}
