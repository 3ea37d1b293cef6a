import BulwarkCore
import BulwarkData
import Foundation
import Testing

private let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"
private let mnistDirectory = "/work/shared/data/mnist"

/// How many labels of each class `dataset` holds.
private func classCounts(_ dataset: ImageDataset) -> [Int] {
    var counts = [Int](repeating: 0, count: dataset.classCount)
    for label in dataset.labels { counts[Int(label)] += 1 }
    return counts
}

@Suite("Real datasets")
struct RealDataTests {
    @Test(
        "Fashion-MNIST test split: 10,000 images of 28 × 28, pixels in [0, 1], 1,000 per class",
        .enabled(
            if: FileManager.default.fileExists(atPath: fashionMNISTDirectory),
            "Fashion-MNIST is not installed in \(fashionMNISTDirectory) (Debian package dataset-fashion-mnist)"))
    func fashionMNISTTestSplit() throws {
        let dataset = try ImageDataset.load(.fashionMNIST, split: .test)
        #expect(dataset.count == 10_000)
        #expect(dataset.images.shape == [10_000, 1, 28, 28])
        let pixels = dataset.images.array
        let minimum = try #require(pixels.min())
        let maximum = try #require(pixels.max())
        #expect(minimum == 0)
        #expect(maximum == 1)
        #expect(classCounts(dataset) == [Int](repeating: 1_000, count: 10))
        #expect(dataset.classNames[9] == "Ankle boot")
    }

    @Test(
        "MNIST test split: the published per-digit counts",
        .enabled(
            if: FileManager.default.fileExists(atPath: mnistDirectory),
            "MNIST is not available in \(mnistDirectory)"))
    func mnistTestLabels() throws {
        let dataset = try ImageDataset.load(.mnist, split: .test, directory: mnistDirectory)
        #expect(dataset.images.shape == [10_000, 1, 28, 28])
        #expect(classCounts(dataset) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    }
}
