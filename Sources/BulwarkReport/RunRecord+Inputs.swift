import BulwarkTraining
import Foundation

extension RunRecord {
    /// The files of the run directories `directories` that a report of them may read: all but
    /// earlier reports (`.html`), which a new report may replace.
    public static func inputFiles(of directories: [String]) -> [String] {
        directories.flatMap { directory in
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasSuffix(".html") }
                .map { path(in: directory, $0) }
        }
    }
}
