import BulwarkCore

/// Token-index sequences with labels, ready to be padded into batches.
///
/// A batch is a ``Batch`` whose `inputs` are token indices stored as `Float` (exact below
/// 2²⁴), shape `[count, length]`, padded with ``Vocabulary/paddingIndex`` (0) after each
/// sequence; the length of a row is its number of non-padding tokens (see
/// ``sequenceLengths(ofPadded:)``), since real tokens are never index 0.
public struct EncodedTextDataset: Sendable {
    /// The token indices of each example, without padding.
    public var sequences: [[Int32]]
    /// The class of each example.
    public var labels: [Int32]
    /// The name of each class, indexed by label.
    public var classNames: [String]

    /// The number of examples.
    public var count: Int { labels.count }

    /// Tokenizes and encodes `dataset`, truncating each sequence to `maximumLength` tokens.
    public init(_ dataset: TextDataset, vocabulary: Vocabulary, tokenizer: WordTokenizer = WordTokenizer(), maximumLength: Int? = nil) {
        precondition(maximumLength.map { $0 >= 1 } ?? true, "maximumLength must be at least 1")
        sequences = dataset.texts.map { text in
            let indices = vocabulary.encode(tokenizer.tokenize(text))
            return maximumLength.map { Array(indices.prefix($0)) } ?? indices
        }
        labels = dataset.labels
        classNames = dataset.classNames
    }

    /// Creates a dataset from encoded sequences.
    public init(sequences: [[Int32]], labels: [Int32], classNames: [String]) {
        precondition(sequences.count == labels.count, "EncodedTextDataset has \(sequences.count) sequences but \(labels.count) labels")
        precondition(sequences.allSatisfy { $0.allSatisfy { $0 != Vocabulary.paddingIndex } }, "sequences must not contain the padding index")
        self.sequences = sequences
        self.labels = labels
        self.classNames = classNames
    }

    /// The batches in order; each is padded to its longest sequence, and to at least
    /// `minimumLength` (a TextCNN needs its widest filter).
    public func batches(ofSize batchSize: Int, minimumLength: Int = 1) -> [Batch] {
        precondition(batchSize >= 1, "batchSize must be at least 1")
        return stride(from: 0, to: count, by: batchSize).map {
            batch(Array($0..<Swift.min($0 + batchSize, count)), minimumLength: minimumLength)
        }
    }

    /// The batches of a shuffled order drawn from `generator`.
    ///
    /// With `bucketed`, examples are sorted by length within pools of 50 batches before they
    /// are cut into batches, and the batches are shuffled again, so a batch holds sequences
    /// of similar length and wastes little padding while the order stays random.
    public func batches<G: RandomNumberGenerator>(ofSize batchSize: Int, minimumLength: Int = 1, bucketed: Bool = false, shuffledUsing generator: inout G) -> [Batch] {
        precondition(batchSize >= 1, "batchSize must be at least 1")
        let order = Array(0..<count).shuffled(seededBy: &generator)
        guard bucketed else {
            return stride(from: 0, to: count, by: batchSize).map {
                batch(Array(order[$0..<Swift.min($0 + batchSize, count)]), minimumLength: minimumLength)
            }
        }
        var groups = [[Int]]()
        let pool = batchSize * 50
        for start in stride(from: 0, to: count, by: pool) {
            // Stable order for equal lengths keeps the result a function of the generator.
            let sorted = order[start..<Swift.min(start + pool, count)].enumerated()
                .sorted { (sequences[$0.element].count, $0.offset) < (sequences[$1.element].count, $1.offset) }
                .map(\.element)
            for batchStart in stride(from: 0, to: sorted.count, by: batchSize) {
                groups.append(Array(sorted[batchStart..<Swift.min(batchStart + batchSize, sorted.count)]))
            }
        }
        return groups.shuffled(seededBy: &generator).map { batch($0, minimumLength: minimumLength) }
    }

    /// The examples at `indices` as one padded batch.
    public func batch(_ indices: [Int], minimumLength: Int = 1) -> Batch {
        Batch(inputs: paddedTokens(indices.map { sequences[$0] }, minimumLength: minimumLength), labels: indices.map { labels[$0] })
    }
}

/// Token sequences padded with ``Vocabulary/paddingIndex`` after their end into a
/// `[count, length]` tensor, `length` being the longest sequence or `minimumLength`.
public func paddedTokens(_ sequences: [[Int32]], minimumLength: Int = 1) -> Tensor {
    let length = Swift.max(minimumLength, sequences.map(\.count).max() ?? 0)
    var scalars = [Float](repeating: Float(Vocabulary.paddingIndex), count: sequences.count * length)
    for (row, sequence) in sequences.enumerated() {
        for (column, token) in sequence.enumerated() { scalars[row * length + column] = Float(token) }
    }
    return Tensor(shape: [sequences.count, length], scalars: scalars)
}

/// The number of non-padding tokens in each row of a `[count, length]` token tensor.
public func sequenceLengths(ofPadded tokens: Tensor) -> [Int] {
    precondition(tokens.rank == 2, "token tensors are [count, length], got \(tokens.shape)")
    let length = tokens.shape[1]
    let scalars = tokens.array
    return (0..<tokens.shape[0]).map { row in
        (0..<length).reduce(0) { $0 + (scalars[row * length + $1] != Float(Vocabulary.paddingIndex) ? 1 : 0) }
    }
}
