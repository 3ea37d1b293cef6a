import BulwarkCore
import BulwarkData
import Foundation
import Testing
import _TestSupport

/// The seed files of `FuzzCorpus`, by name: valid IDX, CIFAR-10 and text files, and inputs
/// that once crashed a reader (`regression-…`).
private func corpus() throws -> [String: [UInt8]] {
    let directory = try #require(Bundle.module.url(forResource: "FuzzCorpus", withExtension: nil))
    var files = [String: [UInt8]]()
    for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
        files[name] = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }
    return files
}

/// The seeds whose names start with `prefix`, sorted by name.
private func seeds(_ prefix: String, in files: [String: [UInt8]]) throws -> [[UInt8]] {
    let matching = files.keys.filter { $0.hasPrefix(prefix) || $0.hasPrefix("regression-" + prefix) }.sorted()
    try #require(!matching.isEmpty, "no seed for \(prefix)")
    return matching.compactMap { files[$0] }
}

/// A mutation of a seed: the compressed bytes themselves, or (for a gzipped seed, half the
/// time) the decompressed contents mutated and compressed again, so the format beneath the
/// compression is exercised too.
private func mutant(of seed: [UInt8], using mutator: inout FuzzMutator) throws -> [UInt8] {
    guard seed.count >= 2, seed[0] == 0x1f, seed[1] == 0x8b, mutator.below(2) == 0,
          let plain = try? FileBytes(fileContents: seed, path: "seed").readAll()
    else { return mutator.mutate(seed) }
    return try gzip(mutator.mutate(plain))
}

/// A scratch directory for the fuzzers' files: in memory (`/dev/shm`) where there is one, as
/// thousands of small files are rewritten and a disk file system may flush each.
final class FuzzDirectory {
    let path: String

    init() throws {
        let shared = "/dev/shm"
        let base = FileManager.default.isWritableFile(atPath: shared)
            ? URL(fileURLWithPath: shared) : FileManager.default.temporaryDirectory
        path = base.appendingPathComponent("BulwarkFuzz-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to a new file `name` (removing the old one first) and returns its path.
    @discardableResult
    func replace(_ name: String, with bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try? FileManager.default.removeItem(atPath: file)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
}

/// Seeded mutation fuzzing of the dataset readers: every input must either load into a
/// consistent dataset (shapes agree, labels in range, pixels finite in [0, 1]) or throw the
/// reader's typed error; a crash fails the run. Each test runs the corpus unmutated, then a
/// fixed number of mutants from a fixed seed.
@Suite(.serialized) struct ReaderFuzzTests {
    /// Mutants per reader: about 10 s in all in a release build.
    static let idxIterations = 60_000, cifarIterations = 16_000, textIterations = 4_000, userDataIterations = 4_000

    private static func checkConsistent(_ dataset: ImageDataset, limit: Int?) {
        #expect(dataset.images.shape[0] == dataset.count)
        #expect(dataset.images.scalarCount == dataset.count * dataset.imageShape.reduce(1, *))
        #expect(dataset.labels.allSatisfy { $0 >= 0 && Int($0) < dataset.classCount })
        #expect(dataset.images.array.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 })
        if let limit { #expect(dataset.count <= limit) }
    }

    @Test func idxReaderSurvivesMutatedFiles() throws {
        let files = try corpus()
        let images = try seeds("images-idx3", in: files), labels = try seeds("labels-idx1", in: files)
        var mutator = FuzzMutator(seed: FuzzBudget.seed(0x1D))
        var loaded = 0, rejected = 0
        for iteration in 0..<(FuzzBudget.scaled(Self.idxIterations) + images.count) {
            let unmutated = iteration < images.count
            let imageSeed = images[unmutated ? iteration : mutator.below(images.count)]
            let labelSeed = labels[mutator.below(labels.count)]
            let mutateImages = !unmutated && mutator.below(3) != 0
            let imageBytes = mutateImages ? try mutant(of: imageSeed, using: &mutator) : imageSeed
            let labelBytes = !unmutated && !mutateImages ? try mutant(of: labelSeed, using: &mutator) : labelSeed
            let limit: Int? = mutator.below(3) == 0 ? mutator.below(6) : nil
            do {
                // In memory: loadIDX(images:labels:) differs only in reading the files first.
                let dataset = try ImageDataset.loadIDX(
                    images: { () throws(DatasetError) in try FileBytes(fileContents: imageBytes, path: "images") },
                    labels: FileBytes(fileContents: labelBytes, path: "labels"), limit: limit)
                Self.checkConsistent(dataset, limit: limit)
                loaded += 1
            } catch {
                rejected += 1  // a DatasetError: loadIDX throws no other type
            }
        }
        print("fuzz idx: \(loaded + rejected) executions, \(loaded) loaded, \(rejected) rejected with DatasetError")
        #expect(loaded >= images.count)
    }

    @Test func cifarReaderSurvivesMutatedFiles() throws {
        let files = try corpus()
        let batches = try seeds("cifar", in: files)
        let directory = try FuzzDirectory()
        var mutator = FuzzMutator(seed: FuzzBudget.seed(0xC1FA))
        var loaded = 0, rejected = 0
        for iteration in 0..<(FuzzBudget.scaled(Self.cifarIterations) + batches.count) {
            let unmutated = iteration < batches.count
            let seed = batches[unmutated ? iteration : mutator.below(batches.count)]
            let first = try directory.replace("first.bin", with: unmutated ? seed : try mutant(of: seed, using: &mutator))
            let second = try directory.replace("second.bin", with: try mutant(of: batches[mutator.below(batches.count)], using: &mutator))
            let paths = unmutated || mutator.below(2) == 0 ? [first] : [first, second]
            let limit: Int? = mutator.below(3) == 0 ? mutator.below(4) : nil
            do {
                let dataset = try ImageDataset.loadCIFAR10(batches: paths, limit: limit)
                Self.checkConsistent(dataset, limit: limit)
                #expect(dataset.imageShape == [3, 32, 32])
                loaded += 1
            } catch {
                rejected += 1
            }
        }
        print("fuzz cifar: \(loaded + rejected) executions, \(loaded) loaded, \(rejected) rejected with DatasetError")
        #expect(loaded >= batches.count)
    }

    @Test func textReadersSurviveMutatedFiles() throws {
        let files = try corpus()
        typealias Reader = (String, String) throws -> TextDataset
        let readers: [(prefix: String, name: String, read: Reader)] = [
            ("train.csv", "train.csv", { path, _ in try TextDataset.loadColumns(path, format: .csv) }),
            ("train.tsv", "train.tsv", { path, _ in try TextDataset.loadGLUE(path) }),
            ("train.jsonl", "train.jsonl", { path, _ in try TextDataset.loadColumns(path, format: .jsonl) }),
            ("trec", "trec.label", { path, _ in try TextDataset.loadTREC(path) }),
            ("agnews", "agnews.csv", { path, _ in try TextDataset.loadAGNews(path) }),
            ("rt-polarity.pos", "rt-polarity.pos", { _, directory in try TextDataset.loadMR(directory: directory) }),
            ("train.csv", "train.csv", { _, directory in try TextDatasetName.csv.load(directory: directory).training }),
            ("train.jsonl", "train.jsonl", { _, directory in try TextDatasetName.jsonl.load(directory: directory).training }),
        ]
        var mutator = FuzzMutator(seed: FuzzBudget.seed(0x7E47))
        var summary = [String]()
        for reader in readers {
            let directory = try FuzzDirectory()
            // Valid companions: the MR negatives and the evaluation splits.
            for (name, copy) in [("rt-polarity.neg", "rt-polarity.neg"), ("train.csv", "dev.csv"), ("train.jsonl", "dev.jsonl")] {
                try directory.replace(copy, with: try #require(files[name]))
            }
            let readerSeeds = try seeds(reader.prefix, in: files)
            var loaded = 0, rejected = 0
            for iteration in 0..<(FuzzBudget.scaled(Self.textIterations) + readerSeeds.count) {
                let unmutated = iteration < readerSeeds.count
                let seed = readerSeeds[unmutated ? iteration : mutator.below(readerSeeds.count)]
                let path = try directory.replace(reader.name, with: unmutated ? seed : try mutant(of: seed, using: &mutator))
                do {
                    let dataset = try reader.read(path, directory.path)
                    #expect(dataset.texts.count == dataset.labels.count)
                    #expect(dataset.classCount >= 1)
                    #expect(dataset.labels.allSatisfy { $0 >= 0 && Int($0) < dataset.classCount })
                    loaded += 1
                } catch is TextDataError {
                    rejected += 1
                } catch {
                    Issue.record("\(reader.name): an error that is not a TextDataError: \(error)")
                }
            }
            #expect(loaded >= readerSeeds.count, "\(reader.name): a seed failed to load")
            summary.append("\(reader.name) \(loaded + rejected) (\(loaded) loaded)")
        }
        print("fuzz text: " + summary.joined(separator: ", "))
    }

    /// The readers of the user's data: NumPy archives and pairs, safetensors files and PNG
    /// folders, each file of theirs mutated (a PNG folder beside a valid image).
    @Test func userDatasetReadersSurviveMutatedFiles() throws {
        let files = try corpus()
        let readers: [(prefix: String, name: String, load: String)] = [
            ("npz-", "data.npz", "data.npz"), ("npy-x", "x_data.npy", "x_data.npy"),
            ("safetensors-", "data.safetensors", "data.safetensors"), ("png-", "folder/b/1.png", "folder"),
        ]
        var mutator = FuzzMutator(seed: FuzzBudget.seed(0x05E7))
        var summary = [String]()
        for reader in readers {
            let directory = try FuzzDirectory()
            try FileManager.default.createDirectory(atPath: directory.path + "/folder/a", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: directory.path + "/folder/b", withIntermediateDirectories: true)
            try directory.replace("y_data.npy", with: try #require(files["npy-y_pair.npy"]))
            try directory.replace("folder/a/1.png", with: try #require(files["png-rgb8.png"]))
            let readerSeeds = try seeds(reader.prefix, in: files)
            var loaded = 0, rejected = 0
            for iteration in 0..<(FuzzBudget.scaled(Self.userDataIterations) + readerSeeds.count) {
                let unmutated = iteration < readerSeeds.count
                let seed = readerSeeds[unmutated ? iteration : mutator.below(readerSeeds.count)]
                try directory.replace(reader.name, with: unmutated ? seed : mutator.mutate(seed))
                let limit: Int? = !unmutated && mutator.below(3) == 0 ? mutator.below(4) : nil
                do {
                    let dataset = try ImageDataset.load(path: directory.path + "/" + reader.load, split: .train, limit: limit)
                    Self.checkConsistent(dataset, limit: limit)
                    loaded += 1
                } catch {
                    rejected += 1  // a DatasetError: load(path:) throws no other type
                }
            }
            #expect(loaded >= readerSeeds.count - (reader.prefix == "png-" ? 1 : 0), "\(reader.name): a seed failed to load")
            summary.append("\(reader.name) \(loaded + rejected) (\(loaded) loaded)")
        }
        print("fuzz user data: " + summary.joined(separator: ", "))
    }
}
