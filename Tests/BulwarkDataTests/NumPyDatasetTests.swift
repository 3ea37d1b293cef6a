import BulwarkCore
import BulwarkData
import Foundation
import Testing
import _TestSupport

/// Image datasets from NumPy `.npz` archives and `.npy` pairs, and from `.safetensors` files.
@Suite struct NumPyDatasetTests {
    private static func expectFixture(_ dataset: ImageDataset, channels: Int = 3) {
        #expect(dataset.images.shape == [4, channels, 5, 6])
        #expect(dataset.images.array == FixturePattern.pixels(channels: channels))
        #expect(dataset.labels == FixturePattern.labels)
        #expect(dataset.classCount == 3)
        #expect(dataset.classNames == ["0", "1", "2"])
    }

    @Test func readsChannelsLastUInt8ArchiveWrittenBySavez() throws {
        Self.expectFixture(try ImageDataset.loadNumPy(archive: corpusFile("npz-uint8-nhwc.npz")))
    }

    @Test func readsCompressedFloatArchiveUnderTheLongNames() throws {
        Self.expectFixture(try ImageDataset.loadNumPy(archive: corpusFile("npz-float32-nchw.npz")))
    }

    @Test func readsGrayscaleArchiveOfRankThree() throws {
        Self.expectFixture(try ImageDataset.loadNumPy(archive: corpusFile("npz-gray.npz")), channels: 1)
    }

    @Test func readsPairOfNpyFilesOfFloat64() throws {
        let dataset = try ImageDataset.loadNumPy(images: corpusFile("npy-x_pair.npy"), labels: corpusFile("npy-y_pair.npy"))
        #expect(dataset.images.shape == [4, 1, 5, 6])
        for (value, expected) in zip(dataset.images.array, FixturePattern.pixels(channels: 1)) { #expect(abs(value - expected) < 1e-6) }
        #expect(dataset.labels == FixturePattern.labels)
    }

    @Test func readsUInt8SafeTensors() throws {
        Self.expectFixture(try ImageDataset.loadSafeTensors(corpusFile("safetensors-uint8.safetensors")))
    }

    @Test func explicitLayoutOverridesTheGuess() throws {
        let dataset = try ImageDataset.loadNumPy(archive: corpusFile("npz-uint8-nhwc.npz"), layout: .channelsFirst)
        #expect(dataset.images.shape == [4, 5, 6, 3])
        #expect(ImageLayout.inferred(from: [2, 28, 28, 1]) == .channelsLast)
        #expect(ImageLayout.inferred(from: [2, 32, 32, 3]) == .channelsLast)
        #expect(ImageLayout.inferred(from: [2, 3, 32, 32]) == .channelsFirst)
        #expect(ImageLayout.inferred(from: [2, 3, 32, 3]) == .channelsFirst)
    }

    @Test func limitKeepsTheFirstExamplesAndTheClassCountOfAll() throws {
        let dataset = try ImageDataset.loadNumPy(archive: corpusFile("npz-uint8-nhwc.npz"), limit: 2)
        #expect(dataset.count == 2 && dataset.classCount == 3)
        #expect(dataset.images.array == FixturePattern.pixels(count: 2, channels: 3))
    }

    @Test func npyPairRoundTrips() throws {
        let directory = try TemporaryDirectory()
        let images = seededTensor([3, 2, 4, 5], in: 0...1, seed: 7)
        let x = try directory.write(NumPyArray.float32Bytes(images), to: "x_train.npy")
        try directory.write(NumPyArray.int64Bytes([4, 0, 2]), to: "y_train.npy")
        #expect(try ImageDataset.numPyLabelsPath(forImages: x) == directory.path + "/y_train.npy")
        let dataset = try ImageDataset.load(path: x, split: .train)
        #expect(dataset.images == images && dataset.labels == [4, 0, 2] && dataset.classCount == 5)
    }

    @Test func npzRoundTripsStoredAndDeflated() throws {
        let images = seededTensor([3, 1, 4, 4], in: 0...1, seed: 8)
        for deflated in [false, true] {
            let directory = try TemporaryDirectory()
            let path = try directory.write(
                zipArchive([("images.npy", NumPyArray.float32Bytes(images)), ("labels.npy", NumPyArray.int64Bytes([1, 1, 0]))],
                           deflated: deflated), to: "data.npz")
            let dataset = try ImageDataset.load(path: path, split: .test)
            #expect(dataset.images == images && dataset.labels == [1, 1, 0])
        }
    }

    @Test func safeTensorsRoundTrips() throws {
        let directory = try TemporaryDirectory()
        let images = seededTensor([2, 3, 4, 4], in: 0...1, seed: 9)
        let path = directory.path + "/data.safetensors"
        try SafeTensorsFile(tensors: ["x": images, "y": Tensor([1, 0])], integerTensorNames: ["y"]).write(to: path)
        let dataset = try ImageDataset.load(path: path, split: .train)
        #expect(dataset.images == images && dataset.labels == [1, 0])
    }

    // MARK: - Errors

    /// The error of loading `files` written into a temporary directory as `name`, or of the
    /// `.npy` pair x.npy / y.npy when there are two.
    private func error(_ files: [(String, [UInt8])], layout: ImageLayout? = nil, classCount: Int? = nil) throws -> DatasetError? {
        let directory = try TemporaryDirectory()
        let paths = try files.map { try directory.write($0.1, to: $0.0) }
        do {
            if paths.count == 2 {
                _ = try ImageDataset.loadNumPy(images: paths[0], labels: paths[1], layout: layout, classCount: classCount)
            } else {
                _ = try ImageDataset.load(path: paths[0], split: .train, layout: layout)
            }
            return nil
        } catch {
            let description = error.description
            #expect(description.contains(directory.path), "\(description)")
            return error
        }
    }

    private func pair(images: [UInt8], labels: [UInt8]) -> [(String, [UInt8])] { [("x.npy", images), ("y.npy", labels)] }
    private let twoLabels = NumPyArray.int64Bytes([0, 1])

    @Test func unknownExtensionAndMissingFilesAreNamed() throws {
        guard case .unsupportedFormat = try error([("data.csv", [1, 2, 3])]) else { Issue.record("csv accepted"); return }
        #expect(throws: DatasetError.fileNotFound(path: "/nonexistent/data.npz")) {
            try ImageDataset.load(path: "/nonexistent/data.npz", split: .train)
        }
        guard case .labelsFileNotFound(_, let tried) = try error([("images_train.npy", npyUInt8([0], shape: [1, 1, 1]))]) else {
            Issue.record("a lone .npy accepted"); return
        }
        #expect(tried == ["labels_train.npy"])
    }

    @Test func wrongShapesAreRefused() throws {
        guard case .invalidImageShape(_, _, let shape) = try error(pair(images: npyUInt8([0, 1], shape: [2, 1]), labels: twoLabels)) else {
            Issue.record("rank-2 images accepted"); return
        }
        #expect(shape == [2, 1])
        guard case .invalidImageShape = try error(pair(images: npyUInt8([], shape: [2, 0, 3]), labels: twoLabels)) else {
            Issue.record("empty images accepted"); return
        }
        guard case .emptyDataset = try error(pair(images: npyUInt8([], shape: [0, 2, 2]), labels: NumPyArray.int64Bytes([]))) else {
            Issue.record("no images accepted"); return
        }
        guard case .exampleCountMismatch(_, 2, 3) = try error(
            pair(images: npyUInt8([0, 1], shape: [2, 1, 1]), labels: NumPyArray.int64Bytes([0, 1, 1]))) else {
            Issue.record("3 labels for 2 images accepted"); return
        }
    }

    @Test func labelsMustBeClassIndices() throws {
        let images = npyUInt8([0, 1], shape: [2, 1, 1])
        let outOfRange = try error(pair(images: images, labels: NumPyArray.int64Bytes([0, 2])), classCount: 2)
        guard case .labelOutOfRange(let path, 1, 2, 2) = outOfRange else { Issue.record("label 2 of 2 classes accepted"); return }
        #expect(path.hasSuffix("y.npy"))
        guard case .invalidLabels(_, let negative) = try error(pair(images: images, labels: NumPyArray.int64Bytes([0, -1]))) else {
            Issue.record("negative label accepted"); return
        }
        #expect(negative.contains("-1"))
        guard case .invalidLabels(_, let float) = try error(pair(images: images, labels: npyFloat32([0, 1], shape: [2]))) else {
            Issue.record("float labels accepted"); return
        }
        #expect(float.contains("float32"))
    }

    @Test func floatPixelsMustBeFiniteAndInTheUnitRange() throws {
        guard case .nonFinitePixels(_, 1) = try error(pair(images: npyFloat32([0.5, .nan], shape: [2, 1, 1]), labels: twoLabels)) else {
            Issue.record("NaN accepted"); return
        }
        let range = try error(pair(images: npyFloat32([0, 255], shape: [2, 1, 1]), labels: twoLabels))
        guard case .pixelsOutOfRange(_, 0, 255) = range else { Issue.record("0…255 floats accepted"); return }
        #expect(range?.description.contains("divide them by 255") == true)
        guard case .pixelsOutOfRange(_, -2, 1) = try error(pair(images: npyFloat32([-2, 1], shape: [2, 1, 1]), labels: twoLabels)) else {
            Issue.record("normalized floats accepted"); return
        }
    }

    @Test func archivesWithoutTheArraysNameWhatTheyHold() throws {
        let archive = try zipArchive([("a.npy", npyUInt8([0], shape: [1, 1, 1])), ("b.npy", twoLabels)])
        guard case .missingArray(_, let expected, let found) = try error([("data.npz", archive)]) else {
            Issue.record("no x accepted"); return
        }
        #expect(expected == ["x", "images"] && found.sorted() == ["a", "b"])
    }

    @Test func damagedArchivesAreRefused() throws {
        let archive = try zipArchive([("x.npy", npyUInt8([0, 9], shape: [2, 1, 1])), ("y.npy", twoLabels)])
        for cut in [0, 10, archive.count / 2, archive.count - 1] {
            guard case .invalidFile = try error([("data.npz", Array(archive.prefix(cut)))]) else {
                Issue.record("an archive cut at \(cut) accepted"); return
            }
        }
        var flipped = archive
        flipped[archive.firstIndex(of: 9)!] = 8  // a pixel of x.npy, stored
        guard case .invalidFile(_, let problem) = try error([("data.npz", flipped)]) else { Issue.record("bad CRC accepted"); return }
        #expect(problem.contains("CRC-32"))
        guard case .invalidFile = try error([("data.npz", Array("not a zip archive at all, just text".utf8))]) else {
            Issue.record("text accepted"); return
        }
    }

    @Test func hostileSizesFailWithoutHugeAllocations() throws {
        // A .npy header declaring 10^18 values.
        let huge = npyBytes(descriptor: "<f4", shape: [1_000_000, 1_000_000, 1_000_000], data: [0, 0, 0, 0])
        guard case .invalidFile = try error(pair(images: huge, labels: twoLabels)) else { Issue.record("huge shape accepted"); return }
        // A header whose shape is no tuple.
        var dictionary = "{'descr': '<f4', 'fortran_order': False, 'shape': ), }"
        dictionary += String(repeating: " ", count: 63 - (10 + dictionary.utf8.count) % 64) + "\n"
        let shapeless = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dictionary.utf8.count), 0] + Array(dictionary.utf8)
        guard case .invalidFile = try error(pair(images: shapeless, labels: twoLabels)) else { Issue.record("no shape accepted"); return }
        let header = npyBytes(descriptor: "<f4", shape: [1, 1, 1], data: [])
        let labels = ZipMember(name: "y.npy", bytes: NumPyArray.int64Bytes([0]))
        // A zip bomb: one float declared, 256 MiB of zeros after it; only what the header
        // declares is inflated, and one byte more.
        let zeros = 256 << 20
        let bomb = ZipMember(
            name: "x.npy", bytes: header + [0, 0, 0, 0],
            compressedData: Array(try gzipOfZeros(after: header, zeroCount: zeros).dropFirst(10).dropLast(8)),
            declaredSize: header.count + zeros)
        guard case .invalidFile(_, let problem) = try error([("data.npz", zipArchive([bomb, labels], deflated: true))]) else {
            Issue.record("bomb accepted"); return
        }
        #expect(problem.contains("bytes follow"))
        // A member declaring more than deflate can produce from its compressed bytes.
        let lying = ZipMember(name: "x.npy", bytes: header + [0, 0, 0, 0], declaredSize: Int(UInt32.max - 1))
        guard case .invalidFile(_, let declared) = try error([("data.npz", zipArchive([lying, labels], deflated: true))]) else {
            Issue.record("lying size accepted"); return
        }
        #expect(declared.contains("more than deflate can produce"))
    }
}
