import BulwarkCore
import BulwarkData
import Foundation
import Testing
import _TestSupport

/// CIFAR-10 binary batches of `labels.count` records whose pixel byte at (record r, channel c,
/// position p) is `(first + r) * 7 + c * 50 + p` modulo 256, so every record, channel and
/// position is told apart; `first` numbers records across files.
func cifarBatch(labels: [UInt8], first: Int = 0) -> [UInt8] {
    var bytes = [UInt8]()
    for (record, label) in labels.enumerated() {
        bytes.append(label)
        for channel in 0..<3 {
            for position in 0..<1024 { bytes.append(UInt8(((first + record) * 7 + channel * 50 + position) % 256)) }
        }
    }
    return bytes
}

/// The pixel the synthetic batches hold at (record, channel, row, column), in `[0, 1]`.
func cifarPixel(record: Int, channel: Int, row: Int, column: Int) -> Float {
    Float((record * 7 + channel * 50 + row * 32 + column) % 256) / 255
}

/// Writes a synthetic CIFAR-10 directory: two records per training batch, three test records.
func writeCIFARDirectory(_ directory: String) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for batch in 1...5 {
        let labels = [UInt8((2 * batch) % 10), UInt8((2 * batch + 1) % 10)]
        try Data(cifarBatch(labels: labels, first: 2 * (batch - 1))).write(to: URL(fileURLWithPath: "\(directory)/data_batch_\(batch).bin"))
    }
    try Data(cifarBatch(labels: [9, 0, 4])).write(to: URL(fileURLWithPath: "\(directory)/test_batch.bin"))
}

@Suite("CIFAR-10")
struct CIFARTests {
    @Test func loadsChannelMajorRecordsOfAllTrainingBatchesInOrder() throws {
        let directory = try TemporaryDirectory()
        try writeCIFARDirectory(directory.path)
        let train = try ImageDataset.load(.cifar10, split: .train, directory: directory.path)
        #expect(train.images.shape == [10, 3, 32, 32])
        #expect(train.labels == [2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
        #expect(train.classNames[0] == "airplane" && train.classNames[9] == "truck")
        let pixels = train.images.array
        for (record, channel, row, column) in [(0, 0, 0, 0), (3, 1, 5, 7), (9, 2, 31, 31), (6, 0, 31, 0)] {
            let index = ((record * 3 + channel) * 32 + row) * 32 + column
            #expect(pixels[index] == cifarPixel(record: record, channel: channel, row: row, column: column))
        }
        let test = try ImageDataset.load(.cifar10, split: .test, directory: directory.path)
        #expect(test.labels == [9, 0, 4])
        #expect(test.images.array.allSatisfy { (0...1).contains($0) })
    }

    @Test func findsTheFolderTheArchiveExtractsTo() throws {
        let directory = try TemporaryDirectory()
        try writeCIFARDirectory(directory.path + "/cifar-10-batches-bin")
        let test = try ImageDataset.load(.cifar10, split: .test, directory: directory.path)
        #expect(test.count == 3)
        let direct = try ImageDataset.load(.cifar10, split: .test, directory: directory.path + "/cifar-10-batches-bin")
        #expect(direct.images == test.images)
    }

    @Test func defaultsToTheUsersCacheDirectory() {
        let directory = ImageDatasetName.cifar10.defaultDirectory ?? ""
        #expect(directory.hasSuffix("/.cache/bulwark/cifar-10"))
        #expect(ImageDatasetName(rawValue: "cifar10") == .cifar10)
    }

    @Test func missingDirectoryNamesWhereToPutAndDownloadTheData() throws {
        let directory = try TemporaryDirectory()
        let missing = directory.path + "/absent"
        let error = #expect(throws: DatasetError.self) {
            try ImageDataset.load(.cifar10, split: .train, directory: missing)
        }
        #expect(error == .directoryNotFound(dataset: .cifar10, directory: missing))
        let description = error?.description ?? ""
        #expect(description.contains("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"))
        #expect(description.contains(".cache/bulwark/cifar-10"))
        #expect(description.contains("`dataDirectory`"))
    }

    @Test func missingBatchesAreListed() throws {
        let directory = try TemporaryDirectory()
        try writeCIFARDirectory(directory.path)
        try FileManager.default.removeItem(atPath: directory.path + "/data_batch_4.bin")
        let error = #expect(throws: DatasetError.self) {
            try ImageDataset.load(.cifar10, split: .train, directory: directory.path)
        }
        #expect(error == .filesNotFound(dataset: .cifar10, split: .train, directory: directory.path, missing: ["data_batch_4.bin"]))
        let description = error?.description ?? ""
        #expect(description.contains("CIFAR-10 train split: data_batch_4.bin not found in \(directory.path)"))
        #expect(description.contains("cifar-10-binary.tar.gz") && !description.contains("(.gz)"))
        // The test split is complete, so it still loads.
        #expect(try ImageDataset.load(.cifar10, split: .test, directory: directory.path).count == 3)
    }

    @Test func truncatedAndEmptyFilesAreRejected() throws {
        let directory = try TemporaryDirectory()
        let truncated = try directory.write(Array(cifarBatch(labels: [1, 2]).dropLast(5)), to: "truncated.bin")
        let error = #expect(throws: DatasetError.self) { try ImageDataset.loadCIFAR10(batches: [truncated]) }
        #expect(error == .invalidRecordSize(path: truncated, byteCount: 2 * 3073 - 5, recordSize: 3073))
        #expect(error?.description.contains("not a whole number of 3073-byte records") == true)
        let empty = try directory.write([], to: "empty.bin")
        let emptyError = #expect(throws: DatasetError.self) { try ImageDataset.loadCIFAR10(batches: [empty]) }
        #expect(emptyError?.description.contains("is empty") == true)
    }

    @Test func labelsAboveNineAreRejected() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(cifarBatch(labels: [3, 9, 12, 1]), to: "corrupt.bin")
        let error = #expect(throws: DatasetError.self) { try ImageDataset.loadCIFAR10(batches: [file]) }
        #expect(error == .recordLabelOutOfRange(path: file, record: 2, label: 12, classCount: 10))
        #expect(error?.description.contains("record 2 has label 12") == true)
    }

    @Test func limitReadsOnlyTheRecordsNeededAndOpensNoLaterFile() throws {
        let directory = try TemporaryDirectory()
        let first = try directory.write(try gzip(cifarBatch(labels: [1, 2])), to: "first.bin")
        // The second file's later records are cut short, and the third does not exist.
        let second = try directory.write(Array(cifarBatch(labels: [3, 4, 5], first: 2).dropLast(10)), to: "second.bin")
        let dataset = try ImageDataset.loadCIFAR10(batches: [first, second, directory.path + "/missing.bin"], limit: 3)
        #expect(dataset.labels == [1, 2, 3])
        #expect(dataset.images.shape == [3, 3, 32, 32])
        #expect(dataset.images.array[(2 * 3072)...].first == cifarPixel(record: 2, channel: 0, row: 0, column: 0))
        #expect(throws: DatasetError.self) { try ImageDataset.loadCIFAR10(batches: [first, second]) }
        let split = try TemporaryDirectory()
        try writeCIFARDirectory(split.path)
        #expect(try ImageDataset.load(.cifar10, split: .train, directory: split.path, limit: 5).labels == [2, 3, 4, 5, 6])
    }
}
