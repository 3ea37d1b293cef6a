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

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func batchedMatmulMatchesFiniteDifferencesAndPerEntryProducts(_ transposeLHS: Bool, _ transposeRHS: Bool) {
        let a = seededTensor(transposeLHS ? [3, 4, 2] : [3, 2, 4], seed: 20)
        let b = seededTensor(transposeRHS ? [3, 5, 4] : [3, 4, 5], seed: 21)
        let product = batchedMatmul(a, b, transposeLHS: transposeLHS, transposeRHS: transposeRHS)
        #expect(product.shape == [3, 2, 5])
        for entry in 0..<3 {
            let slice = { (t: Tensor) in t.slice(alongAxis: 0, entry..<(entry + 1)).reshaped(to: Array(t.shape.dropFirst())) }
            let expected = matmul(slice(a), slice(b), transposeLHS: transposeLHS, transposeRHS: transposeRHS)
            #expect(slice(product).array == expected.array)
        }
        expectGradientMatchesFiniteDifferences(at: [a, b]) { batchedMatmul($0[0], $0[1], transposeLHS: transposeLHS, transposeRHS: transposeRHS) }
    }

    @Test func layerNormAndGELUMatchFiniteDifferencesAndReferenceValues() {
        var norm = LayerNorm(size: 4)
        let x = seededTensor([3, 4], seed: 22)
        let normalized = norm(x).array
        let mean = normalized[0..<4].reduce(0, +) / 4
        let variance = normalized[0..<4].reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 4
        #expect(Swift.abs(mean) < 1e-6 && Swift.abs(variance - 1) < 1e-3)
        expectGradientMatchesFiniteDifferences(at: [x, seededTensor([4], seed: 23), seededTensor([4], seed: 24)], step: 1e-3) { inputs in
            var layer = LayerNorm(size: 4)
            (layer.weight, layer.bias) = (inputs[1], inputs[2])
            return layer(inputs[0])
        }
        // PyTorch: F.gelu(torch.tensor([-1.0, 0.5, 2.0]), approximate="tanh").
        let values = gelu(Tensor([-1, 0.5, 2])).array
        for (value, reference) in zip(values, [Float(-0.158808), 0.345714, 1.954598]) { #expect(Swift.abs(value - reference) < 1e-5) }
        expectGradientMatchesFiniteDifferences(at: [seededTensor([10], in: -3...3, seed: 25)], step: 1e-3) { gelu($0[0]) }
    }

    @Test func maskedAttentionAndTheEncoderLayerMatchFiniteDifferences() {
        var generator = SplitMix64(seed: 26)
        let layer = TransformerEncoderLayer(size: 4, heads: 2, feedforwardSize: 6, using: &generator)
        let mask = paddingMask(tokens)
        let input = seededTensor([2, 4, 4], seed: 27)
        expectGradientMatchesFiniteDifferences(at: [input, layer.selfAttention.inputProjectionWeight], step: 1e-3) { inputs in
            var copy = layer.selfAttention
            copy.inputProjectionWeight = inputs[1]
            return copy.attend(inputs[0], mask: mask)
        }
        expectGradientMatchesFiniteDifferences(at: [input, layer.linear1.weight], step: 1e-3) { inputs in
            var copy = layer
            copy.linear1.weight = inputs[1]
            return copy.encode(inputs[0], mask: mask)
        }
        // A padding key gets no attention: changing it leaves real positions unchanged.
        var changed = input.array
        for index in 24..<32 { changed[index] = 50 }
        let before = layer.encode(input, mask: mask).array, after = layer.encode(Tensor(shape: [2, 4, 4], scalars: changed), mask: mask).array
        for index in 0..<24 { #expect(Swift.abs(before[index] - after[index]) < 1e-5) }
    }

    @Test(arguments: ["bag", "textcnn", "bilstm", "transformer"])
    func paddingNeverChangesTheLogits(_ name: String) {
        var generator = SplitMix64(seed: 5)
        let model: any TextClassifier = switch name {
        case "bag": EmbeddingBagClassifier(vocabularySize: 7, dimension: 4, classCount: 3, using: &generator)
        case "textcnn": TextCNN(vocabularySize: 7, dimension: 4, classCount: 3, widths: [2, 3], filters: 4, using: &generator)
        case "transformer": TransformerClassifier(vocabularySize: 7, dimension: 4, heads: 2, feedforwardSize: 8, layerCount: 2, classCount: 3, maximumLength: 8, using: &generator)
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
        let transformer = TransformerClassifier(vocabularySize: 10, dimension: 4, heads: 2, feedforwardSize: 8, layerCount: 1, classCount: 2, maximumLength: 16, using: &generator)
        #expect(transformer.parameters.mapValues(\.shape) == [
            "embedding.weight": [10, 4], "positions.weight": [16, 4],
            "encoder.layers.0.self_attn.in_proj_weight": [12, 4], "encoder.layers.0.self_attn.in_proj_bias": [12],
            "encoder.layers.0.self_attn.out_proj.weight": [4, 4], "encoder.layers.0.self_attn.out_proj.bias": [4],
            "encoder.layers.0.linear1.weight": [8, 4], "encoder.layers.0.linear1.bias": [8],
            "encoder.layers.0.linear2.weight": [4, 8], "encoder.layers.0.linear2.bias": [4],
            "encoder.layers.0.norm1.weight": [4], "encoder.layers.0.norm1.bias": [4],
            "encoder.layers.0.norm2.weight": [4], "encoder.layers.0.norm2.bias": [4],
            "fc.weight": [2, 4], "fc.bias": [2],
        ])
        // Mode reaches the dropout layer.
        #expect(cnn.with(mode: .inference).dropout.mode == .inference)
    }
}
