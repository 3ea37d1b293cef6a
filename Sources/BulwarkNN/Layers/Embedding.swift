import BulwarkCore

/// A lookup table of learned vectors, PyTorch's `nn.Embedding(vocabularySize, dimension)`.
///
/// `weight` has shape `[vocabularySize, dimension]` (`state_dict` key `weight`). Looking up
/// gathers rows; the gradient scatter-adds back into them, summing over repeated tokens
/// (``Tensor/gathering(atIndices:alongAxis:)``).
public struct Embedding: Layer {
    /// `[vocabularySize, dimension]`.
    public var weight: Tensor
    public var mode: LayerMode = .training

    /// The number of rows.
    public var vocabularySize: Int { weight.shape[0] }
    /// The length of each vector.
    public var dimension: Int { weight.shape[1] }

    /// Creates a table initialized as PyTorch does, every scalar drawn from N(0, 1), except
    /// that row `paddingIndex` (when given) starts at zero, like `padding_idx`.
    public init<G: RandomNumberGenerator>(vocabularySize: Int, dimension: Int, paddingIndex: Int? = 0, using generator: inout G) {
        precondition(vocabularySize >= 1 && dimension >= 1, "Embedding needs a positive vocabulary size and dimension")
        var scalars = Tensor(randomNormal: [vocabularySize, dimension], using: &generator).array
        if let paddingIndex {
            precondition(paddingIndex >= 0 && paddingIndex < vocabularySize, "paddingIndex \(paddingIndex) is outside the table")
            for column in 0..<dimension { scalars[paddingIndex * dimension + column] = 0 }
        }
        weight = Tensor(shape: [vocabularySize, dimension], scalars: scalars)
    }

    /// Creates a table from an existing weight.
    public init(weight: Tensor) {
        precondition(weight.rank == 2, "Embedding weight must be [vocabularySize, dimension], got \(weight.shape)")
        self.weight = weight
    }

    /// Maps token indices of any shape `S` (integral values stored as `Float`) to `S + [dimension]`.
    ///
    /// - Precondition: every index lies in `0..<vocabularySize`.
    public mutating func callAsFunction(_ tokens: Tensor) -> Tensor {
        lookup(tokens)
    }

    /// The vectors of `tokens`, shape `tokens.shape + [dimension]`, without changing the layer.
    public func lookup(_ tokens: Tensor) -> Tensor {
        let indices = tokens.array.map { Int($0) }
        precondition(indices.allSatisfy { $0 >= 0 && $0 < vocabularySize }, "Embedding index out of range 0..<\(vocabularySize)")
        return weight.gathering(atIndices: indices, alongAxis: 0).reshaped(to: tokens.shape + [dimension])
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        visitor("weight", &weight)
    }
}
