import BulwarkCore
import BulwarkData
import Foundation
import Testing
import _TestSupport

@Suite("Named datasets")
struct NamedDatasetTests {
    /// Writes a split's images and labels into `directory` under the given file names.
    static func writeSplit(
        _ synthetic: SyntheticIDX, images: String, labels: String, in directory: TemporaryDirectory,
        compressed: Bool = false
    ) throws {
        try directory.write(compressed ? gzip(synthetic.imagesFile) : synthetic.imagesFile, to: images)
        try directory.write(compressed ? gzip(synthetic.labelsFile) : synthetic.labelsFile, to: labels)
    }

    @Test func loadsBothSplitsFromDirectory() throws {
        let directory = try TemporaryDirectory()
        try Self.writeSplit(
            SyntheticIDX(count: 7, rows: 2, columns: 3), images: "train-images-idx3-ubyte.gz",
            labels: "train-labels-idx1-ubyte.gz", in: directory, compressed: true)
        try Self.writeSplit(
            SyntheticIDX(count: 3, rows: 2, columns: 3), images: "t10k-images-idx3-ubyte",
            labels: "t10k-labels-idx1-ubyte", in: directory)

        let train = try ImageDataset.load(.mnist, split: .train, directory: directory.path)
        let test = try ImageDataset.load(.fashionMNIST, split: .test, directory: directory.path + "/")
        #expect(train.count == 7)
        #expect(train.images.shape == [7, 1, 2, 3])
        #expect(train.classNames == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
        #expect(test.count == 3)
        #expect(test.classNames.first == "T-shirt/top")
        #expect(test.classNames.last == "Ankle boot")
    }

    @Test func acceptsDottedFileNames() throws {
        let directory = try TemporaryDirectory()
        try Self.writeSplit(
            SyntheticIDX(count: 5, rows: 1, columns: 1), images: "train-images.idx3-ubyte",
            labels: "train-labels.idx1-ubyte.gz", in: directory, compressed: true)
        let train = try ImageDataset.load(.idx, split: .train, directory: directory.path)
        #expect(train.labels == [0, 1, 2, 3, 4])
    }

    @Test func prefersUncompressedFileWhenBothExist() throws {
        let directory = try TemporaryDirectory()
        try Self.writeSplit(
            SyntheticIDX(count: 2, rows: 1, columns: 1), images: "t10k-images-idx3-ubyte",
            labels: "t10k-labels-idx1-ubyte", in: directory)
        try directory.write([0x1f, 0x8b, 0, 0], to: "t10k-images-idx3-ubyte.gz")  // would fail if read
        let test = try ImageDataset.load(.mnist, split: .test, directory: directory.path)
        #expect(test.count == 2)
    }

    @Test func requiresDirectoryForDatasetsWithoutDefault() {
        for name in [ImageDatasetName.mnist, .idx] {
            let error = #expect(throws: DatasetError.self) { try ImageDataset.load(name, split: .train) }
            #expect(error == .directoryRequired(dataset: name))
            #expect(error?.description.contains("`dataDirectory`") == true)
        }
    }

    @Test func reportsMissingDirectory() throws {
        let directory = try TemporaryDirectory()
        let missing = directory.path + "/absent"
        let error = #expect(throws: DatasetError.self) {
            try ImageDataset.load(.fashionMNIST, split: .train, directory: missing)
        }
        #expect(error == .directoryNotFound(dataset: .fashionMNIST, directory: missing))
        #expect(error?.description.contains("dataset-fashion-mnist") == true)
    }

    @Test func reportsMissingFilesWithInstallationAdvice() throws {
        let directory = try TemporaryDirectory()
        try directory.write(SyntheticIDX(count: 1, rows: 1, columns: 1).labelsFile, to: "train-labels-idx1-ubyte")
        let error = #expect(throws: DatasetError.self) {
            try ImageDataset.load(.fashionMNIST, split: .train, directory: directory.path)
        }
        #expect(
            error == .filesNotFound(
                dataset: .fashionMNIST, split: .train, directory: directory.path,
                missing: ["train-images-idx3-ubyte"]))
        let description = error?.description ?? ""
        #expect(description.contains("train-images-idx3-ubyte(.gz) not found in \(directory.path)"))
        #expect(description.contains("install the Debian package dataset-fashion-mnist or pass `dataDirectory` DIR"))
    }

    @Test func reportsBothMissingFilesForMNISTWithoutPackageAdvice() throws {
        let directory = try TemporaryDirectory()
        let error = #expect(throws: DatasetError.self) {
            try ImageDataset.load(.mnist, split: .test, directory: directory.path)
        }
        #expect(
            error == .filesNotFound(
                dataset: .mnist, split: .test, directory: directory.path,
                missing: ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]))
        #expect(error?.description.contains("Debian") == false)
    }

    @Test func namesParseFromCommandLineSpelling() {
        #expect(ImageDatasetName(rawValue: "fashion-mnist") == .fashionMNIST)
        #expect(ImageDatasetName(rawValue: "mnist") == .mnist)
        #expect(ImageDatasetName(rawValue: "idx") == .idx)
        #expect(ImageDatasetName.fashionMNIST.defaultDirectory == "/usr/share/datasets/fashion-mnist")
        for name in ImageDatasetName.allCases {
            #expect(name.classNames.count == name.classCount)
        }
    }
}
