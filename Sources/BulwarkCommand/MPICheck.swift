import ArgumentParser
import Bulwark
import Foundation

/// `bulwark mpi-check` (hidden): whether `mpirun` launched the ranks as one job, for setting up
/// runs over several processes and machines. Every rank checks that the ranks agree on the
/// threat options, sums a 1 from each rank and gathers their host names; rank 0 prints them.
struct MPICheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-check",
        abstract: "Check that the ranks launched by mpirun run as one job (sizes, hosts, threads, agreement).",
        shouldDisplay: false)

    @OptionGroup var threat: ThreatOptions
    @OptionGroup var threads: ThreadOptions
    // Failure injection for the tests of rank death and of the collectives' time limit.
    @Option(help: .hidden) var exitOnRank: Int?
    @Option(help: .hidden) var hangOnRank: Int?

    func run() throws {
        let world = try worldCommunicator()
        if exitOnRank == world.rank { _exit(3) }
        if hangOnRank == world.rank { while true { sleep(60) } }
        try RankAgreement.check([.field("epsilon", json: String(threat.epsilon.value)), .field("norm", json: threat.norm.rawValue),
                                 .other("the Bulwark version", value: bulwarkVersion)], over: world)
        var ones: [Float] = [1]
        try world.sumAcrossRanks(&ones)
        // gethostname, not ProcessInfo.hostName, which may wait for a DNS lookup.
        var name = [CChar](repeating: 0, count: 256)
        let hostName = gethostname(&name, name.count - 1) == 0 ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown"
        let hosts = try world.gatherOnEveryRank(Array(hostName.utf8)).map { String(decoding: $0, as: UTF8.self) }
        guard world.isWriter else { return }
        output("ranks: \(world.size) (sum of ones: \(Int(ones[0])))")
        output("hosts: \(Set(hosts).sorted().joined(separator: ", "))")
        output("threads per rank: \(EngineThreads.count)")
    }
}
