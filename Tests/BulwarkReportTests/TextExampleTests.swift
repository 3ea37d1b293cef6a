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

    @Test func textRunsShowClassNamesTheirEvaluationsAndSentences() throws {
        // A run of SST-2 from before its classes were named: run.json and the pairs say 0 and 1.
        let configuration = #"{"task": "text", "dataset": "sst2", "method": "fgm", "epsilon": "1", "architecture": "bag", "class_names": "[\"0\",\"1\"]"}"#
        let metrics = #"{"epoch": 1, "train_loss": 0.6, "train_accuracy": 0.7, "validation_clean_accuracy": 0.8, "validation_robust_accuracy": 0.6, "learning_rate": 0.002, "train_seconds": 1, "validation_seconds": 1, "images_per_second": 100}"#
        let evaluation = #"""
            {"task": "text", "model": "run/model.safetensors", "dataset": "sst2", "class_names": ["negative", "positive"], "count": 872,
             "clean_accuracy": 0.8, "attack": "pwws",
             "results": [{"epsilon": 1, "steps": 10, "step_size": 0.25, "robust_accuracy": 0.5, "max_perturbation_norm": 1, "seconds": 2}],
             "pwws": {"accuracy_under_attack": 0.2, "success_rate": 0.75, "mean_changed_fraction": 0.1, "mean_queries": 30.5,
                      "maximum_change_fraction": 0.25, "query_budget": 2000, "seconds": 4}}
            """#
        let pairs = [Self.header, "1\ttrue\t1\t12\t0.9100\t0\t0.6000\tA Fine film\tA bad film"].joined(separator: "\n") + "\n"
        let run = try directory(["run.json": configuration, "metrics.jsonl": metrics + "\n", "eval.json": evaluation, "pairs.tsv": pairs])
        defer { try? FileManager.default.removeItem(atPath: run) }
        let record = try RunRecord(directory: run)
        #expect(record.textEvaluations.map(\.file) == ["eval.json"])
        #expect(record.evaluations.isEmpty && record.skipped.isEmpty, "\(record.skipped)")
        let evaluationRecord = try #require(record.textEvaluations.first?.record)
        #expect(evaluationRecord.classNames == ["negative", "positive"] && evaluationRecord.pwws?.successRate == 0.75)

        let parsed = try XMLOutline(try RunReport(run: record, maximumExamples: 5).html())
        let text = parsed.text
        #expect(text.contains("classes negative, positive"), "the summary names the classes")
        #expect(text.contains("validation sentences") && !text.contains("validation images"))
        #expect(text.contains("Text evaluations") && text.contains("872 sst2 evaluation sentences"))
        #expect(text.contains("PWWS") && text.contains("75.00%") && text.contains("embedding PGD-10") && text.contains("50.00%"))
        #expect(text.contains("eval.json: text evaluation of 872 sentences (pwws)"))
        let table = try #require(parsed.elements.firstIndex { $0.name == "table" && $0.attributes["class"] == "sentences" })
        let cells = parsed.elements.filter { $0.name == "td" && $0.ancestors.contains(table) }
        #expect(cells.first?.ownText == "positive", "the true label by name, not 1")
        #expect(text.contains("adversarial: negative (60.0%)"))
    }
}

extension TextExampleTests {
    /// The file the text evaluation writes is the file the report reads: one type does both.
    @Test func aPairsFileWrittenReadsBackRowForRow() throws {
        let rows = [
            TextExampleFile.Row(label: "positive", succeeded: true, changedCount: 1, queries: 17, confidence: 0.91234,
                                adversarialPrediction: "negative", adversarialConfidence: 0.5, original: ["a", "fine", "film"],
                                adversarial: ["a", "ok", "film"]),
            TextExampleFile.Row(label: "negative", succeeded: false, changedCount: 0, queries: 3, confidence: 0.75,
                                adversarialPrediction: "negative", adversarialConfidence: 0.75, original: ["dull"], adversarial: ["dull"]),
        ]
        let text = TextExampleFile(rows: rows).text
        #expect(text.hasPrefix(Self.header + "\n") && text.hasSuffix("\n"))
        #expect(text.split(separator: "\n")[1] == "positive\ttrue\t1\t17\t0.9123\tnegative\t0.5000\ta fine film\ta ok film")
        let read = try TextExampleFile(text: text, path: "pairs.tsv")
        #expect(read.rows.map(\.changedCount) == [1, 0])
        #expect(read.rows.map(\.confidence) == [0.9123, 0.75])
        #expect(read.rows.map(\.original) == rows.map(\.original) && read.rows.map(\.adversarial) == rows.map(\.adversarial))
        #expect(read.rows.map(\.changedPositions) == [[1], []])
        #expect(TextExampleFile(rows: []).text == Self.header + "\n")
    }
}
