import BulwarkCore

/// The convolutional sentence classifier of Kim (2014), "Convolutional Neural Networks for
/// Sentence Classification": filters of several widths slide over the embedded sequence, each
/// feature map goes through ReLU and max-over-time pooling (over the positions whose window
/// starts inside the sentence), the pooled features go through dropout and one linear layer.
///
/// Kim's convolution of width `w` over `[length, dimension]` is a 2-D convolution of a
/// `[count, 1, length, dimension]` input with a `[filters, 1, w, dimension]` kernel. Kim's
/// defaults: widths 3, 4, 5 with 100 filters each, dropout 0.5. Parameters match PyTorch's
/// ```
/// class TextCNN(nn.Module):
///     def __init__(self, V, D, C, widths=(3, 4, 5), F=100, p=0.5):
///         super().__init__()
///         self.embedding = nn.Embedding(V, D, padding_idx=0)
///         self.convs = nn.ModuleList([nn.Conv2d(1, F, (w, D)) for w in widths])
///         self.dropout = nn.Dropout(p)
///         self.fc = nn.Linear(len(widths) * F, C)
/// ```
/// (`embedding.weight`, `convs.0.weight`, `convs.0.bias`, …, `fc.weight`, `fc.bias`).
/// Sequences shorter than the widest filter are padded with zeros inside the model.
public struct TextCNN: TextClassifier {
    /// The token vectors.
    public var embedding: Embedding
    /// One `[filters, 1, width, dimension]` kernel per width.
    public var convolutionWeights: [Tensor]
    /// One `[filters]` bias per width.
    public var convolutionBiases: [Tensor]
    /// Dropout on the pooled features.
    public var dropout: Dropout
    /// The output layer.
    public var fc: Linear
    /// The layer's mode; dropout follows it.
    public var mode: LayerMode = .training {
        didSet { dropout.mode = mode }
    }

    /// The filter widths, in order.
    public var widths: [Int] { convolutionWeights.map { $0.shape[2] } }

    /// Creates a TextCNN initialized as PyTorch does (convolutions and the linear layer
    /// uniform in `±1/√fanIn`, embeddings N(0, 1) with a zero padding row); dropout masks
    /// come from a generator split off `generator`.
    public init<G: RandomNumberGenerator>(
        vocabularySize: Int, dimension: Int, classCount: Int, widths: [Int] = [3, 4, 5], filters: Int = 100,
        dropoutProbability: Float = 0.5, using generator: inout G
    ) {
        precondition(!widths.isEmpty && widths.allSatisfy { $0 >= 1 } && filters >= 1, "TextCNN needs positive widths and filters")
        embedding = Embedding(vocabularySize: vocabularySize, dimension: dimension, using: &generator)
        var weights = [Tensor](), biases = [Tensor]()
        for width in widths {
            let bound = 1 / Float(width * dimension).squareRoot()
            weights.append(Tensor(randomUniform: [filters, 1, width, dimension], in: -bound...bound, using: &generator))
            biases.append(Tensor(randomUniform: [filters], in: -bound...bound, using: &generator))
        }
        convolutionWeights = weights
        convolutionBiases = biases
        dropout = Dropout(probability: dropoutProbability, seed: generator.next())
        fc = Linear(inputSize: widths.count * filters, outputSize: classCount, using: &generator)
    }

    public func embed(_ tokens: Tensor) -> Tensor {
        maskingPadding(embedding.lookup(tokens), mask: paddingMask(tokens))
    }

    public mutating func classify(_ embedded: Tensor, mask: Tensor) -> Tensor {
        let (count, length, dimension) = (embedded.shape[0], embedded.shape[1], embedded.shape[2])
        var input = maskingPadding(embedded, mask: mask)
        let widest = widths.max() ?? 1
        if length < widest {
            input = Tensor.concatenating([input, Tensor(zeros: [count, widest - length, dimension])], alongAxis: 1)
        }
        let paddedLength = Swift.max(length, widest)
        input = input.reshaped(to: [count, 1, paddedLength, dimension])
        let lengths = mask.array.withUnsafeBufferPointer { scalars in
            (0..<count).map { row in (0..<length).reduce(0) { $0 + Int(scalars[row * length + $1]) } }
        }
        var pooled = [Tensor]()
        for (weight, bias) in zip(convolutionWeights, convolutionBiases) {
            let width = weight.shape[2]
            let positions = paddedLength - width + 1
            let features = conv2d(input, weight: weight, bias: bias).reshaped(to: [count, weight.shape[0], positions]).relu()
            // Windows starting past the sentence see only padding: push them below every
            // ReLU output so max-over-time never picks them (the first window always counts).
            let penalty = Tensor(shape: [count, 1, positions], scalars: (0..<count).flatMap { row in
                (0..<positions).map { $0 <= Swift.max(lengths[row] - width, 0) ? Float(0) : -1e4 }
            })
            pooled.append((features + penalty).max(alongAxis: 2))
        }
        return fc(dropout(Tensor.concatenating(pooled, alongAxis: 1)))
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        embedding.visitParameters { visitor("embedding." + $0, &$1) }
        for index in convolutionWeights.indices {
            visitor("convs.\(index).weight", &convolutionWeights[index])
            visitor("convs.\(index).bias", &convolutionBiases[index])
        }
        fc.visitParameters { visitor("fc." + $0, &$1) }
    }

    public mutating func visitGenerators(_ visitor: (String, inout SplitMix64) -> Void) {
        dropout.visitGenerators { visitor("dropout." + $0, &$1) }
    }
}
