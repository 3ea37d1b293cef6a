import Foundation
import Testing

/// `bulwark` launched by `mpirun`: ranks that find each other, ranks that disagree, a rank
/// that dies or hangs, and ranks on two hosts. Each launch has a time limit (generous: the
/// suite runs tests side by side on few cores), so a hang fails the test instead of stalling
/// the suite.
@Suite(.serialized) struct MPIRunTests {
    private static let canRun: Bool = {
        if let reason = MPIRun.unavailable { print("MPIRunTests skipped: \(reason)") }
        return MPIRun.unavailable == nil
    }()

    @Test(.enabled(if: canRun)) func twoRanksFindEachOther() throws {
        let outcome = try MPIRun.bulwark(ranks: 2, ["mpi-check"], timeLimit: 120)
        #expect(!outcome.timedOut)
        #expect(outcome.status == 0, "\(outcome.error)")
        #expect(outcome.output.contains("ranks: 2 (sum of ones: 2)"), "\(outcome.output)")
        // The cores are shared among the ranks on a host unless --threads says otherwise.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        #expect(outcome.output.contains("threads per rank: \(max(1, min(cores, 16) / 2))"), "\(outcome.output)")
        let threads = try MPIRun.bulwark(ranks: 2, ["mpi-check", "--threads", "3"], timeLimit: 120)
        #expect(threads.output.contains("threads per rank: 3"), "\(threads.output) \(threads.error)")
    }

    @Test(.enabled(if: canRun)) func ranksGivenDifferentOptionsStopNamingTheOption() throws {
        let outcome = try MPIRun.bulwark(eachRank: [["mpi-check", "--epsilon", "0.1"], ["mpi-check", "--epsilon", "0.2"]], timeLimit: 120)
        #expect(!outcome.timedOut)
        #expect(outcome.status != 0)
        #expect(outcome.error.contains("the ranks disagree on --epsilon: rank 0 has 0.1; rank 1 has 0.2"), "\(outcome.error)")
        #expect(!outcome.output.contains("ranks: 2"))
    }

    @Test(.enabled(if: canRun)) func aRankThatExitsEndsTheJob() throws {
        let outcome = try MPIRun.bulwark(ranks: 2, ["mpi-check", "--exit-on-rank", "1"],
                                         environment: ["BULWARK_COLLECTIVE_TIMEOUT": "20"], timeLimit: 120)
        #expect(!outcome.timedOut, "the job outlived its time limit")
        #expect(outcome.status != 0)
        #expect(!outcome.output.contains("ranks: 2"))
    }

    @Test(.enabled(if: canRun)) func aRankThatHangsMakesTheOthersStopAtTheTimeLimit() throws {
        let outcome = try MPIRun.bulwark(ranks: 2, ["mpi-check", "--hang-on-rank", "1"],
                                         environment: ["BULWARK_COLLECTIVE_TIMEOUT": "3"], timeLimit: 120)
        #expect(!outcome.timedOut, "the job outlived its time limit")
        #expect(outcome.status != 0)
        #expect(outcome.error.contains("did not complete on every rank within 3.0 s"), "\(outcome.error)")
    }

    @Test(.enabled(if: canRun)) func aBadTimeLimitIsRefusedOnEveryRank() throws {
        let outcome = try MPIRun.bulwark(ranks: 2, ["mpi-check"], environment: ["BULWARK_COLLECTIVE_TIMEOUT": "soon"], timeLimit: 120)
        #expect(!outcome.timedOut)
        #expect(outcome.status != 0)
        #expect(outcome.error.contains("BULWARK_COLLECTIVE_TIMEOUT must be a positive number of seconds, not 'soon'"), "\(outcome.error)")
    }

    private static let canRunOnTwoHosts: Bool = {
        if let reason = TwoHostNetwork.unavailable { print("MPIRunTests' two-host test skipped: \(reason)") }
        return TwoHostNetwork.unavailable == nil
    }()

    @Test(.enabled(if: canRunOnTwoHosts)) func twoHostsTalkOverTCP() throws {
        let outcome = try TwoHostNetwork.with { network in try network.runBulwarkOnBothHosts(["mpi-check"], timeLimit: 120) }
        #expect(!outcome.timedOut)
        #expect(outcome.status == 0, "\(outcome.error)")
        #expect(outcome.output.contains("ranks: 2 (sum of ones: 2)"), "\(outcome.output)")
        #expect(outcome.output.contains("hosts: bulwark-host-a, bulwark-host-b"), "\(outcome.output)")
    }
}
