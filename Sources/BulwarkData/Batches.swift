import BulwarkCore

extension ImageDataset {
    /// The batches of one pass (epoch) over a dataset, built on access.
    ///
    /// Every example appears in exactly one batch; all batches hold ``batchSize`` examples
    /// except possibly the last, which holds the remainder (it is kept, not dropped). Batches
    /// are gathered when subscripted, so iterating holds one batch in memory at a time; the
    /// collection itself is a cheap value (the dataset's storage is shared, not copied).
    public struct Batches: RandomAccessCollection, Sendable {
        /// The dataset batched.
        private let dataset: ImageDataset
        /// The number of examples in every batch but possibly the last.
        public let batchSize: Int
        /// The dataset positions in the order the batches visit them: a permutation of
        /// `0..<dataset.count`, identity when unshuffled.
        public let order: [Int]
        /// Whether ``order`` is the identity, so each batch is one contiguous copy.
        private let isSequential: Bool

        init(dataset: ImageDataset, batchSize: Int, order: [Int]?) {
            precondition(batchSize > 0, "batch size must be positive, got \(batchSize)")
            self.dataset = dataset
            self.batchSize = batchSize
            self.order = order ?? Array(0..<dataset.count)
            self.isSequential = order == nil
        }

        /// The position of the first batch: 0.
        public var startIndex: Int { 0 }

        /// One past the position of the last batch: ⌈count / batchSize⌉.
        public var endIndex: Int { (order.count + batchSize - 1) / batchSize }

        /// The batch at `position`.
        ///
        /// - Precondition: `position` lies in `startIndex..<endIndex`.
        /// - Complexity: O(*k*) in the scalars of the batch; each image is one `memcpy`.
        public subscript(position: Int) -> Batch {
            precondition(
                position >= startIndex && position < endIndex,
                "batch \(position) is out of bounds for \(endIndex) batches")
            let start = position * batchSize
            let end = Swift.min(start + batchSize, order.count)
            if isSequential {
                let slice = dataset.slice(start..<end)
                return Batch(inputs: slice.images, labels: slice.labels)
            }
            return dataset.batch(at: order[start..<end])
        }
    }

    /// The dataset in batches of `size`, in order.
    ///
    /// - Parameter size: The number of examples per batch; the last batch holds the
    ///   remainder. Must be positive.
    public func batches(ofSize size: Int) -> Batches {
        Batches(dataset: self, batchSize: size, order: nil)
    }

    /// The dataset in batches of `size`, in an order shuffled with `generator`.
    ///
    /// The permutation is drawn once, when this is called (Fisher–Yates on `0..<count`),
    /// advancing `generator`; the same generator state always gives the same batches.
    /// Call it once per epoch with the same generator for a fresh order each epoch.
    ///
    /// - Parameters:
    ///   - size: The number of examples per batch; the last batch holds the remainder.
    ///     Must be positive.
    ///   - generator: The source of randomness, for example a ``SplitMix64``.
    public func batches<Generator: RandomNumberGenerator>(
        ofSize size: Int, shuffledUsing generator: inout Generator
    ) -> Batches {
        let order = Array(0..<count).shuffled(seededBy: &generator)
        return Batches(dataset: self, batchSize: size, order: order)
    }

    /// The examples at `positions`, in that order, as one batch.
    ///
    /// - Precondition: every position lies in `0..<count`.
    /// - Complexity: O(*k*) in the scalars gathered; each image is one `memcpy`.
    public func batch(at positions: some Collection<Int>) -> Batch {
        let row = scalarsPerImage
        let batchCount = positions.count
        var labels = [Int32]()
        labels.reserveCapacity(batchCount)
        for position in positions {
            precondition(
                position >= 0 && position < count,
                "position \(position) is out of bounds for a dataset of \(count) examples")
            labels.append(self.labels[position])
        }
        let source = images.array
        let scalars = [Float](unsafeUninitializedCapacity: batchCount * row) { buffer, initializedCount in
            source.withUnsafeBufferPointer { sourceBuffer in
                guard let destination = buffer.baseAddress, let origin = sourceBuffer.baseAddress else {
                    return
                }
                for (offset, position) in positions.enumerated() {
                    (destination + offset * row).initialize(from: origin + position * row, count: row)
                }
            }
            initializedCount = batchCount * row
        }
        return Batch(inputs: Tensor(shape: [batchCount] + imageShape, scalars: scalars), labels: labels)
    }
}
