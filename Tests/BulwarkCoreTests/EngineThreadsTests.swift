import BulwarkCore
import Testing

@Suite struct EngineThreadsTests {
    @Test func theEnvironmentSetsTheCountAndMPIRanksShareTheCores() throws {
        #expect(try EngineThreads.count(in: [:]) == nil)
        #expect(try EngineThreads.count(in: ["BULWARK_THREADS": "3"]) == 3)
        #expect(throws: EngineThreadsError.invalidEnvironment("many")) { try EngineThreads.count(in: ["BULWARK_THREADS": "many"]) }
        #expect(throws: EngineThreadsError.invalidEnvironment("0")) { try EngineThreads.count(in: ["BULWARK_THREADS": "0"]) }
        #expect(EngineThreads.defaultCount(environment: ["BULWARK_THREADS": "5", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"]) == 5)
        let alone = EngineThreads.defaultCount(environment: [:])
        #expect(alone >= 1)
        #expect(EngineThreads.defaultCount(environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "2"]) == max(1, alone / 2))
        #expect(EngineThreads.defaultCount(environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "1000"]) == 1)
    }

    @Test func theCountCannotChangeOnceFixed() throws {
        let count = EngineThreads.count
        try EngineThreads.use(count)
        #expect(throws: EngineThreadsError.alreadyFixed(current: count, requested: count + 1)) { try EngineThreads.use(count + 1) }
        #expect(throws: EngineThreadsError.invalidCount(0)) { try EngineThreads.use(0) }
        #expect(EngineThreads.count == count)
    }
}
