import Foundation

/// Launches the built `bulwark` under Open MPI's `mpirun`, with a time limit on the launch.
enum MPIRun {
    /// What a launch printed and how it ended.
    struct Outcome {
        var status: Int32
        var output: String
        var error: String
        var seconds: Double
        /// Whether the time limit ended the launch.
        var timedOut: Bool
    }

    /// `mpirun`'s path, or `nil` when it is not installed.
    static let path: String? = executable(named: "mpirun")

    /// Why the MPI tests cannot run here, or `nil` when they can; printed by the tests that skip.
    static let unavailable: String? = path == nil ? "mpirun is not installed (scripts/install-dependencies.sh installs openmpi-bin)" : nil

    /// The options every launch takes: as many ranks as asked on a 2-core machine, and as root
    /// in containers.
    static let commonOptions = ["--oversubscribe", "--allow-run-as-root"]

    /// Runs `ranks` ranks of `bulwark arguments`.
    static func bulwark(ranks: Int, _ arguments: [String], environment: [String: String] = [:], timeLimit: Double) throws -> Outcome {
        try launch(commonOptions + exported(environment) + ["-np", String(ranks), try bulwarkExecutable()] + arguments,
                   environment: environment, timeLimit: timeLimit)
    }

    /// Runs one rank per element of `arguments`, rank `r` with `bulwark arguments[r]` (an MPMD
    /// launch: ranks given different options).
    static func bulwark(eachRank arguments: [[String]], environment: [String: String] = [:], timeLimit: Double) throws -> Outcome {
        let executable = try bulwarkExecutable()
        let apps = arguments.map { ["-np", "1", executable] + $0 }.joined(separator: [":"])
        return try launch(commonOptions + exported(environment) + Array(apps), environment: environment, timeLimit: timeLimit)
    }

    /// `-x NAME` for each variable, so that ranks on other hosts get it too.
    static func exported(_ environment: [String: String]) -> [String] {
        environment.keys.sorted().flatMap { ["-x", $0] }
    }

    /// Runs `mpirun arguments` (through `prefix`, such as `ip netns exec HOST`), ending it
    /// (SIGTERM, then SIGKILL) if it outlives `timeLimit` seconds.
    static func launch(_ arguments: [String], prefix: [String] = [], environment: [String: String] = [:], timeLimit: Double) throws -> Outcome {
        guard let path else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "mpirun"]) }
        let process = Process()
        let command = prefix + [path] + arguments
        process.executableURL = URL(fileURLWithPath: executable(named: command[0]) ?? command[0])
        process.arguments = Array(command.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        // Files, not pipes: a rank that outlives mpirun must not keep the test waiting for EOF.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-mpirun-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outputURL = directory.appendingPathComponent("out"), errorURL = directory.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        let output = try FileHandle(forWritingTo: outputURL), error = try FileHandle(forWritingTo: errorURL)
        process.standardOutput = output
        process.standardError = error
        process.standardInput = FileHandle.nullDevice
        let start = Date()
        try process.run()
        var timedOut = false
        while process.isRunning {
            if Date().timeIntervalSince(start) > timeLimit && !timedOut {
                timedOut = true
                process.terminate()
                let pid = process.processIdentifier
                DispatchQueue.global().asyncAfter(deadline: .now() + 5) { if process.isRunning { kill(pid, SIGKILL) } }
            }
            usleep(20_000)
        }
        try output.close()
        try error.close()
        return Outcome(status: process.terminationStatus, output: try String(contentsOf: outputURL, encoding: .utf8),
                       error: try String(contentsOf: errorURL, encoding: .utf8), seconds: Date().timeIntervalSince(start), timedOut: timedOut)
    }

    /// The path of `name` on `PATH` (or `name` itself when it holds a slash and is executable).
    static func executable(named name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
