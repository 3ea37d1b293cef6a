import BulwarkCore

/// The mean-of-embeddings classifier (fastText-style bag of words without n-grams; Joulin et
/// al. 2017): the average of the real tokens' vectors, then one linear layer.
///
/// Parameters match PyTorch's
/// ```
/// class Bag(nn.Module):
///     def __init__(self, V, D, C):
///         super().__init__()
///         self.embedding = nn.Embedding(V, D, padding_idx=0)
///         self.fc = nn.Linear(D, C)
/// ```
/// (`embedding.weight`, `fc.weight`, `fc.bias`).
public struct EmbeddingBagClassifier: TextClassifier {
    /// The token vectors.
    public var embedding: Embedding
    /// The output layer.
    public var fc: Linear
    public var mode: LayerMode = .training

    /// Creates a classifier initialized as PyTorch does.
    public init<G: RandomNumberGenerator>(vocabularySize: Int, dimension: Int, classCount: Int, using generator: inout G) {
        embedding = Embedding(vocabularySize: vocabularySize, dimension: dimension, using: &generator)
        fc = Linear(inputSize: dimension, outputSize: classCount, using: &generator)
    }

    public func embed(_ tokens: Tensor) -> Tensor {
        maskingPadding(embedding.lookup(tokens), mask: paddingMask(tokens))
    }

    public mutating func classify(_ embedded: Tensor, mask: Tensor) -> Tensor {
        fc(maskedMean(embedded, mask: mask))
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        embedding.visitParameters { visitor("embedding." + $0, &$1) }
        fc.visitParameters { visitor("fc." + $0, &$1) }
    }
}
