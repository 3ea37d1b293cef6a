import Bulwark
import Foundation
import Testing
import _TestSupport

@Suite struct ShardedEvaluationTests {
    static let trained = Fixtures.trainedMLP()
    /// An uneven split on purpose: 30 examples in chunks of 7 leave a short last chunk, and
    /// three ranks get two, two and one chunks.
    static let count = 30, chunkSize = 7

    /// `report` with its timings zeroed: timings are per rank, the only fields that may differ.
    static func withoutTimings(_ report: RobustnessReport) -> RobustnessReport {
        var report = report
        report.cleanSeconds = 0
        for index in report.attacks.indices { report.attacks[index].seconds = 0 }
        return report
    }

    /// The report of one process without a communicator, then of every rank of groups of 1, 2
    /// and 3 ranks.
    static func reports(attacks: [any Attack], strategy: EvaluationStrategy, sanityChecks: Bool) throws -> [[RobustnessReport]] {
        let (model, data) = trained
        let inputs = data.images.slice(alongAxis: 0, 0..<count)
        let labels = Array(data.labels[0..<count])
        let threatModel = attacks[0].threatModel
        let single = try evaluateRobustness(
            model, inputs: inputs, labels: labels, attacks: attacks, threatModel: threatModel, strategy: strategy,
            sanityChecks: sanityChecks, batchSize: 4, seed: 11, chunkSize: chunkSize)
        return try [[single]] + (1...3).map { size in
            try LocalCommunicatorGroup(size: size).run { communicator in
                try evaluateRobustness(
                    model, inputs: inputs, labels: labels, attacks: attacks, threatModel: threatModel, strategy: strategy,
                    sanityChecks: sanityChecks, batchSize: 4, seed: 11, chunkSize: chunkSize, communicator: communicator)
            }
        }
    }

    /// AutoAttack's ensemble over ranks: each rank attacks the survivors of its own chunks, and
    /// the gathered report is the one-process report, on every rank.
    @Test func theStandardEnsembleReportsTheSameForOneTwoAndThreeRanks() throws {
        let threat = ThreatModel.lInfinity(epsilon: 0.25)
        let reports = try Self.reports(attacks: standardAttacks(threatModel: threat, iterations: 10, queries: 100),
                                       strategy: .ensemble, sanityChecks: true)
        let expected = Self.withoutTimings(reports[0][0])
        // The case is not trivial: something is broken, something survives to Square.
        #expect(expected.count == Self.count)
        #expect(expected.worstCaseRobustAccuracy < expected.cleanAccuracy)
        #expect(expected.attacks[3].attackedCount > 0)
        for (size, ranks) in reports.enumerated().dropFirst() {
            #expect(ranks.count == size)
            for (rank, report) in ranks.enumerated() {
                #expect(Self.withoutTimings(report) == expected, "\(size) ranks, rank \(rank)")
            }
        }
    }

    /// Independent PGD with random starts and restarts: every random draw is the chunk's.
    @Test func independentPGDWithRandomStartsReportsTheSameForOneTwoAndThreeRanks() throws {
        let threat = ThreatModel.lInfinity(epsilon: 0.3)
        let attacks: [any Attack] = [
            PGD(threatModel: threat, steps: 5, stepSize: 0.075, randomStart: true, restarts: 2),
            FGSM(threatModel: threat),
        ]
        let reports = try Self.reports(attacks: attacks, strategy: .independent, sanityChecks: false)
        let expected = Self.withoutTimings(reports[0][0])
        #expect(expected.attacks[0].robustAccuracy < expected.cleanAccuracy)
        #expect(expected.attacks.allSatisfy { $0.attackedCount == Self.count })
        for (size, ranks) in reports.enumerated().dropFirst() {
            for (rank, report) in ranks.enumerated() {
                #expect(Self.withoutTimings(report) == expected, "\(size) ranks, rank \(rank)")
            }
        }
    }
}
