import Bulwark
import Foundation
import Testing
import _TestSupport

/// TRADES, MART, Free-AT, the clean/adversarial mix, AWP and GradAlign: their losses against
/// hand-computed values and finite differences, exact equivalences with simpler methods,
/// learning and robustness on the template fixture, determinism and the non-finite guard.
@Suite struct AdversarialMethodTests {
    static let methodNames = ["trades", "mart", "free", "mix", "awp", "awp-trades", "gradalign"]
    let data = Fixtures.templates(count: 512, noise: 0.15)
    let test = Fixtures.templates(count: 256, noise: 0.15, seed: 99)
    let threatModel = ThreatModel.lInfinity(epsilon: 0.2)

    /// The method called `name` at this suite's threat model, with `epochs` scaled for
    /// Free-AT's replays so every method does a similar number of updates.
    func train(_ name: String, epochs: Int = 8, seed: UInt64 = 1, on training: ImageDataset? = nil) throws -> (Sequential, [EpochMetrics]) {
        switch name {
        case "trades": return try train(TRADES(threatModel: threatModel, steps: 5, stepSize: 0.05), epochs: epochs, seed: seed, on: training)
        case "mart": return try train(MART(threatModel: threatModel, steps: 5, stepSize: 0.05), epochs: epochs, seed: seed, on: training)
        case "free": return try train(FreeAdversarialTraining(threatModel: threatModel, replays: 4), epochs: Swift.max(1, epochs / 2), seed: seed, on: training)
        case "mix":
            let attack = PGD(threatModel: threatModel, steps: 5, stepSize: 0.05)
            return try train(MixedAdversarialTraining(attack: attack, adversarialRatio: 0.5), epochs: epochs, seed: seed, on: training)
        case "awp": return try train(awp(.pgd(pgd)), epochs: epochs, seed: seed, on: training)
        case "awp-trades": return try train(awp(.trades(trades)), epochs: epochs, seed: seed, on: training)
        case "gradalign": return try train(GradAlign(threatModel: threatModel, lambda: 1), epochs: epochs, seed: seed, on: training)
        default: preconditionFailure("no method \(name)")
        }
    }

    func train<Method: TrainingMethod>(_ method: Method, epochs: Int, seed: UInt64, on training: ImageDataset? = nil) throws -> (Sequential, [EpochMetrics]) {
        var model = Fixtures.cnn()
        var trainer = Trainer(method: method, optimizer: Adam(learningRate: 1e-2), schedule: .constant(1e-2),
                              epochs: epochs, batchSize: 32)
        var generator = SplitMix64(seed: seed)
        let history = try trainer.fit(&model, on: training ?? data, validation: nil, using: &generator)
        return (model, history)
    }

    func robustAccuracy(_ model: Sequential) -> (clean: Float, robust: Float) {
        var generator = SplitMix64(seed: 7)
        let report = evaluateRobustness(model, inputs: test.images, labels: test.labels,
                                        attacks: [PGD(threatModel: threatModel, steps: 20, stepSize: 0.02)],
                                        threatModel: threatModel, using: &generator)
        return (report.cleanAccuracy, report.attacks[0].robustAccuracy)
    }

    var pgd: PGDAdversarialTraining { PGDAdversarialTraining(threatModel: threatModel, steps: 5, stepSize: 0.05) }
    var trades: TRADES { TRADES(threatModel: threatModel, steps: 5, stepSize: 0.05) }

    /// AWP with a γ large enough to matter on the small fixture (the reference's 0.01 is for
    /// deep networks).
    func awp(_ base: AdversarialWeightPerturbation.BaseMethod, gamma: Float = 0.02) -> AdversarialWeightPerturbation {
        AdversarialWeightPerturbation(base: base, gamma: gamma)
    }

    // MARK: - Losses

    // Two examples, three classes. The expected values come from the reference codes' formulas
    // evaluated in Float64 (Python's math module, not this engine):
    //   TRADES: CE(nat, y) = 0.5254605, KL = [0.1197896, 0.2252453], total with β = 6: 1.5605653
    //   MART: CE(adv, y) = 1.0363674, −log(1.0001 − p_runner-up) = 0.6554642,
    //         mean KL·(1.0000001 − p_y(nat)) = 0.0722263, total with β = 6: 2.1251893
    let naturalLogits = Tensor(shape: [2, 3], scalars: [1, 2, 0.5, 0.2, -0.3, 0.9])
    let adversarialLogits = Tensor(shape: [2, 3], scalars: [0.4, 1.5, 1.2, 1.1, -0.2, 0.3])
    let labels: [Int32] = [1, 2]

    @Test func tradesLossMatchesHandComputation() {
        let loss = TRADES.loss(naturalLogits: naturalLogits, adversarialLogits: adversarialLogits, labels: labels, beta: 6)
        #expect(abs(loss.scalar - 1.5605653) < 1e-5, "TRADES loss \(loss.scalar)")
        let natural = TRADES.loss(naturalLogits: naturalLogits, adversarialLogits: adversarialLogits, labels: labels, beta: 0)
        #expect(abs(natural.scalar - 0.5254605) < 1e-6)
        let same = TRADES.loss(naturalLogits: naturalLogits, adversarialLogits: naturalLogits, labels: labels, beta: 6)
        #expect(abs(same.scalar - natural.scalar) < 1e-6, "KL(p ‖ p) = 0")
    }

    @Test func martLossMatchesHandComputation() {
        let loss = MART.loss(naturalLogits: naturalLogits, adversarialLogits: adversarialLogits, labels: labels, beta: 6)
        #expect(abs(loss.scalar - 2.1251893) < 1e-5, "MART loss \(loss.scalar)")
        let boosted = MART.loss(naturalLogits: naturalLogits, adversarialLogits: adversarialLogits, labels: labels, beta: 0)
        #expect(abs(boosted.scalar - (1.0363674 + 0.6554642)) < 1e-5, "boosted cross-entropy \(boosted.scalar)")
    }

    @Test func lossGradientsMatchFiniteDifferences() {
        let natural = seededTensor([3, 4], in: -2...2, seed: 11)
        let adversarial = seededTensor([3, 4], in: -2...2, seed: 12)
        let labels: [Int32] = [0, 3, 1]
        expectGradientMatchesFiniteDifferences(at: [natural, adversarial]) {
            TRADES.loss(naturalLogits: $0[0], adversarialLogits: $0[1], labels: labels, beta: 6)
        }
        // Distinct logits so that a finite-difference step never changes MART's runner-up class.
        let distinctAdversarial = distinctValues([3, 4], spacing: 0.3, seed: 13)
        expectGradientMatchesFiniteDifferences(at: [natural, distinctAdversarial]) {
            MART.loss(naturalLogits: $0[0], adversarialLogits: $0[1], labels: labels, beta: 6)
        }
        expectGradientMatchesFiniteDifferences(at: [adversarial, natural]) {
            klDivergence(logits: $0[0], targetLogits: $0[1], reduction: .none, detachingTarget: false)
        }
    }

    @Test func detachedKLPassesNoGradientToItsTarget() {
        let logits = seededTensor([2, 3], seed: 14), target = seededTensor([2, 3], seed: 15)
        let detached = valueWithGradient(at: [logits, target]) { klDivergence(logits: $0[0], targetLogits: $0[1]) }
        let through = valueWithGradient(at: [logits, target]) { klDivergence(logits: $0[0], targetLogits: $0[1], detachingTarget: false) }
        #expect(detached.value == through.value)
        #expect(detached.gradients[0] == through.gradients[0])
        #expect(detached.gradients[1].array.allSatisfy { $0 == 0 })
        #expect(through.gradients[1].array.contains { $0 != 0 })
    }

    // MARK: - Exact equivalences

    /// One step of `method` and one of ``StandardTraining`` from the same model and optimizer.
    func oneStep<Method: TrainingMethod>(_ method: Method, batch: Batch) -> (method: (Sequential, StepMetrics), standard: (Sequential, StepMetrics)) {
        var method = method
        let standard = StandardTraining()
        var (model, reference) = (Fixtures.cnn(), Fixtures.cnn())
        var (optimizer, referenceOptimizer) = (Adam(learningRate: 1e-2), Adam(learningRate: 1e-2))
        var generator = SplitMix64(seed: 3), referenceGenerator = SplitMix64(seed: 3)
        let metrics = method.step(&model, optimizer: &optimizer, on: batch, using: &generator)
        let referenceMetrics = standard.step(&reference, optimizer: &referenceOptimizer, on: batch, using: &referenceGenerator)
        return ((model, metrics), (reference, referenceMetrics))
    }

    var firstBatch: Batch { Batch(inputs: data.images.slice(alongAxis: 0, 0..<32), labels: Array(data.labels[0..<32])) }

    @Test func tradesWithZeroBetaTakesTheStandardStep() {
        let (trades, standard) = oneStep(TRADES(threatModel: threatModel, steps: 3, stepSize: 0.05, beta: 0), batch: firstBatch)
        #expect(trades.1.loss == standard.1.loss)
        #expect(trades.0.parameters == standard.0.parameters)
        let (weighted, _) = oneStep(TRADES(threatModel: threatModel, steps: 3, stepSize: 0.05, beta: 6), batch: firstBatch)
        #expect(weighted.0.parameters != standard.0.parameters, "β > 0 must change the step")
    }

    @Test func mixWithRatioZeroIsStandardAndWithRatioOneIsItsAttacksTraining() {
        let fgsm = FGSM(threatModel: threatModel, stepSize: 0.25, randomStart: true)
        let (clean, standard) = oneStep(MixedAdversarialTraining(attack: fgsm, adversarialRatio: 0), batch: firstBatch)
        #expect(clean.1 == standard.1)
        #expect(clean.0.parameters == standard.0.parameters)

        var (model, reference) = (Fixtures.cnn(), Fixtures.cnn())
        var (optimizer, referenceOptimizer) = (Adam(learningRate: 1e-2), Adam(learningRate: 1e-2))
        var generator = SplitMix64(seed: 3), referenceGenerator = SplitMix64(seed: 3)
        let mix = MixedAdversarialTraining(attack: fgsm, adversarialRatio: 1)
        let fast = FastAdversarialTraining(threatModel: threatModel, stepSize: 0.25)
        let metrics = mix.step(&model, optimizer: &optimizer, on: firstBatch, using: &generator)
        let fastMetrics = fast.step(&reference, optimizer: &referenceOptimizer, on: firstBatch, using: &referenceGenerator)
        #expect(metrics == fastMetrics)
        #expect(model.parameters == reference.parameters)

        let (half, _) = oneStep(MixedAdversarialTraining(attack: fgsm, adversarialRatio: 0.5), batch: firstBatch)
        #expect(half.0.parameters != standard.0.parameters && half.0.parameters != model.parameters)
    }

    /// An unclipped start changes nothing when the ball lies inside the box, and changes the
    /// step on images at the box's edge (MNIST's zero background), where clipping removes half
    /// of the start's noise.
    @Test func unclippedFastStartDiffersOnlyAtTheBoxEdge() {
        let labels = Array(data.labels[0..<16])
        let interior = data.images.slice(alongAxis: 0, 0..<16) * 0.5 + 0.25
        let edge = data.images.slice(alongAxis: 0, 0..<16) * 0
        func stepped(_ clipsStart: Bool, _ inputs: Tensor) -> [String: Tensor] {
            var model = Fixtures.cnn()
            var optimizer = Adam(learningRate: 1e-2)
            var generator = SplitMix64(seed: 4)
            let method = FastAdversarialTraining(threatModel: .lInfinity(epsilon: 0.2), clipsStart: clipsStart)
            _ = method.step(&model, optimizer: &optimizer, on: Batch(inputs: inputs, labels: labels), using: &generator)
            return model.parameters
        }
        #expect(stepped(false, interior) == stepped(true, interior))
        #expect(stepped(false, edge) != stepped(true, edge))
    }

    /// The first replay of Free-AT starts from δ = 0: its weight update is the standard step
    /// and the input gradient of the same pass sets δ to ε · sign(∇ₓ L).
    @Test func freeTrainingUsesOnePassForTheWeightsAndThePerturbation() throws {
        let batch = firstBatch
        var free = FreeAdversarialTraining(threatModel: threatModel, replays: 1)
        var (model, reference) = (Fixtures.cnn(), Fixtures.cnn())
        var (optimizer, referenceOptimizer) = (Adam(learningRate: 1e-2), Adam(learningRate: 1e-2))
        var generator = SplitMix64(seed: 3)
        let inputGradient = gradient(at: batch.inputs) { x in softmaxCrossEntropy(logits: reference.applied(to: x), labels: batch.labels) }
        let metrics = free.step(&model, optimizer: &optimizer, on: batch, using: &generator)
        let standardMetrics = StandardTraining().step(&reference, optimizer: &referenceOptimizer, on: batch, using: &generator)
        #expect(metrics == standardMetrics)
        #expect(model.parameters == reference.parameters)
        let delta = try #require(free.perturbation)
        #expect(delta == inputGradient.sign() * 0.2)
    }

    @Test func freeTrainingCarriesAndResizesItsPerturbation() throws {
        var free = FreeAdversarialTraining(threatModel: threatModel, replays: 3)
        var model = Fixtures.cnn()
        var optimizer = Adam(learningRate: 1e-2)
        var generator = SplitMix64(seed: 4)
        func batch(_ range: Range<Int>) -> Batch {
            Batch(inputs: data.images.slice(alongAxis: 0, range), labels: Array(data.labels[range]))
        }
        _ = free.step(&model, optimizer: &optimizer, on: batch(0..<8), using: &generator)
        let first = try #require(free.perturbation)
        #expect(first.shape == [8, 1, 8, 8])
        #expect(first.array.contains { $0 != 0 })
        #expect(first.array.allSatisfy { abs($0) <= 0.2 })

        // A smaller batch uses and updates the first rows and keeps the others.
        _ = free.step(&model, optimizer: &optimizer, on: batch(8..<13), using: &generator)
        let second = try #require(free.perturbation)
        #expect(second.shape == [8, 1, 8, 8])
        #expect(second.slice(alongAxis: 0, 5..<8) == first.slice(alongAxis: 0, 5..<8))
        #expect(second.slice(alongAxis: 0, 0..<5) != first.slice(alongAxis: 0, 0..<5))

        // A larger one extends δ.
        _ = free.step(&model, optimizer: &optimizer, on: batch(13..<23), using: &generator)
        let third = try #require(free.perturbation)
        #expect(third.shape == [10, 1, 8, 8])
        #expect(third.array.allSatisfy { abs($0) <= 0.2 })
    }

    @Test func tradesAndMartExamplesStayInTheBallAndTheBox() {
        let batch = firstBatch
        let model = Fixtures.trainedMLP().model
        var generator = SplitMix64(seed: 5)
        let trades = TRADES(threatModel: threatModel, steps: 5, stepSize: 0.05).adversarialExamples(for: batch.inputs, against: model, using: &generator)
        let mart = MART(threatModel: threatModel, steps: 5, stepSize: 0.05).adversarialExamples(for: batch.inputs, labels: batch.labels, against: model, using: &generator)
        for adversarial in [trades, mart] {
            #expect(threatModel.norms(of: adversarial - batch.inputs).allSatisfy { $0 <= 0.2 + 1e-6 })
            #expect(adversarial.array.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        // The KL maximization moves the model's prediction away from the clean one.
        let divergence = klDivergence(logits: model.applied(to: trades), targetLogits: model.applied(to: batch.inputs))
        #expect(divergence.scalar > 0.05, "KL \(divergence.scalar) at the TRADES examples")
    }

    /// The reference codes call `model.eval()` before the inner maximization: with dropout in
    /// the model, the examples must be those of the inference-mode model.
    @Test func tradesAndMartMaximizeInInferenceMode() {
        let generator = SplitMix64(seed: 8)
        let trained = Fixtures.trainedMLP().model
        var layers = trained.layers
        layers.insert(Dropout(probability: 0.5, seed: 9), at: 3)
        var withDropout = Sequential(layers)
        withDropout.mode = .training
        let inference = withDropout.with(mode: .inference)
        let batch = firstBatch
        let trades = TRADES(threatModel: threatModel, steps: 3, stepSize: 0.05)
        let mart = MART(threatModel: threatModel, steps: 3, stepSize: 0.05)
        var (first, second) = (generator, generator)
        #expect(trades.adversarialExamples(for: batch.inputs, against: withDropout, using: &first)
                == trades.adversarialExamples(for: batch.inputs, against: inference, using: &second))
        #expect(mart.adversarialExamples(for: batch.inputs, labels: batch.labels, against: withDropout, using: &first)
                == mart.adversarialExamples(for: batch.inputs, labels: batch.labels, against: inference, using: &second))
        // The check can fail: in training mode dropout changes the input gradient.
        let noisy = gradient(at: batch.inputs) { x in
            var model = withDropout
            return softmaxCrossEntropy(logits: model(x), labels: batch.labels)
        }
        let quiet = gradient(at: batch.inputs) { x in softmaxCrossEntropy(logits: inference.applied(to: x), labels: batch.labels) }
        #expect(noisy != quiet)
    }

    // MARK: - AWP

    /// The batch's PGD examples as AWP's step makes them (the same draws from the generator).
    func awpExamples(_ method: AdversarialWeightPerturbation, model: Sequential, batch: Batch, seed: UInt64 = 3) -> Tensor {
        var generator = SplitMix64(seed: seed)
        return method.adversarialExamples(for: batch.inputs, labels: batch.labels, against: model, using: &generator)
    }

    func adding(_ perturbation: [String: Tensor], to model: Sequential) -> Sequential {
        var copy = model
        copy.visitParameters { path, tensor in
            if let change = perturbation[path] { tensor = tensor + change }
        }
        return copy
    }

    func robustLoss(_ method: AdversarialWeightPerturbation, _ model: Sequential, adversarial: Tensor, batch: Batch) -> Float {
        var model = model
        return method.loss(of: &model, naturalInputs: batch.inputs, adversarialInputs: adversarial, labels: batch.labels).loss.scalar
    }

    /// v perturbs the convolution and linear weights only, each by γ times its weights' norm,
    /// along the gradient of the adversarial loss (one step, as the reference).
    @Test func awpPerturbationIsLayerwiseAlongTheGradient() throws {
        let model = Fixtures.cnn(), batch = firstBatch
        for method in [awp(.pgd(pgd), gamma: 0.02), awp(.trades(trades), gamma: 0.02)] {
            let adversarial = awpExamples(method, model: model, batch: batch)
            let perturbation = try #require(method.weightPerturbation(of: model, naturalInputs: batch.inputs, adversarialInputs: adversarial, labels: batch.labels))
            #expect(Set(perturbation.keys) == ["0.weight", "4.weight"], "biases stay unperturbed")
            var proxy = model
            let (_, gradients) = valueWithGradient(at: &proxy) { proxy in
                method.loss(of: &proxy, naturalInputs: batch.inputs, adversarialInputs: adversarial, labels: batch.labels).loss
            }
            for (path, v) in perturbation {
                let w = try #require(model.parameters[path]), g = try #require(gradients[path])
                let norm = { (t: Tensor) in Float(t.array.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()) }
                #expect(abs(norm(v) / (0.02 * norm(w)) - 1) < 1e-5, "\(path): ‖v‖ = \(norm(v)), γ‖w‖ = \(0.02 * norm(w))")
                let cosine = (v * g).sum().scalar / (norm(v) * norm(g))
                #expect(cosine > 0.99999, "\(path): v is not along the gradient (cos \(cosine))")
            }
            // An adversarial perturbation: the loss rises.
            #expect(robustLoss(method, adding(perturbation, to: model), adversarial: adversarial, batch: batch)
                    > robustLoss(method, model, adversarial: adversarial, batch: batch))
        }
    }

    /// The rank rule perturbs, in every built-in architecture, exactly the tensors the
    /// reference's rule (rank ≥ 2 and `weight` in the name) does, and also the convolutions
    /// of an imported graph, whose initializer names say nothing.
    @Test func awpPerturbsWhatTheReferencePerturbsAndImportedConvolutions() {
        for architecture in Architecture.allCases {
            var generator = SplitMix64(seed: 1)
            let parameters = architecture.makeModel(using: &generator).parameters
            let byRank = parameters.filter { AdversarialWeightPerturbation.perturbs(path: $0.key, shape: $0.value.shape) }.keys
            let byReference = parameters.filter { $0.value.shape.count >= 2 && $0.key.contains("weight") }.keys
            #expect(Set(byRank) == Set(byReference) && !byRank.isEmpty, "\(architecture)")
        }
        #expect(AdversarialWeightPerturbation.perturbs(path: "onnx::Conv_89", shape: [16, 1, 3, 3]))
        #expect(!AdversarialWeightPerturbation.perturbs(path: "onnx::Conv_90", shape: [16]))
    }

    /// With plain SGD the step is `w ← w − η · ∇ρ(w + v)`: v is removed exactly.
    @Test func awpStepsFromTheUnperturbedWeightsAlongThePerturbedGradient() throws {
        let batch = firstBatch
        for method in [awp(.pgd(pgd)), awp(.trades(trades))] {
            let model = Fixtures.cnn()
            let adversarial = awpExamples(method, model: model, batch: batch)
            let perturbation = try #require(method.weightPerturbation(of: model, naturalInputs: batch.inputs, adversarialInputs: adversarial, labels: batch.labels))
            var perturbed = adding(perturbation, to: model)
            let (_, gradients) = valueWithGradient(at: &perturbed) { perturbed in
                method.loss(of: &perturbed, naturalInputs: batch.inputs, adversarialInputs: adversarial, labels: batch.labels).loss
            }
            var stepped = model
            var optimizer = SGD(learningRate: 0.1)
            var generator = SplitMix64(seed: 3)
            let metrics = method.step(&stepped, optimizer: &optimizer, on: batch, using: &generator)
            #expect(metrics.loss.isFinite)
            for (path, w) in model.parameters {
                let g = try #require(gradients[path])
                #expect(stepped.parameters[path] == w - g * 0.1, "\(path)")
            }
            // The perturbation mattered: the base method's step is another.
            var base = model
            var baseOptimizer = SGD(learningRate: 0.1)
            var baseGenerator = SplitMix64(seed: 3)
            switch method.base {
            case .pgd(let inner): _ = inner.step(&base, optimizer: &baseOptimizer, on: batch, using: &baseGenerator)
            case .trades(let inner): _ = inner.step(&base, optimizer: &baseOptimizer, on: batch, using: &baseGenerator)
            }
            #expect(base.parameters != stepped.parameters)
        }
    }

    @Test func awpWithoutGammaOrBeforeItsWarmupTakesTheBaseStep() {
        let (zero, pgdStep) = (oneStep(awp(.pgd(pgd), gamma: 0), batch: firstBatch).method, oneStep(pgd, batch: firstBatch).method)
        #expect(zero.1 == pgdStep.1 && zero.0.parameters == pgdStep.0.parameters)
        var warming = AdversarialWeightPerturbation(base: .trades(trades), gamma: 0.05, warmupEpochs: 2)
        warming.completedEpochs = 1
        #expect(!warming.isPerturbing)
        let (early, tradesStep) = (oneStep(warming, batch: firstBatch).method, oneStep(trades, batch: firstBatch).method)
        #expect(early.1 == tradesStep.1 && early.0.parameters == tradesStep.0.parameters)
        warming.completedEpochs = 2
        #expect(oneStep(warming, batch: firstBatch).method.0.parameters != tradesStep.0.parameters)
    }

    /// One step lowers AWP's objective, the loss at the perturbed weights `ρ(w + v(w))`, for
    /// the batch's adversarial examples.
    @Test func awpStepLowersItsObjective() throws {
        let batch = firstBatch
        for method in [awp(.pgd(pgd)), awp(.trades(trades))] {
            let model = Fixtures.cnn()
            let adversarial = awpExamples(method, model: model, batch: batch)
            func objective(_ model: Sequential) throws -> Float {
                let v = try #require(method.weightPerturbation(of: model, naturalInputs: batch.inputs, adversarialInputs: adversarial, labels: batch.labels))
                return robustLoss(method, adding(v, to: model), adversarial: adversarial, batch: batch)
            }
            var stepped = model
            var optimizer = SGD(learningRate: 0.05)
            var generator = SplitMix64(seed: 3)
            let metrics = method.step(&stepped, optimizer: &optimizer, on: batch, using: &generator)
            #expect(abs(metrics.loss - (try objective(model))) < 1e-6, "the step reports ρ(w + v)")
            #expect(try objective(stepped) < objective(model))
        }
    }

    @Test func trainerTellsTheMethodTheCompletedEpochs() throws {
        struct Recorder: TrainingMethod {
            var completedEpochs = 0
            var seen: [Int] = []
            var name: String { "recorder" }
            mutating func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
                _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
            ) -> StepMetrics {
                seen.append(completedEpochs)
                return StepMetrics(loss: 0, accuracy: 0, count: batch.count)
            }
        }
        var model = Fixtures.mlp()
        var trainer = Trainer(method: Recorder(), optimizer: Adam(), schedule: .constant(1e-3), epochs: 3, batchSize: 256)
        var generator = SplitMix64(seed: 1)
        _ = try trainer.fit(&model, on: data, validation: nil, using: &generator)
        #expect(trainer.method.seen == [0, 0, 1, 1, 2, 2])
    }

    // MARK: - GradAlign

    /// `1 − mean cos` over the examples, against cosines computed here in Float64 from two
    /// ordinary input gradients; an example whose gradient is zero is left out.
    @Test func gradAlignMisalignmentIsOneMinusTheMeanCosine() {
        var model = Fixtures.cnn()
        let batch = firstBatch
        var generator = SplitMix64(seed: 4)
        let noisy = ThreatModel(norm: .lInfinity, epsilon: 0.2, bounds: -Float.infinity...Float.infinity)
            .randomStart(around: batch.inputs, using: &generator)
        func inputGradient(_ x: Tensor) -> [Float] {
            gradient(at: x) { x in softmaxCrossEntropy(logits: model.applied(to: x), labels: batch.labels) }.array
        }
        let (first, second) = (inputGradient(batch.inputs), inputGradient(noisy))
        let width = first.count / batch.count
        func cosine(_ row: Int) -> Double {
            let a = first[(row * width)..<((row + 1) * width)].map(Double.init), b = second[(row * width)..<((row + 1) * width)].map(Double.init)
            let dot = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
            return dot / (a.reduce(0) { $0 + $1 * $1 }.squareRoot() * b.reduce(0) { $0 + $1 * $1 }.squareRoot())
        }
        let cosines = (0..<batch.count).map(cosine)
        let expected = 1 - cosines.reduce(0, +) / Double(batch.count)
        let reference = Tensor(shape: batch.inputs.shape, scalars: first)
        let value = GradAlign.misalignment(of: &model, referenceGradient: reference, at: noisy, labels: batch.labels)
        #expect(abs(Double(value.scalar) - expected) < 1e-5, "\(value.scalar) vs \(expected)")
        #expect(expected > 0.01, "the fixture's gradients are not already aligned")

        var withZero = first
        for index in 0..<width { withZero[index] = 0 }
        let zeroRow = GradAlign.misalignment(of: &model, referenceGradient: Tensor(shape: batch.inputs.shape, scalars: withZero), at: noisy, labels: batch.labels)
        let expectedWithout = 1 - cosines.dropFirst().reduce(0, +) / Double(batch.count - 1)
        #expect(abs(Double(zeroRow.scalar) - expectedWithout) < 1e-5)
        let allZero = GradAlign.misalignment(of: &model, referenceGradient: Tensor(zeros: batch.inputs.shape), at: noisy, labels: batch.labels)
        #expect(allZero.scalar == 0)
    }

    /// The regularizer's parameter gradient (double backward) against central differences of
    /// its value: every parameter of a smooth convolutional network (GELU, whose second
    /// derivative is not zero), and the last layer of the ReLU and max-pooling fixture, whose
    /// masks and winners a difference in that layer cannot flip (one in an earlier layer
    /// can, and then the quotient measures the jump, not the derivative).
    @Test func gradAlignRegularizerGradientMatchesFiniteDifferences() {
        var generator = SplitMix64(seed: 6)
        let smooth = Sequential([
            Conv2D(inputChannels: 1, outputChannels: 3, kernelSize: 3, stride: 2, padding: 1, using: &generator), GELU(),
            Flatten(), Linear(inputSize: 48, outputSize: 4, using: &generator),
        ])
        expectMisalignmentGradientMatchesFiniteDifferences(smooth, paths: smooth.parameterPaths)
        let fixture = Fixtures.cnn()
        #expect(fixture.parameterPaths.suffix(2) == ["4.weight", "4.bias"])
        expectMisalignmentGradientMatchesFiniteDifferences(fixture, paths: ["4.weight", "4.bias"])
    }

    func expectMisalignmentGradientMatchesFiniteDifferences(_ model: Sequential, paths: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let batch = Batch(inputs: data.images.slice(alongAxis: 0, 0..<4), labels: Array(data.labels[0..<4]))
        var generator = SplitMix64(seed: 5)
        let noisy = ThreatModel(norm: .lInfinity, epsilon: 0.2, bounds: -Float.infinity...Float.infinity)
            .randomStart(around: batch.inputs, using: &generator)
        let reference = gradient(at: batch.inputs) { x in softmaxCrossEntropy(logits: model.applied(to: x), labels: batch.labels, reduction: .sum) }
        let parameters = model.parameters
        // Scaled so that the tolerance, relative to max(1, |derivative|), is tight.
        expectGradientMatchesFiniteDifferences(at: paths.map { parameters[$0]! }, step: 1e-3, tolerance: 2e-2, sourceLocation: sourceLocation) { values in
            var model = model
            model.visitParameters { path, tensor in
                if let index = paths.firstIndex(of: path) { tensor = values[index] }
            }
            return GradAlign.misalignment(of: &model, referenceGradient: reference, at: noisy, labels: batch.labels) * 100
        }
    }

    @Test func gradAlignWithoutLambdaTakesTheFGSMStep() {
        let method = GradAlign(threatModel: threatModel, lambda: 0, stepSize: 0.25, randomStart: true)
        let (aligned, fast) = (oneStep(method, batch: firstBatch).method, oneStep(FastAdversarialTraining(threatModel: threatModel, stepSize: 0.25), batch: firstBatch).method)
        #expect(aligned.1 == fast.1 && aligned.0.parameters == fast.0.parameters)
        let regularized = oneStep(GradAlign(threatModel: threatModel, lambda: 1, stepSize: 0.25, randomStart: true), batch: firstBatch).method
        #expect(regularized.0.parameters != fast.0.parameters)
        #expect(regularized.1.loss > fast.1.loss, "the reported loss includes λ · (1 − cos) > 0")
    }

    /// One step lowers GradAlign's objective for the batch's FGSM examples and η, and with a
    /// large λ the misalignment itself.
    @Test func gradAlignStepLowersItsObjective() {
        let batch = firstBatch
        let model = Fixtures.cnn()
        let lambda: Float = 5
        // FGSM from zero and η as the step draws them.
        let clean = gradient(at: batch.inputs) { x in softmaxCrossEntropy(logits: model.applied(to: x), labels: batch.labels, reduction: .sum) }
        let adversarial = threatModel.project(batch.inputs + clean.sign() * 0.2, around: batch.inputs)
        var generator = SplitMix64(seed: 3)
        let noisy = ThreatModel(norm: .lInfinity, epsilon: 0.2, bounds: -Float.infinity...Float.infinity).randomStart(around: batch.inputs, using: &generator)
        func misalignment(_ model: Sequential) -> Float {
            var model = model
            return GradAlign.misalignment(of: &model, referenceGradient: clean, at: noisy, labels: batch.labels).scalar
        }
        func objective(_ model: Sequential) -> Float {
            softmaxCrossEntropy(logits: model.applied(to: adversarial), labels: batch.labels).scalar + lambda * misalignment(model)
        }
        var stepped = model
        var optimizer = SGD(learningRate: 0.02)
        var stepGenerator = SplitMix64(seed: 3)
        let metrics = GradAlign(threatModel: threatModel, lambda: lambda).step(&stepped, optimizer: &optimizer, on: batch, using: &stepGenerator)
        #expect(abs(metrics.loss - objective(model)) < 1e-5, "the step reports its objective: \(metrics.loss) vs \(objective(model))")
        #expect(objective(stepped) < objective(model))
        #expect(misalignment(stepped) < misalignment(model))
    }

    // MARK: - Training

    @Test(arguments: methodNames)
    func methodLearnsAndIsMoreRobustThanStandardTraining(name: String) throws {
        let (standard, _) = try train(StandardTraining(), epochs: 8, seed: 1)
        let (model, history) = try train(name)
        #expect(history.last!.trainLoss < history.first!.trainLoss, "\(name) loss \(history.map(\.trainLoss))")
        let standardResult = robustAccuracy(standard), result = robustAccuracy(model)
        #expect(result.clean > 0.8, "\(name) \(result)")
        #expect(result.robust > standardResult.robust + 0.3, "\(name) \(result) vs standard \(standardResult)")
    }

    @Test(arguments: methodNames)
    func sameSeedGivesIdenticalWeights(name: String) throws {
        let (first, _) = try train(name, epochs: 4, seed: 5)
        let (second, _) = try train(name, epochs: 4, seed: 5)
        let (other, _) = try train(name, epochs: 4, seed: 6)
        #expect(first.parameters == second.parameters)
        #expect(first.parameters != other.parameters)
    }

    @Test(arguments: methodNames)
    func nonFiniteLossStopsTrainingBeforeTheWeights(name: String) throws {
        var poisoned = data
        var scalars = poisoned.images.array
        scalars[5] = .nan
        poisoned.images = Tensor(shape: poisoned.images.shape, scalars: scalars)
        var model = Fixtures.cnn()
        let before = model.parameters
        // One batch holding every example, so the first step sees the NaN.
        #expect(throws: TrainingError.nonFiniteLoss(epoch: 1, batch: 1, lastGoodCheckpoint: nil)) {
            try fitOneBatch(name, &model, on: poisoned)
        }
        #expect(model.parameters == before, "\(name): a NaN loss must not reach the weights")
    }

    private func fitOneBatch(_ name: String, _ model: inout Sequential, on training: ImageDataset) throws {
        func fit<Method: TrainingMethod>(_ method: Method) throws {
            var trainer = Trainer(method: method, optimizer: Adam(), schedule: .constant(1e-3), epochs: 1, batchSize: training.count)
            var generator = SplitMix64(seed: 1)
            _ = try trainer.fit(&model, on: training, validation: nil, using: &generator)
        }
        switch name {
        case "trades": try fit(TRADES(threatModel: threatModel, steps: 2, stepSize: 0.05))
        case "mart": try fit(MART(threatModel: threatModel, steps: 2, stepSize: 0.05))
        case "free": try fit(FreeAdversarialTraining(threatModel: threatModel, replays: 2))
        case "mix": try fit(MixedAdversarialTraining(attack: PGD(threatModel: threatModel, steps: 2, stepSize: 0.05)))
        case "awp": try fit(awp(.pgd(PGDAdversarialTraining(threatModel: threatModel, steps: 2, stepSize: 0.05))))
        case "awp-trades": try fit(awp(.trades(TRADES(threatModel: threatModel, steps: 2, stepSize: 0.05))))
        case "gradalign": try fit(GradAlign(threatModel: threatModel, lambda: 1))
        default: preconditionFailure("no method \(name)")
        }
    }
}

/// ε warm-up: the trainer's per-batch ramp of a method's budget.
@Suite struct EpsilonWarmupTests {
    /// Records the budget scale of every step and trains nothing.
    struct Recorder: TrainingMethod {
        var budgetScale: Float? = 1
        var scales: [Float] = []
        var name: String { "recorder" }

        mutating func step<Model: Layer, Opt: Optimizer, G: RandomNumberGenerator>(
            _ model: inout Model, optimizer: inout Opt, on batch: Batch, using generator: inout G
        ) -> StepMetrics {
            scales.append(budgetScale ?? .nan)
            return StepMetrics(loss: 0, accuracy: 0, count: batch.count)
        }
    }

    let data = Fixtures.templates(count: 128)

    @Test func budgetRampsLinearlyPerBatchThenStays() throws {
        var model = Fixtures.mlp()
        var trainer = Trainer(method: Recorder(), optimizer: Adam(), schedule: .constant(1e-3), epochs: 3, batchSize: 32,
                              epsilonWarmupEpochs: 2)
        var generator = SplitMix64(seed: 1)
        let history = try trainer.fit(&model, on: data, validation: nil, using: &generator)
        #expect(trainer.method.scales == [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1, 1, 1, 1, 1])
        #expect(history.map(\.epsilonScale) == [0.5, 1, 1])

        var plain = Trainer(method: Recorder(), optimizer: Adam(), schedule: .constant(1e-3), epochs: 1, batchSize: 32)
        let plainHistory = try plain.fit(&model, on: data, validation: nil, using: &generator)
        #expect(plain.method.scales == [1, 1, 1, 1])
        #expect(plainHistory[0].epsilonScale == nil)
    }

    @Test func warmupNeedsAMethodWithABudget() {
        var model = Fixtures.mlp()
        var generator = SplitMix64(seed: 1)
        var standard = Trainer(method: StandardTraining(), optimizer: Adam(), schedule: .constant(1e-3), epochs: 2, batchSize: 32,
                               epsilonWarmupEpochs: 1)
        #expect(throws: TrainingError.self) { try standard.fit(&model, on: data, validation: nil, using: &generator) }
        var negative = Trainer(method: Recorder(), optimizer: Adam(), schedule: .constant(1e-3), epochs: 2, batchSize: 32,
                               epsilonWarmupEpochs: -1)
        #expect(throws: TrainingError.self) { try negative.fit(&model, on: data, validation: nil, using: &generator) }
    }

    /// A scaled budget is the same method configured with the scaled ε and step size.
    @Test func scaledMethodEqualsTheMethodAtTheScaledBudget() {
        let batch = Batch(inputs: data.images.slice(alongAxis: 0, 0..<16), labels: Array(data.labels[0..<16]))
        func stepped<Method: TrainingMethod>(_ method: Method) -> [String: Tensor] {
            var method = method
            var model = Fixtures.cnn()
            var optimizer = Adam(learningRate: 1e-2)
            var generator = SplitMix64(seed: 2)
            _ = method.step(&model, optimizer: &optimizer, on: batch, using: &generator)
            _ = method.step(&model, optimizer: &optimizer, on: batch, using: &generator)
            return model.parameters
        }
        func halved<Method: TrainingMethod>(_ method: Method) -> Method {
            var method = method
            method.budgetScale = 0.5
            return method
        }
        let full = ThreatModel.lInfinity(epsilon: 0.2), half = ThreatModel.lInfinity(epsilon: 0.1)
        #expect(stepped(halved(PGDAdversarialTraining(threatModel: full, steps: 3, stepSize: 0.08)))
                == stepped(PGDAdversarialTraining(threatModel: half, steps: 3, stepSize: 0.04)))
        #expect(stepped(halved(FastAdversarialTraining(threatModel: full)))
                == stepped(FastAdversarialTraining(threatModel: half, stepSize: 0.125)))
        #expect(stepped(halved(TRADES(threatModel: full, steps: 3, stepSize: 0.08)))
                == stepped(TRADES(threatModel: half, steps: 3, stepSize: 0.04)))
        #expect(stepped(halved(MART(threatModel: full, steps: 3, stepSize: 0.08)))
                == stepped(MART(threatModel: half, steps: 3, stepSize: 0.04)))
        #expect(stepped(halved(FreeAdversarialTraining(threatModel: full, replays: 2)))
                == stepped(FreeAdversarialTraining(threatModel: half, replays: 2)))
        #expect(stepped(halved(TRADES(threatModel: full, steps: 3, stepSize: 0.08)))
                != stepped(TRADES(threatModel: full, steps: 3, stepSize: 0.08)))
        #expect(MixedAdversarialTraining(attack: FGSM(threatModel: full)).budgetScale == nil)
    }
}
