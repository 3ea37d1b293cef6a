import BulwarkRun
import Testing

@Suite struct RunEnvironmentTests {
    @Test func theEnvironmentNamesTheBuildAndTheThreads() {
        let environment = runEnvironment()
        #expect(environment["bulwark_version"] == bulwarkVersion)
        for key in ["swift_version", "os", "blas"] {
            #expect(!(environment[key] ?? "").isEmpty, "the environment lacks \(key)")
        }
        #expect((environment["threads"].flatMap(Int.init) ?? 0) >= 1)
    }
}
