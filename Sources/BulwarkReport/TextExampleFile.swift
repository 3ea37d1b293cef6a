import Foundation

/// The sentence pairs `bulwark eval --task text --attack pwws --pairs FILE` writes, read back:
/// one row per sentence the model classified correctly, with its label, whether the
/// substitution attack fooled the model, how many words it changed, the queries it spent, the
/// model's confidence in the label, its prediction and confidence on the adversarial sentence,
/// and both sentences as space-separated tokens.
///
/// The file is tab-separated with a header naming the columns (``header``); only `label`,
/// `succeeded`, `original` and `adversarial` are required, so files with fewer columns still
/// read. Substitution attacks replace tokens one for one, so the two sentences have the same
/// number of tokens and ``Row/changedPositions`` are where they differ.
public struct TextExampleFile: Sendable, Equatable {
    /// One attacked sentence.
    public struct Row: Sendable, Equatable {
        /// The true class's name.
        public var label: String
        /// Whether the adversarial sentence is misclassified.
        public var succeeded: Bool
        /// Tokens the attack substituted, when recorded.
        public var changedCount: Int?
        /// Model evaluations spent, when recorded.
        public var queries: Int?
        /// The model's probability of the label on the original sentence, when recorded.
        public var confidence: Float?
        /// The model's prediction on the adversarial sentence, when recorded.
        public var adversarialPrediction: String?
        /// The probability of that prediction, when recorded.
        public var adversarialConfidence: Float?
        /// The original sentence's tokens.
        public var original: [String]
        /// The adversarial sentence's tokens.
        public var adversarial: [String]

        /// The token positions the attack substituted.
        public var changedPositions: [Int] {
            zip(original, adversarial).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        }

        /// A row; the optional columns may be left out.
        public init(label: String, succeeded: Bool, changedCount: Int? = nil, queries: Int? = nil, confidence: Float? = nil,
                    adversarialPrediction: String? = nil, adversarialConfidence: Float? = nil,
                    original: [String], adversarial: [String]) {
            self.label = label
            self.succeeded = succeeded
            self.changedCount = changedCount
            self.queries = queries
            self.confidence = confidence
            self.adversarialPrediction = adversarialPrediction
            self.adversarialConfidence = adversarialConfidence
            self.original = original
            self.adversarial = adversarial
        }

        /// The row as a line of the file, in the order of ``TextExampleFile/header``;
        /// probabilities with four decimals.
        var line: String {
            let probability = { (value: Float?) in value.map { String(format: "%.4f", $0) } ?? "" }
            return [label, String(succeeded), changedCount.map(String.init) ?? "", queries.map(String.init) ?? "",
                    probability(confidence), adversarialPrediction ?? "", probability(adversarialConfidence),
                    original.joined(separator: " "), adversarial.joined(separator: " ")].joined(separator: "\t")
        }
    }

    /// The columns the command line writes, in order.
    public static let header = ["label", "succeeded", "changed", "queries", "confidence",
                                "adversarial_prediction", "adversarial_confidence", "original", "adversarial"]

    /// The rows in file order.
    public var rows: [Row]

    /// The number of attacked sentences the attack fooled.
    public var fooledCount: Int { rows.filter(\.succeeded).count }

    /// A file of `rows`.
    public init(rows: [Row]) { self.rows = rows }

    /// The file's text: the ``header`` and one tab-separated line per row.
    public var text: String {
        ([Self.header.joined(separator: "\t")] + rows.map(\.line)).joined(separator: "\n") + "\n"
    }

    /// Parses the text of a pairs file; `path` names it in errors.
    ///
    /// - Throws: ``ReportError/unreadable(path:reason:)`` naming the missing column or the bad
    ///   line.
    public init(text: String, path: String) throws(ReportError) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let first = lines.first else { throw .unreadable(path: path, reason: "the file is empty") }
        let columns = first.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        var position = [String: Int]()
        for (index, name) in columns.enumerated() { position[name] = index }
        for required in ["label", "succeeded", "original", "adversarial"] where position[required] == nil {
            throw .unreadable(path: path, reason: "the header has no '\(required)' column; expected the columns \(Self.header.joined(separator: ", ")) as bulwark eval --task text --pairs writes them")
        }
        rows = []
        for (number, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == columns.count else {
                throw .unreadable(path: path, reason: "line \(number + 1) has \(fields.count) tab-separated fields, the header \(columns.count)")
            }
            func field(_ name: String) -> String? { position[name].map { fields[$0] } }
            guard let succeeded = field("succeeded").flatMap(Bool.init) else {
                throw .unreadable(path: path, reason: "line \(number + 1): 'succeeded' is '\(field("succeeded") ?? "")', not true or false")
            }
            let original = (field("original") ?? "").split(separator: " ").map(String.init)
            let adversarial = (field("adversarial") ?? "").split(separator: " ").map(String.init)
            guard original.count == adversarial.count else {
                throw .unreadable(path: path, reason: "line \(number + 1): the sentences have \(original.count) and \(adversarial.count) tokens; a substitution attack keeps the count")
            }
            rows.append(Row(
                label: field("label") ?? "", succeeded: succeeded, changedCount: field("changed").flatMap { Int($0) },
                queries: field("queries").flatMap { Int($0) },
                confidence: field("confidence").flatMap { Float($0) }, adversarialPrediction: field("adversarial_prediction"),
                adversarialConfidence: field("adversarial_confidence").flatMap { Float($0) },
                original: original, adversarial: adversarial))
        }
    }

    /// Reads the pairs file at `path`.
    ///
    /// - Throws: ``ReportError/unreadable(path:reason:)``.
    public init(contentsOf path: String) throws(ReportError) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadable(path: path, reason: error.localizedDescription)
        }
        try self.init(text: String(decoding: data, as: UTF8.self), path: path)
    }

    /// Whether `firstLine` looks like the header of a pairs file, so that a run directory's
    /// other `.tsv` files are left alone.
    static func isHeader(_ firstLine: Substring) -> Bool {
        firstLine.hasPrefix("label\tsucceeded\t")
    }
}
