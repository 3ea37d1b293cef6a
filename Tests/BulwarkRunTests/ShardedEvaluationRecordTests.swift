import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkReport
import BulwarkRun
import Foundation
import Synchronization
import Testing
import _TestSupport

@Suite struct ShardedEvaluationRecordTests {
    /// The JSON an evaluation writes, with the per-rank timings (each attack's `seconds` and
    /// `images_per_second`) removed.
    static func recordWithoutTimings(_ outcome: EvaluationConfiguration.Outcome, of configuration: EvaluationConfiguration) throws -> String {
        let record = configuration.record(of: outcome, model: "model.safetensors", architecture: "mlp", dataset: "templates")
        let data = try JSONOutput.encode(record) { $0.outputFormatting = [.sortedKeys] }
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var attacks = try #require(object["attacks"] as? [String: [String: Any]])
        for name in attacks.keys {
            #expect(attacks[name]?.removeValue(forKey: "seconds") != nil)
            #expect(attacks[name]?.removeValue(forKey: "images_per_second") != nil)
        }
        object["attacks"] = attacks
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// `bulwark eval --attack standard` and `--attack pgd` write the same JSON from one process
    /// and from every rank of 1, 2 and 3.
    @Test(arguments: [["standard"], ["pgd", "fgsm"]])
    func theWrittenEvaluationIsTheSameForOneTwoAndThreeRanks(attacks: [String]) throws {
        let (model, data) = Fixtures.trainedMLP()
        let dataset = ImageDataset(images: data.images.slice(alongAxis: 0, 0..<40), labels: Array(data.labels[0..<40]), classCount: 4)
        var configuration = EvaluationConfiguration()
        configuration.attacks = attacks
        configuration.epsilon = 0.25
        configuration.count = 40
        configuration.batchSize = 16
        configuration.seed = 3
        configuration.parameters.steps = 5
        configuration.parameters.iterations = 10
        configuration.parameters.queries = 100
        let expected = try Self.recordWithoutTimings(configuration.evaluate(model, on: dataset), of: configuration)
        let shared = configuration
        #expect(expected.contains("\"count\":40"))
        for size in 1...3 {
            let records = try LocalCommunicatorGroup(size: size).run { communicator in
                try Self.recordWithoutTimings(shared.evaluate(model, on: dataset, communicator: communicator), of: shared)
            }
            for (rank, record) in records.enumerated() {
                #expect(record == expected, "\(size) ranks, rank \(rank)")
            }
        }
    }

    /// Each rank checks agreement before any work: a rank that disagrees stops every rank.
    @Test func theAgreementCheckRunsBeforeTheEvaluation() throws {
        let (model, data) = Fixtures.trainedMLP()
        let progressed = Mutex(false)
        let outcomes = try LocalCommunicatorGroup(size: 2).run { communicator -> String in
            var configuration = EvaluationConfiguration()
            configuration.count = data.count
            if communicator.rank == 1 { configuration.seed += 1 }
            do {
                _ = try configuration.evaluate(model, on: data, communicator: communicator, progress: { _, _, _ in
                    progressed.withLock { $0 = true }
                })
                return "evaluated"
            } catch let disagreement as RankDisagreement {
                return disagreement.item
            }
        }
        #expect(outcomes == ["seed", "seed"])
        #expect(!progressed.withLock { $0 })
    }
}
