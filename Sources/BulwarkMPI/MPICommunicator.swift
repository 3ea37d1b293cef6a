#if canImport(CMPI)
import BulwarkCore
import CMPI
import Foundation

/// The processes of an MPI job (`MPI_COMM_WORLD`), as a ``Communicator``.
///
/// Obtain it from ``worldCommunicator()``, which initializes MPI once and only in a process
/// that `mpirun` or `srun` launched. Open MPI is linked, not loaded at run time: linking does
/// not initialize it, so a process launched any other way behaves as if it were not there.
///
/// Every collective is a nonblocking MPI call polled with `MPI_Test` until it completes or
/// ``timeout`` passes, so a rank that died or hangs makes the others throw
/// ``CommunicatorError/timedOut(operation:seconds:)`` instead of waiting forever. After a
/// collective has failed the job cannot continue: end it with ``abortEveryRank(status:)``.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Seconds a collective may take before it throws.
    public let timeout: Double

    private let communicator: MPI_Comm
    // MPI is initialized for serialized use: one collective at a time from any thread.
    private let lock = NSLock()

    init(communicator: MPI_Comm, timeout: Double) throws {
        self.communicator = communicator
        self.timeout = timeout
        var rank: Int32 = 0, size: Int32 = 0
        try check(MPI_Comm_set_errhandler(communicator, bulwark_mpi_errors_return()), "MPI_Comm_set_errhandler")
        try check(MPI_Comm_rank(communicator, &rank), "MPI_Comm_rank")
        try check(MPI_Comm_size(communicator, &size), "MPI_Comm_size")
        (self.rank, self.size) = (Int(rank), Int(size))
    }

    /// Sums with a reduction to rank 0 followed by a broadcast of rank 0's result, not with
    /// `MPI_Allreduce`: the MPI standard does not promise that an all-reduce leaves the same
    /// bits on every rank (an implementation may add the ranks' values in a different order
    /// on each), and ranks whose gradients differ in the last bit drift apart.
    ///
    /// The exchange of counts, polled against the time limit, is where a rank waits for the
    /// others; the reduction and broadcast then run as blocking calls, Open MPI's tuned
    /// algorithms, which its nonblocking ones (progressed only when polled) are several times
    /// slower than on a training step's megabytes.
    public func sumAcrossRanks(_ values: inout [Float]) throws {
        let operation = "sum across ranks"
        lock.lock()
        defer { lock.unlock() }
        let counts = try allGather(Int64(values.count), operation: operation)
        guard Set(counts).count == 1 else {
            throw CommunicatorError.countMismatch(operation: operation, counts: counts.map(Int.init))
        }
        guard !values.isEmpty else { return }
        let count = try int32(values.count, operation: operation)
        try values.withUnsafeMutableBufferPointer { buffer in
            let send = rank == 0 ? bulwark_mpi_in_place() : UnsafeRawPointer(buffer.baseAddress!).mutable
            // The result is significant at the root only; the other ranks pass none.
            try check(MPI_Reduce(send, rank == 0 ? buffer.baseAddress : nil, count, bulwark_mpi_float(), bulwark_mpi_sum(), 0, communicator), operation)
            try check(MPI_Bcast(buffer.baseAddress, count, bulwark_mpi_float(), 0, communicator), operation)
        }
    }

    public func gatherOnEveryRank(_ bytes: [UInt8]) throws -> [[UInt8]] {
        let operation = "gather"
        lock.lock()
        defer { lock.unlock() }
        let lengths = try allGather(Int64(bytes.count), operation: operation).map(Int.init)
        let total = try int32(lengths.reduce(0, +), operation: operation)
        let counts = Buffer<Int32>(try lengths.map { try int32($0, operation: operation) })
        var offsets: [Int32] = [0]
        for length in counts.array.dropLast() { offsets.append(offsets[offsets.count - 1] + length) }
        let displacements = Buffer<Int32>(offsets)
        // Every rank has arrived (the lengths came from all): the blocking call completes.
        let send = Buffer<UInt8>(bytes.isEmpty ? [0] : bytes)
        let received = Buffer<UInt8>(Array(repeating: 0, count: max(Int(total), 1)))
        try check(MPI_Allgatherv(send.pointer, Int32(bytes.count), bulwark_mpi_byte(), received.pointer, counts.pointer,
                                 displacements.pointer, bulwark_mpi_byte(), communicator), operation)
        let all = received.array
        return zip(offsets, lengths).map { offset, length in Array(all[Int(offset)..<Int(offset) + length]) }
    }

    /// Every rank's `value`, in rank order.
    private func allGather(_ value: Int64, operation: String) throws -> [Int64] {
        let send = Buffer<Int64>([value])
        let received = Buffer<Int64>(Array(repeating: 0, count: size))
        var request: MPI_Request?
        try check(MPI_Iallgather(send.pointer, 1, bulwark_mpi_long_long(), received.pointer, 1, bulwark_mpi_long_long(),
                                 communicator, &request), operation)
        try wait(&request, operation: operation, keeping: send, received)
        return received.array
    }

    /// Polls `request` until it completes, or throws when ``timeout`` passes. On a timeout the
    /// buffers the request reads and writes are left allocated: MPI may still use them.
    private func wait(_ request: inout MPI_Request?, operation: String, keeping buffers: AnyObject...) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        let limit = UInt64(max(0, timeout) * 1e9)
        var done: Int32 = 0
        var polls = 0
        while true {
            try check(MPI_Test(&request, &done, bulwark_mpi_status_ignore()), operation)
            if done != 0 { return }
            if DispatchTime.now().uptimeNanoseconds - start > limit {
                buffers.forEach { ($0 as? Leakable)?.leak() }
                MPIWorld.collectiveFailed()
                throw CommunicatorError.timedOut(operation: operation, seconds: timeout)
            }
            // Spin for the short waits of a training step; sleep a little on long ones (a rank
            // still computing), waking soon after the last rank arrives.
            polls += 1
            if polls > 10_000 { usleep(100) } else if polls > 1000 { sched_yield() }
        }
    }

    private func int32(_ count: Int, operation: String) throws -> Int32 {
        guard let value = Int32(exactly: count) else {
            throw CommunicatorError.failed(operation: operation, message: "\(count) elements are more than MPI's 32-bit counts address")
        }
        return value
    }
}

/// Throws ``CommunicatorError/failed(operation:message:)`` with MPI's text for `code` unless
/// it is `MPI_SUCCESS`.
func check(_ code: Int32, _ operation: String) throws {
    guard code != bulwark_mpi_success() else { return }
    if operation != "MPI_Init" { MPIWorld.collectiveFailed() }
    var text = [CChar](repeating: 0, count: Int(bulwark_mpi_max_error_string()) + 1)
    var length: Int32 = 0
    let message = MPI_Error_string(code, &text, &length) == bulwark_mpi_success()
        ? String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "MPI error \(code)"
    throw CommunicatorError.failed(operation: operation, message: message)
}

private protocol Leakable { func leak() }

/// Memory an MPI request reads or writes, freed when the request is done with it.
private final class Buffer<Element>: Leakable {
    let pointer: UnsafeMutablePointer<Element>
    let count: Int
    private var leaked = false

    init(_ values: [Element]) {
        count = values.count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(from: values, count: count)
    }

    var array: [Element] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    func leak() { leaked = true }

    deinit {
        guard !leaked else { return }
        pointer.deinitialize(count: count)
        pointer.deallocate()
    }
}

private extension UnsafeRawPointer {
    var mutable: UnsafeMutableRawPointer { UnsafeMutableRawPointer(mutating: self) }
}
#endif
