import Foundation

/// How the bytes of a text file are decoded.
public enum TextEncoding: String, Sendable, CaseIterable {
    /// UTF-8; invalid bytes are an error naming the line.
    case utf8
    /// ISO 8859-1: every byte is the code point of the same value, so no file is invalid
    /// (MR's `rt-polarity` files and TREC need it).
    case latin1
}

/// One line of a text file with its 1-based number.
package struct TextLine: Sendable {
    package var number: Int
    package var text: String
}

/// The lines of the file at `path`, split on LF only (a trailing CR is dropped; a byte such as
/// 0x85, NEL in Latin-1, is not a line break), decoded with `encoding`. Gzipped files are
/// decompressed. A final empty line after the last LF is not returned.
package func readLines(atPath path: String, encoding: TextEncoding) throws -> [TextLine] {
    let bytes: [UInt8]
    do {
        bytes = try contentsOfFile(atPath: path)
    } catch {
        switch error {
        case .fileNotFound, .notAFile: throw TextDataError.fileNotFound(path: path)
        default: throw TextDataError.unreadableFile(path: path, reason: error.description)
        }
    }
    var lines = [TextLine]()
    var start = 0
    var number = 1
    func emit(_ end: Int) throws {
        var stop = end
        if stop > start, bytes[stop - 1] == 0x0D { stop -= 1 }
        let slice = bytes[start..<stop]
        let text: String
        switch encoding {
        case .utf8:
            guard let decoded = String(validating: slice, as: UTF8.self) else {
                throw TextDataError.invalidUTF8(path: path, line: number)
            }
            text = decoded
        case .latin1:
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: slice.map { Unicode.Scalar($0) })
            text = String(scalars)
        }
        lines.append(TextLine(number: number, text: text))
    }
    for (index, byte) in bytes.enumerated() where byte == 0x0A {
        try emit(index)
        start = index + 1
        number += 1
    }
    if start < bytes.count { try emit(bytes.count) }
    // A UTF-8 byte-order mark is not part of the first field.
    if encoding == .utf8, let first = lines.first, first.text.hasPrefix("\u{FEFF}") {
        lines[0].text.removeFirst()
    }
    return lines
}

/// A record of a delimited file: its fields and the 1-based line it starts on.
package struct DelimitedRecord: Sendable {
    package var line: Int
    package var fields: [String]
}

/// Splits lines into records of fields separated by `delimiter`.
///
/// With `quoting` (CSV, RFC 4180) a field may be enclosed in double quotes, inside which the
/// delimiter and line breaks are literal and `""` stands for one `"`; without it (GLUE TSV,
/// which writes quotes verbatim) every delimiter separates. Empty lines are skipped.
///
/// - Throws: ``TextDataError/malformedLine(path:line:reason:)`` for a quote left open at the
///   end of the file or text after a closing quote.
package func delimitedRecords(_ lines: [TextLine], delimiter: Character, quoting: Bool, path: String) throws -> [DelimitedRecord] {
    var records = [DelimitedRecord]()
    guard quoting else {
        for line in lines where !line.text.isEmpty {
            records.append(DelimitedRecord(line: line.number, fields: line.text.split(separator: delimiter, omittingEmptySubsequences: false).map(String.init)))
        }
        return records
    }
    var fields = [String]()
    var field = ""
    var inQuotes = false
    var afterQuote = false
    var startLine = 0
    for line in lines {
        if !inQuotes {
            guard !line.text.isEmpty else { continue }
            startLine = line.number
            fields = []
            field = ""
            afterQuote = false
        } else {
            field.append("\n")
        }
        var characters = line.text.makeIterator()
        while let character = characters.next() {
            if inQuotes {
                if character == "\"" {
                    inQuotes = false
                    afterQuote = true
                } else {
                    field.append(character)
                }
            } else if character == delimiter {
                fields.append(field)
                field = ""
                afterQuote = false
            } else if character == "\"" {
                if afterQuote {
                    field.append("\"")  // `""` inside a quoted field
                    inQuotes = true
                    afterQuote = false
                } else if field.isEmpty {
                    inQuotes = true
                } else {
                    throw TextDataError.malformedLine(path: path, line: line.number, reason: "a quote inside an unquoted field; enclose the field in double quotes and write a quote inside it as \"\"")
                }
            } else if afterQuote {
                throw TextDataError.malformedLine(path: path, line: line.number, reason: "text after a closing quote; write a quote inside a quoted field as \"\"")
            } else {
                field.append(character)
            }
        }
        if !inQuotes {
            fields.append(field)
            records.append(DelimitedRecord(line: startLine, fields: fields))
        }
    }
    if inQuotes {
        throw TextDataError.malformedLine(path: path, line: startLine, reason: "a quoted field is never closed; check for a missing \" at the end of the field")
    }
    return records
}

/// Maps label strings to class indices.
///
/// With known class names, labels must be one of them (an evaluation split checked against
/// the training split). Without, the classes are found in the data: labels that are all
/// non-negative integers name classes `0…max`; otherwise the distinct labels sorted.
package struct LabelMapping: Sendable {
    package var classNames: [String]

    package init(known classNames: [String]) {
        self.classNames = classNames
    }

    package init(discoveredIn labels: [String]) {
        let distinct = Set(labels)
        let integers = distinct.compactMap { Int($0) }
        if integers.count == distinct.count, let largest = integers.max(), integers.allSatisfy({ $0 >= 0 }), largest < 10_000 {
            classNames = (0...largest).map(String.init)
        } else {
            classNames = distinct.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
        }
    }

    package func label(of name: String, path: String, line: Int) throws -> Int32 {
        if let index = classNames.firstIndex(of: name) { return Int32(index) }
        throw TextDataError.unknownLabel(path: path, line: line, label: name, known: classNames)
    }
}

/// A dataset from `(line, text, label)` triples, with labels mapped by `classNames` when given.
package func makeDataset(_ rows: [(line: Int, text: String, label: String)], classNames: [String]?, path: String) throws -> TextDataset {
    guard !rows.isEmpty else { throw TextDataError.noExamples(path: path) }
    let mapping = classNames.map(LabelMapping.init(known:)) ?? LabelMapping(discoveredIn: rows.map(\.label))
    let labels = try rows.map { try mapping.label(of: $0.label, path: path, line: $0.line) }
    return TextDataset(texts: rows.map(\.text), labels: labels, classNames: mapping.classNames)
}
