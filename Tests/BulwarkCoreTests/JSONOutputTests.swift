import BulwarkCore
import Foundation
import Testing

@Suite struct JSONOutputTests {
    struct Record: Encodable {
        var accuracy: Float
        var rates: [Double]
        var note: String
    }

    @Test func nonFiniteNumbersBecomeNullAndTheRestIsUnchanged() throws {
        let data = try JSONOutput.encode(Record(accuracy: .nan, rates: [0.5, .infinity, -.infinity], note: "nan inf")) {
            $0.outputFormatting = [.sortedKeys]
        }
        #expect(String(decoding: data, as: UTF8.self) == #"{"accuracy":null,"note":"nan inf","rates":[0.5,null,null]}"#)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["accuracy"] is NSNull)
    }

    @Test func finiteRecordsEncodeAsJSONEncoderDoes() throws {
        let record = Record(accuracy: 0.25, rates: [1, 2], note: "\u{1}non-finite is only a marker when quoted whole")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(try JSONOutput.encode(record) { $0.outputFormatting = [.sortedKeys] } == encoder.encode(record))
    }
}
