import BulwarkCore
import BulwarkMPI
import Foundation
import Testing

@Suite struct MPILaunchTests {
    @Test func launchersAreRecognizedByWhatTheySet() {
        #expect(!MPILaunch.detected(in: [:]))
        #expect(!MPILaunch.detected(in: ["OMPI_COMM_WORLD_LOCAL_SIZE_X": "2", "PATH": "/usr/bin"]))
        #expect(MPILaunch.detected(in: ["OMPI_COMM_WORLD_SIZE": "2"]))
        #expect(MPILaunch.detected(in: ["PMIX_RANK": "0"]))
        #expect(MPILaunch.detected(in: ["PMI_RANK": "1"]))
    }

    @Test func theTimeLimitComesFromTheEnvironment() throws {
        #expect(try MPILaunch.collectiveTimeout(in: [:]) == MPILaunch.defaultTimeout)
        #expect(try MPILaunch.collectiveTimeout(in: ["BULWARK_COLLECTIVE_TIMEOUT": "2.5"]) == 2.5)
        for bad in ["0", "-1", "soon", "inf"] {
            #expect(throws: CommunicatorError.self) { try MPILaunch.collectiveTimeout(in: ["BULWARK_COLLECTIVE_TIMEOUT": bad]) }
        }
    }

    /// The test runner is not launched by mpirun, so it must not initialize MPI.
    @Test func aProcessNotLaunchedByMPIRunsAlone() throws {
        try #require(!MPILaunch.detected(in: ProcessInfo.processInfo.environment), "the tests run under an MPI launcher")
        let world = try worldCommunicator()
        #expect(world is SingleProcessCommunicator)
        #expect(world.size == 1 && world.rank == 0)
        #expect(!MPILaunch.isInitialized)
    }
}
