import Bulwark
import Foundation
import Testing
import _TestSupport

@Suite struct LayerTests {
    @Test func architecturesHavePyTorchStateDictNamesAndShapes() {
        var generator = SplitMix64(seed: 0)
        let expected: [Architecture: [String: [Int]]] = [
            .mlp: ["1.weight": [256, 784], "1.bias": [256], "3.weight": [256, 256], "3.bias": [256], "5.weight": [10, 256], "5.bias": [10]],
            .lenet: ["0.weight": [16, 1, 3, 3], "0.bias": [16], "3.weight": [32, 16, 3, 3], "3.bias": [32],
                     "7.weight": [100, 1568], "7.bias": [100], "9.weight": [10, 100], "9.bias": [10]],
            .smallcnn: ["0.weight": [32, 1, 5, 5], "0.bias": [32], "3.weight": [64, 32, 5, 5], "3.bias": [64],
                        "7.weight": [1024, 3136], "7.bias": [1024], "9.weight": [10, 1024], "9.bias": [10]],
            .fastcnn: ["0.weight": [16, 1, 4, 4], "0.bias": [16], "2.weight": [32, 16, 4, 4], "2.bias": [32],
                       "5.weight": [100, 1568], "5.bias": [100], "7.weight": [10, 100], "7.bias": [10]],
            // TRADES' SmallCNN: named submodules of two OrderedDict Sequentials.
            .tradesCNN: ["feature_extractor.conv1.weight": [32, 1, 3, 3], "feature_extractor.conv1.bias": [32],
                         "feature_extractor.conv2.weight": [32, 32, 3, 3], "feature_extractor.conv2.bias": [32],
                         "feature_extractor.conv3.weight": [64, 32, 3, 3], "feature_extractor.conv3.bias": [64],
                         "feature_extractor.conv4.weight": [64, 64, 3, 3], "feature_extractor.conv4.bias": [64],
                         "classifier.fc1.weight": [200, 1024], "classifier.fc1.bias": [200],
                         "classifier.fc2.weight": [200, 200], "classifier.fc2.bias": [200],
                         "classifier.fc3.weight": [10, 200], "classifier.fc3.bias": [10]],
            // Carlini and Wagner's CIFAR model; index 13 is the dropout.
            .cifarCNN: ["0.weight": [64, 3, 3, 3], "0.bias": [64], "2.weight": [64, 64, 3, 3], "2.bias": [64],
                        "5.weight": [128, 64, 3, 3], "5.bias": [128], "7.weight": [128, 128, 3, 3], "7.bias": [128],
                        "11.weight": [256, 3200], "11.bias": [256], "14.weight": [256, 256], "14.bias": [256],
                        "16.weight": [10, 256], "16.bias": [10]],
            .preactResNet18: Self.preactResNet18Parameters,
        ]
        for architecture in Architecture.allCases {
            var model = architecture.makeModel(using: &generator)
            #expect(model.parameters.mapValues(\.shape) == expected[architecture], "\(architecture)")
            let output = model(Tensor(zeros: [2] + architecture.inputShape))
            #expect(output.shape == [2, 10], "\(architecture)")
        }
    }

    /// The `state_dict` of the PyTorch `PreActResNet18` of Wong et al.'s code (parameters only;
    /// the batch normalizations' running statistics are state).
    static var preactResNet18Parameters: [String: [Int]] {
        var shapes: [String: [Int]] = ["conv1.weight": [64, 3, 3, 3], "bn.weight": [512], "bn.bias": [512],
                                       "linear.weight": [10, 512], "linear.bias": [10]]
        var inputChannels = 64
        for (stage, width) in [64, 128, 256, 512].enumerated() {
            for block in 0..<2 {
                let prefix = "layer\(stage + 1).\(block)."
                let channels = block == 0 ? inputChannels : width
                shapes[prefix + "bn1.weight"] = [channels]
                shapes[prefix + "bn1.bias"] = [channels]
                shapes[prefix + "conv1.weight"] = [width, channels, 3, 3]
                shapes[prefix + "bn2.weight"] = [width]
                shapes[prefix + "bn2.bias"] = [width]
                shapes[prefix + "conv2.weight"] = [width, width, 3, 3]
                if channels != width { shapes[prefix + "shortcut.0.weight"] = [width, channels, 1, 1] }
            }
            inputChannels = width
        }
        return shapes
    }

    @Test func preactResNet18HasTheStateAndSizeOfThePyTorchModel() {
        var generator = SplitMix64(seed: 1)
        let model = Architecture.preactResNet18.makeModel(using: &generator)
        // Worked out from the PyTorch definition: convolutions, γ and β of 17 batch
        // normalizations, three projections and the linear layer.
        #expect(model.parameterCount == 11_172_170)
        let state = model.state
        #expect(state.count == 17 * 3, "running_mean, running_var and num_batches_tracked of every batch normalization")
        #expect(state["layer4.1.bn2.running_var"]?.shape == [512])
        #expect(state["bn.num_batches_tracked"] != nil)
    }

    @Test func sequentialFusesReLUAndMaxPoolingWithoutChangingResults() {
        var generator = SplitMix64(seed: 3)
        var model = Architecture.smallcnn.makeModel(using: &generator)
        let x = seededTensor([4, 1, 28, 28], in: 0...1, seed: 4)
        let fused = model(x)
        var layerByLayer = x
        for index in model.layers.indices { layerByLayer = model.layers[index](layerByLayer) }
        #expect(fused.array == layerByLayer.array)
        let (_, fusedGradient) = valueWithGradient(at: x) { model($0).sum() }
        let (_, gradient) = valueWithGradient(at: x) { input in
            var output = input
            for index in model.layers.indices { output = model.layers[index](output) }
            return output.sum()
        }
        #expect(fusedGradient.array == gradient.array)
    }

    @Test func linearComputesXTimesWeightTransposePlusBias() {
        var layer = Linear(weight: Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]), bias: Tensor([10, 20]))
        let output = layer(Tensor(shape: [1, 3], scalars: [1, 1, 2]))
        #expect(output.array == [19, 41], "1+2+6+10 and 4+5+12+20")
    }

    @Test func batchNormUsesBatchStatisticsInTrainingAndRunningOnesInInference() {
        var layer = BatchNorm2D(channels: 2)
        let input = seededTensor([4, 2, 3, 3], in: 0...4, seed: 1)
        let output = layer(input)
        // Each channel of the output has mean 0 and (biased) variance 1.
        for channel in 0..<2 {
            let values = (0..<4).flatMap { n in (0..<9).map { output.array[(n * 2 + channel) * 9 + $0] } }
            let mean = values.reduce(0, +) / Float(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)
            #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-3)
        }
        #expect(layer.batchesTracked.scalar == 1)
        #expect(layer.runningMean.array.allSatisfy { $0 > 0.1 }, "running mean moved towards the batch mean (≈ 2)")
        layer.mode = .inference
        let before = layer.runningMean
        _ = layer(input)
        #expect(layer.runningMean == before, "inference must not update statistics")
        expectGradientMatchesFiniteDifferences(at: [seededTensor([3, 2, 2, 2], seed: 2)], tolerance: 2e-2) { inputs in
            var training = BatchNorm2D(channels: 2)
            return training(inputs[0])
        }
    }

    @Test func dropoutIsSeededScaledAndInactiveInInference() {
        var layer = Dropout(probability: 0.5, seed: 3)
        let input = Tensor(repeating: 1, shape: [1000])
        let output = layer(input)
        let kept = output.array.filter { $0 != 0 }
        #expect(kept.allSatisfy { $0 == 2 })
        #expect(kept.count > 400 && kept.count < 600)
        var same = Dropout(probability: 0.5, seed: 3)
        #expect(same(input) == output)
        layer.mode = .inference
        #expect(layer(input) == input)
    }

    @Test func sgdMatchesPyTorchUpdateRule() {
        // θ = 1, g = 0.5, λ = 0.1, μ = 0.9, η = 0.1; PyTorch: step 1 v = g + λθ = 0.6, θ = 0.94;
        // step 2 (same g): g' = 0.5 + 0.094 = 0.594, v = 0.9·0.6 + 0.594 = 1.134, θ = 0.94 − 0.1134.
        var model = Sequential([Linear(weight: Tensor(shape: [1, 1], scalars: [1]), bias: nil)])
        var optimizer = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.1)
        let gradients = Gradients(["0.weight": Tensor(shape: [1, 1], scalars: [0.5])])
        optimizer.update(&model, along: gradients)
        #expect(abs(model.parameters["0.weight"]!.scalar - 0.94) < 1e-6)
        optimizer.update(&model, along: gradients)
        #expect(abs(model.parameters["0.weight"]!.scalar - (0.94 - 0.1134)) < 1e-6)
    }

    @Test func adamFirstStepMovesByTheLearningRate() {
        // With bias correction the first Adam step is −η·sign(g) (up to ε).
        var model = Sequential([Linear(weight: Tensor(shape: [1, 2], scalars: [1, 1]), bias: nil)])
        var optimizer = Adam(learningRate: 0.01)
        optimizer.update(&model, along: Gradients(["0.weight": Tensor(shape: [1, 2], scalars: [3, -0.2])]))
        let weight = model.parameters["0.weight"]!.array
        #expect(abs(weight[0] - 0.99) < 1e-5 && abs(weight[1] - 1.01) < 1e-5)
        #expect(optimizer.step == 1)
    }

    /// The vectorized loops against the update rules written out per scalar, bit for bit, on a
    /// parameter whose size is not a multiple of the vector width, over three steps.
    @Test(arguments: ["sgd", "sgd-nesterov", "adam", "adamw"])
    func vectorizedUpdatesEqualTheScalarRule(_ name: String) {
        let count = 8 * 150 + 5
        var generator = SplitMix64(seed: 3)
        let start = (0..<count).map { _ in Float.random(in: -1...1, using: &generator) }
        let steps = (0..<3).map { _ in (0..<count).map { _ in Float.random(in: -1...1, using: &generator) } }
        var model = Sequential([Linear(weight: Tensor(shape: [1, count], scalars: start), bias: nil)])
        var theta = start
        var (velocity, first, second) = ([Float](repeating: 0, count: count), [Float](repeating: 0, count: count), [Float](repeating: 0, count: count))
        let (rate, momentum, decay) = (Float(0.05), Float(0.9), Float(0.01))
        var sgd = SGD(learningRate: rate, momentum: momentum, nesterov: name == "sgd-nesterov", weightDecay: decay)
        var adam = Adam(learningRate: rate, weightDecay: decay, decoupledWeightDecay: name == "adamw")
        for (index, gradient) in steps.enumerated() {
            let gradients = Gradients(["0.weight": Tensor(shape: [1, count], scalars: gradient)])
            if name.hasPrefix("sgd") { sgd.update(&model, along: gradients) } else { adam.update(&model, along: gradients) }
            let (beta1, beta2, epsilon) = (adam.beta1, adam.beta2, adam.epsilon)
            let correction1 = 1 - Float(pow(Double(beta1), Double(index + 1)))
            let correction2Root = Float((1 - pow(Double(beta2), Double(index + 1))).squareRoot())
            for i in 0..<count {
                if name.hasPrefix("sgd") {
                    var step = gradient[i] + decay * theta[i]
                    velocity[i] = index == 0 ? step : momentum * velocity[i] + step
                    step = name == "sgd-nesterov" ? step + momentum * velocity[i] : velocity[i]
                    theta[i] -= rate * step
                } else {
                    var g = gradient[i]
                    if name == "adamw" { theta[i] *= 1 - rate * decay } else { g += decay * theta[i] }
                    first[i] = beta1 * first[i] + (1 - beta1) * g
                    second[i] = beta2 * second[i] + (1 - beta2) * g * g
                    theta[i] -= (rate / correction1) * first[i] / (second[i].squareRoot() / correction2Root + epsilon)
                }
            }
            #expect(model.parameters["0.weight"]!.array == theta, "step \(index + 1)")
        }
    }

    @Test func schedules() {
        let cyclic = LearningRateSchedule.cyclic(peak: 1e-3, peakFraction: 0.4)
        #expect(cyclic.learningRate(atEpoch: 0, of: 5) == 0)
        #expect(abs(cyclic.learningRate(atEpoch: 2, of: 5) - 1e-3) < 1e-9)
        #expect(abs(cyclic.learningRate(atEpoch: 1, of: 5) - 5e-4) < 1e-9)
        #expect(abs(cyclic.learningRate(atEpoch: 3.5, of: 5) - 5e-4) < 1e-9)
        #expect(cyclic.learningRate(atEpoch: 5, of: 5) == 0)
        let piecewise = LearningRateSchedule.piecewise(rates: [0.1, 0.01, 0.001], boundaries: [2, 3])
        #expect(piecewise.learningRate(atEpoch: 1.9, of: 4) == 0.1)
        #expect(piecewise.learningRate(atEpoch: 2, of: 4) == 0.01)
        #expect(piecewise.learningRate(atEpoch: 3.5, of: 4) == 0.001)
        let cosine = LearningRateSchedule.cosine(peak: 1, minimum: 0)
        #expect(cosine.learningRate(atEpoch: 0, of: 2) == 1)
        #expect(abs(cosine.learningRate(atEpoch: 1, of: 2) - 0.5) < 1e-6)
    }

    @Test func crossEntropyMatchesHandComputationAndIsStable() {
        let logits = Tensor(shape: [2, 3], scalars: [1, 2, 3, 1000, 0, 0])
        let losses = softmaxCrossEntropy(logits: logits, labels: [2, 0], reduction: .none).array
        let expected = Float(log(exp(1.0) + exp(2.0) + exp(3.0)) - 3)
        #expect(abs(losses[0] - expected) < 1e-5)
        #expect(losses[1].isFinite && abs(losses[1]) < 1e-5)
        #expect(accuracy(logits: logits, labels: [2, 1]) == 0.5)
        expectGradientMatchesFiniteDifferences(at: [seededTensor([3, 4], seed: 4)]) {
            softmaxCrossEntropy(logits: $0[0], labels: [0, 3, 1])
        }
        expectGradientMatchesFiniteDifferences(at: [seededTensor([3, 4], seed: 5)]) {
            klDivergence(logits: $0[0], targetLogits: seededTensor([3, 4], seed: 6))
        }
    }

    @Test func modelGradientsAndInputGradientComeFromOnePass() {
        var model = Fixtures.mlp()
        let inputs = Fixtures.templates(count: 4).images
        let labels: [Int32] = [0, 1, 2, 3]
        let (value, gradients, inputGradient) = valueWithGradients(at: &model, inputs) { model, x in
            softmaxCrossEntropy(logits: model(x), labels: labels)
        }
        #expect(Set(gradients.tensors.keys) == Set(model.parameterPaths))
        #expect(inputGradient.shape == inputs.shape)
        let inputOnly = gradient(at: inputs) { x in softmaxCrossEntropy(logits: model.applied(to: x), labels: labels) }
        #expect(inputOnly == inputGradient)
        let (sameValue, parameterOnly) = valueWithGradient(at: &model) { model in
            softmaxCrossEntropy(logits: model(inputs), labels: labels)
        }
        #expect(sameValue == value)
        #expect(parameterOnly.tensors == gradients.tensors)
        #expect(model.parameters.values.allSatisfy { !$0.isTraced }, "parameters come back untraced")
    }
}
