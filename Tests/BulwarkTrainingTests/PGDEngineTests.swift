import Bulwark
import BulwarkAttacks
import Foundation
import Testing
import _TestSupport

/// The one PGD engine against the loops it replaced, written out here step by step: the same
/// random draws in the same order and the same float operations give the same bits. And the
/// threat model's embedding regions.
@Suite struct PGDEngineTests {
    let data = Fixtures.templates(count: 16, noise: 0.15)
    let threatModel = ThreatModel.lInfinity(epsilon: 0.2)

    /// TRADES's and MART's former inner loop: a Gaussian start, `steps` projected sign steps on
    /// an inference copy, and a projection when there is no step.
    func referenceGaussianStartPGD(_ natural: Tensor, model: Sequential, steps: Int, stepSize: Float, seed: UInt64,
                                   loss: (Tensor) -> Tensor) -> Tensor {
        var generator = SplitMix64(seed: seed)
        var inner = model.with(mode: .inference)
        var adversarial = natural + Tensor(randomNormal: natural.shape, standardDeviation: 0.001, using: &generator)
        for _ in 0..<steps {
            let ascent = gradient(at: adversarial) { x in loss(inner(x)).sum() }
            adversarial = threatModel.project(adversarial + threatModel.steepestAscentDirection(ascent) * stepSize, around: natural)
        }
        return steps == 0 ? threatModel.project(adversarial, around: natural) : adversarial
    }

    @Test(arguments: [0, 3])
    func tradesAndMARTInnerMaximizationIsTheFormerLoop(steps: Int) {
        let model = Fixtures.cnn()
        let (inputs, labels) = (data.images, data.labels)
        let target = model.with(mode: .inference).applied(to: inputs).detached
        let tradesReference = referenceGaussianStartPGD(inputs, model: model, steps: steps, stepSize: 0.05, seed: 4) {
            klDivergence(logits: $0, targetLogits: target, reduction: .none)
        }
        var generator = SplitMix64(seed: 4)
        let trades = TRADES(threatModel: threatModel, steps: steps, stepSize: 0.05).adversarialExamples(for: inputs, against: model, using: &generator)
        #expect(trades.array == tradesReference.array)

        let martReference = referenceGaussianStartPGD(inputs, model: model, steps: steps, stepSize: 0.05, seed: 5) {
            softmaxCrossEntropy(logits: $0, labels: labels, reduction: .none)
        }
        generator = SplitMix64(seed: 5)
        let mart = MART(threatModel: threatModel, steps: steps, stepSize: 0.05).adversarialExamples(for: inputs, labels: labels, against: model, using: &generator)
        #expect(mart.array == martReference.array)
        #expect(threatModel.norms(of: mart - inputs).allSatisfy { $0 <= 0.2 + 1e-6 })
    }

    @Test func publicPGDWithAGaussianStartAndTheDivergenceObjectiveIsTRADESsInnerMaximization() {
        let model = Fixtures.cnn()
        var first = SplitMix64(seed: 8), second = SplitMix64(seed: 8)
        let pgd = PGD(threatModel: threatModel, steps: 4, stepSize: 0.05, start: .gaussian(standardDeviation: 0.001), objective: .divergence)
        let trades = TRADES(threatModel: threatModel, steps: 4, stepSize: 0.05)
        #expect(pgd.perturb(data.images, labels: data.labels, against: model, using: &first).array
                == trades.adversarialExamples(for: data.images, against: model, using: &second).array)
        #expect(first.next() == second.next())
    }

    let batch = syntheticText(count: 16, seed: 5).batches(ofSize: 16, minimumLength: 3)[0]

    func textModel() -> TextCNN {
        var generator = SplitMix64(seed: 6)
        return TextCNN(vocabularySize: 30, dimension: 6, classCount: 2, widths: [2, 3], filters: 4, dropoutProbability: 0.3, using: &generator)
    }

    @Test(arguments: [false, true])
    func embeddingPGDIsTheFormerLoopOnTheSequenceAndTheMatrix(randomStart: Bool) {
        let ball = ThreatModel.embeddedSequence(epsilon: 0.5)
        let attack = EmbeddingPGD(threatModel: ball, steps: 3, stepSize: 0.3, randomStart: randomStart)
        let (tokens, labels) = (batch.inputs, batch.labels)

        // The embedded sequence, in training mode (dropout draws advance the model's generator).
        var reference = textModel()
        var generator = SplitMix64(seed: 9)
        let embedded = reference.embed(tokens).detached
        let mask = paddingMask(tokens)
        var delta = randomStart ? ball.randomStart(shape: embedded.shape, mask: mask, using: &generator) : Tensor(zeros: embedded.shape)
        for _ in 0..<3 {
            let g = gradient(at: delta) { delta in
                softmaxCrossEntropy(logits: reference.classify(embedded + delta, mask: mask), labels: labels, reduction: .sum)
            }
            delta = ball.project(delta + 0.3 * ball.steepestAscent(along: g, mask: mask), mask: mask)
        }
        var model = textModel()
        var engineGenerator = SplitMix64(seed: 9)
        #expect(attack.perturbation(for: tokens, labels: labels, against: &model, using: &engineGenerator).array == delta.array)
        #expect(model.dropout.generator == reference.dropout.generator)
        #expect(engineGenerator.next() == generator.next())

        // The embedding matrix: the Frobenius ball on the batch's rows.
        let matrixBall = ThreatModel.embeddingMatrix(epsilon: 0.5)
        let shape = reference.embedding.weight.shape
        var r = randomStart
            ? matrixBall.randomMatrixStart(shape: shape, rows: ThreatModel.rows(of: tokens), using: &generator)
            : Tensor(zeros: shape)
        for _ in 0..<3 {
            let g = reference.embeddingMatrixGradient(tokens: tokens, labels: labels, perturbation: r)
            r = matrixBall.projectMatrix(r + 0.3 * matrixBall.matrixSteepestAscent(along: g))
        }
        let matrix = EmbeddingPGDTraining(attack: attack, site: .embeddingMatrix)
            .matrixPerturbation(for: tokens, labels: labels, against: &model, using: &engineGenerator)
        #expect(matrix.array == r.array)
        #expect(matrixBall.norms(of: matrix).count == 1 && matrixBall.norms(of: matrix)[0] <= 0.5 + 1e-5)
        #expect(engineGenerator.next() == generator.next())
    }

    @Test func aBoxEncodesAsBeforeAndEveryRegionRoundTrips() throws {
        let box = try JSONSerialization.jsonObject(with: JSONEncoder().encode(ThreatModel.l2(epsilon: 0.5))) as? [String: Any]
        #expect(Set(box?.keys.map { $0 } ?? []) == ["norm", "epsilon", "bounds"])
        let old = Data(#"{"norm":"linf","epsilon":0.25,"bounds":[0,1]}"#.utf8)
        #expect(try JSONDecoder().decode(ThreatModel.self, from: old) == .lInfinity(epsilon: 0.25))
        for threatModel in [ThreatModel.lInfinity(epsilon: 0.1), .embeddedSequence(epsilon: 0.5), .embeddingMatrix(epsilon: 2)] {
            #expect(try JSONDecoder().decode(ThreatModel.self, from: JSONEncoder().encode(threatModel)) == threatModel)
        }
        // What the initializers forbid does not decode either.
        for invalid in [#"{"norm":"linf","epsilon":0.5,"region":"sequence"}"#, #"{"norm":"l2","epsilon":-1,"bounds":[0,1]}"#] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(ThreatModel.self, from: Data(invalid.utf8)) }
        }
    }

    @Test func theEmbeddedSequenceIsPerExampleAndTheMatrixOneBall() {
        let values = Tensor(shape: [2, 2, 2], scalars: [3, 4, 0, 0, 1, 0, 0, 0])
        #expect(ThreatModel.embeddedSequence(epsilon: 1).norms(of: values) == [5, 1])
        #expect(ThreatModel.embeddingMatrix(epsilon: 1).norms(of: values) == [Float(26).squareRoot()])
        let mask = Tensor(shape: [2, 2], scalars: [1, 0, 1, 1])
        let projected = ThreatModel.embeddedSequence(epsilon: 1).project(values, mask: mask)
        #expect(projected.array == [0.6, 0.8, 0, 0, 1, 0, 0, 0])
        #expect(ThreatModel.embeddingMatrix(epsilon: 1).inRegion(.embeddedSequence) == .embeddedSequence(epsilon: 1))
    }
}
