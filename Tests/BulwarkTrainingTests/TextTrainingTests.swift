import Bulwark
import Foundation
import Testing
import _TestSupport

/// A synthetic sentiment task: sequences of 2–8 neutral tokens (10…29) with one signal
/// token inserted, 2 for class 0 and 3 for class 1.
func syntheticText(count: Int, seed: UInt64) -> EncodedTextDataset {
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

    @Test(arguments: ["standard", "fgm", "fgm-matrix", "pgd", "pgd-matrix", "freelb", "freelb-matrix", "vat", "smart", "smart-regularizer-only"])
    func methodsLearnTheSyntheticTask(_ name: String) throws {
        let threatModel = ThreatModel.embeddedSequence(epsilon: 0.5)
        let history: [EpochMetrics]
        switch name {
        case "fgm": history = try train(EmbeddingFGM(threatModel: threatModel)).1
        case "vat": history = try train(VirtualAdversarialTraining(threatModel: threatModel)).1
        case "smart": history = try train(SMART(threatModel: threatModel, stepSize: 0.25)).1
        case "fgm-matrix": history = try train(EmbeddingFGM(threatModel: threatModel, site: .embeddingMatrix)).1
        case "smart-regularizer-only": history = try train(SMART(threatModel: threatModel, stepSize: 0.25, proximalWeight: 0)).1
        case "pgd": history = try train(EmbeddingPGDTraining(attack: EmbeddingPGD(threatModel: threatModel, steps: 3, stepSize: 0.25))).1
        case "pgd-matrix": history = try train(EmbeddingPGDTraining(attack: EmbeddingPGD(threatModel: threatModel, steps: 3, stepSize: 0.25), site: .embeddingMatrix)).1
        case "freelb": history = try train(FreeLB(steps: 3, stepSize: 0.25, initialMagnitude: 0.1, maximumNorm: 0.5)).1
        case "freelb-matrix": history = try train(FreeLB(steps: 3, stepSize: 0.25, initialMagnitude: 0.1, maximumNorm: 0.5, site: .embeddingMatrix)).1
        default: history = try train(StandardTraining()).1
        }
        let last = try #require(history.last)
        #expect(last.trainLoss < history[0].trainLoss)
        #expect((last.validationCleanAccuracy ?? 0) > 0.95, "\(name): \(history.map { $0.validationCleanAccuracy ?? 0 })")
    }

    @Test func cleanWarmupEpochsTrainExactlyAsStandardTraining() throws {
        let fgm = EmbeddingFGM(threatModel: ThreatModel.embeddedSequence(epsilon: 0.5))
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
        let r = EmbeddingFGM(threatModel: ThreatModel.embeddedSequence(epsilon: 0.7), site: .embeddingMatrix)
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
        let r = VirtualAdversarialTraining(threatModel: ThreatModel.embeddedSequence(epsilon: 1), powerIterations: 1)
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
        let threatModel = ThreatModel.embeddedSequence(epsilon: 1)
        let ascended = SMART(threatModel: threatModel, steps: 3, stepSize: 0.5).perturbation(for: batch.inputs, against: &model, using: &generator)
        let random = threatModel.randomStart(shape: embedded.shape, mask: mask, using: &generator)
        #expect(divergence(ascended) > 2 * divergence(random), "ascent \(divergence(ascended)) vs random \(divergence(random))")
    }

    @Test(arguments: ["textcnn", "bilstm", "transformer"])
    func recurrentConvolutionalAndAttentionModelsLearnWithFGM(_ name: String) throws {
        let (_, history) = try train(EmbeddingFGM(threatModel: ThreatModel.embeddedSequence(epsilon: 0.5)), model: name, epochs: 8)
        #expect((history.last?.validationCleanAccuracy ?? 0) > 0.9, "\(name): \(history.map { $0.validationCleanAccuracy ?? 0 })")
    }

    @Test func sameSeedGivesIdenticalWeights() throws {
        let method = EmbeddingPGDTraining(attack: EmbeddingPGD(threatModel: ThreatModel.embeddedSequence(epsilon: 0.5), steps: 2, stepSize: 0.3, randomStart: true))
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
        let threatModel = ThreatModel.embeddedSequence(epsilon: 0.7)
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
                evaluateEmbeddingRobustness(model, batches: batches, attack: EmbeddingPGD(threatModel: ThreatModel.embeddedSequence(epsilon: epsilon), steps: 10, stepSize: epsilon / 4), using: &generator)
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
        let ball = ThreatModel.embeddedSequence(epsilon: epsilon)
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

@Suite struct EmbeddingMatrixSiteTests {
    let batch = syntheticText(count: 16, seed: 5).batches(ofSize: 16, minimumLength: 3)[0]
    let vocabularySize = 30
    let dimension = 6

    func model() -> TextCNN {
        var generator = SplitMix64(seed: 6)
        return TextCNN(vocabularySize: vocabularySize, dimension: dimension, classCount: 2, widths: [2, 3], filters: 4, dropoutProbability: 0.3, using: &generator)
    }

    var presentRows: Set<Int> { Set(batch.inputs.array.map { Int($0) }).subtracting([0]) }

    func rows(_ matrix: Tensor) -> [[Float]] {
        let values = matrix.array
        return (0..<vocabularySize).map { Array(values[($0 * dimension)..<(($0 + 1) * dimension)]) }
    }

    /// The matrix perturbations each method uses on `batch` (all of FreeLB's K iterates).
    func perturbations(_ name: String, epsilon: Float) -> [Tensor] {
        var network = model()
        var generator = SplitMix64(seed: 7)
        let threatModel = ThreatModel.embeddedSequence(epsilon: epsilon)
        switch name {
        case "fgm":
            return [EmbeddingFGM(threatModel: threatModel, site: .embeddingMatrix).matrixPerturbation(for: batch.inputs, labels: batch.labels, against: &network)]
        case "pgd", "pgd-random":
            let attack = EmbeddingPGD(threatModel: threatModel, steps: 4, stepSize: epsilon / 2, randomStart: name == "pgd-random")
            return [EmbeddingPGDTraining(attack: attack, site: .embeddingMatrix).matrixPerturbation(for: batch.inputs, labels: batch.labels, against: &network, using: &generator)]
        default:
            return FreeLB(steps: 4, stepSize: epsilon / 2, initialMagnitude: epsilon / 4, maximumNorm: epsilon, site: .embeddingMatrix)
                .ascend(network, tokens: batch.inputs, labels: batch.labels, using: &generator).perturbations
        }
    }

    @Test(arguments: ["fgm", "pgd", "pgd-random", "freelb"])
    func perturbationTouchesOnlyRowsOfTheBatchsTokensWithinEpsilon(_ name: String) {
        let epsilon: Float = 0.8
        let all = perturbations(name, epsilon: epsilon)
        #expect(presentRows.count < vocabularySize - 1, "some tokens must be absent for the test to mean anything")
        for perturbation in all {
            #expect(perturbation.shape == [vocabularySize, dimension])
            let norm = perturbation.array.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(norm <= Double(epsilon) + 1e-5, "\(name): ‖r‖_F = \(norm)")
            for (row, values) in rows(perturbation).enumerated() where !presentRows.contains(row) {
                #expect(values.allSatisfy { $0 == 0 }, "\(name): row \(row) is not in the batch")
            }
        }
        let last = all[all.count - 1]
        let norm = last.array.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(Swift.abs(norm - Double(epsilon)) < 1e-4, "\(name) should reach the boundary: \(norm)")
        #expect(rows(last).enumerated().filter { presentRows.contains($0.offset) && $0.element.contains { $0 != 0 } }.count == presentRows.count)
    }

    func step(_ name: String, learningRate: Float) -> (before: TextCNN, after: TextCNN) {
        let before = model()
        var after = before
        var optimizer = SGD(learningRate: learningRate)
        var generator = SplitMix64(seed: 7)
        let threatModel = ThreatModel.embeddedSequence(epsilon: 0.8)
        switch name {
        case "fgm": _ = EmbeddingFGM(threatModel: threatModel, site: .embeddingMatrix).step(&after, optimizer: &optimizer, on: batch, using: &generator)
        case "pgd": _ = EmbeddingPGDTraining(attack: EmbeddingPGD(threatModel: threatModel, steps: 3, stepSize: 0.4), includesCleanLoss: true, site: .embeddingMatrix)
            .step(&after, optimizer: &optimizer, on: batch, using: &generator)
        default: _ = FreeLB(steps: 3, stepSize: 0.4, initialMagnitude: 0.2, maximumNorm: 0.8, site: .embeddingMatrix).step(&after, optimizer: &optimizer, on: batch, using: &generator)
        }
        return (before, after)
    }

    @Test(arguments: ["fgm", "pgd", "freelb"])
    func theMatrixIsRestoredExactlyAndOnlyTheBatchsRowsLearn(_ name: String) {
        // With a learning rate of 0 the step must leave every weight exactly as it was: the
        // perturbation never stays in the matrix.
        let frozen = step(name, learningRate: 0)
        #expect(frozen.after.parameters == frozen.before.parameters)
        // With SGD, rows of tokens outside the batch have no gradient and must not move.
        let (before, after) = step(name, learningRate: 0.1)
        let (old, new) = (rows(before.embedding.weight), rows(after.embedding.weight))
        for row in 0..<vocabularySize {
            if presentRows.contains(row) { #expect(old[row] != new[row], "\(name): row \(row) is in the batch") } else { #expect(old[row] == new[row], "\(name): row \(row)") }
        }
        #expect(after.fc.weight != before.fc.weight)
    }
}

@Suite struct SMARTProximalPointTests {
    let batch = syntheticText(count: 12, seed: 9).batches(ofSize: 12, minimumLength: 3)[0]

    func model(seed: UInt64, dropout: Float = 0.5) -> TextCNN {
        var generator = SplitMix64(seed: seed)
        return TextCNN(vocabularySize: 30, dimension: 6, classCount: 3, widths: [2, 3], filters: 4, dropoutProbability: dropout, using: &generator)
    }

    func smart() -> SMART { SMART(threatModel: ThreatModel.embeddedSequence(epsilon: 0.5), steps: 2, stepSize: 0.3, proximalWeight: 1, momentum: 0.9) }

    @Test func penaltyIsTheSymmetricKLBetweenTheModelAndItsProximalPoint() throws {
        var current = model(seed: 1).with(mode: .inference)
        var anchor = model(seed: 2).with(mode: .inference)
        var method = smart()
        method.proximalPoint = anchor.parameters
        let value = try #require(method.bregmanDivergence(of: current, on: batch.inputs)).scalar
        // Independently: Σ_k p log(p/q) + q log(q/p) per example from the two models' logits, in Float64.
        func probabilities(_ logits: Tensor) -> [[Double]] {
            let values = logits.array.map(Double.init)
            return (0..<logits.shape[0]).map { row in
                let slice = values[(row * 3)..<(row * 3 + 3)]
                let largest = slice.max() ?? 0
                let exponentials = slice.map { Foundation.exp($0 - largest) }
                let total = exponentials.reduce(0, +)
                return exponentials.map { $0 / total }
            }
        }
        let p = probabilities(current(batch.inputs)), q = probabilities(anchor(batch.inputs))
        var total = 0.0
        for (pRow, qRow) in zip(p, q) {
            for (pk, qk) in zip(pRow, qRow) {
                let forward: Double = pk * Foundation.log(pk / qk)
                let backward: Double = qk * Foundation.log(qk / pk)
                total += forward + backward
            }
        }
        let expected = total / Double(p.count)
        #expect(expected > 1e-3, "the two models must disagree for the test to mean anything")
        #expect(Swift.abs(Double(value) - expected) <= 1e-5 * Swift.max(1, expected), "\(value) vs \(expected)")
    }

    @Test func penaltyIsZeroAtTheProximalPointEvenWithDropout() throws {
        let current = model(seed: 1)  // training mode, dropout 0.5: both passes draw the same masks
        var method = smart()
        method.proximalPoint = current.parameters
        #expect(try #require(method.bregmanDivergence(of: current, on: batch.inputs)).scalar == 0)
        #expect(SMART(threatModel: ThreatModel.embeddedSequence(epsilon: 0.5), stepSize: 0.3).bregmanDivergence(of: current, on: batch.inputs) == nil)
    }

    @Test func penaltyGradientMatchesFiniteDifferences() {
        let logits = seededTensor([4, 3], seed: 3), proximal = seededTensor([4, 3], seed: 4)
        expectGradientMatchesFiniteDifferences(at: [logits]) { SMART.bregmanDivergence(logits: $0[0], proximalLogits: proximal, reduction: .none) }
    }

    @Test func proximalPointStartsAtTheFirstWeightsAndMovesByExactlyTheMomentumRule() {
        let start = model(seed: 1)
        var network = start
        var method = smart()
        var optimizer = SGD(learningRate: 0.1)
        var generator = SplitMix64(seed: 2)
        _ = method.step(&network, optimizer: &optimizer, on: batch, using: &generator)
        let beta: Float = 0.9
        func expectMoved(from anchor: [String: Tensor], to weights: [String: Tensor], _ point: [String: Tensor]?) {
            #expect(point?.keys.sorted() == weights.keys.sorted())
            for (path, weight) in weights {
                let expected = zip(weight.array, anchor[path]?.array ?? []).map { (1 - beta) * $0 + beta * $1 }
                #expect(point?[path]?.array == expected, "\(path)")
            }
        }
        // θ̃₁ = θ₀, then θ̃₂ = (1 − β)θ₁ + βθ̃₁.
        #expect(network.parameters != start.parameters)
        expectMoved(from: start.parameters, to: network.parameters, method.proximalPoint)
        let anchor = method.proximalPoint ?? [:]
        _ = method.step(&network, optimizer: &optimizer, on: batch, using: &generator)
        expectMoved(from: anchor, to: network.parameters, method.proximalPoint)
    }

    @Test func theProximalTermHoldsTheWeightsNearTheProximalPoint() {
        // From the same start and batches, a large μ keeps the predictions closer to θ̃ = θ₀.
        let start = model(seed: 1, dropout: 0)
        func divergenceAfterTraining(proximalWeight: Float) -> Float {
            var network = start
            var method = SMART(threatModel: ThreatModel.embeddedSequence(epsilon: 0.5), stepSize: 0.5, proximalWeight: proximalWeight, momentum: 0.999)
            var optimizer = Adam(learningRate: 0.05)
            var generator = SplitMix64(seed: 3)
            for _ in 0..<5 { _ = method.step(&network, optimizer: &optimizer, on: batch, using: &generator) }
            var anchor = method
            anchor.proximalPoint = start.parameters
            return anchor.bregmanDivergence(of: network, on: batch.inputs)?.scalar ?? .nan
        }
        let free = divergenceAfterTraining(proximalWeight: 0), held = divergenceAfterTraining(proximalWeight: 10)
        #expect(held < free / 2, "μ = 10: \(held), μ = 0: \(free)")
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
