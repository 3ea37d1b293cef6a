import Bulwark
import Foundation

/// Runs the `bulwark` executable built beside the tests with `arguments`; returns the exit
/// status, standard output and standard error.
func runBulwark(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try bulwarkExecutable())
    process.arguments = arguments
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
}

/// The `bulwark` executable built beside the tests.
func bulwarkExecutable() throws -> String {
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("bulwark")
    let candidates = [executable.path] + (Bundle.main.executableURL.map { [$0.deletingLastPathComponent().appendingPathComponent("bulwark").path] } ?? [])
    guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: candidates.joined(separator: ", ")])
    }
    return path
}

/// The epoch of every line of `metrics.jsonl` in the run directory `run`.
func metricsEpochs(in run: String) throws -> [Int?] {
    try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
        (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["epoch"] as? Int
    }
}

/// The JSON object in `file`, or `nil` when it holds another JSON value.
func jsonObject(at file: String) throws -> [String: Any]? {
    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any]
}

/// `run.json` of the run directory `run`, every value as text (as ``RunManifest`` reads it), or
/// `nil` when it is not a manifest.
func runManifest(in run: String) throws -> [String: String]? {
    try? RunManifest.decode(Data(contentsOf: URL(fileURLWithPath: run + "/run.json")))
}
