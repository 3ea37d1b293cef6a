import BulwarkReport
import Foundation
import Testing

/// Word-substitution pairs in the report: read back, shown with the substituted words marked.
@Suite struct TextExampleTests {
    static let header = TextExampleFile.header.joined(separator: "\t")

    /// A run directory holding only `files`.
    private func directory(_ files: [String: String]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-text-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: path + "/" + name, atomically: true, encoding: .utf8) }
        return path
    }

    @Test func substitutedWordsAreMarkedInBothSentencesFooledFirst() throws {
        let pairs = [
            Self.header,
            "positive\tfalse\t0\t12\t0.9100\tpositive\t0.9100\ta fine film\ta fine film",
            "positive\ttrue\t2\t40\t0.8000\tnegative\t0.6500\tthe acting is good & <bright>\tthe acting is bad & <dim>",
            "negative\ttrue\t1\t25\t0.7000\tpositive\t0.5500\ta dull plot\ta boring plot",
        ].joined(separator: "\n") + "\n"
        let run = try directory(["pairs.tsv": pairs, "notes.tsv": "name\tvalue\nsomething\t1\n"])
        defer { try? FileManager.default.removeItem(atPath: run) }
        let record = try RunRecord(directory: run)
        #expect(record.textExampleFiles.map(\.file) == ["pairs.tsv"], "a .tsv without the header is not a pairs file")
        #expect(record.skipped.isEmpty)
        let file = try #require(record.textExampleFiles.first?.examples)
        #expect(file.rows.map(\.changedPositions) == [[], [3, 5], [1]])
        #expect(file.fooledCount == 2)

        let parsed = try XMLOutline(try RunReport(run: record, maximumExamples: 2).html())
        // The two fooled sentences only, in file order; markup in the words is escaped.
        let table = try #require(parsed.elements.firstIndex { $0.name == "table" && $0.attributes["class"] == "sentences" })
        let inTable = parsed.elements.filter { $0.ancestors.contains(table) }
        #expect(inTable.filter { $0.name == "mark" }.map(\.ownText) == ["bad", "<dim>", "boring"])
        #expect(inTable.filter { $0.name == "del" && $0.attributes["class"] == "swapped" }.map(\.ownText) == ["good", "<bright>", "dull"])
        let rows = parsed.elements.filter { $0.name == "tr" && $0.ancestors.contains(table) }
        #expect(rows.map { $0.attributes["class"] } == [nil, "fooled", "fooled"])
        let text = parsed.text
        #expect(text.contains("3 correctly classified sentences attacked; 2 fooled (success rate 66.67%)"))
        #expect(text.contains("33.3% of the words changed on average"), "(2/6 + 1/3) / 2")
        #expect(text.contains("25.7 queries per sentence"))
        #expect(text.contains("negative (65.0%)") && text.contains("2 of 6 words changed"))
        #expect(!text.contains("No file of adversarial examples"))
    }

    @Test func malformedPairsAreSkippedWithTheReason() throws {
        let run = try directory([
            "a-missing-column.tsv": "label\tsucceeded\toriginal\nx\ttrue\ta b\n",
            "b-lengths.tsv": "label\tsucceeded\toriginal\tadversarial\nx\ttrue\ta b c\ta b\n",
            "c-flag.tsv": "label\tsucceeded\toriginal\tadversarial\nx\tmaybe\ta b\ta c\n",
            "d-old-columns.tsv": "label\tsucceeded\tchanged\toriginal\tadversarial\nx\ttrue\t1\ta b\ta c\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: run) }
        let record = try RunRecord(directory: run)
        #expect(record.skipped.map(\.file) == ["a-missing-column.tsv", "b-lengths.tsv", "c-flag.tsv"])
        #expect(record.skipped[0].reason.contains("no 'adversarial' column"))
        #expect(record.skipped[1].reason.contains("3 and 2 tokens"))
        #expect(record.skipped[2].reason.contains("'maybe'"))
        // The five columns of earlier versions still read.
        #expect(record.textExampleFiles.map(\.file) == ["d-old-columns.tsv"])
        #expect(record.textExampleFiles.first?.examples.rows.first?.changedPositions == [1])
    }
}
