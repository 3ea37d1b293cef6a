import Bulwark
import Foundation

/// Runs the `bulwark` executable built beside the tests with `arguments` (and `environment`
/// added to this process's); returns the exit status, standard output and standard error.
func runBulwark(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try bulwarkExecutable())
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    }
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

/// The 4-byte big-endian magic and dimensions that open an IDX file.
func idxHeader(magic: UInt32, dimensions: [Int]) -> [UInt8] {
    ([magic] + dimensions.map(UInt32.init)).flatMap { value in (0..<4).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
}

/// Writes a two-class IDX dataset (a bright left or right half, noise from a generator seeded
/// with `seed`) of 28×28 images to `directory`: `train-*` with `trainCount` and `t10k-*` with
/// `testCount` images.
func writeTwoClassIDX(to directory: String, trainCount: Int, testCount: Int, seed: UInt64 = 1) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var state = seed
    func noise() -> UInt8 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 59)
    }
    for (name, count) in [("train", trainCount), ("t10k", testCount)] {
        var images = idxHeader(magic: 0x803, dimensions: [count, 28, 28])
        var labels = idxHeader(magic: 0x801, dimensions: [count])
        for index in 0..<count {
            let label = UInt8(index % 2)
            labels.append(label)
            for _ in 0..<28 { for column in 0..<28 {
                let bright = (column < 14) == (label == 0)
                images.append((bright ? 200 : 30) + noise())
            }}
        }
        try Data(images).write(to: URL(fileURLWithPath: "\(directory)/\(name)-images-idx3-ubyte"))
        try Data(labels).write(to: URL(fileURLWithPath: "\(directory)/\(name)-labels-idx1-ubyte"))
    }
}
