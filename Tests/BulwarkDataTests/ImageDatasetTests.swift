import BulwarkCore
import BulwarkData
import Testing

/// A dataset of `count` 2 × 3 images where every pixel of image `i` equals `i`, label `i % 4`.
func indexedDataset(count: Int) -> ImageDataset {
    let scalars = (0..<count).flatMap { [Float](repeating: Float($0), count: 6) }
    return ImageDataset(
        images: Tensor(shape: [count, 1, 2, 3], scalars: scalars),
        labels: (0..<count).map { Int32($0 % 4) }, classCount: 4)
}

/// The image indices of an indexed dataset's batch, read from the first pixel of each image.
func imageIndices(of batch: Batch) -> [Int] {
    let row = batch.inputs.shape.dropFirst().reduce(1, *)
    return (0..<batch.count).map { Int(batch.inputs.array[$0 * row]) }
}

@Suite("ImageDataset")
struct ImageDatasetTests {
    @Test func prefixTakesLeadingExamples() {
        let dataset = indexedDataset(count: 10)
        let prefix = dataset.prefix(3)
        #expect(prefix.count == 3)
        #expect(prefix.images.shape == [3, 1, 2, 3])
        #expect(prefix.labels == [0, 1, 2])
        #expect(prefix.images.array == (0..<3).flatMap { [Float](repeating: Float($0), count: 6) })
        #expect(prefix.classCount == 4)
        #expect(dataset.prefix(50).count == 10)
        #expect(dataset.prefix(0).images.shape == [0, 1, 2, 3])
    }

    @Test func sliceTakesTheRange() {
        let dataset = indexedDataset(count: 10)
        let slice = dataset.slice(4..<7)
        #expect(slice.labels == [0, 1, 2])
        #expect(slice.images.array == (4..<7).flatMap { [Float](repeating: Float($0), count: 6) })
        #expect(slice.classNames == ["0", "1", "2", "3"])
    }
}
