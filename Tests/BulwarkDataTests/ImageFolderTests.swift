import BulwarkCore
import BulwarkData
import Foundation
import Testing
import _TestSupport

/// Datasets of PNG images in one folder per class, decoded with libpng.
@Suite struct ImageFolderTests {
    /// The fixture image's pixels with `channels` channels, channels-first, as bytes.
    private static func first(channels: Int) -> [UInt8] { FixturePattern.bytes(count: 1, channels: channels) }

    @Test func decodesEveryColorTypeAndBitDepth() throws {
        for name in ["gray8", "gray16", "grayalpha8"] {
            let image = try ImageDataset.decodePNG(corpusFile("png-\(name).png"), channels: 1)
            #expect(image.width == 6 && image.height == 5 && !image.isColor, "\(name)")
            #expect(image.pixels == Self.first(channels: 1), "\(name)")
        }
        for name in ["rgb8", "rgb16", "rgba8"] {
            let image = try ImageDataset.decodePNG(corpusFile("png-\(name).png"), channels: 3)
            #expect(image.isColor, "\(name)")
            // Decoded interleaved: pixel by pixel, red, green, blue.
            let planar = Self.first(channels: 3)
            let interleaved = (0..<30).flatMap { pixel in (0..<3).map { planar[$0 * 30 + pixel] } }
            #expect(image.pixels == interleaved, "\(name)")
        }
        let palette: [[UInt8]] = [[0, 0, 0], [255, 0, 0], [0, 128, 255], [200, 200, 200]]
        let image = try ImageDataset.decodePNG(corpusFile("png-palette8.png"), channels: 3)
        #expect(image.pixels == (0..<5).flatMap { h in (0..<6).flatMap { w in palette[(h + w) % 4] } })
    }

    /// A folder with the fixture files `layout` (relative path → fixture name).
    private func folder(_ layout: [String: String]) throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        for (path, fixture) in layout {
            let destination = directory.path + "/" + path
            try FileManager.default.createDirectory(
                atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: try corpusFile(fixture), toPath: destination)
        }
        return directory
    }

    @Test func classesAreSortedFoldersAndFilesAreReadInOrder() throws {
        let directory = try folder([
            "zebra/b.png": "png-gray16.png", "zebra/a.png": "png-gray8.png", "ant/1.png": "png-grayalpha8.png",
            "ant/notes.txt": "npy-y_pair.npy", "ant/.hidden.png": "png-rgb8.png",
        ])
        let dataset = try ImageDataset.loadImageFolder(directory.path, split: .train)
        #expect(dataset.classNames == ["ant", "zebra"] && dataset.classCount == 2)
        #expect(dataset.labels == [0, 1, 1])
        #expect(dataset.images.shape == [3, 1, 5, 6])
        #expect(dataset.images.array == Array(repeating: Self.first(channels: 1), count: 3).flatMap { $0 }.map { Float($0) / 255 })
        #expect(try ImageDataset.loadImageFolder(directory.path, split: .train, limit: 2).labels == [0, 1])
    }

    @Test func colorInAnyImageMakesThreeChannelsAndGrayIsRepeated() throws {
        let directory = try folder(["a/gray.png": "png-gray8.png", "b/rgb.png": "png-rgb8.png"])
        let dataset = try ImageDataset.load(path: directory.path, split: .test)
        #expect(dataset.images.shape == [2, 3, 5, 6])
        let gray = Self.first(channels: 1)
        #expect(Array(dataset.images.array[0..<90]) == (gray + gray + gray).map { Float($0) / 255 })
        #expect(Array(dataset.images.array[90...]) == Self.first(channels: 3).map { Float($0) / 255 })
        let forcedGray = try ImageDataset.loadImageFolder(directory.path, split: .train, channels: 1)
        #expect(forcedGray.images.shape == [2, 1, 5, 6])
    }

    @Test func trainAndTestFoldersShareTheTrainingClasses() throws {
        let directory = try folder([
            "train/cat/1.png": "png-gray8.png", "train/dog/1.png": "png-gray8.png", "train/emu/1.png": "png-gray8.png",
            "test/emu/1.png": "png-gray8.png", "test/cat/2.png": "png-gray8.png",
        ])
        let train = try ImageDataset.loadImageFolder(directory.path, split: .train)
        let test = try ImageDataset.loadImageFolder(directory.path, split: .test)
        #expect(train.labels == [0, 1, 2] && test.labels == [0, 2])
        #expect(test.classNames == ["cat", "dog", "emu"])
        try FileManager.default.createDirectory(atPath: directory.path + "/test/yak", withIntermediateDirectories: true)
        #expect(throws: DatasetError.unknownClasses(
            directory: directory.path + "/test", classes: ["yak"], trainingDirectory: directory.path + "/train")) {
            try ImageDataset.loadImageFolder(directory.path, split: .test)
        }
    }

    @Test func errorsNameTheFileAndTheFix() throws {
        let sizes = try folder(["a/1.png": "png-gray8.png", "a/2.png": "png-small-gray8.png"])
        #expect(throws: DatasetError.imageSizeMismatch(
            path: sizes.path + "/a/2.png", size: [4, 6], expected: [5, 6], firstPath: sizes.path + "/a/1.png")) {
            try ImageDataset.loadImageFolder(sizes.path, split: .train)
        }
        let broken = try folder(["a/1.png": "npy-y_pair.npy"])
        #expect {
            try ImageDataset.loadImageFolder(broken.path, split: .train)
        } throws: { error in
            guard case .undecodableImage(let path, _) = error as? DatasetError else { return false }
            return path == broken.path + "/a/1.png"
        }
        let flat = try folder(["1.png": "png-gray8.png"])
        #expect(throws: DatasetError.noClassFolders(directory: flat.path)) { try ImageDataset.loadImageFolder(flat.path, split: .train) }
        let empty = try folder(["a/readme.txt": "npy-y_pair.npy"])
        #expect(throws: DatasetError.emptyDataset(path: empty.path)) { try ImageDataset.loadImageFolder(empty.path, split: .train) }
        #expect(throws: DatasetError.fileNotFound(path: empty.path + "/test")) {
            try FileManager.default.createDirectory(atPath: empty.path + "/train", withIntermediateDirectories: true)
            return try ImageDataset.loadImageFolder(empty.path, split: .test)
        }
    }

    @Test func hugeDeclaredSizesAreRefusedBeforeDecoding() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: corpusFile("png-gray8.png"))))
        // IHDR's width and height (bytes 16…23) set to 60,000 × 60,000, its CRC fixed.
        for (offset, value) in [(16, 60_000), (20, 60_000)] {
            for index in 0..<4 { bytes[offset + index] = UInt8(value >> (8 * (3 - index)) & 0xFF) }
        }
        let crc = ZipArchive.checksum(Array(bytes[12..<29]))
        for index in 0..<4 { bytes[29 + index] = UInt8(crc >> (8 * (3 - UInt32(index))) & 0xFF) }
        #expect {
            try ImageDataset.decodePNG(bytes, path: "huge.png", channels: 1)
        } throws: { error in
            guard case .undecodableImage(_, let reason) = error as? DatasetError else { return false }
            return reason.contains("60000×60000")
        }
    }
}
