import Bulwark
import Foundation
import Testing
import _TestSupport

/// `bulwark train` killed with SIGKILL at random moments, its final evaluation included,
/// always leaves a run that `--resume` finishes with the uninterrupted run's model.
@Suite(.serialized) struct KillResumeTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-kill")
        // A large test split makes the final evaluation long enough to be killed in.
        try writeTwoClassIDX(to: directory + "/data", trainCount: 400, testCount: 1000)
    }

    /// The run; every attempt trains into the same directory, so the models' metadata (which
    /// records the command, --out included) matches byte for byte.
    var run: String { directory + "/run" }

    var options: [String] {
        ["train", "--dataset", "idx", "--data-dir", directory + "/data", "--model", "mlp", "--method", "pgd", "--steps", "10",
         "--epsilon", "0.1", "--epochs", "3", "--batch-size", "10", "--validation-count", "100", "--validation-steps", "10",
         "--final-eval-count", "1000", "--seed", "5", "--out", run]
    }

    @Test func killedRunsResumeToTheUninterruptedModel() throws {
        let start = Date()
        let reference = try runBulwark(options)
        let duration = Date().timeIntervalSince(start)
        #expect(reference.status == 0, "\(reference.error)")
        let referenceModel = try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors"))
        try FileManager.default.removeItem(atPath: run)

        var generator = SplitMix64(seed: 11)
        var killsInFinalEvaluation = 0
        for attempt in 0..<5 {
            // Attempts 0 and 3 are killed as their final evaluation starts; the others at a random moment.
            let inFinalEvaluation = attempt == 0 || attempt == 3
            let delay = Double.random(in: 0.05..<duration, using: &generator)
            try killedRun(options, afterSeconds: inFinalEvaluation ? nil : delay)
            if inFinalEvaluation {
                #expect(FileManager.default.fileExists(atPath: run + "/model.safetensors"), "attempt \(attempt) reached its final evaluation")
                if !FileManager.default.fileExists(atPath: run + "/final-eval.json") { killsInFinalEvaluation += 1 }
            }
            // Attempts 1 and 2 are killed again while resuming.
            if attempt == 1 || attempt == 2, FileManager.default.fileExists(atPath: run + "/run.json") {
                try killedRun(["train", "--resume", run], afterSeconds: Double.random(in: 0.05..<duration, using: &generator))
            }
            // A kill that came after the run finished leaves nothing to resume.
            var finished = FileManager.default.fileExists(atPath: run + "/final-eval.json")
            for _ in 0..<3 where !finished {
                // Killed before it recorded its manifest, a run has nothing to resume: it starts again.
                let continued = FileManager.default.fileExists(atPath: run + "/run.json")
                    ? try runBulwark(["train", "--resume", run]) : try runBulwark(options)
                #expect(continued.status == 0, "attempt \(attempt): \(continued.error)")
                finished = continued.status == 0
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors")) == referenceModel, "attempt \(attempt)")
            #expect(FileManager.default.fileExists(atPath: run + "/final-eval.json"), "attempt \(attempt)")
            let temporary = try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.contains(".tmp-") }
            #expect(temporary.isEmpty, "attempt \(attempt) left \(temporary)")
            try FileManager.default.removeItem(atPath: run)
        }
        #expect(killsInFinalEvaluation >= 1, "at least one kill landed in the final evaluation")
    }

    /// Starts `bulwark` with `arguments` and kills it with SIGKILL after `seconds`, or, when
    /// `seconds` is `nil`, as soon as it reports its final evaluation.
    private func killedRun(_ arguments: [String], afterSeconds seconds: Double?) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try bulwarkExecutable())
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(seconds ?? 60)
        var text = ""
        if seconds == nil {
            // Progress goes to standard error; "final clean" opens the final evaluation.
            let handle = errors.fileHandleForReading
            while Date() < deadline, !text.contains("final clean") {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
        } else {
            while Date() < deadline, process.isRunning { usleep(5_000) }
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? errors.fileHandleForReading.close()
    }
}
