import BulwarkCore

/// The weights of one direction of a single-layer LSTM (Hochreiter and Schmidhuber 1997),
/// with PyTorch's layout: gates stacked in the order input, forget, cell, output.
public struct LSTMWeights: Sendable {
    /// `[4·hiddenSize, inputSize]` (`weight_ih_l0`).
    public var inputWeight: Tensor
    /// `[4·hiddenSize, hiddenSize]` (`weight_hh_l0`).
    public var hiddenWeight: Tensor
    /// `[4·hiddenSize]` (`bias_ih_l0`).
    public var inputBias: Tensor
    /// `[4·hiddenSize]` (`bias_hh_l0`).
    public var hiddenBias: Tensor

    /// The hidden size.
    public var hiddenSize: Int { hiddenWeight.shape[1] }

    /// Weights initialized as PyTorch does: uniform in `±1/√hiddenSize`.
    public init<G: RandomNumberGenerator>(inputSize: Int, hiddenSize: Int, using generator: inout G) {
        let bound = 1 / Float(hiddenSize).squareRoot()
        inputWeight = Tensor(randomUniform: [4 * hiddenSize, inputSize], in: -bound...bound, using: &generator)
        hiddenWeight = Tensor(randomUniform: [4 * hiddenSize, hiddenSize], in: -bound...bound, using: &generator)
        inputBias = Tensor(randomUniform: [4 * hiddenSize], in: -bound...bound, using: &generator)
        hiddenBias = Tensor(randomUniform: [4 * hiddenSize], in: -bound...bound, using: &generator)
    }

    /// The last hidden state `[count, hiddenSize]` of running over `input` `[count, length,
    /// inputSize]` in time order (or reversed), updating the state only where `mask` `[count,
    /// length]` is 1: a forward pass ends at each sequence's last real token, and a reversed
    /// pass starts at it, as PyTorch's packed sequences do.
    ///
    /// With `g = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh` split in four: `i = σ(g₁)`, `f = σ(g₂)`,
    /// `c̃ = tanh(g₃)`, `o = σ(g₄)`, `c ← f⊙c + i⊙c̃`, `h ← o⊙tanh(c)`.
    ///
    /// - Complexity: `length` steps of two `[count, ·] × [·, 4·hiddenSize]` products.
    public func finalHiddenState(_ input: Tensor, mask: Tensor, reversed: Bool) -> Tensor {
        let (count, length, inputSize) = (input.shape[0], input.shape[1], input.shape[2])
        let size = hiddenSize
        // All input projections in one product.
        let projected = linear(input.reshaped(to: [count * length, inputSize]), weight: inputWeight, bias: inputBias)
            .reshaped(to: [count, length, 4 * size])
        var hidden = Tensor(zeros: [count, size]), cell = Tensor(zeros: [count, size])
        let maskScalars = mask.array
        for step in 0..<length {
            let time = reversed ? length - 1 - step : step
            let gates = projected.slice(alongAxis: 1, time..<(time + 1)).reshaped(to: [count, 4 * size])
                + linear(hidden, weight: hiddenWeight, bias: hiddenBias)
            let inputGate = gates.slice(alongAxis: 1, 0..<size).sigmoid()
            let forgetGate = gates.slice(alongAxis: 1, size..<(2 * size)).sigmoid()
            let candidate = gates.slice(alongAxis: 1, (2 * size)..<(3 * size)).tanh()
            let outputGate = gates.slice(alongAxis: 1, (3 * size)..<(4 * size)).sigmoid()
            let newCell = forgetGate * cell + inputGate * candidate
            let newHidden = outputGate * newCell.tanh()
            let keep = Tensor(shape: [count, 1], scalars: (0..<count).map { maskScalars[$0 * length + time] })
            if keep.array.allSatisfy({ $0 == 1 }) {
                (hidden, cell) = (newHidden, newCell)
            } else {
                // Padding leaves the state as it was.
                let hold = 1 - keep
                hidden = keep * newHidden + hold * hidden
                cell = keep * newCell + hold * cell
            }
        }
        return hidden
    }

    mutating func visit(_ suffix: String, _ visitor: (String, inout Tensor) -> Void) {
        visitor("lstm.weight_ih_l0" + suffix, &inputWeight)
        visitor("lstm.weight_hh_l0" + suffix, &hiddenWeight)
        visitor("lstm.bias_ih_l0" + suffix, &inputBias)
        visitor("lstm.bias_hh_l0" + suffix, &hiddenBias)
    }
}

/// A bidirectional LSTM classifier: the last hidden state of a forward and of a backward
/// single-layer LSTM over the real tokens, concatenated, then dropout and a linear layer.
///
/// Parameters match PyTorch's
/// ```
/// class BiLSTM(nn.Module):
///     def __init__(self, V, D, H, C, p=0.5):
///         super().__init__()
///         self.embedding = nn.Embedding(V, D, padding_idx=0)
///         self.lstm = nn.LSTM(D, H, batch_first=True, bidirectional=True)
///         self.dropout = nn.Dropout(p)
///         self.fc = nn.Linear(2 * H, C)
/// ```
/// used with packed sequences (`embedding.weight`, `lstm.weight_ih_l0`, …,
/// `lstm.bias_hh_l0_reverse`, `fc.weight`, `fc.bias`).
public struct BiLSTMClassifier: TextClassifier {
    /// The token vectors.
    public var embedding: Embedding
    /// The forward direction.
    public var forward: LSTMWeights
    /// The backward direction.
    public var backward: LSTMWeights
    /// Dropout on the concatenated final states.
    public var dropout: Dropout
    /// The output layer.
    public var fc: Linear
    /// The layer's mode; dropout follows it.
    public var mode: LayerMode = .training {
        didSet { dropout.mode = mode }
    }

    /// Creates a classifier initialized as PyTorch does.
    public init<G: RandomNumberGenerator>(
        vocabularySize: Int, dimension: Int, hiddenSize: Int, classCount: Int, dropoutProbability: Float = 0.5, using generator: inout G
    ) {
        embedding = Embedding(vocabularySize: vocabularySize, dimension: dimension, using: &generator)
        forward = LSTMWeights(inputSize: dimension, hiddenSize: hiddenSize, using: &generator)
        backward = LSTMWeights(inputSize: dimension, hiddenSize: hiddenSize, using: &generator)
        dropout = Dropout(probability: dropoutProbability, seed: generator.next())
        fc = Linear(inputSize: 2 * hiddenSize, outputSize: classCount, using: &generator)
    }

    public func embed(_ tokens: Tensor) -> Tensor {
        maskingPadding(embedding.lookup(tokens), mask: paddingMask(tokens))
    }

    public mutating func classify(_ embedded: Tensor, mask: Tensor) -> Tensor {
        let input = maskingPadding(embedded, mask: mask)
        let states = Tensor.concatenating(
            [forward.finalHiddenState(input, mask: mask, reversed: false), backward.finalHiddenState(input, mask: mask, reversed: true)],
            alongAxis: 1)
        return fc(dropout(states))
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        embedding.visitParameters { visitor("embedding." + $0, &$1) }
        forward.visit("", visitor)
        backward.visit("_reverse", visitor)
        fc.visitParameters { visitor("fc." + $0, &$1) }
    }

    public mutating func visitGenerators(_ visitor: (String, inout SplitMix64) -> Void) {
        dropout.visitGenerators { visitor("dropout." + $0, &$1) }
    }
}
