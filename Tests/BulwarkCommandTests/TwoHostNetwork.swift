import Foundation
import Synchronization

/// Two hosts on one machine for `mpirun`: two network namespaces joined by a veth pair, with
/// addresses of a private /24 that exists only inside them. `mpirun` runs in the first; its
/// launcher agent starts the daemon of the second with `ip netns exec` instead of ssh, and the
/// ranks talk TCP across the veth. Each host also gets its own host name (a UTS namespace), so
/// the ranks can tell where they ran.
struct TwoHostNetwork {
    static let subnet = "10.231.7"
    private static let made = Atomic<Int>(0)
    let namespaces: [String]
    let hostNames = ["bulwark-host-a", "bulwark-host-b"]
    var addresses: [String] { ["\(Self.subnet).1", "\(Self.subnet).2"] }
    private let directory: URL

    /// Why the namespaces cannot be made here, or `nil` when they can (tried with a probe
    /// namespace, removed at once).
    static let unavailable: String? = {
        if let reason = MPIRun.unavailable { return reason }
        guard let ip = MPIRun.executable(named: "ip"), MPIRun.executable(named: "unshare") != nil else {
            return "ip (iproute2) or unshare is not installed"
        }
        let probe = "bulwark-probe-\(getpid())"
        guard (try? command(ip, "netns", "add", probe)) != nil else { return "network namespaces are not allowed here (ip netns add failed)" }
        try? command(ip, "netns", "del", probe)
        return nil
    }()

    /// Runs `body` with the two hosts, removing them afterwards even when `body` throws.
    static func with<Result>(_ body: (TwoHostNetwork) throws -> Result) throws -> Result {
        let network = try TwoHostNetwork()
        defer { network.remove() }
        return try body(network)
    }

    private init() throws {
        // Unique per network: suites that run side by side each make their own.
        let tag = "\(getpid() % 100_000)\(Self.made.add(1, ordering: .relaxed).oldValue)"
        namespaces = ["bwk\(tag)a", "bwk\(tag)b"]
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-hosts-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let links = namespaces.map { "\($0)v" }
            for namespace in namespaces { try Self.ip("netns", "add", namespace) }
            try Self.ip("link", "add", links[0], "type", "veth", "peer", "name", links[1])
            for index in 0..<2 {
                try Self.ip("link", "set", links[index], "netns", namespaces[index])
                try Self.ip("-n", namespaces[index], "addr", "add", "\(addresses[index])/24", "dev", links[index])
                try Self.ip("-n", namespaces[index], "link", "set", links[index], "up")
                try Self.ip("-n", namespaces[index], "link", "set", "lo", "up")
            }
            // "AGENT HOST COMMAND…" as ssh is called: the command, a shell command line, in HOST's namespace.
            let cases = (0..<2).map { "  \(addresses[$0])) namespace=\(namespaces[$0]) name=\(hostNames[$0]) ;;" }.joined(separator: "\n")
            try """
                #!/bin/sh
                host=$1; shift
                case "$host" in
                \(cases)
                  *) echo "unknown host $host" >&2; exit 1 ;;
                esac
                exec ip netns exec "$namespace" unshare --uts sh -c "hostname $name && $*"

                """.write(to: agent, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: agent.path)
            try addresses.map { "\($0) slots=1\n" }.joined().write(to: hostFile, atomically: true, encoding: .utf8)
        } catch {
            remove()
            throw error
        }
    }

    private var agent: URL { directory.appendingPathComponent("agent.sh") }
    private var hostFile: URL { directory.appendingPathComponent("hosts") }

    /// Runs `bulwark arguments` as one rank on each host (mpirun in the first host's namespace),
    /// the ranks talking TCP over the veth pair. For any command: `mpi-check`, and training
    /// once it runs data-parallel.
    func runBulwarkOnBothHosts(_ arguments: [String], environment: [String: String] = [:], timeLimit: Double) throws -> MPIRun.Outcome {
        let options = MPIRun.commonOptions + MPIRun.exported(environment) + [
            "-np", "2", "--hostfile", hostFile.path, "--mca", "plm_rsh_agent", agent.path,
            "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "\(Self.subnet).0/24",
            "--mca", "oob_tcp_if_include", "\(Self.subnet).0/24", try bulwarkExecutable(),
        ]
        let prefix = ["ip", "netns", "exec", namespaces[0], "unshare", "--uts", "sh", "-c", "hostname \(hostNames[0]) && exec \"$0\" \"$@\""]
        return try MPIRun.launch(options + arguments, prefix: prefix, environment: environment, timeLimit: timeLimit)
    }

    /// Deletes the namespaces (which deletes the veth pair with them) and the files.
    private func remove() {
        for namespace in namespaces { try? Self.ip("netns", "del", namespace) }
        // A veth pair not yet moved into a namespace (setup failed half way) is in this one.
        try? Self.ip("link", "del", "\(namespaces[0])v")
        try? FileManager.default.removeItem(at: directory)
    }

    private static func ip(_ arguments: String...) throws {
        try command(MPIRun.executable(named: "ip") ?? "/usr/sbin/ip", arguments)
    }

    private static func command(_ path: String, _ arguments: String...) throws { try command(path, arguments) }

    private static func command(_ path: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "\(path) \(arguments.joined(separator: " ")) failed"])
        }
    }
}
