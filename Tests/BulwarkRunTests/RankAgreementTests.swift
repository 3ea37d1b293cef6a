import BulwarkCore
import BulwarkData
import BulwarkRun
import Foundation
import Testing

@Suite struct RankAgreementTests {
    private struct Settings: Encodable { var epsilon: Float; var steps: Int; var name: String }

    @Test func ranksThatAgreePass() throws {
        let group = LocalCommunicatorGroup(size: 3, timeout: 30)
        _ = try group.run { world in
            let items = try RankAgreement.fields(of: Settings(epsilon: 0.1, steps: 7, name: "a/b"))
                + [.other("the training data", value: "abc")]
            try RankAgreement.check(items, over: world)
        }
    }

    @Test func everyRankThrowsNamingTheFieldAndTheValues() throws {
        let group = LocalCommunicatorGroup(size: 3, timeout: 30)
        let errors = try group.run { world -> RankDisagreement? in
            let settings = Settings(epsilon: world.rank == 1 ? 0.2 : 0.1, steps: 7, name: "a")
            do {
                try RankAgreement.check(RankAgreement.fields(of: settings), over: world)
                return nil
            } catch let error as RankDisagreement { return error }
        }
        for error in errors {
            let error = try #require(error)
            #expect(error.item == "epsilon" && error.isField)
            #expect(error.description.hasPrefix("the ranks disagree on `epsilon`: ranks 0, 2 have 0.1; rank 1 has 0.2"))
        }
    }

    @Test func aDifferentFingerprintOrAMissingItemIsNamed() throws {
        let group = LocalCommunicatorGroup(size: 2, timeout: 30)
        let messages = try group.run { world -> [String] in
            var messages: [String] = []
            let data: [UInt8] = world.rank == 0 ? [1, 2, 3] : [1, 2, 4]
            let fingerprint = data.withUnsafeBytes { RankAgreement.fingerprint([$0]) }
            do { try RankAgreement.check([.other("the training data", value: fingerprint)], over: world) } catch { messages.append("\(error)") }
            let items: [RankAgreement.Item] = world.rank == 0 ? [.field("steps", json: "7")] : []
            do { try RankAgreement.check(items, over: world) } catch { messages.append("\(error)") }
            return messages
        }
        for rankMessages in messages {
            #expect(rankMessages.count == 2)
            #expect(rankMessages.first?.hasPrefix("the ranks disagree on the training data: rank 0 has ") == true)
            #expect(rankMessages.last?.hasPrefix("the ranks disagree on `steps`: rank 0 has 7; rank 1 has none") == true)
        }
    }

    @Test func fingerprintsSeparateTheParts() {
        let whole: [UInt8] = [1, 2, 3], head: [UInt8] = [1], tail: [UInt8] = [2, 3], front: [UInt8] = [1, 2], back: [UInt8] = [3]
        let one = whole.withUnsafeBytes { RankAgreement.fingerprint([$0]) }
        let split = head.withUnsafeBytes { a in tail.withUnsafeBytes { b in RankAgreement.fingerprint([a, b]) } }
        let otherSplit = front.withUnsafeBytes { a in back.withUnsafeBytes { b in RankAgreement.fingerprint([a, b]) } }
        #expect(Set([one, split, otherSplit]).count == 3)
        #expect(one == whole.withUnsafeBytes { RankAgreement.fingerprint([$0]) })
    }

    @Test func datasetFingerprintsChangeWithAnyPixelLabelOrText() {
        let pixels: [Float] = (0..<8).map { Float($0) / 8 }
        func images(_ pixels: [Float], _ labels: [Int32], shape: [Int] = [2, 1, 2, 2]) -> String {
            RankAgreement.fingerprint(of: ImageDataset(images: Tensor(shape: shape, scalars: pixels), labels: labels, classCount: 2))
        }
        var changedPixel = pixels
        changedPixel[5] = 0.5
        let base = images(pixels, [0, 1])
        #expect(base == images(pixels, [0, 1]))
        #expect(Set([base, images(changedPixel, [0, 1]), images(pixels, [1, 1]), images(pixels, [0, 1], shape: [2, 1, 1, 4])]).count == 4)
        func texts(_ texts: [String], _ labels: [Int32]) -> String {
            RankAgreement.fingerprint(of: TextDataset(texts: texts, labels: labels, classNames: ["no", "yes"]))
        }
        let text = texts(["a b", "c"], [0, 1])
        #expect(text == texts(["a b", "c"], [0, 1]))
        #expect(Set([text, texts(["a", "b c"], [0, 1]), texts(["a b", "c"], [1, 1])]).count == 3)
    }
}
