import BulwarkCore
import Foundation
import Testing

@Suite struct CommunicatorTests {
    @Test func singleProcessCollectivesReturnTheirInput() throws {
        let communicator = SingleProcessCommunicator()
        var values: [Float] = [1, -2.5, 3]
        try communicator.sumAcrossRanks(&values)
        #expect(values == [1, -2.5, 3])
        #expect(try communicator.gatherOnEveryRank([7, 8]) == [[7, 8]])
        #expect(communicator.isWriter)
    }

    @Test func localGroupSumsInRankOrderAndGathersEveryRank() throws {
        let group = LocalCommunicatorGroup(size: 3)
        let results = try group.run { communicator -> ([Float], [[UInt8]]) in
            var sums: [Float] = [Float(communicator.rank), 1, 0.1]
            // Several rounds in a row: a fast rank must not overwrite a slow rank's result.
            for _ in 0..<50 { _ = try communicator.gatherOnEveryRank([UInt8(communicator.rank)]) }
            try communicator.sumAcrossRanks(&sums)
            let gathered = try communicator.gatherOnEveryRank(Array(repeating: UInt8(communicator.rank), count: communicator.rank + 1))
            return (sums, gathered)
        }
        let expectedThird = (Float(0.1) + Float(0.1)) + Float(0.1)
        for (sums, gathered) in results {
            #expect(sums == [3, 3, expectedThird])
            #expect(gathered == [[0], [1, 1], [2, 2, 2]])
        }
    }

    @Test func aRankThatNeverArrivesTimesTheOthersOut() throws {
        let group = LocalCommunicatorGroup(size: 2, timeout: 0.2)
        #expect(throws: CommunicatorError.timedOut(operation: "gather", seconds: 0.2)) {
            _ = try group.run { communicator -> [[UInt8]] in
                guard communicator.rank == 0 else { return [] }
                return try communicator.gatherOnEveryRank([1])
            }
        }
    }

    @Test func differentCountsAreAnError() throws {
        let group = LocalCommunicatorGroup(size: 2)
        #expect(throws: CommunicatorError.countMismatch(operation: "sum across ranks", counts: [1, 2])) {
            _ = try group.run { communicator -> [Float] in
                var values = [Float](repeating: 1, count: communicator.rank + 1)
                try communicator.sumAcrossRanks(&values)
                return values
            }
        }
    }
}
