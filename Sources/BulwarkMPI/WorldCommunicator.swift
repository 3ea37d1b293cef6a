import BulwarkCore
import Foundation
import Synchronization
#if canImport(CMPI)
import CMPI
#endif

/// The processes of this run: an ``MPICommunicator`` over every rank when `mpirun` or `srun`
/// launched this process (see ``MPILaunch/detected(in:)``), otherwise a
/// ``SingleProcessCommunicator``.
///
/// The first call initializes MPI (`MPI_Init_thread`) and every later call returns the same
/// communicator; MPI is finalized when the process exits normally. A process that was not
/// launched by an MPI launcher never initializes MPI. The collectives' time limit is
/// ``MPILaunch/collectiveTimeout(in:)``'s.
public func worldCommunicator() throws -> any Communicator {
    try MPIWorld.shared.get()
}

/// Ends every rank of the job with exit status `status` (`MPI_Abort`) when this process runs
/// over MPI, after a collective failed or one rank cannot go on; returns otherwise, for the
/// caller to exit as usual. Ranks waiting for this one in a collective would otherwise wait
/// until their collectives time out.
public func abortEveryRank(status: Int32) {
    #if canImport(CMPI)
    guard MPIWorld.initialized.load(ordering: .acquiring) else { return }
    _ = MPI_Abort(bulwark_mpi_comm_world(), status)
    #endif
}

/// How this process was launched, read from the environment the launchers set.
public enum MPILaunch {
    /// The environment variable giving the collectives' time limit in seconds.
    public static let timeoutVariable = "BULWARK_COLLECTIVE_TIMEOUT"
    /// The collectives' time limit when ``timeoutVariable`` is not set: long enough for the
    /// slowest rank to finish a step's work before the others give up on it.
    public static let defaultTimeout: Double = 300

    /// Whether this process has initialized MPI (see ``worldCommunicator()``).
    public static var isInitialized: Bool { MPIWorld.initialized.load(ordering: .acquiring) }

    /// Whether an MPI launcher started this process: Open MPI's `mpirun` sets
    /// `OMPI_COMM_WORLD_SIZE`, and it and Slurm's `srun --mpi=pmix` set `PMIX_RANK`;
    /// `srun --mpi=pmi2` and MPICH's launchers set `PMI_RANK`.
    public static func detected(in environment: [String: String]) -> Bool {
        ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].contains { environment[$0] != nil }
    }

    /// The collectives' time limit: ``timeoutVariable`` when set, else ``defaultTimeout``.
    public static func collectiveTimeout(in environment: [String: String]) throws -> Double {
        guard let text = environment[timeoutVariable] else { return defaultTimeout }
        guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds.isFinite, seconds > 0 else {
            throw CommunicatorError.failed(operation: "MPI initialization",
                                           message: "\(timeoutVariable) must be a positive number of seconds, not '\(text)'")
        }
        return seconds
    }
}

/// The process's one communicator, made on first use.
enum MPIWorld {
    static let shared: Result<any Communicator, any Error> = Result { try make(environment: ProcessInfo.processInfo.environment) }
    /// Whether this process called `MPI_Init_thread` successfully.
    static let initialized = Atomic<Bool>(false)
    /// Whether a collective failed; then `MPI_Finalize` at exit, which waits for every rank,
    /// could wait forever, so the process exits without it.
    static let failed = Atomic<Bool>(false)

    static func collectiveFailed() { failed.store(true, ordering: .releasing) }

    private static func make(environment: [String: String]) throws -> any Communicator {
        guard MPILaunch.detected(in: environment) else { return SingleProcessCommunicator() }
        #if canImport(CMPI)
        let timeout = try MPILaunch.collectiveTimeout(in: environment)
        var provided: Int32 = 0
        try check(MPI_Init_thread(nil, nil, bulwark_mpi_thread_serialized(), &provided), "MPI_Init")
        initialized.store(true, ordering: .releasing)
        // Collectives may come from any thread, one at a time (the communicator's lock).
        guard provided >= bulwark_mpi_thread_serialized() else {
            throw CommunicatorError.failed(operation: "MPI initialization",
                                           message: "this MPI library does not support calls from several threads (MPI_THREAD_SERIALIZED)")
        }
        atexit {
            if !MPIWorld.failed.load(ordering: .acquiring) { _ = MPI_Finalize() }
        }
        return try MPICommunicator(communicator: bulwark_mpi_comm_world(), timeout: timeout)
        #else
        throw CommunicatorError.failed(operation: "MPI initialization", message: "this build of Bulwark has no MPI")
        #endif
    }
}
