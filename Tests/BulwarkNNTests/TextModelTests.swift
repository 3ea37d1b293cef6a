import Bulwark
import Foundation
import Testing
import _TestSupport

@Suite struct TextModelTests {
    /// Two padded sequences of lengths 4 and 2 over a vocabulary of 7.
    let tokens = Tensor(shape: [2, 4], scalars: [3, 5, 3, 6, 2, 4, 0, 0])

    @Test func embeddingGathersRowsAndScatterAddsGradients() {
        let weight = seededTensor([7, 3], seed: 1)
        let embedded = Embedding(weight: weight).lookup(tokens)
        #expect(embedded.shape == [2, 4, 3])
        #expect(Array(embedded.array[0..<3]) == Array(weight.array[9..<12]))
        expectGradientMatchesFiniteDifferences(at: [weight]) { Embedding(weight: $0[0]).lookup(tokens) }
        // Token 3 appears twice: its row receives both upstream gradients.
        let gradient = BulwarkCore.gradient(at: weight) { Embedding(weight: $0).lookup(tokens).sum() }
        #expect(Array(gradient.array[9..<12]) == [2, 2, 2])
        #expect(Array(gradient.array[3..<6]) == [0, 0, 0])
    }

    @Test func maskedMeanAveragesRealTokensOnlyAndHasTheRightGradient() {
        let mask = paddingMask(tokens)
        #expect(mask.array == [1, 1, 1, 1, 1, 1, 0, 0])
        let embedded = seededTensor([2, 4, 3], seed: 2)
        let mean = maskedMean(embedded, mask: mask)
        let values = embedded.array
        #expect(Swift.abs(mean.array[3] - (values[12] + values[15]) / 2) < 1e-6)
        expectGradientMatchesFiniteDifferences(at: [embedded]) { maskedMean($0[0], mask: mask) }
    }

    @Test func textCNNMatchesFiniteDifferences() {
        var generator = SplitMix64(seed: 3)
        let model = TextCNN(vocabularySize: 7, dimension: 3, classCount: 2, widths: [2, 3], filters: 3, using: &generator)
            .with(mode: .inference)
        let mask = paddingMask(tokens)
        let embedded = seededTensor([2, 4, 3], seed: 4)
        expectGradientMatchesFiniteDifferences(at: [embedded, model.convolutionWeights[0], model.convolutionWeights[1]], step: 1e-3) { inputs in
            var copy = model
            copy.convolutionWeights = [inputs[1], inputs[2]]
            return copy.classify(inputs[0], mask: mask)
        }
    }

    @Test func lstmMatchesFiniteDifferences() {
        var generator = SplitMix64(seed: 13)
        let weights = LSTMWeights(inputSize: 3, hiddenSize: 2, using: &generator)
        let mask = paddingMask(tokens)
        let input = seededTensor([2, 4, 3], seed: 14)
        for reversed in [false, true] {
            expectGradientMatchesFiniteDifferences(
                at: [input, weights.inputWeight, weights.hiddenWeight, weights.inputBias, weights.hiddenBias], step: 1e-3
            ) { inputs in
                var copy = weights
                (copy.inputWeight, copy.hiddenWeight, copy.inputBias, copy.hiddenBias) = (inputs[1], inputs[2], inputs[3], inputs[4])
                return copy.finalHiddenState(inputs[0], mask: mask, reversed: reversed)
            }
        }
    }

    @Test func lstmFollowsTheGateEquationsForOneStep() {
        // One step from a zero state: c = σ(g_i)·tanh(g_c), h = σ(g_o)·tanh(c).
        var generator = SplitMix64(seed: 1)
        var fixed = LSTMWeights(inputSize: 1, hiddenSize: 1, using: &generator)
        fixed.inputWeight = Tensor(shape: [4, 1], scalars: [0.5, -1, 2, 1.5])
        fixed.inputBias = Tensor([0.1, 0.2, -0.3, 0.4])
        fixed.hiddenBias = Tensor([0, 0, 0, 0])
        let h = fixed.finalHiddenState(Tensor(shape: [1, 1, 1], scalars: [0.8]), mask: Tensor(shape: [1, 1], scalars: [1]), reversed: false).scalar
        func sigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }
        let c = sigmoid(0.5 * 0.8 + 0.1) * Foundation.tanh(2 * 0.8 - 0.3)
        #expect(Swift.abs(h - sigmoid(1.5 * 0.8 + 0.4) * Foundation.tanh(c)) < 1e-6)
    }

    @Test(arguments: ["bag", "textcnn", "bilstm"])
    func paddingNeverChangesTheLogits(_ name: String) {
        var generator = SplitMix64(seed: 5)
        let model: any TextClassifier = switch name {
        case "bag": EmbeddingBagClassifier(vocabularySize: 7, dimension: 4, classCount: 3, using: &generator)
        case "textcnn": TextCNN(vocabularySize: 7, dimension: 4, classCount: 3, widths: [2, 3], filters: 4, using: &generator)
        default: BiLSTMClassifier(vocabularySize: 7, dimension: 4, hiddenSize: 3, classCount: 3, using: &generator)
        }
        var inference = model.with(mode: .inference)
        let short = Tensor(shape: [1, 2], scalars: [2, 4])
        let padded = Tensor(shape: [1, 6], scalars: [2, 4, 0, 0, 0, 0])
        let alone = inference(short).array, inBatch = inference(padded).array
        for (a, b) in zip(alone, inBatch) { #expect(Swift.abs(a - b) < 1e-5) }
        // Garbage in the padding positions of the embedded sequence is ignored.
        let mask = paddingMask(padded)
        var embedded = inference.embed(padded).array
        #expect(embedded[8...].allSatisfy { $0 == 0 })
        for index in 8..<embedded.count { embedded[index] = 100 }
        let noisy = inference.classify(Tensor(shape: [1, 6, 4], scalars: embedded), mask: mask).array
        for (a, b) in zip(noisy, inBatch) { #expect(Swift.abs(a - b) < 1e-5) }
    }

    @Test func textModelsHavePyTorchParameterNames() {
        var generator = SplitMix64(seed: 6)
        let bag = EmbeddingBagClassifier(vocabularySize: 10, dimension: 4, classCount: 2, using: &generator)
        #expect(bag.parameters.mapValues(\.shape) == ["embedding.weight": [10, 4], "fc.weight": [2, 4], "fc.bias": [2]])
        let cnn = TextCNN(vocabularySize: 10, dimension: 4, classCount: 2, filters: 5, using: &generator)
        #expect(cnn.parameters.mapValues(\.shape) == [
            "embedding.weight": [10, 4], "convs.0.weight": [5, 1, 3, 4], "convs.0.bias": [5], "convs.1.weight": [5, 1, 4, 4],
            "convs.1.bias": [5], "convs.2.weight": [5, 1, 5, 4], "convs.2.bias": [5], "fc.weight": [2, 15], "fc.bias": [2],
        ])
        #expect(cnn.embedding.weight.array[0..<4].allSatisfy { $0 == 0 })
        let lstm = BiLSTMClassifier(vocabularySize: 10, dimension: 4, hiddenSize: 3, classCount: 2, using: &generator)
        var expected: [String: [Int]] = ["embedding.weight": [10, 4], "fc.weight": [2, 6], "fc.bias": [2]]
        for suffix in ["", "_reverse"] {
            expected["lstm.weight_ih_l0" + suffix] = [12, 4]
            expected["lstm.weight_hh_l0" + suffix] = [12, 3]
            expected["lstm.bias_ih_l0" + suffix] = [12]
            expected["lstm.bias_hh_l0" + suffix] = [12]
        }
        #expect(lstm.parameters.mapValues(\.shape) == expected)
        #expect(lstm.with(mode: .inference).dropout.mode == .inference)
        // Mode reaches the dropout layer.
        #expect(cnn.with(mode: .inference).dropout.mode == .inference)
    }
}
