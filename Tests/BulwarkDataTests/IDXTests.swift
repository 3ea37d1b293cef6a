import BulwarkCore
import BulwarkData
import Foundation
import _TestSupport
import Testing

@Suite("IDX files")
struct IDXTests {
    @Test(arguments: [false, true])
    func roundTripsImagesAndLabels(compressed: Bool) throws {
        let directory = try TemporaryDirectory()
        let synthetic = SyntheticIDX(count: 12, rows: 3, columns: 5)
        let images = try directory.write(compressed ? gzip(synthetic.imagesFile) : synthetic.imagesFile, to: "images")
        let labels = try directory.write(compressed ? gzip(synthetic.labelsFile) : synthetic.labelsFile, to: "labels")

        let dataset = try ImageDataset.loadIDX(images: images, labels: labels)

        #expect(dataset.count == 12)
        #expect(dataset.images.shape == [12, 1, 3, 5])
        #expect(dataset.imageShape == [1, 3, 5])
        #expect(dataset.images.array == synthetic.pixelBytes.map { Float($0) / 255 })
        #expect(dataset.labels == synthetic.labelBytes.map(Int32.init))
        #expect(dataset.classCount == 10)
        #expect(dataset.classNames == (0..<10).map(String.init))
    }

    @Test func detectsCompressionByContentNotExtension() throws {
        let directory = try TemporaryDirectory()
        let synthetic = SyntheticIDX(count: 4, rows: 2, columns: 2)
        // A gzipped file without .gz and a raw file with .gz.
        let images = try directory.write(gzip(synthetic.imagesFile), to: "images-idx3-ubyte")
        let labels = try directory.write(synthetic.labelsFile, to: "labels-idx1-ubyte.gz")
        let dataset = try ImageDataset.loadIDX(images: images, labels: labels)
        #expect(dataset.labels == [0, 1, 2, 3])
        #expect(dataset.images.array == synthetic.pixelBytes.map { Float($0) / 255 })
    }

    @Test func readsFullByteRangeIntoUnitInterval() throws {
        let directory = try TemporaryDirectory()
        let pixels = (0..<256).map(UInt8.init)
        let images = try directory.write(idxBytes(dimensions: [1, 16, 16], elements: pixels), to: "images")
        let labels = try directory.write(idxBytes(dimensions: [1], elements: [9]), to: "labels")
        let dataset = try ImageDataset.loadIDX(images: images, labels: labels)
        #expect(dataset.images.array.first == 0)
        #expect(dataset.images.array.last == 1)
        #expect(dataset.images.array[51] == Float(51) / 255)
    }

    @Test func usesGivenClassCountAndNames() throws {
        let directory = try TemporaryDirectory()
        let synthetic = SyntheticIDX(count: 6, rows: 1, columns: 1, classCount: 3)
        let images = try directory.write(synthetic.imagesFile, to: "images")
        let labels = try directory.write(synthetic.labelsFile, to: "labels")
        let dataset = try ImageDataset.loadIDX(
            images: images, labels: labels, classCount: 3, classNames: ["cat", "dog", "bird"])
        #expect(dataset.classCount == 3)
        #expect(dataset.classNames == ["cat", "dog", "bird"])
    }

    // MARK: - Rejection

    /// Writes valid labels for `count` images and an images file with the given bytes.
    static func loadImages(_ imageBytes: [UInt8], labelCount: Int = 2) throws -> (DatasetError?, path: String) {
        let directory = try TemporaryDirectory()
        let images = try directory.write(imageBytes, to: "images")
        let labels = try directory.write(idxBytes(dimensions: [labelCount], elements: [UInt8](repeating: 1, count: labelCount)), to: "labels")
        let error = #expect(throws: DatasetError.self) { try ImageDataset.loadIDX(images: images, labels: labels) }
        return (error, images)
    }

    @Test func rejectsWrongMagic() throws {
        let html = Array("<!DOCTYPE html>".utf8)
        let (error, path) = try Self.loadImages(html)
        #expect(error == .notIDX(path: path, magic: 0x3C21_444F))
        #expect(error?.description.contains("is not an IDX file") == true)
        #expect(error?.description.contains(path) == true)
    }

    @Test func rejectsUnknownTypeCodeAsWrongMagic() throws {
        let (error, path) = try Self.loadImages(idxBytes(typeCode: 0x42, dimensions: [2, 1, 1], elements: [1, 2]))
        #expect(error == .notIDX(path: path, magic: 0x0000_4203))
    }

    @Test func rejectsUnsupportedElementType() throws {
        let (error, path) = try Self.loadImages(
            idxBytes(typeCode: 0x0D, dimensions: [2, 1, 1], elements: [UInt8](repeating: 0, count: 8)))
        #expect(error == .unsupportedElementType(path: path, typeCode: 0x0D))
        #expect(error?.description.contains("float32") == true)
    }

    @Test func rejectsWrongNumberOfDimensions() throws {
        let (error, path) = try Self.loadImages(idxBytes(dimensions: [2], elements: [1, 2]))
        #expect(error == .unexpectedRank(path: path, expected: 3, found: 1))
    }

    @Test func rejectsZeroDimension() throws {
        let (error, path) = try Self.loadImages(idxBytes(dimensions: [2, 0, 28], elements: []))
        #expect(error == .emptyDimension(path: path, dimensions: [2, 0, 28]))
    }

    @Test func rejectsTruncatedElements() throws {
        let (error, path) = try Self.loadImages(idxBytes(dimensions: [2, 2, 2], elements: [1, 2, 3, 4, 5, 6, 7]))
        #expect(error == .truncated(path: path, expectedBytes: 24, actualBytes: 23))
        #expect(error?.description.contains("truncated") == true)
    }

    @Test func rejectsTruncatedHeader() throws {
        let (error, path) = try Self.loadImages(Array(idxBytes(dimensions: [2, 2, 2], elements: []).prefix(10)))
        #expect(error == .truncated(path: path, expectedBytes: 16, actualBytes: 10))
    }

    @Test func rejectsEmptyFile() throws {
        let (error, path) = try Self.loadImages([])
        #expect(error == .truncated(path: path, expectedBytes: 4, actualBytes: 0))
    }

    @Test func rejectsDimensionsTooLargeToAddress() throws {
        let (error, path) = try Self.loadImages(
            idxBytes(dimensions: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], elements: [1]))
        #expect(error == .unaddressableSize(path: path, dimensions: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF]))
        #expect(error?.description.contains("more bytes than can be addressed") == true)
    }

    @Test func rejectsTrailingBytes() throws {
        let (error, path) = try Self.loadImages(idxBytes(dimensions: [2, 1, 2], elements: [1, 2, 3, 4, 5]))
        #expect(error == .trailingBytes(path: path, expectedBytes: 20, actualBytes: 21))
        #expect(error?.description.contains("has 1 trailing byte:") == true)
    }

    @Test func rejectsTrailingBytesInsideGzip() throws {
        let (error, path) = try Self.loadImages(gzip(idxBytes(dimensions: [2, 1, 2], elements: [1, 2, 3, 4, 5, 6])))
        #expect(error == .trailingBytes(path: path, expectedBytes: 20, actualBytes: 22))
    }

    @Test func rejectsCountMismatch() throws {
        let directory = try TemporaryDirectory()
        let images = try directory.write(SyntheticIDX(count: 5, rows: 2, columns: 2).imagesFile, to: "images")
        let labels = try directory.write(SyntheticIDX(count: 4, rows: 2, columns: 2).labelsFile, to: "labels")
        let error = #expect(throws: DatasetError.self) { try ImageDataset.loadIDX(images: images, labels: labels) }
        #expect(error == .countMismatch(imagesPath: images, imageCount: 5, labelsPath: labels, labelCount: 4))
    }

    @Test func rejectsLabelOutOfRange() throws {
        let directory = try TemporaryDirectory()
        let images = try directory.write(SyntheticIDX(count: 3, rows: 1, columns: 1).imagesFile, to: "images")
        let labels = try directory.write(idxBytes(dimensions: [3], elements: [0, 10, 2]), to: "labels")
        let error = #expect(throws: DatasetError.self) { try ImageDataset.loadIDX(images: images, labels: labels) }
        #expect(error == .labelOutOfRange(path: labels, index: 1, label: 10, classCount: 10))
    }

    @Test func rejectsSwappedImagesAndLabels() throws {
        let directory = try TemporaryDirectory()
        let synthetic = SyntheticIDX(count: 3, rows: 1, columns: 1)
        let images = try directory.write(synthetic.imagesFile, to: "images")
        let labels = try directory.write(synthetic.labelsFile, to: "labels")
        let error = #expect(throws: DatasetError.self) { try ImageDataset.loadIDX(images: labels, labels: images) }
        #expect(error == .unexpectedRank(path: images, expected: 1, found: 3))
    }

    @Test func rejectsCorruptGzip() throws {
        var compressed = try gzip(SyntheticIDX(count: 50, rows: 8, columns: 8).imagesFile)
        for offset in stride(from: 20, to: compressed.count - 8, by: 13) { compressed[offset] ^= 0xA5 }
        let (error, path) = try Self.loadImages(compressed, labelCount: 50)
        guard case .corruptCompression(let errorPath, _) = error else {
            Issue.record("expected .corruptCompression, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
    }

    @Test func rejectsTruncatedGzip() throws {
        let compressed = try gzip(SyntheticIDX(count: 50, rows: 8, columns: 8).imagesFile)
        let (error, path) = try Self.loadImages(Array(compressed.dropLast(30)), labelCount: 50)
        #expect(error == .corruptCompression(path: path, reason: GzipError.truncated.description))
    }

    @Test func rejectsMissingFile() throws {
        let directory = try TemporaryDirectory()
        let labels = try directory.write(SyntheticIDX(count: 1, rows: 1, columns: 1).labelsFile, to: "labels")
        let missing = directory.path + "/no-such-images"
        let error = #expect(throws: DatasetError.self) { try ImageDataset.loadIDX(images: missing, labels: labels) }
        #expect(error == .fileNotFound(path: missing))
        #expect(error?.description.contains(missing) == true)
    }

    @Test func rejectsDirectoryInPlaceOfFile() throws {
        let directory = try TemporaryDirectory()
        let labels = try directory.write(SyntheticIDX(count: 1, rows: 1, columns: 1).labelsFile, to: "labels")
        let error = #expect(throws: DatasetError.self) { try ImageDataset.loadIDX(images: directory.path, labels: labels) }
        #expect(error == .notAFile(path: directory.path))
    }

    // MARK: - Bounded decompression

    /// Images declaring five million 28 × 28 images (3.9 GB) whose gzip stream holds 256 MiB of
    /// zeros after the header, and labels declaring as many with 1,000 present.
    private static func writeGzipBomb(in directory: TemporaryDirectory) throws -> (images: String, labels: String) {
        let declared = 5_000_000
        let images = try directory.write(
            gzipOfZeros(after: idxBytes(dimensions: [declared, 28, 28], elements: []), zeroCount: 256 << 20),
            to: "images")
        let labels = try directory.write(
            gzip(idxBytes(dimensions: [declared], elements: (0..<1000).map { UInt8($0 % 10) })), to: "labels")
        return (images, labels)
    }

    @Test func limitInflatesOnlyTheExamplesNeededFromAGzipBomb() throws {
        let directory = try TemporaryDirectory()
        let (images, labels) = try Self.writeGzipBomb(in: directory)
        #expect(try FileManager.default.attributesOfItem(atPath: images)[.size] as? Int ?? 0 < 1 << 20)
        let start = Date()
        let dataset = try ImageDataset.loadIDX(images: images, labels: labels, limit: 5)
        #expect(dataset.count == 5)
        #expect(dataset.images.shape == [5, 1, 28, 28])
        #expect(dataset.labels == [0, 1, 2, 3, 4])
        // Inflating the 256 MiB alone takes longer than this.
        #expect(Date().timeIntervalSince(start) < 0.1)
    }

    @Test func headerDeclaringMoreThanTheGzipStreamHoldsIsTruncatedWithoutALimit() throws {
        let directory = try TemporaryDirectory()
        let images = try directory.write(
            gzipOfZeros(after: idxBytes(dimensions: [5_000_000, 28, 28], elements: []), zeroCount: 1 << 20),
            to: "images")
        let labels = try directory.write(idxBytes(dimensions: [5_000_000], elements: [1, 2, 3]), to: "labels")
        let error = #expect(throws: DatasetError.self) { try ImageDataset.loadIDX(images: images, labels: labels) }
        #expect(error == .truncated(path: labels, expectedBytes: 5_000_008, actualBytes: 11))
        let imageError = #expect(throws: DatasetError.self) { try IDXArray(contentsOfFile: images, rank: 3) }
        #expect(imageError == .truncated(path: images, expectedBytes: 16 + 5_000_000 * 784, actualBytes: 16 + (1 << 20)))
        #expect(imageError?.description.contains("download or install it again") == true)
    }

    @Test func streamHoldingFarMoreThanTheHeaderDeclaresIsNotInflatedToTheEnd() throws {
        let directory = try TemporaryDirectory()
        // One 28 × 28 image declared, 512 MiB of zeros present.
        let images = try directory.write(
            gzipOfZeros(after: idxBytes(dimensions: [1, 28, 28], elements: []), zeroCount: 512 << 20), to: "images")
        let start = Date()
        #expect(throws: DatasetError.trailingBytes(path: images, expectedBytes: 16 + 784, actualBytes: Int.max)) {
            try IDXArray(contentsOfFile: images, rank: 3)
        }
        // Inflating the 512 MiB takes longer.
        #expect(Date().timeIntervalSince(start) < 0.2)
        let labels = try directory.write(idxBytes(dimensions: [1], elements: [7]), to: "labels")
        #expect(try ImageDataset.loadIDX(images: images, labels: labels, limit: 1).labels == [7])
    }

    @Test func limitStopsReadingBeforeDamageAfterTheExamplesNeeded() throws {
        let directory = try TemporaryDirectory()
        let synthetic = SyntheticIDX(count: 2_000, rows: 8, columns: 8)
        // Cut the compressed stream short: the first examples are intact, the end is missing.
        let compressed = try gzip(synthetic.imagesFile)
        let images = try directory.write(Array(compressed.prefix(compressed.count / 2)), to: "images")
        let labels = try directory.write(synthetic.labelsFile, to: "labels")
        let dataset = try ImageDataset.loadIDX(images: images, labels: labels, limit: 3)
        #expect(dataset.labels == [0, 1, 2])
        #expect(dataset.images.array == synthetic.pixelBytes.prefix(3 * 64).map { Float($0) / 255 })
        #expect(throws: DatasetError.self) { try ImageDataset.loadIDX(images: images, labels: labels) }
    }

    @Test func limitStillChecksThatImagesAndLabelsDeclareTheSameCount() throws {
        let directory = try TemporaryDirectory()
        let images = try directory.write(SyntheticIDX(count: 5, rows: 2, columns: 2).imagesFile, to: "images")
        let labels = try directory.write(SyntheticIDX(count: 4, rows: 2, columns: 2).labelsFile, to: "labels")
        #expect(throws: DatasetError.countMismatch(imagesPath: images, imageCount: 5, labelsPath: labels, labelCount: 4)) {
            try ImageDataset.loadIDX(images: images, labels: labels, limit: 2)
        }
    }

    @Test func limitAboveTheCountLoadsEverything() throws {
        let directory = try TemporaryDirectory()
        let synthetic = SyntheticIDX(count: 6, rows: 2, columns: 3)
        let images = try directory.write(try gzip(synthetic.imagesFile), to: "images")
        let labels = try directory.write(synthetic.labelsFile, to: "labels")
        let dataset = try ImageDataset.loadIDX(images: images, labels: labels, limit: 100)
        #expect(dataset.count == 6)
        #expect(dataset.images.array == synthetic.pixelBytes.map { Float($0) / 255 })
    }

    @Test func rejectsAbsurdDeclaredSizesWithoutTrapping() throws {
        for limit in [nil, 0, 5] as [Int?] {
            for dimensions in [[0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], [0xFFFF_FFFF, 0xFFFF_FFFF, 2], [2, 0xFFFF_FFFF, 0xFFFF_FFFF]] {
                let file = try FileBytes(fileContents: gzip(idxBytes(dimensions: dimensions, elements: [1, 2, 3])), path: "bomb")
                #expect(throws: DatasetError.unaddressableSize(path: "bomb", dimensions: dimensions)) {
                    try IDXArray(reading: file, rank: 3, limit: limit)
                }
            }
            // 2⁴⁸ bytes declared, addressable but absent (a limit of 0 needs none of them).
            guard limit != 0 else { continue }
            let file = try FileBytes(fileContents: gzip(idxBytes(dimensions: [0xFFFF_FFFF, 0xFFFF, 1], elements: [1, 2, 3])), path: "huge")
            #expect(throws: DatasetError.truncated(path: "huge", expectedBytes: 16 + 0xFFFF_FFFF * 0xFFFF, actualBytes: 19)) {
                try IDXArray(reading: file, rank: 3, limit: limit)
            }
        }
    }
}
