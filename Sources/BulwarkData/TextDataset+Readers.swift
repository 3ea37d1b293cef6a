import Foundation

/// The layout of a generic labelled text file.
public enum TextFileFormat: String, Sendable, CaseIterable {
    /// Comma-separated values with a header line; fields may be double-quoted (RFC 4180).
    case csv
    /// Tab-separated values with a header line; quotes are literal (as in GLUE).
    case tsv
    /// One JSON object per line; the text and label are members of each object.
    case jsonl
}

extension TextDataset {
    // MARK: - GLUE TSV

    /// Reads a GLUE-style TSV file with a header line (SST-2: `sentence<TAB>label`).
    ///
    /// Quotes are literal, as GLUE writes them; surrounding spaces of the text are trimmed
    /// (GLUE leaves one before the tab). Empty lines are skipped.
    ///
    /// - Parameters:
    ///   - classNames: The training split's classes when reading an evaluation split (an
    ///     unknown label is then an error); `nil` finds them in the file.
    /// - Throws: ``TextDataError`` naming the file and line.
    public static func loadGLUE(_ path: String, textColumn: String = "sentence", labelColumn: String = "label", classNames: [String]? = nil) throws -> TextDataset {
        try loadColumns(path, format: .tsv, textColumn: textColumn, labelColumn: labelColumn, classNames: classNames)
    }

    // MARK: - Generic CSV, TSV, JSON lines

    /// Reads a CSV or TSV file with a header, or a JSON-lines file, taking the text and label
    /// from the named columns (members, for JSON lines; a numeric label is read as its
    /// integer text).
    ///
    /// - Throws: ``TextDataError/missingColumn(path:column:available:)`` when the header lacks
    ///   a column, ``TextDataError/malformedLine(path:line:reason:)`` for a row with too few
    ///   fields, a line that is not a JSON object or a JSON label that is neither a string nor a
    ///   non-negative integer (a boolean, a fraction, a negative or huge number),
    ///   ``TextDataError/unknownLabel(path:line:label:known:)``.
    public static func loadColumns(
        _ path: String, format: TextFileFormat, textColumn: String = "text", labelColumn: String = "label",
        classNames: [String]? = nil
    ) throws -> TextDataset {
        let lines = try readLines(atPath: path, encoding: .utf8)
        var rows = [(line: Int, text: String, label: String)]()
        switch format {
        case .csv, .tsv:
            let records = try delimitedRecords(lines, delimiter: format == .csv ? "," : "\t", quoting: format == .csv, path: path)
            guard let header = records.first else { throw TextDataError.missingHeader(path: path) }
            let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
            guard let textIndex = names.firstIndex(of: textColumn) else {
                throw TextDataError.missingColumn(path: path, column: textColumn, available: names)
            }
            guard let labelIndex = names.firstIndex(of: labelColumn) else {
                throw TextDataError.missingColumn(path: path, column: labelColumn, available: names)
            }
            for record in records.dropFirst() {
                guard record.fields.count > Swift.max(textIndex, labelIndex) else {
                    throw TextDataError.malformedLine(
                        path: path, line: record.line,
                        reason: "\(record.fields.count) field\(record.fields.count == 1 ? "" : "s") but the header has \(names.count); check for a missing \(format == .csv ? "comma or an unquoted comma" : "tab")")
                }
                rows.append((record.line, record.fields[textIndex].trimmingCharacters(in: .whitespaces),
                             record.fields[labelIndex].trimmingCharacters(in: .whitespaces)))
            }
        case .jsonl:
            for line in lines where !line.text.allSatisfy(\.isWhitespace) {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.text.utf8)) as? [String: Any] else {
                    throw TextDataError.malformedLine(path: path, line: line.number, reason: "not a JSON object; each line must be one object such as {\"\(textColumn)\": \"…\", \"\(labelColumn)\": 0}")
                }
                guard let text = object[textColumn] as? String else {
                    throw TextDataError.missingColumn(path: path, column: textColumn, available: object.keys.sorted())
                }
                let label: String
                switch object[labelColumn] {
                case let value as String: label = value
                case .some(let value):
                    guard let index = classIndex(value) else {
                        let spelled = (try? JSONSerialization.data(withJSONObject: [value], options: [.fragmentsAllowed]))
                            .map { String(decoding: $0.dropFirst().dropLast(), as: UTF8.self) } ?? "\(value)"
                        throw TextDataError.malformedLine(
                            path: path, line: line.number,
                            reason: "'\(labelColumn)' is \(spelled), but a label must be a non-negative integer (a class index 0, 1, …) or a string (a class name); write the class as such, quoting it (\"\(spelled)\") if it is a name")
                    }
                    label = String(index)
                case .none:
                    throw TextDataError.missingColumn(path: path, column: labelColumn, available: object.keys.sorted())
                }
                rows.append((line.number, text, label))
            }
        }
        return try makeDataset(rows, classNames: classNames, path: path)
    }

    /// A JSON number's value as a class index: a non-negative integer (an integral float such
    /// as `1.0` included) that fits in `Int`; `nil` for booleans, fractions, negative or huge
    /// numbers and non-numbers.
    private static func classIndex(_ value: Any) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        switch String(cString: number.objCType) {
        case "c", "B":
            return nil  // JSONSerialization's booleans
        case "d", "f":
            let double = number.doubleValue
            guard double.isFinite, double >= 0, double.rounded() == double, double < 0x1p53 else { return nil }
            return Int(double)
        case "Q", "L", "I", "S", "C":
            return number.uint64Value <= UInt64(Int.max) ? Int(number.uint64Value) : nil
        default:
            let integer = number.int64Value
            return integer >= 0 ? Int(integer) : nil
        }
    }

    // MARK: - MR

    /// Reads MR (Pang and Lee 2005): `rt-polarity.neg` (class 0, `negative`) and
    /// `rt-polarity.pos` (class 1, `positive`) in `directory`, one snippet per line, Latin-1
    /// bytes. MR has no official split; use ``split(heldOutFraction:using:)``.
    ///
    /// - Throws: ``TextDataError/noExamples(path:)`` naming a file with no snippet, and the
    ///   file errors.
    public static func loadMR(directory: String) throws -> TextDataset {
        var texts = [String](), labels = [Int32]()
        for (label, name) in ["rt-polarity.neg", "rt-polarity.pos"].enumerated() {
            let file = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            let before = texts.count
            for line in try readLines(atPath: file, encoding: .latin1) {
                let text = line.text.trimmingCharacters(in: .whitespaces)
                guard !text.isEmpty else { continue }
                texts.append(text)
                labels.append(Int32(label))
            }
            // Each file is one class: without its snippets the model could learn only the other.
            guard texts.count > before else { throw TextDataError.noExamples(path: file) }
        }
        return TextDataset(texts: texts, labels: labels, classNames: ["negative", "positive"])
    }

    // MARK: - TREC

    /// The six coarse classes of TREC (Li and Roth 2002), in label order.
    public static let trecClassNames = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]

    /// Reads a TREC question-classification file (`train_5500.label`, `TREC_10.label`): one
    /// `COARSE:fine question` per line, Latin-1 bytes; the label is the coarse class.
    public static func loadTREC(_ path: String) throws -> TextDataset {
        var rows = [(line: Int, text: String, label: String)]()
        for line in try readLines(atPath: path, encoding: .latin1) where !line.text.allSatisfy(\.isWhitespace) {
            guard let space = line.text.firstIndex(of: " "), let colon = line.text[..<space].firstIndex(of: ":") else {
                throw TextDataError.malformedLine(path: path, line: line.number, reason: "expected 'COARSE:fine question', for example 'DESC:manner How did serfdom develop ?'")
            }
            rows.append((line.number, String(line.text[line.text.index(after: space)...]).trimmingCharacters(in: .whitespaces),
                         String(line.text[..<colon])))
        }
        return try makeDataset(rows, classNames: trecClassNames, path: path)
    }

    // MARK: - AG News

    /// The four classes of AG News (Zhang et al. 2015), in label order.
    public static let agNewsClassNames = ["World", "Sports", "Business", "Sci/Tech"]

    /// Reads an AG News CSV file (`train.csv`, `test.csv`): no header, three quoted fields
    /// `"class","title","description"` with class 1–4. The text is the title and description
    /// joined by a space, with the distribution's escapes undone (`\$` → `$`, a lone `\` for a
    /// line break → space, `#39;` → `'`, `#36;` → `$`, `&lt;`, `&gt;`, `&amp;`, `&quot;`).
    public static func loadAGNews(_ path: String) throws -> TextDataset {
        let records = try delimitedRecords(try readLines(atPath: path, encoding: .utf8), delimiter: ",", quoting: true, path: path)
        var rows = [(line: Int, text: String, label: String)]()
        for record in records {
            guard record.fields.count == 3 else {
                throw TextDataError.malformedLine(path: path, line: record.line, reason: "\(record.fields.count) fields where AG News has 3 (\"class\",\"title\",\"description\")")
            }
            guard let number = Int(record.fields[0]), (1...4).contains(number) else {
                throw TextDataError.unknownLabel(path: path, line: record.line, label: record.fields[0], known: ["1", "2", "3", "4"])
            }
            rows.append((record.line, cleanAGNews(record.fields[1] + " " + record.fields[2]), agNewsClassNames[number - 1]))
        }
        return try makeDataset(rows, classNames: agNewsClassNames, path: path)
    }

    private static func cleanAGNews(_ text: String) -> String {
        var result = text
        for (escaped, plain) in [("\\$", "$"), ("\\", " "), ("#39;", "'"), ("#36;", "$"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&amp;", "&")] {
            result = result.replacingOccurrences(of: escaped, with: plain)
        }
        return result
    }
}
