import Bulwark
import Foundation
import Testing
import _TestSupport

/// A synthetic sentiment task: sequences of 2–8 neutral tokens (10…29) with one signal
/// token inserted, 2 for class 0 and 3 for class 1.
private func syntheticText(count: Int, seed: UInt64) -> EncodedTextDataset {
    var generator = SplitMix64(seed: seed)
    var sequences = [[Int32]](), labels = [Int32]()
    for _ in 0..<count {
        let label = Int32.random(in: 0...1, using: &generator)
        var sequence = (0..<Int.random(in: 2...8, using: &generator)).map { _ in Int32.random(in: 10...29, using: &generator) }
        sequence.insert(2 + label, at: Int.random(in: 0...sequence.count, using: &generator))
        sequences.append(sequence)
        labels.append(label)
    }
    return EncodedTextDataset(sequences: sequences, labels: labels, classNames: ["negative", "positive"])
}

@Suite struct TextTrainingTests {
    let training = syntheticText(count: 256, seed: 1)
    let test = syntheticText(count: 128, seed: 2)

    func train<Method: TextTrainingMethod>(_ method: Method, model name: String = "bag", epochs: Int = 6, warmup: Int = 0, seed: UInt64 = 1) throws -> (any TextClassifier, [EpochMetrics]) {
        var generator = SplitMix64(seed: seed)
        func fit<Model: TextClassifier>(_ model: Model) throws -> (any TextClassifier, [EpochMetrics]) {
            var model = model
            var trainer = TextTrainer(method: method, optimizer: Adam(learningRate: 0.05), schedule: .constant(0.05),
                                      epochs: epochs, batchSize: 32, cleanWarmupEpochs: warmup, minimumLength: 3, bucketed: true)
            let history = try trainer.fit(&model, on: training, validation: test, using: &generator)
            return (model, history)
        }
        switch name {
        case "bag": return try fit(EmbeddingBagClassifier(vocabularySize: 30, dimension: 8, classCount: 2, using: &generator))
        case "transformer": return try fit(TransformerClassifier(vocabularySize: 30, dimension: 8, heads: 2, feedforwardSize: 16, layerCount: 1, classCount: 2, maximumLength: 16, dropoutProbability: 0.1, using: &generator))
        case "bilstm": return try fit(BiLSTMClassifier(vocabularySize: 30, dimension: 8, hiddenSize: 8, classCount: 2, dropoutProbability: 0.2, using: &generator))
        default: return try fit(TextCNN(vocabularySize: 30, dimension: 8, classCount: 2, widths: [2, 3], filters: 8, dropoutProbability: 0.2, using: &generator))
        }
    }

    @Test(arguments: ["standard", "fgm", "fgm-matrix", "pgd", "freelb", "vat", "smart"])
    func methodsLearnTheSyntheticTask(_ name: String) throws {
        let threatModel = EmbeddingThreatModel(epsilon: 0.5)
        let history: [EpochMetrics]
        switch name {
        case "fgm": history = try train(EmbeddingFGM(threatModel: threatModel)).1
        case "vat": history = try train(VirtualAdversarialTraining(threatModel: threatModel)).1
        case "smart": history = try train(SMART(threatModel: threatModel, stepSize: 0.25)).1
        case "fgm-matrix": history = try train(EmbeddingFGM(threatModel: threatModel, site: .embeddingMatrix)).1
        case "pgd": history = try train(EmbeddingPGDTraining(attack: EmbeddingPGD(threatModel: threatModel, steps: 3, stepSize: 0.25))).1
        case "freelb": history = try train(FreeLB(steps: 3, stepSize: 0.25, initialMagnitude: 0.1, maximumNorm: 0.5)).1
        default: history = try train(StandardTraining()).1
        }
        let last = try #require(history.last)
        #expect(last.trainLoss < history[0].trainLoss)
        #expect((last.validationCleanAccuracy ?? 0) > 0.95, "\(name): \(history.map { $0.validationCleanAccuracy ?? 0 })")
    }

    @Test func cleanWarmupEpochsTrainExactlyAsStandardTraining() throws {
        let fgm = EmbeddingFGM(threatModel: EmbeddingThreatModel(epsilon: 0.5))
        let warm = try train(fgm, model: "textcnn", epochs: 1, warmup: 1, seed: 3).0
        let standard = try train(StandardTraining(), model: "textcnn", epochs: 1, seed: 3).0
        let adversarial = try train(fgm, model: "textcnn", epochs: 1, seed: 3).0
        #expect(warm.parameters == standard.parameters)
        #expect(warm.parameters != adversarial.parameters)
    }

    @Test func matrixFGMPerturbsTheSharedMatrixWithFrobeniusNormEpsilon() {
        var generator = SplitMix64(seed: 8)
        var model = EmbeddingBagClassifier(vocabularySize: 30, dimension: 6, classCount: 2, using: &generator)
        let batch = test.batches(ofSize: 16, minimumLength: 3)[0]
        let r = EmbeddingFGM(threatModel: EmbeddingThreatModel(epsilon: 0.7), site: .embeddingMatrix)
            .matrixPerturbation(for: batch.inputs, labels: batch.labels, against: &model)
        #expect(r.shape == [30, 6])
        let norm = r.array.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(Swift.abs(norm - 0.7) < 1e-4)
        #expect(r.array[0..<6].allSatisfy { $0 == 0 }, "the padding row is never perturbed")
        // Rows of tokens absent from the batch get no perturbation.
        let present = Set(batch.inputs.array.map { Int($0) })
        for row in 0..<30 where !present.contains(row) { #expect(r.array[(row * 6)..<(row * 6 + 6)].allSatisfy { $0 == 0 }) }
    }

    @Test func vatPowerIterationFindsTheMostSensitiveDirectionOfALinearModel() {
        // For a mean-of-embeddings model the logits are linear in the embeddings, so the KL's
        // curvature is largest along the difference of the class weights: after power
        // iteration the perturbation of every token is parallel to w₁ − w₀.
        var generator = SplitMix64(seed: 11)
        var model = EmbeddingBagClassifier(vocabularySize: 30, dimension: 6, classCount: 2, using: &generator)
        let batch = test.batches(ofSize: 8, minimumLength: 3)[0]
        let r = VirtualAdversarialTraining(threatModel: EmbeddingThreatModel(epsilon: 1), powerIterations: 1)
            .perturbation(for: batch.inputs, against: &model, using: &generator)
        let weight = model.fc.weight.array
        let difference = (0..<6).map { weight[6 + $0] - weight[$0] }
        let differenceNorm = difference.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let mask = paddingMask(batch.inputs).array
        let values = r.array
        for position in mask.indices where mask[position] == 1 {
            let vector = Array(values[(position * 6)..<(position * 6 + 6)])
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let cosine = zip(vector, difference).reduce(0) { $0 + $1.0 * $1.1 } / (norm * differenceNorm)
            #expect(Swift.abs(Swift.abs(cosine) - 1) < 1e-3, "token \(position): cosine \(cosine)")
        }
    }

    @Test func smartAscentRaisesTheSymmetricKL() {
        var generator = SplitMix64(seed: 12)
        var model = TextCNN(vocabularySize: 30, dimension: 6, classCount: 2, widths: [2, 3], filters: 4, using: &generator).with(mode: .inference)
        let batch = test.batches(ofSize: 16, minimumLength: 3)[0]
        let mask = paddingMask(batch.inputs)
        let embedded = model.embed(batch.inputs)
        let clean = model.classify(embedded, mask: mask)
        func divergence(_ delta: Tensor) -> Float {
            SMART.symmetricKL(model.classify(embedded + delta, mask: mask), clean).scalar
        }
        let threatModel = EmbeddingThreatModel(epsilon: 1)
        let ascended = SMART(threatModel: threatModel, steps: 3, stepSize: 0.5).perturbation(for: batch.inputs, against: &model, using: &generator)
        let random = threatModel.randomStart(shape: embedded.shape, mask: mask, using: &generator)
        #expect(divergence(ascended) > 2 * divergence(random), "ascent \(divergence(ascended)) vs random \(divergence(random))")
    }

    @Test(arguments: ["textcnn", "bilstm", "transformer"])
    func recurrentConvolutionalAndAttentionModelsLearnWithFGM(_ name: String) throws {
        let (_, history) = try train(EmbeddingFGM(threatModel: EmbeddingThreatModel(epsilon: 0.5)), model: name, epochs: 8)
        #expect((history.last?.validationCleanAccuracy ?? 0) > 0.9, "\(name): \(history.map { $0.validationCleanAccuracy ?? 0 })")
    }

    @Test func sameSeedGivesIdenticalWeights() throws {
        let method = EmbeddingPGDTraining(attack: EmbeddingPGD(threatModel: EmbeddingThreatModel(epsilon: 0.5), steps: 2, stepSize: 0.3, randomStart: true))
        let first = try train(method, model: "textcnn", epochs: 1, seed: 4).0
        let second = try train(method, model: "textcnn", epochs: 1, seed: 4).0
        let other = try train(method, model: "textcnn", epochs: 1, seed: 5).0
        #expect(first.parameters == second.parameters)
        #expect(first.parameters != other.parameters)
    }

    @Test(arguments: ["fgm", "pgd", "pgd-random", "vat", "smart"])
    func perturbationsStayWithinEpsilonAndOffPadding(_ name: String) {
        var generator = SplitMix64(seed: 8)
        var model = TextCNN(vocabularySize: 30, dimension: 6, classCount: 2, widths: [2, 3], filters: 4, using: &generator)
        let batch = test.batches(ofSize: 16, minimumLength: 3)[0]
        let threatModel = EmbeddingThreatModel(epsilon: 0.7)
        let delta = switch name {
        case "fgm": EmbeddingFGM(threatModel: threatModel).perturbation(for: batch.inputs, labels: batch.labels, against: &model)
        case "smart": SMART(threatModel: threatModel, steps: 3, stepSize: 0.4).perturbation(for: batch.inputs, against: &model, using: &generator)
        case "vat": VirtualAdversarialTraining(threatModel: threatModel, powerIterations: 2).perturbation(for: batch.inputs, against: &model, using: &generator)
        default: EmbeddingPGD(threatModel: threatModel, steps: 5, stepSize: 0.4, randomStart: name == "pgd-random")
            .perturbation(for: batch.inputs, labels: batch.labels, against: &model, using: &generator)
        }
        #expect(delta.shape == [16, batch.inputs.shape[1], 6])
        let norms = threatModel.norms(of: delta)
        #expect(norms.allSatisfy { $0 <= 0.7 + 1e-5 }, "\(norms)")
        #expect(norms.filter { $0 > 0.7 - 1e-4 }.count >= 12, "most perturbations should reach the boundary: \(norms)")
        let mask = paddingMask(batch.inputs).array
        let values = delta.array
        for position in mask.indices where mask[position] == 0 {
            #expect(values[(position * 6)..<(position * 6 + 6)].allSatisfy { $0 == 0 })
        }
        #expect(mask.contains(0), "the batch must hold padding for the test to mean anything")
    }

    @Test func embeddingPGDLowersAccuracyAndNeverRaisesIt() throws {
        let (model, _) = try train(StandardTraining(), epochs: 4)
        let batches = test.batches(ofSize: 64, minimumLength: 3).map { ($0.inputs, $0.labels) }
        var generator = SplitMix64(seed: 9)
        func evaluate(_ epsilon: Float) -> TextRobustnessReport {
            func run<Model: TextClassifier>(_ model: Model) -> TextRobustnessReport {
                evaluateEmbeddingRobustness(model, batches: batches, attack: EmbeddingPGD(threatModel: EmbeddingThreatModel(epsilon: epsilon), steps: 10, stepSize: epsilon / 4), using: &generator)
            }
            return run(model)
        }
        let none = evaluate(0), large = evaluate(20)
        #expect(none.robustAccuracy == none.cleanAccuracy)
        #expect(large.robustAccuracy < large.cleanAccuracy - 0.3, "\(large)")
        #expect(large.maximumPerturbationNorm <= 20 + 1e-3)
    }
}

/// Counts forward passes through `classify`; the reference is shared by copies on purpose.
private final class CallCounter: @unchecked Sendable {
    var count = 0
}

private struct CountingClassifier: TextClassifier {
    var base: TextCNN
    let counter: CallCounter
    var mode: LayerMode {
        get { base.mode }
        set { base.mode = newValue }
    }
    var embedding: Embedding {
        get { base.embedding }
        set { base.embedding = newValue }
    }
    func embed(_ tokens: Tensor) -> Tensor { base.embed(tokens) }
    mutating func classify(_ embedded: Tensor, mask: Tensor) -> Tensor {
        counter.count += 1
        return base.classify(embedded, mask: mask)
    }
    mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) { base.visitParameters(visitor) }
}

@Suite struct FreeLBTests {
    let batch = syntheticText(count: 16, seed: 3).batches(ofSize: 16, minimumLength: 3)[0]

    func model(seed: UInt64 = 4) -> TextCNN {
        var generator = SplitMix64(seed: seed)
        return TextCNN(vocabularySize: 30, dimension: 6, classCount: 2, widths: [2, 3], filters: 4, dropoutProbability: 0.5, using: &generator)
    }

    @Test(arguments: [1, 3])
    func oneForwardPassPerAscentStepAndOneUpdate(_ steps: Int) {
        let counter = CallCounter()
        var counting = CountingClassifier(base: model(), counter: counter)
        let before = counting.parameters
        var optimizer = SGD(learningRate: 0.1)
        var generator = SplitMix64(seed: 1)
        _ = FreeLB(steps: steps, stepSize: 0.1, initialMagnitude: 0.1, maximumNorm: 1).step(&counting, optimizer: &optimizer, on: batch, using: &generator)
        #expect(counter.count == steps)
        #expect(counting.parameters != before)
    }

    @Test func withoutAscentTheAverageOfKGradientsIsTheCleanGradientUnderTheSameDropoutMasks() {
        let network = model()
        var generator = SplitMix64(seed: 1)
        let result = FreeLB(steps: 4, stepSize: 0, initialMagnitude: 0).ascend(network, tokens: batch.inputs, labels: batch.labels, using: &generator)
        var copy = network
        let (_, clean) = valueWithGradient(at: &copy) { model in
            softmaxCrossEntropy(logits: model(batch.inputs), labels: batch.labels)
        }
        #expect(result.perturbations.count == 4)
        #expect(result.perturbations.allSatisfy { $0.array.allSatisfy { $0 == 0 } })
        for (path, gradient) in clean.tensors {
            let accumulated = result.gradients[path]?.array ?? []
            #expect(accumulated.count == gradient.scalarCount, "\(path)")
            for (a, b) in zip(accumulated, gradient.array) { #expect(Swift.abs(a - b) <= 1e-5 * Swift.max(1, Swift.abs(b)), "\(path)") }
        }
        // The model's dropout generator advanced exactly as one clean pass advances it.
        #expect(result.model.dropout.generator == copy.dropout.generator)
    }

    @Test func perturbationsStartSmallStayInTheBallAndOffPadding() {
        var generator = SplitMix64(seed: 2)
        let epsilon: Float = 0.3
        let result = FreeLB(steps: 5, stepSize: 0.2, initialMagnitude: 0.05, maximumNorm: epsilon)
            .ascend(model(), tokens: batch.inputs, labels: batch.labels, using: &generator)
        let ball = EmbeddingThreatModel(epsilon: epsilon)
        #expect(ball.norms(of: result.perturbations[0]).allSatisfy { $0 > 0 && $0 <= 0.05 + 1e-6 })
        for delta in result.perturbations { #expect(ball.norms(of: delta).allSatisfy { $0 <= epsilon + 1e-5 }) }
        #expect(ball.norms(of: result.perturbations[4]).contains { $0 > epsilon - 1e-4 })
        let mask = paddingMask(batch.inputs).array
        #expect(mask.contains(0))
        for delta in result.perturbations {
            let values = delta.array
            for position in mask.indices where mask[position] == 0 {
                #expect(values[(position * 6)..<(position * 6 + 6)].allSatisfy { $0 == 0 })
            }
        }
    }
}

@Suite struct PWWSTests {
    /// A bag model that has learned the synthetic task (2 → class 0, 3 → class 1).
    func trainedModel() throws -> EmbeddingBagClassifier {
        var generator = SplitMix64(seed: 1)
        var model = EmbeddingBagClassifier(vocabularySize: 30, dimension: 8, classCount: 2, using: &generator)
        var trainer = TextTrainer(method: StandardTraining(), optimizer: Adam(learningRate: 0.05), schedule: .constant(0.05), epochs: 6, batchSize: 32)
        _ = try trainer.fit(&model, on: syntheticText(count: 256, seed: 1), validation: nil, using: &generator)
        return model
    }

    @Test func substitutesOnlyListedSynonymsAndFlipsWhenASynonymCarriesTheOtherClass() throws {
        let model = try trainedModel()
        // Token 3 (positive) has the "synonyms" 2 (negative) and 10 (neutral); 2 has none.
        let attack = PWWS(substitutes: [3: [10, 2], 11: [12]], protectedTokens: [13], maximumChangeFraction: 0.5)
        let result = attack.attack([11, 3, 13, 14], label: 1, against: model)
        #expect(result.originallyCorrect)
        #expect(result.succeeded)
        #expect(result.adversarial[1] == 2 && result.adversarial[2] == 13 && result.adversarial[3] == 14)
        for (original, adversarial) in zip(result.original, result.adversarial) where original != adversarial {
            #expect(attack.substitutes[original]?.contains(adversarial) == true)
        }
        #expect(result.changedCount == zip(result.original, result.adversarial).filter { $0 != $1 }.count)
        // 1 clean query, 2 saliency queries (<unk> at positions 0 and 1), 3 substitutes, then the greedy queries.
        #expect(result.queries >= 6 && result.queries <= 8)
    }

    @Test func respectsTheChangeFractionTheQueryBudgetAndWrongPredictions() throws {
        let model = try trainedModel()
        let substitutes: [Int32: [Int32]] = [3: [2], 11: [12], 14: [15]]
        // One word in four may change, and the signal word is not the most salient swap.
        let limited = PWWS(substitutes: substitutes, maximumChangeFraction: 0.25).attack([11, 3, 14, 16], label: 1, against: model)
        #expect(limited.changedCount <= 1)
        let starved = PWWS(substitutes: substitutes, queryBudget: 1).attack([11, 3, 14, 16], label: 1, against: model)
        #expect(starved.queries == 1 && starved.changedCount == 0 && !starved.succeeded)
        let wrong = PWWS(substitutes: substitutes).attack([11, 3, 14, 16], label: 0, against: model)
        #expect(!wrong.originallyCorrect && !wrong.succeeded && wrong.adversarial == wrong.original)
    }
}
