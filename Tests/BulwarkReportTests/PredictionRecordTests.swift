import BulwarkReport
import Foundation
import Testing

/// The line on a file of predictions: its accuracy, and the data only when it is the user's.
@Suite struct PredictionRecordTests {
    @Test func summaryLineNamesTheUsersDataOnly() throws {
        let json = #"{"logits": [[0, 1], [1, 0]], "predictions": [1, 0], "labels": [1, 1]}"#
        var record = try JSONDecoder().decode(PredictionRecord.self, from: Data(json.utf8))
        #expect(record.summaryLine(dataName: "mine.npz", file: "p.json") == "accuracy 50.00% on 2 examples; logits in p.json")
        record.dataPath = "/data/mine.npz"
        #expect(record.summaryLine(dataName: "mine.npz", file: "p.json") == "accuracy 50.00% on 2 examples of mine.npz; logits in p.json")
    }
}
