import BulwarkCore
import BulwarkTraining
import Foundation

/// The directory a training run writes: its files, and the claim a new run lays to it.
public enum TrainingRunDirectory {
    /// The files a training run writes into its directory, which a forced new run removes
    /// before it takes the directory over.
    public static let files = [RunFile.model, RunFile.best, RunFile.metrics, RunFile.resume, TrainingManifest.fileName, "final-eval.json", "vocabulary.txt", "model.onnx"]

    /// Throws unless `directory` can hold a new run: it holds no trained run (no model or
    /// resume checkpoint; a manifest alone is of a run that never finished an epoch), or
    /// `force` is set, in which case `removing` removes the old run's files.
    ///
    /// - Parameter resumeCommand: How to continue the run found, for the message.
    /// - Throws: ``ConfigurationError`` naming `outputDirectory` and `force`.
    public static func claim(_ directory: String, force: Bool, resumeCommand: String, removing: Bool) throws(ConfigurationError) {
        let existing = [RunFile.model, RunFile.resume].filter { FileManager.default.fileExists(atPath: path(in: directory, $0)) }
        guard let found = existing.first else { return }
        guard force else {
            throw ConfigurationError("""
                \(field: "outputDirectory") \(directory) already holds a run (\(found)); a new run would replace its model and manifest. \
                Continue it with \(resumeCommand), pass \(field: "force") to replace it, or choose another \(field: "outputDirectory").
                """)
        }
        guard removing else { return }
        for name in files {
            let file = path(in: directory, name)
            guard FileManager.default.fileExists(atPath: file) else { continue }
            do { try FileManager.default.removeItem(atPath: file) } catch {
                throw ConfigurationError("\(field: "force") could not remove '\(file)' of the old run: \(error.localizedDescription)")
            }
        }
    }
}

extension TrainingJob {
    /// Readies the run directory before any work starts: a new run lays its claim to it (see
    /// ``TrainingRunDirectory/claim(_:force:resumeCommand:removing:)``; an old run that
    /// `force` replaces stays until ``replaceForcedRun(force:resumeCommand:)``), and the
    /// temporary files that writes interrupted by a kill left there are removed.
    ///
    /// - Parameter resumeCommand: How to continue a run found there, for the message.
    /// - Throws: ``ConfigurationError`` naming `outputDirectory` and `force`.
    public func claimOutputDirectory(force: Bool, resumeCommand: String) throws(ConfigurationError) {
        if !resuming { try TrainingRunDirectory.claim(outputDirectory, force: force, resumeCommand: resumeCommand, removing: false) }
        // Another rank's file being written is not stale: only the writer clears them.
        if communicator.isWriter { OutputFile.removeStaleTemporaryFiles(in: outputDirectory) }
    }

    /// Removes the old run that a new run with `force` replaces. Called once the data has
    /// loaded, so that a mistake found before then (a missing dataset, a wrong count) leaves
    /// the old run whole.
    ///
    /// - Throws: ``ConfigurationError`` naming `outputDirectory` and `force`.
    public func replaceForcedRun(force: Bool, resumeCommand: String) throws(ConfigurationError) {
        if !resuming, communicator.isWriter {
            try TrainingRunDirectory.claim(outputDirectory, force: force, resumeCommand: resumeCommand, removing: true)
        }
    }
}

/// A summary of a training run (`bulwark train --json` writes it, keys in snake case).
public struct TrainingSummary: Encodable {
    /// The manifest's entries.
    public var configuration: [String: String]
    /// The final model's file.
    public var model: String
    /// The metrics of every epoch trained.
    public var epochs: [EpochMetrics]
    /// What the catastrophic-overfitting guard found, when it stopped the run.
    public var catastrophicOverfitting: OverfittingReport?
    /// The epoch whose model `best.safetensors` holds.
    public var bestEpoch: Int?
    /// `best.safetensors`, when validation chose a best epoch.
    public var best: String?
    /// `final-eval.json`, when the final evaluation ran.
    public var finalEvaluation: String?

    /// The summary of the run in `directory` that ended with `history`.
    public init(directory: String, manifest: [String: String], history: [EpochMetrics], bestEpoch: Int?,
                overfitting: OverfittingReport? = nil, finalEvaluation: String? = nil) {
        (configuration, model, epochs, catastrophicOverfitting) = (manifest, path(in: directory, RunFile.model), history, overfitting)
        (self.bestEpoch, best, self.finalEvaluation) = (bestEpoch, bestEpoch == nil ? nil : path(in: directory, RunFile.best), finalEvaluation)
    }
}
