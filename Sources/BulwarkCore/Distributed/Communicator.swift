import Foundation

/// The processes that carry out one run together (MPI's ranks of a communicator), and the
/// two collectives Bulwark's data-parallel training and sharded evaluation need.
///
/// Every rank calls the same collectives in the same order; a collective returns on a rank
/// only when every rank has called it. Results are identical bit for bit on every rank, so
/// ranks that apply the same update to the same weights stay identical.
public protocol Communicator: Sendable {
    /// This process's index in `0..<size`.
    var rank: Int { get }
    /// The number of processes.
    var size: Int { get }

    /// Replaces `values` on every rank by their elementwise sum over all ranks. Every rank
    /// passes the same count.
    func sumAcrossRanks(_ values: inout [Float]) throws

    /// Every rank's `bytes`, in rank order, on every rank. Lengths may differ between ranks.
    func gatherOnEveryRank(_ bytes: [UInt8]) throws -> [[UInt8]]
}

extension Communicator {
    /// Whether this process is the one that writes the run's files (rank 0).
    public var isWriter: Bool { rank == 0 }
}

/// Why a collective failed.
public enum CommunicatorError: Error, Equatable, CustomStringConvertible {
    /// A collective did not complete within `seconds`: another rank died, hangs or called a
    /// different collective.
    case timedOut(operation: String, seconds: Double)
    /// The ranks passed different counts to a sum.
    case countMismatch(operation: String, counts: [Int])
    /// The transport reported an error.
    case failed(operation: String, message: String)

    public var description: String {
        switch self {
        case .timedOut(let operation, let seconds):
            return "\(operation) did not complete on every rank within \(seconds) s: another rank has died, hangs, or is in a different step "
                + "(if a rank is only slower, raise the time limit, BULWARK_COLLECTIVE_TIMEOUT seconds under MPI)"
        case .countMismatch(let operation, let counts):
            return "\(operation): the ranks passed different counts (\(counts.map(String.init).joined(separator: ", ")))"
        case .failed(let operation, let message):
            return "\(operation) failed: \(message)"
        }
    }
}

/// One process on its own: every collective returns its input.
public struct SingleProcessCommunicator: Communicator {
    public var rank: Int { 0 }
    public var size: Int { 1 }

    /// Creates the communicator.
    public init() {}

    public func sumAcrossRanks(_ values: inout [Float]) throws {}

    public func gatherOnEveryRank(_ bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }
}

/// Ranks that are threads of one process, for tests of the data-parallel code paths without
/// launching processes. Sums add the ranks' values in rank order, as a deterministic reduction.
public final class LocalCommunicatorGroup: @unchecked Sendable {
    /// The number of ranks.
    public let size: Int
    /// How long a rank waits for the others in a collective before it throws
    /// ``CommunicatorError/timedOut(operation:seconds:)``.
    public let timeout: Double
    private let condition = NSCondition()
    private var contributions: [[UInt8]?]
    private var results: [[UInt8]] = []
    private var arrived = 0
    private var generation = 0

    /// Creates a group of `size` ranks.
    public init(size: Int, timeout: Double = 60) {
        precondition(size >= 1, "a group has at least one rank")
        self.size = size
        self.timeout = timeout
        contributions = Array(repeating: nil, count: size)
    }

    /// The communicator of rank `rank`.
    public func communicator(rank: Int) -> Communicator {
        precondition((0..<size).contains(rank), "rank \(rank) is not in 0..<\(size)")
        return Member(group: self, rank: rank)
    }

    /// Runs `body` once per rank, each on its own thread, and returns the results in rank
    /// order; rethrows the lowest rank's error.
    public func run<Result: Sendable>(_ body: @escaping @Sendable (Communicator) throws -> Result) throws -> [Result] {
        let outcomes = Outcomes<Result>(count: size)
        let finished = DispatchGroup()
        for rank in 0..<size {
            finished.enter()
            let thread = Thread { [self] in
                defer { finished.leave() }
                outcomes.set(rank, Swift.Result { try body(self.communicator(rank: rank)) })
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        finished.wait()
        return try outcomes.values.map { try $0!.get() }
    }

    fileprivate func exchange(_ bytes: [UInt8], rank: Int, operation: String) throws -> [[UInt8]] {
        condition.lock()
        defer { condition.unlock() }
        let round = generation
        contributions[rank] = bytes
        arrived += 1
        if arrived == size {
            results = contributions.map { $0! }
            contributions = Array(repeating: nil, count: size)
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            let deadline = Date(timeIntervalSinceNow: timeout)
            while generation == round {
                if !condition.wait(until: deadline) && generation == round {
                    throw CommunicatorError.timedOut(operation: operation, seconds: timeout)
                }
            }
        }
        // A later round cannot replace `results` before every rank has arrived in it, which a
        // rank does only after reading this round's.
        return results
    }

    private struct Member: Communicator {
        let group: LocalCommunicatorGroup
        let rank: Int
        var size: Int { group.size }

        func sumAcrossRanks(_ values: inout [Float]) throws {
            let bytes = values.withUnsafeBytes { Array($0) }
            let all = try group.exchange(bytes, rank: rank, operation: "sum across ranks")
            let counts = all.map { $0.count / MemoryLayout<Float>.stride }
            guard Set(counts).count == 1 else {
                throw CommunicatorError.countMismatch(operation: "sum across ranks", counts: counts)
            }
            var total = [Float](repeating: 0, count: values.count)
            for contribution in all {
                contribution.withUnsafeBytes { raw in
                    let floats = raw.bindMemory(to: Float.self)
                    for index in total.indices { total[index] += floats[index] }
                }
            }
            values = total
        }

        func gatherOnEveryRank(_ bytes: [UInt8]) throws -> [[UInt8]] {
            try group.exchange(bytes, rank: rank, operation: "gather")
        }
    }

    private final class Outcomes<Value: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var values: [Swift.Result<Value, Error>?]
        init(count: Int) { values = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ value: Swift.Result<Value, Error>) {
            lock.lock()
            values[index] = value
            lock.unlock()
        }
    }
}
