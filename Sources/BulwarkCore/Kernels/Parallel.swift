import Dispatch
import Foundation
import Synchronization

/// The number of workers kernels split large work into (see ``EngineThreads``), fixed the
/// first time it is read.
package var workerCount: Int {
    let fixed = EngineThreads.fixed.load(ordering: .acquiring)
    return fixed > 0 ? fixed : EngineThreads.fix(EngineThreads.defaultCount(environment: ProcessInfo.processInfo.environment))
}

/// The number of threads the engine's kernels run on.
///
/// By default `BULWARK_THREADS` when it holds a positive whole number, else the machine's active
/// cores (at most 16) divided among the MPI ranks on this host (`OMPI_COMM_WORLD_LOCAL_SIZE`,
/// as `mpirun` sets it), at least 1. The count is fixed the first time a kernel or
/// ``count`` reads it, because how kernels split their work, and so the last bits of some
/// results (such as a convolution's weight gradient), depend on it. BLAS and oneDNN stay
/// single-threaded inside each worker's part either way.
public enum EngineThreads {
    /// The environment variable that sets the thread count.
    public static let variable = "BULWARK_THREADS"

    /// The thread counts the engine accepts.
    public static let allowedCounts = 1...1024

    /// The count kernels use; reading it fixes it.
    public static var count: Int { workerCount }

    /// Makes the engine use `count` threads. Call it before any computation: throws
    /// ``EngineThreadsError`` when `count` is not positive, or when the count is already fixed
    /// at another value (by an earlier call, a kernel or a read of ``count``).
    public static func use(_ count: Int) throws {
        guard allowedCounts.contains(count) else { throw EngineThreadsError.invalidCount(count) }
        let current = fixed.load(ordering: .acquiring)
        guard current != count else { return }
        guard current == 0, fix(count) == count else { throw EngineThreadsError.alreadyFixed(current: workerCount, requested: count) }
    }

    /// ``variable``'s count in `environment`: `nil` when it is not set; throws when it is not
    /// a positive whole number.
    public static func count(in environment: [String: String]) throws -> Int? {
        guard let text = environment[variable] else { return nil }
        guard let count = Int(text.trimmingCharacters(in: .whitespaces)), allowedCounts.contains(count) else {
            throw EngineThreadsError.invalidEnvironment(text)
        }
        return count
    }

    /// The count used when none was set: see ``EngineThreads``.
    package static func defaultCount(environment: [String: String]) -> Int {
        if let count = try? count(in: environment) { return count }
        let ranksOnHost = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? 1
        return max(1, min(ProcessInfoCores.active, 16) / max(ranksOnHost, 1))
    }

    /// 0 until the count is fixed.
    fileprivate static let fixed = Atomic<Int>(0)

    /// Fixes the count at `count` unless it is already fixed; returns the fixed count.
    fileprivate static func fix(_ count: Int) -> Int {
        let (exchanged, original) = fixed.compareExchange(expected: 0, desired: count, ordering: .acquiringAndReleasing)
        return exchanged ? count : original
    }
}

/// Why the engine's thread count could not be set.
public enum EngineThreadsError: Error, Equatable, CustomStringConvertible {
    /// A count outside 1...1024.
    case invalidCount(Int)
    /// `BULWARK_THREADS` does not hold a count.
    case invalidEnvironment(String)
    /// The engine already runs with `current` threads.
    case alreadyFixed(current: Int, requested: Int)

    public var description: String {
        switch self {
        case .invalidCount(let count):
            return "the thread count must be between 1 and 1024, not \(count)"
        case .invalidEnvironment(let text):
            return "\(EngineThreads.variable) must be a whole number of threads between 1 and 1024, not '\(text)'"
        case .alreadyFixed(let current, let requested):
            return "the engine already runs with \(current) threads, so it cannot use \(requested): set the count before any computation"
        }
    }
}

enum ProcessInfoCores {
    static var active: Int {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return Int(sysconf(_SC_NPROCESSORS_ONLN))
        #endif
    }
}

/// Calls `body` on disjoint subranges covering `0..<count`, on several threads when every
/// worker gets at least `grain` items, otherwise once on the calling thread.
///
/// `body` must only write to locations determined by its range.
@inline(__always)
package func parallelChunks(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    parallelPartitions(count, grain: grain) { _, range in body(range) }
}

/// Like ``parallelChunks(_:grain:_:)``, also passing each partition's index in
/// `0..<partitions`; returns the number of partitions, so callers can keep per-worker
/// partial results (`0` when `count` is 0).
///
/// The partitions depend only on `count`, `grain` and the number of cores, never on which
/// threads are free, so results are the same bit for bit from run to run: a call made while
/// the engine's workers are busy (from inside another partition, or from a second thread)
/// runs the same partitions one after another on the calling thread.
@discardableResult
package func parallelPartitions(_ count: Int, grain: Int, _ body: (_ partition: Int, _ range: Range<Int>) -> Void) -> Int {
    let workers = min(workerCount, count / max(grain, 1))
    if workers <= 1 {
        if count > 0 { body(0, 0..<count) }
        return count > 0 ? 1 : 0
    }
    func partition(_ worker: Int) { body(worker, count * worker / workers..<count * (worker + 1) / workers) }
    if !WorkerPool.shared.run(partitions: workers, partition) {
        for worker in 0..<workers { partition(worker) }
    }
    return workers
}

/// The engine's helper threads, one per core beyond the caller's, started on first use.
///
/// Between two parallel kernels a helper spins for ``spinNanoseconds`` before it sleeps, as
/// OpenMP runtimes do: a training step runs dozens of kernels of well under a millisecond
/// each, and waking a sleeping thread for every one (what `DispatchQueue.concurrentPerform`
/// did) cost about an eighth of an MLP's inference time (`bulwark-bench` W1 on mlp: 240,000
/// images/s before the pool, 275,000 with it).
private final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(helpers: workerCount - 1)
    static let spinNanoseconds: UInt64 = 200_000

    private let helpers: Int
    /// Bumped once per job; helpers wait for it to change.
    private let generation = Atomic<Int>(0)
    /// Helpers that have not yet finished the current job.
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let wakeUp = NSCondition()
    // Written before `generation` is bumped and cleared after `pending` reaches 0, so helpers
    // only read them while they are stable.
    private var job: ((Int) -> Void)?
    private var partitions = 0

    private init(helpers: Int) {
        self.helpers = helpers
        for index in stride(from: 1, through: helpers, by: 1) {
            let thread = Thread { [unowned self] in self.work(as: index) }
            thread.name = "bulwark-worker-\(index)"
            thread.start()
        }
    }

    /// Runs `body(0)` on the caller and `body(1..<partitions)` on the helpers, returning when
    /// all are done; `false` (nothing run) when the pool is already busy.
    func run(partitions: Int, _ body: (Int) -> Void) -> Bool {
        guard helpers > 0, partitions <= helpers + 1,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { body in
            job = body
            self.partitions = partitions
            pending.store(helpers, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                wakeUp.lock()
                wakeUp.broadcast()
                wakeUp.unlock()
            }
            body(0)
            var spins = 0
            while pending.load(ordering: .acquiring) > 0 {
                spins += 1
                // A helper descheduled by a busy machine: give it the core.
                if spins > 1 << 14 { sched_yield() }
            }
            job = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    private func work(as index: Int) {
        var seen = 0
        while true {
            seen = nextJob(after: seen)
            if index < partitions, let job { job(index) }
            pending.subtract(1, ordering: .releasing)
        }
    }

    private func nextJob(after seen: Int) -> Int {
        let start = DispatchTime.now().uptimeNanoseconds
        var spins = 0
        while true {
            let current = generation.load(ordering: .acquiring)
            if current != seen { return current }
            spins += 1
            if spins & 255 == 0 && DispatchTime.now().uptimeNanoseconds - start > Self.spinNanoseconds { break }
        }
        // Sleep. The submitter bumps `generation` before it reads `sleepers`, and this thread
        // counts itself before it reads `generation`, so one of the two sees the other.
        wakeUp.lock()
        sleepers.add(1, ordering: .sequentiallyConsistent)
        while generation.load(ordering: .sequentiallyConsistent) == seen { wakeUp.wait() }
        sleepers.subtract(1, ordering: .relaxed)
        wakeUp.unlock()
        return generation.load(ordering: .acquiring)
    }
}

/// Carries a value across the thread boundary. The kernels that use it hand each
/// worker a disjoint output range, which is the invariant the compiler cannot see.
package struct UncheckedSendable<Value>: @unchecked Sendable {
    package let value: Value
    package init(_ value: Value) { self.value = value }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
#if canImport(CBLAS)
import CBLAS
#endif

extension UnsafeBufferPointer {
    /// The first element's address. Kernels ask for it only for non-empty buffers.
    @inline(__always)
    package var address: UnsafePointer<Element> {
        guard let base = baseAddress else { preconditionFailure("kernel asked for the address of an empty buffer") }
        return base
    }
}

extension UnsafeMutableBufferPointer {
    /// The first element's address. Kernels ask for it only for non-empty buffers.
    @inline(__always)
    package var address: UnsafeMutablePointer<Element> {
        guard let base = baseAddress else { preconditionFailure("kernel asked for the address of an empty buffer") }
        return base
    }
}

/// Asks glibc's allocator to keep freed tensor buffers instead of returning them to the
/// kernel, for executables to call once at start-up.
///
/// Training allocates and frees buffers of tens of megabytes every step; by default glibc
/// maps each with `mmap` and unmaps it on free, so every step pays for fresh zeroed pages
/// (page faults were a quarter of the profile of an attack loop). Process-wide, so the
/// library never calls it by itself.
package func retainLargeAllocations() {
    #if canImport(CBLAS)
    // No mmap at all: glibc refuses thresholds above 32 MiB (mallopt returns 0 and keeps its
    // dynamic threshold), so a larger buffer, such as a ResNet activation of a batch of 128,
    // would still be mapped and unmapped every step.
    _ = mallopt(M_MMAP_MAX, 0)
    _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
    _ = mallopt(M_TOP_PAD, 64 << 20)
    #endif
}
