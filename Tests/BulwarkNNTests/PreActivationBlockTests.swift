import Bulwark
import Testing
import _TestSupport

@Suite struct PreActivationBlockTests {
    /// A block whose weights come from `inputs` (x, conv₁, conv₂, γ₁, and the projection when
    /// there is one), in training mode, applied to `inputs[0]`.
    static func apply(_ inputs: [Tensor], outputChannels: Int, stride: Int) -> Tensor {
        var generator = SplitMix64(seed: 0)
        var block = PreActivationBlock(
            inputChannels: inputs[0].shape[1], outputChannels: outputChannels, stride: stride, using: &generator)
        block.firstConvolution.weight = inputs[1]
        block.secondConvolution.weight = inputs[2]
        block.firstNormalization.weight = inputs[3]
        if inputs.count > 4 { block.projection?.weight = inputs[4] }
        return block(inputs[0])
    }

    /// The seeds put every ReLU input at least 0.03 from the kink, so that the differences
    /// (step 1e-3) never straddle it.
    @Test func identityBlockGradientsMatchFiniteDifferences() {
        let inputs = [
            seededTensor([2, 2, 4, 4], seed: 200), seededTensor([2, 2, 3, 3], seed: 201),
            seededTensor([2, 2, 3, 3], seed: 202), seededTensor([2], in: 0.5...1.5, seed: 203),
        ]
        expectGradientMatchesFiniteDifferences(at: inputs, step: 1e-3, tolerance: 2e-2) {
            Self.apply($0, outputChannels: 2, stride: 1)
        }
    }

    @Test func projectionBlockGradientsMatchFiniteDifferences() {
        // Stride 2 on an odd extent and a channel change: the 1 × 1 projection shortcut.
        let inputs = [
            seededTensor([2, 2, 5, 5], seed: 5), seededTensor([3, 2, 3, 3], seed: 6),
            seededTensor([3, 3, 3, 3], seed: 7), seededTensor([2], in: 0.5...1.5, seed: 8),
            seededTensor([3, 2, 1, 1], seed: 9),
        ]
        expectGradientMatchesFiniteDifferences(at: inputs, tolerance: 2e-2) {
            Self.apply($0, outputChannels: 3, stride: 2)
        }
    }

    @Test func shortcutIsTheInputOrAProjectionOfThePreActivatedInput() throws {
        var generator = SplitMix64(seed: 10)
        let x = seededTensor([3, 4, 6, 6], seed: 11)

        // With conv₂ = 0 the residual branch vanishes and the output is the shortcut.
        var identity = PreActivationBlock(inputChannels: 4, outputChannels: 4, using: &generator)
        #expect(identity.projection == nil)
        identity.secondConvolution.weight = Tensor(zeros: identity.secondConvolution.weight.shape)
        #expect(identity(x) == x)

        var projected = PreActivationBlock(inputChannels: 4, outputChannels: 8, stride: 2, using: &generator)
        let projection = try #require(projected.projection)
        #expect(projection.weight.shape == [8, 4, 1, 1] && projection.stride == 2 && projection.bias == nil)
        projected.secondConvolution.weight = Tensor(zeros: projected.secondConvolution.weight.shape)
        var normalization = projected.firstNormalization
        let expected = conv2d(normalization(x).relu(), weight: projection.weight, stride: 2)
        let output = projected(x)
        #expect(output.shape == [3, 8, 3, 3])
        let error = zip(output.array, expected.array).map { abs($0 - $1) }.max() ?? 1
        #expect(error < 1e-6)
    }

    @Test func modeReachesBothNormalizations() {
        var generator = SplitMix64(seed: 12)
        var block = PreActivationBlock(inputChannels: 2, outputChannels: 2, using: &generator)
        let x = seededTensor([4, 2, 3, 3], seed: 13)
        _ = block(x)
        #expect(block.state["bn1.num_batches_tracked"]?.scalar == 1)
        #expect(block.state["bn2.num_batches_tracked"]?.scalar == 1)
        block.mode = .inference
        #expect(block.firstNormalization.mode == .inference && block.secondNormalization.mode == .inference)
        let before = block.state
        _ = block(x)
        #expect(block.state == before, "inference must not update running statistics")
    }

    @Test func namedSequentialPrefixesPathsWithNames() {
        var generator = SplitMix64(seed: 14)
        let model = Sequential(named: [
            "features": Sequential([Linear(inputSize: 2, outputSize: 3, using: &generator)]),
            "relu": ReLU(), "head": Linear(inputSize: 3, outputSize: 1, using: &generator),
        ])
        #expect(model.names == ["features", "relu", "head"])
        #expect(model.parameterPaths == ["features.0.weight", "features.0.bias", "head.weight", "head.bias"])
    }
}
