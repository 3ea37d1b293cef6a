import BulwarkRun
import Foundation
import Testing

/// Continuing a run from its directory: the manifest read there, the run's task and recorded
/// values, the output directory, the fields that may not change, and the claim a new run lays
/// to a directory.
@Suite struct ResumptionTests {
    /// A new directory holding the manifest of `configuration` with `facts`.
    private static func runDirectory<Configuration: RecordedConfiguration>(
        of configuration: Configuration, facts: [String: String] = [:]
    ) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ResumptionTests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let manifest = try TrainingManifest.encode(configuration.resolved(), facts: facts, command: "")
        try manifest.write(to: URL(fileURLWithPath: directory + "/" + TrainingManifest.fileName))
        return directory
    }

    @Test func aRunDirectoryTellsItsTaskAndRecordedValues() throws {
        let text = try Self.runDirectory(of: TextTrainingConfiguration(dataset: .mr, dataDirectory: "/data/mr"), facts: ["task": "text"])
        defer { try? FileManager.default.removeItem(atPath: text) }
        let textRun = try Resumption(directory: text)
        #expect(textRun.isTextRun && textRun.directory == text)
        #expect(textRun.recordedValue(of: "dataDirectory") == "/data/mr" && textRun.recordedValue(of: "dataset") == "mr")
        #expect(textRun.recordedValue(of: "maximumVocabulary") == nil)

        let image = try Self.runDirectory(of: ImageTrainingConfiguration())
        defer { try? FileManager.default.removeItem(atPath: image) }
        #expect(try !Resumption(directory: image).isTextRun)
    }

    @Test func aDirectoryWithoutARunOrAnotherOutputDirectoryIsAnErrorNamingFields() throws {
        do {
            _ = try Resumption(directory: "/no/such/run")
            Issue.record("a directory without run.json resumes")
        } catch { #expect(error.fields == ["resume"] && error.description.contains("has no run.json"), "\(error)") }

        let directory = try Self.runDirectory(of: ImageTrainingConfiguration())
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try Resumption(directory: directory)
        try run.checkOutputDirectory(nil)
        try run.checkOutputDirectory(directory + "/./")
        do {
            try run.checkOutputDirectory(directory + "-elsewhere")
            Issue.record("a resumed run writes into another directory")
        } catch {
            #expect(error.fields == ["outputDirectory", "resume", "outputDirectory"], "\(error)")
            #expect(error.message(namingFields: { "<\($0)>" }) == """
                <outputDirectory> \(directory)-elsewhere differs from <resume> \(directory); a resumed run writes into its own \
                directory. Leave out <outputDirectory>.
                """)
        }
    }

    @Test func givenFieldsReplaceTheRunsAndThoseItCannotChangeConflict() throws {
        var recorded = ImageTrainingConfiguration()
        (recorded.method, recorded.epochs, recorded.dataDirectory) = (.pgd, 3, "/data")
        let directory = try Self.runDirectory(of: recorded)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try Resumption(directory: directory)
        var options = ImageTrainingConfiguration()
        (options.epochs, options.dataDirectory, options.seed) = (4, "/elsewhere", 9)

        let moved = try run.configuration(replacing: ["dataDirectory"], from: options)
        #expect(moved.dataDirectory == "/elsewhere" && moved.epochs == 3 && moved.method == .pgd)
        do {
            _ = try run.configuration(replacing: ["seed", "epochs"], from: options)
            Issue.record("a resumed run changes its epochs and seed")
        } catch let conflict as ResumptionConflict {
            #expect(conflict.directory == directory)
            #expect(conflict.differences == [ConfigurationDifference(field: "epochs", value: "4", otherValue: "3"),
                                             ConfigurationDifference(field: "seed", value: "9", otherValue: "0")])
            // Listed in the order of the names the front end gives the fields.
            let message = conflict.message(naming: { $0 == "seed" ? "-seed" : "<\($0)>" }, setting: { "\($0)=\($1 ?? "unset")" })
            #expect(message == """
                Options given with <resume> conflict with the run in '\(directory)' (its run.json): seed=9 (the run has seed=0); \
                epochs=4 (the run has epochs=3). Leave them out to continue the run as it was configured, or start a new run with \
                another <outputDirectory>.
                """)
        }
        #expect(throws: ConfigurationError.self) {
            _ = try run.configuration(replacing: [], from: TextTrainingConfiguration(dataset: .mr, dataDirectory: "/mr"))
        }
    }

    @Test func aNewRunClaimsItsDirectoryAndReplacesAnOldRunOnlyWhenForcedAndLoaded() throws {
        let directory = try Self.runDirectory(of: ImageTrainingConfiguration())
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (model, stale) = (directory + "/model.safetensors", directory + "/.resume.safetensors.tmp-2147483646-5eed")
        for file in [model, stale] { #expect(FileManager.default.createFile(atPath: file, contents: Data([1]))) }
        func job(resuming: Bool) throws(ConfigurationError) -> ImageTrainingJob {
            try ImageTrainingJob(configuration: ImageTrainingConfiguration(), outputDirectory: directory, command: "", resuming: resuming)
        }

        do {
            try job(resuming: false).claimOutputDirectory(force: false, resumeCommand: "RESUME")
            Issue.record("a new run claims a directory holding a run")
        } catch { #expect(error.fields.contains("force") && error.description.contains("RESUME"), "\(error)") }
        // A resumed run continues the run it finds; either run clears the stale temporary file.
        try job(resuming: true).claimOutputDirectory(force: false, resumeCommand: "RESUME")
        try job(resuming: true).replaceForcedRun(force: false, resumeCommand: "RESUME")
        #expect(FileManager.default.fileExists(atPath: model) && !FileManager.default.fileExists(atPath: stale))
        // A forced new run keeps the old run until its data has loaded, then removes it.
        try job(resuming: false).claimOutputDirectory(force: true, resumeCommand: "RESUME")
        #expect(FileManager.default.fileExists(atPath: model))
        try job(resuming: false).replaceForcedRun(force: true, resumeCommand: "RESUME")
        #expect(!FileManager.default.fileExists(atPath: model))
    }
}
