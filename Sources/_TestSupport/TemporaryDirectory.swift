import Foundation

/// A fresh directory under the system's temporary directory, removed with everything in it
/// when the last reference goes away, so a test leaves nothing behind however it ends.
///
/// Store it in the suite (each test gets its own suite instance, released after the test) or
/// keep it alive with `withExtendedLifetime`: a local the test no longer uses may be released
/// early by the optimizer.
public final class TemporaryDirectory: Sendable {
    /// The directory's absolute path.
    public let path: String

    /// Creates `<temporary directory>/<prefix>-<UUID>`.
    public init(prefix: String = "bulwark") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)", isDirectory: true).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to `name` inside the directory and returns the file's path.
    @discardableResult
    public func write(_ bytes: [UInt8], to name: String) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
}
