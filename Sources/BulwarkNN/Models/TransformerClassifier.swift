import BulwarkCore

/// Multi-head scaled dot-product self-attention (Vaswani et al. 2017), PyTorch's
/// `nn.MultiheadAttention(size, heads, batch_first=True)` with a key padding mask.
public struct MultiHeadSelfAttention: Layer {
    /// `[3·size, size]`: the query, key and value projections stacked (`in_proj_weight`).
    public var inputProjectionWeight: Tensor
    /// `[3·size]` (`in_proj_bias`), initialized to zero as in PyTorch.
    public var inputProjectionBias: Tensor
    /// The output projection (`out_proj`), bias initialized to zero as in PyTorch.
    public var outputProjection: Linear
    /// The number of heads; it divides the size.
    public let heads: Int
    public var mode: LayerMode = .training

    /// Creates the layer: projections Xavier-uniform as in PyTorch.
    public init<G: RandomNumberGenerator>(size: Int, heads: Int, using generator: inout G) {
        precondition(heads >= 1 && size % heads == 0, "the size \(size) must be a multiple of the \(heads) heads")
        let bound = (6 / Float(size + 3 * size)).squareRoot()
        inputProjectionWeight = Tensor(randomUniform: [3 * size, size], in: -bound...bound, using: &generator)
        inputProjectionBias = Tensor(zeros: [3 * size])
        outputProjection = Linear(inputSize: size, outputSize: size, using: &generator)
        outputProjection.bias = Tensor(zeros: [size])
        self.heads = heads
    }

    /// Self-attention over `[count, length, size]` without a mask.
    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        attend(input, mask: Tensor(repeating: 1, shape: Array(input.shape.prefix(2))))
    }

    /// Self-attention over `input` `[count, length, size]` where each position attends only to
    /// the keys with `mask` `[count, length]` equal to 1: `softmax(Q·Kᵀ/√d + M)·V` per head,
    /// `M` = −10⁹ at padding keys, then the output projection.
    public func attend(_ input: Tensor, mask: Tensor) -> Tensor {
        let (count, length, size) = (input.shape[0], input.shape[1], input.shape[2])
        let headSize = size / heads
        let projected = linear(input.reshaped(to: [count * length, size]), weight: inputProjectionWeight, bias: inputProjectionBias)
            .reshaped(to: [count, length, 3, heads, headSize])
        func split(_ index: Int) -> Tensor {
            projected.slice(alongAxis: 2, index..<(index + 1)).reshaped(to: [count, length, heads, headSize])
                .transposed(permutation: [0, 2, 1, 3]).reshaped(to: [count * heads, length, headSize])
        }
        let (query, key, value) = (split(0), split(1), split(2))
        let penalty = Tensor(shape: [count, 1, 1, length], scalars: mask.array.map { $0 == 0 ? -1e9 : 0 })
        let scores = (batchedMatmul(query, key, transposeRHS: true) * (1 / Float(headSize).squareRoot()))
            .reshaped(to: [count, heads, length, length]) + penalty
        let weights = softmax(scores).reshaped(to: [count * heads, length, length])
        let attended = batchedMatmul(weights, value).reshaped(to: [count, heads, length, headSize])
            .transposed(permutation: [0, 2, 1, 3]).reshaped(to: [count * length, size])
        return linear(attended, weight: outputProjection.weight, bias: outputProjection.bias).reshaped(to: [count, length, size])
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        visitor("in_proj_weight", &inputProjectionWeight)
        visitor("in_proj_bias", &inputProjectionBias)
        outputProjection.visitParameters { visitor("out_proj." + $0, &$1) }
    }
}

/// One post-norm Transformer encoder layer, PyTorch's `nn.TransformerEncoderLayer(size, heads,
/// feedforwardSize, dropout=0.0, activation="gelu", batch_first=True)`:
/// `x ← norm1(x + attention(x))`, `x ← norm2(x + linear2(gelu(linear1(x))))` (GELU in its tanh
/// form, see ``gelu(_:)``).
public struct TransformerEncoderLayer: Layer {
    /// The self-attention (`self_attn`).
    public var selfAttention: MultiHeadSelfAttention
    /// The first feed-forward layer (`linear1`).
    public var linear1: Linear
    /// The second feed-forward layer (`linear2`).
    public var linear2: Linear
    /// The normalization after attention (`norm1`).
    public var norm1: LayerNorm
    /// The normalization after the feed-forward block (`norm2`).
    public var norm2: LayerNorm
    public var mode: LayerMode = .training

    /// Creates a layer initialized as PyTorch does.
    public init<G: RandomNumberGenerator>(size: Int, heads: Int, feedforwardSize: Int, using generator: inout G) {
        selfAttention = MultiHeadSelfAttention(size: size, heads: heads, using: &generator)
        linear1 = Linear(inputSize: size, outputSize: feedforwardSize, using: &generator)
        linear2 = Linear(inputSize: feedforwardSize, outputSize: size, using: &generator)
        norm1 = LayerNorm(size: size)
        norm2 = LayerNorm(size: size)
    }

    /// The layer without a padding mask.
    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        encode(input, mask: Tensor(repeating: 1, shape: Array(input.shape.prefix(2))))
    }

    /// The layer over `[count, length, size]`, attending only to keys where `mask` is 1.
    public func encode(_ input: Tensor, mask: Tensor) -> Tensor {
        let (count, length, size) = (input.shape[0], input.shape[1], input.shape[2])
        var (first, second) = (norm1, norm2)
        var (inner, outer) = (linear1, linear2)
        let attended = first(input + selfAttention.attend(input, mask: mask)).reshaped(to: [count * length, size])
        return second(attended + outer(gelu(inner(attended)))).reshaped(to: [count, length, size])
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        selfAttention.visitParameters { visitor("self_attn." + $0, &$1) }
        linear1.visitParameters { visitor("linear1." + $0, &$1) }
        linear2.visitParameters { visitor("linear2." + $0, &$1) }
        norm1.visitParameters { visitor("norm1." + $0, &$1) }
        norm2.visitParameters { visitor("norm2." + $0, &$1) }
    }
}

/// A small Transformer encoder classifier: word embeddings plus learned positions, a stack of
/// post-norm encoder layers with attention masking of padding, the mean of the real tokens'
/// final states, dropout and a linear layer.
///
/// ``embed(_:)`` returns the word embeddings only; positions are added in
/// ``classify(_:mask:)``, so an embedding-space perturbation, as in FreeLB, is added to the
/// word embeddings before the positions. Parameters match PyTorch's
/// ```
/// class Transformer(nn.Module):
///     def __init__(self, V, D, H, F, L, C, T, p=0.1):
///         super().__init__()
///         self.embedding = nn.Embedding(V, D, padding_idx=0)
///         self.positions = nn.Embedding(T, D)
///         layer = nn.TransformerEncoderLayer(D, H, F, dropout=0.0, activation="gelu", batch_first=True)
///         self.encoder = nn.TransformerEncoder(layer, L)
///         self.dropout = nn.Dropout(p)
///         self.fc = nn.Linear(D, C)
/// ```
/// with GELU in its tanh form (`embedding.weight`, `positions.weight`,
/// `encoder.layers.0.self_attn.in_proj_weight`, …, `fc.bias`).
public struct TransformerClassifier: TextClassifier {
    /// The word vectors.
    public var embedding: Embedding
    /// The learned position vectors, `[maximumLength, dimension]`.
    public var positions: Embedding
    /// The encoder layers.
    public var layers: [TransformerEncoderLayer]
    /// Dropout on the pooled state.
    public var dropout: Dropout
    /// The output layer.
    public var fc: Linear
    /// The layer's mode; dropout follows it.
    public var mode: LayerMode = .training {
        didSet { dropout.mode = mode }
    }

    /// The longest sequence the positions cover.
    public var maximumLength: Int { positions.vocabularySize }

    /// Creates a classifier initialized as PyTorch does.
    public init<G: RandomNumberGenerator>(
        vocabularySize: Int, dimension: Int, heads: Int, feedforwardSize: Int, layerCount: Int, classCount: Int,
        maximumLength: Int, dropoutProbability: Float = 0.1, using generator: inout G
    ) {
        precondition(layerCount >= 1 && maximumLength >= 1, "a Transformer needs at least one layer and one position")
        embedding = Embedding(vocabularySize: vocabularySize, dimension: dimension, using: &generator)
        positions = Embedding(vocabularySize: maximumLength, dimension: dimension, paddingIndex: nil, using: &generator)
        layers = (0..<layerCount).map { _ in TransformerEncoderLayer(size: dimension, heads: heads, feedforwardSize: feedforwardSize, using: &generator) }
        dropout = Dropout(probability: dropoutProbability, seed: generator.next())
        fc = Linear(inputSize: dimension, outputSize: classCount, using: &generator)
    }

    public func embed(_ tokens: Tensor) -> Tensor {
        maskingPadding(embedding.lookup(tokens), mask: paddingMask(tokens))
    }

    /// - Precondition: the sequence is at most ``maximumLength`` tokens long.
    public mutating func classify(_ embedded: Tensor, mask: Tensor) -> Tensor {
        let length = embedded.shape[1]
        precondition(length <= maximumLength, "sequences of \(length) tokens exceed the \(maximumLength) learned positions; truncate them")
        var hidden = maskingPadding(embedded, mask: mask) + positions.weight.slice(alongAxis: 0, 0..<length)
        for layer in layers { hidden = layer.encode(hidden, mask: mask) }
        return fc(dropout(maskedMean(hidden, mask: mask)))
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        embedding.visitParameters { visitor("embedding." + $0, &$1) }
        positions.visitParameters { visitor("positions." + $0, &$1) }
        for index in layers.indices {
            layers[index].visitParameters { visitor("encoder.layers.\(index)." + $0, &$1) }
        }
        fc.visitParameters { visitor("fc." + $0, &$1) }
    }

    public mutating func visitGenerators(_ visitor: (String, inout SplitMix64) -> Void) {
        dropout.visitGenerators { visitor("dropout." + $0, &$1) }
    }
}
