import BulwarkCore
import BulwarkData
import BulwarkNN
import BulwarkReport
import BulwarkRun
import BulwarkTraining
import Foundation
import Testing
import _TestSupport

/// Runs on the user's own data: selecting it, recording it, and reading attack output as data.
@Suite struct DataSelectionTests {
    /// `count` images of `shape` with pixels `(index % 97) / 97` and labels `index % classes`,
    /// written as an .npy pair `x_NAME.npy`, `y_NAME.npy`; returns the images' path.
    static func npyPair(in scratch: TemporaryDirectory, _ name: String, count: Int, shape: [Int] = [1, 28, 28], classes: Int = 3) throws -> String {
        let scalars = (0..<(count * shape.reduce(1, *))).map { Float($0 % 97) / 97 }
        _ = try scratch.write(NumPyArray.int64Bytes((0..<count).map { $0 % classes }), to: "y_\(name).npy")
        return try scratch.write(NumPyArray.float32Bytes(Tensor(shape: [count] + shape, scalars: scalars)), to: "x_\(name).npy")
    }

    /// A run of `epochs` of Fast-AT on an MLP, batches of 4, on `trainingImages` images of an
    /// .npy pair in `scratch` (4 held out for validation), evaluated on 4 test images of another.
    static func smallRun(in scratch: TemporaryDirectory, trainingImages: Int, epochs: Int) throws -> ImageTrainingConfiguration {
        var configuration = ImageTrainingConfiguration()
        configuration.dataPath = try npyPair(in: scratch, "train", count: trainingImages)
        configuration.testDataPath = try npyPair(in: scratch, "test", count: 4)
        (configuration.architecture, configuration.method, configuration.epochs, configuration.batchSize) = (.mlp, .fast, epochs, 4)
        (configuration.validationCount, configuration.validationSteps, configuration.finalEvaluationCount) = (4, 0, 4)
        return configuration
    }

    @Test func selectionsWrittenBeforeDataPathsStillDecode() throws {
        let old = try JSONDecoder().decode(ImageDataSelection.self, from: Data(#"{"dataset":"mnist","dataDirectory":"/data"}"#.utf8))
        #expect(old == ImageDataSelection(dataset: .mnist, dataDirectory: "/data"))
        #expect(old.dataPath == nil && old.testDataPath == nil && old.imageLayout == nil)
        let encoded = String(decoding: try JSONEncoder().encode(old), as: UTF8.self)
        #expect(!encoded.contains("dataPath") && !encoded.contains("imageLayout"))
        let new = ImageDataSelection(dataPath: "/d/train.npz", testDataPath: "/d/test.npz", imageLayout: .channelsLast)
        #expect(try JSONDecoder().decode(ImageDataSelection.self, from: JSONEncoder().encode(new)) == new)
    }

    @Test func aFileIsTheSplitAskedForUnlessTheTestSplitHasItsOwn() throws {
        let scratch = try TemporaryDirectory()
        let train = try Self.npyPair(in: scratch, "train", count: 5)
        let test = try Self.npyPair(in: scratch, "test", count: 2)
        let one = ImageDataSelection(dataPath: train)
        #expect(try one.load(.train).count == 5 && one.load(.test).count == 5)
        let two = ImageDataSelection(dataPath: train, testDataPath: test)
        #expect(try two.load(.train).count == 5 && two.load(.test, limit: 1).count == 1)
        #expect(two.dataName == "x_train.npy")
    }

    @Test func conflictingFieldsAreNamed() throws {
        for (selection, field) in [
            (ImageDataSelection(dataset: .mnist, dataPath: "/d.npz"), "dataset"),
            (ImageDataSelection(dataDirectory: "/d", dataPath: "/d.npz"), "dataDirectory"),
            (ImageDataSelection(testDataPath: "/t.npz"), "testDataPath"),
            (ImageDataSelection(imageLayout: .channelsLast), "imageLayout"),
        ] {
            #expect(throws: ConfigurationError.self) { try selection.load(.train) }
            let error = #expect(throws: ConfigurationError.self) { try selection.validate() }
            #expect(error?.parts.contains(.field(field)) == true, "\(String(describing: error))")
        }
        #expect(throws: DatasetError.unsupportedFormat(path: "/dev/null")) { try ImageDataSelection(dataPath: "/dev/null").load(.train) }
    }

    @Test func evaluationDefaultsToTheRecordedDataPath() throws {
        let configuration = #"{"data_path":"/d/x_train.npy","test_data_path":"/d/x_test.npy","image_layout":"nhwc"}"#
        let metadata = ["configuration": configuration]
        let (selection, note) = ImageDataSelection().matching(checkpointMetadata: metadata)
        #expect(note == nil)
        #expect(selection == ImageDataSelection(dataPath: "/d/x_train.npy", testDataPath: "/d/x_test.npy", imageLayout: .channelsLast))
        let (chosen, differs) = ImageDataSelection(dataset: .fashionMNIST).matching(checkpointMetadata: metadata)
        #expect(chosen == ImageDataSelection(dataset: .fashionMNIST))
        #expect(differs?.parts.contains(.field("dataset")) == true)
        let (other, otherNote) = ImageDataSelection(dataPath: "/e.npz").matching(checkpointMetadata: ["configuration": #"{"dataset":"mnist"}"#])
        #expect(other == ImageDataSelection(dataPath: "/e.npz") && otherNote?.parts.contains(.field("dataPath")) == true)
    }

    @Test func aRunOnAFileRecordsItsPathForEvaluation() throws {
        let scratch = try TemporaryDirectory()
        let configuration = try Self.smallRun(in: scratch, trainingImages: 12, epochs: 1)
        let decoded = try JSONDecoder().decode(ImageTrainingConfiguration.self, from: JSONEncoder().encode(configuration))
        #expect(decoded.dataSelection == configuration.dataSelection && decoded.architecture == .mlp)
        #expect(!String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self).contains("\"dataset\""))

        let out = scratch.path + "/run"
        let job = try ImageTrainingJob(configuration: configuration, outputDirectory: out, command: "test")
        let data = try job.loadData()
        #expect(data.training.count == 8 && data.training.classCount == 3)
        let outcome = try job.run(on: data) { _ in }
        #expect(outcome.finalEvaluation != nil, "\(outcome.finalEvaluationSkipped ?? "")")
        let metadata = try Checkpoint.load(from: out + "/" + RunFile.model).metadata
        let (selection, note) = ImageDataSelection().matching(checkpointMetadata: metadata)
        #expect(note == nil)
        #expect(selection == ImageDataSelection(dataPath: configuration.dataPath, testDataPath: configuration.testDataPath))
        #expect(try selection.load(.test).count == 4)
    }

    @Test func attackOutputReadsAsItsAdversarialImagesWithTrueLabels() throws {
        let scratch = try TemporaryDirectory()
        let clean = Tensor(shape: [3, 1, 2, 2], scalars: (0..<12).map { Float($0) / 12 })
        let adversarial = Tensor(shape: [3, 1, 2, 2], scalars: (0..<12).map { Float(11 - $0) / 12 })
        let file = AdversarialExampleFile(
            clean: clean, adversarial: adversarial, labels: [4, 0, 9], cleanPredictions: [4, 0, 9],
            adversarialPredictions: [1, 0, 2], metadata: ["dataset": "cifar10"])
        let path = scratch.path + "/adv.safetensors"
        try file.writeSafeTensors(to: path)
        let dataset = try ImageDataSelection(dataPath: path).load(.test)
        #expect(dataset.images == adversarial)
        #expect(dataset.labels == [4, 0, 9])
        #expect(dataset.classCount == 10 && dataset.classNames == ImageDatasetName.cifar10.classNames)
    }

    @Test func pngFolderWrittenByTheReportWriterRoundTrips() throws {
        let scratch = try TemporaryDirectory()
        var expected = [Float]()
        for (label, name) in ["bird", "cat"].enumerated() {
            try FileManager.default.createDirectory(atPath: scratch.path + "/train/" + name, withIntermediateDirectories: true)
            for index in 0..<2 {
                let pixels = (0..<(3 * 4 * 5)).map { UInt8(($0 * 7 + label * 50 + index * 13) % 256) }
                let image = try PNGImage(width: 5, height: 4, colorType: .rgb, pixels: pixels)
                _ = try scratch.write(try image.encoded(), to: "train/\(name)/\(index).png")
                // The writer interleaves channels; the dataset is channels-first.
                expected += (0..<3).flatMap { channel in (0..<20).map { Float(pixels[$0 * 3 + channel]) / 255 } }
            }
        }
        let dataset = try ImageDataSelection(dataPath: scratch.path).load(.train)
        #expect(dataset.images.shape == [4, 3, 4, 5] && dataset.images.array == expected)
        #expect(dataset.labels == [0, 0, 1, 1] && dataset.classNames == ["bird", "cat"])
    }
}
