import BulwarkCore

import Foundation

/// The text datasets `bulwark` reads from a directory, with the files each needs.
public enum TextDatasetName: String, Sendable, CaseIterable {
    /// SST-2 in GLUE format: `train.tsv` and `dev.tsv` (`sentence<TAB>label`).
    case sst2
    /// MR: `rt-polarity.pos` and `rt-polarity.neg`; a seeded 90/10 split.
    case mr
    /// TREC: `train_5500.label` and `TREC_10.label`.
    case trec
    /// AG News: `train.csv` and `test.csv`.
    case agNews = "ag-news"
    /// Any CSV with a header: `train.csv` and `dev.csv` (or `test.csv`).
    case csv
    /// Any TSV with a header: `train.tsv` and `dev.tsv` (or `test.tsv`).
    case tsv
    /// JSON lines: `train.jsonl` and `dev.jsonl` (or `test.jsonl`).
    case jsonl

    /// The training file and the evaluation file(s) tried in order, relative to the directory.
    public var expectedFiles: (training: String, evaluation: [String]) {
        switch self {
        case .sst2: ("train.tsv", ["dev.tsv"])
        case .mr: ("rt-polarity.pos", ["rt-polarity.neg"])
        case .trec: ("train_5500.label", ["TREC_10.label"])
        case .agNews: ("train.csv", ["test.csv"])
        case .csv, .tsv, .jsonl: ("train.\(rawValue)", ["dev.\(rawValue)", "test.\(rawValue)"])
        }
    }

    /// The names of the classes whose files hold bare numbers, by label as written: SST-2's 0
    /// and 1 are negative and positive (GLUE's definition). MR, TREC and AG News name their
    /// classes when read; the generic formats keep their labels.
    public var classNamesOfLabels: [String: String] {
        self == .sst2 ? ["0": "negative", "1": "positive"] : [:]
    }

    /// Loads the training and evaluation splits from `directory`.
    ///
    /// The evaluation split is checked against the training split's classes, which are named
    /// by ``classNamesOfLabels``. MR, which has no
    /// official split, holds out a random 10% drawn from `SplitMix64(seed: splitSeed)`.
    ///
    /// - Throws: ``TextDataError/directoryNotFound(dataset:directory:expected:)`` or
    ///   ``TextDataError/filesNotFound(dataset:directory:missing:)`` naming the expected
    ///   files, ``TextDataError/tooFewClasses(path:present:)`` when the training split holds
    ///   fewer than two classes, and the readers' errors.
    public func load(directory: String, textColumn: String = "text", labelColumn: String = "label", splitSeed: UInt64 = 0) throws -> (training: TextDataset, evaluation: TextDataset) {
        let (trainingName, evaluationNames) = expectedFiles
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TextDataError.directoryNotFound(dataset: rawValue, directory: directory, expected: [trainingName, evaluationNames.joined(separator: " or ")])
        }
        func file(_ name: String) -> String { URL(fileURLWithPath: directory).appendingPathComponent(name).path }
        var missing = [String]()
        if !FileManager.default.fileExists(atPath: file(trainingName)) { missing.append(trainingName) }
        let evaluationName = evaluationNames.first { FileManager.default.fileExists(atPath: file($0)) }
        if evaluationName == nil { missing.append(evaluationNames.joined(separator: " or ")) }
        guard missing.isEmpty, let evaluationName else {
            throw TextDataError.filesNotFound(dataset: rawValue, directory: directory, missing: missing)
        }
        let (training, evaluation) = try loadSplits(file(trainingName), file(evaluationName), directory: directory, textColumn: textColumn, labelColumn: labelColumn, splitSeed: splitSeed)
        let present = Set(training.labels)
        guard present.count >= 2 else {
            let path = self == .mr ? directory : file(trainingName)
            throw TextDataError.tooFewClasses(path: path, present: present.sorted().map { training.classNames[Int($0)] })
        }
        return (training, evaluation)
    }

    /// The training and evaluation splits as the dataset's readers find them.
    private func loadSplits(_ trainingPath: String, _ evaluationPath: String, directory: String, textColumn: String, labelColumn: String, splitSeed: UInt64) throws -> (training: TextDataset, evaluation: TextDataset) {
        switch self {
        case .sst2:
            var training = try TextDataset.loadGLUE(trainingPath)
            var evaluation = try TextDataset.loadGLUE(evaluationPath, classNames: training.classNames)
            let names = training.classNames.map { classNamesOfLabels[$0] ?? $0 }
            training.classNames = names
            evaluation.classNames = names
            return (training, evaluation)
        case .mr:
            var generator = SplitMix64(seed: splitSeed)
            let (kept, heldOut) = try TextDataset.loadMR(directory: directory).split(heldOutFraction: 0.1, using: &generator)
            return (kept, heldOut)
        case .trec:
            return (try TextDataset.loadTREC(trainingPath), try TextDataset.loadTREC(evaluationPath))
        case .agNews:
            return (try TextDataset.loadAGNews(trainingPath), try TextDataset.loadAGNews(evaluationPath))
        case .csv, .tsv, .jsonl:
            let format = TextFileFormat(rawValue: rawValue) ?? .csv
            let training = try TextDataset.loadColumns(trainingPath, format: format, textColumn: textColumn, labelColumn: labelColumn)
            let evaluation = try TextDataset.loadColumns(evaluationPath, format: format, textColumn: textColumn, labelColumn: labelColumn, classNames: training.classNames)
            return (training, evaluation)
        }
    }
}
