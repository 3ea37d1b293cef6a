import BulwarkCore
import BulwarkData
import Testing

@Suite("Batches")
struct BatchesTests {
    @Test(arguments: [1, 3, 10, 32, 100])
    func unshuffledBatchesAreInOrderWithPartialLastBatch(size: Int) {
        let dataset = indexedDataset(count: 10)
        let batches = dataset.batches(ofSize: size)
        #expect(batches.count == (10 + size - 1) / size)
        #expect(batches.map(\.count) == stride(from: 0, to: 10, by: size).map { min(size, 10 - $0) })
        #expect(batches.flatMap(imageIndices) == Array(0..<10))
        #expect(batches.order == Array(0..<10))
    }

    @Test(arguments: [1, 7, 64, 1000])
    func shuffledBatchesCoverEveryIndexExactlyOnce(size: Int) {
        let dataset = indexedDataset(count: 1000)
        var generator = SplitMix64(seed: 42)
        let batches = dataset.batches(ofSize: size, shuffledUsing: &generator)
        let visited = batches.flatMap(imageIndices)
        #expect(visited.count == 1000)
        #expect(Set(visited) == Set(0..<1000))
        #expect(visited == batches.order)
        #expect(visited != Array(0..<1000))
        #expect(batches.last?.count == (1000 % size == 0 ? size : 1000 % size))
        for batch in batches {
            // Labels travel with their images.
            #expect(batch.labels == imageIndices(of: batch).map { Int32($0 % 4) })
            #expect(batch.inputs.shape == [batch.count, 1, 2, 3])
        }
    }

    @Test func shuffleIsDeterministicForASeedAndDiffersAcrossSeeds() {
        let dataset = indexedDataset(count: 200)
        var first = SplitMix64(seed: 7)
        var second = SplitMix64(seed: 7)
        var other = SplitMix64(seed: 8)
        let a = dataset.batches(ofSize: 16, shuffledUsing: &first).flatMap(imageIndices)
        let b = dataset.batches(ofSize: 16, shuffledUsing: &second).flatMap(imageIndices)
        let c = dataset.batches(ofSize: 16, shuffledUsing: &other).flatMap(imageIndices)
        #expect(a == b)
        #expect(a != c)
        #expect(first == second)
    }

    @Test func successiveEpochsWithOneGeneratorDiffer() {
        let dataset = indexedDataset(count: 100)
        var generator = SplitMix64(seed: 1)
        let epoch1 = dataset.batches(ofSize: 10, shuffledUsing: &generator).order
        let epoch2 = dataset.batches(ofSize: 10, shuffledUsing: &generator).order
        #expect(epoch1 != epoch2)
        #expect(Set(epoch2) == Set(0..<100))
    }

    @Test func batchGathersGivenPositions() {
        let dataset = indexedDataset(count: 10)
        let batch = dataset.batch(at: [9, 0, 4, 4])
        #expect(imageIndices(of: batch) == [9, 0, 4, 4])
        #expect(batch.labels == [1, 0, 0, 0])
        #expect(dataset.batch(at: [Int]()).inputs.shape == [0, 1, 2, 3])
    }

    @Test func emptyDatasetHasNoBatches() {
        let dataset = indexedDataset(count: 0)
        #expect(dataset.batches(ofSize: 8).isEmpty)
        var generator = SplitMix64(seed: 3)
        #expect(dataset.batches(ofSize: 8, shuffledUsing: &generator).isEmpty)
    }
}
