import BulwarkCore
import Testing
import _TestSupport

/// Double backward: every differentiable pullback against finite differences of ordinary
/// gradients, and the primitives that only the differentiable pullbacks use against finite
/// differences of their values.
@Suite struct SecondOrderGradientTests {
    // MARK: - Primitives of the differentiable pullbacks

    @Test(arguments: ConvolutionKernels.allCases, [(1, 0), (1, 1), (2, 1), (3, 2)])
    func convolutionGradientPrimitives(kernels: ConvolutionKernels, geometry: (stride: Int, padding: Int)) {
        let x = seededTensor([2, 3, 7, 6], seed: 31)
        let w = seededTensor([4, 3, 3, 3], seed: 32)
        let g = ConvolutionGeometry(
            batch: 2, inputChannels: 3, height: 7, width: 6, outputChannels: 4, kernelHeight: 3, kernelWidth: 3,
            stride: geometry.stride, padding: geometry.padding)
        let u = seededTensor([2, 4, g.outputHeight, g.outputWidth], seed: 33)
        expectGradientMatchesFiniteDifferences(at: [u, w]) { conv2dInputGradient($0[0], weight: $0[1], geometry: g, kernels: kernels) }
        expectGradientMatchesFiniteDifferences(at: [u, x]) { conv2dWeightGradient($0[0], input: $0[1], geometry: g, kernels: kernels) }
        // They are the convolution's own gradients.
        let (_, gradients) = valueWithGradient(at: [x, w]) { (conv2d($0[0], weight: $0[1], stride: geometry.stride, padding: geometry.padding, kernels: kernels) * u).sum() }
        #expect(maximumDifference(conv2dInputGradient(u, weight: w, geometry: g, kernels: kernels), gradients[0]) < 1e-5)
        #expect(maximumDifference(conv2dWeightGradient(u, input: x, geometry: g, kernels: kernels), gradients[1]) < 1e-5)
    }

    @Test(arguments: [false, true])
    func maxUnpoolingScattersToTheWinners(rectifying: Bool) {
        let x = distinctValues([2, 2, 6, 5], seed: 34)
        var winners = [Int32]()
        // The winners of a pooling, read back through its gradient's pattern.
        let (_, gradient) = valueWithGradient(at: x) { x in
            let pooled = maxPool2d(x, kernelSize: 2, stride: 2, padding: 0, rectifying: rectifying)
            let planeSize = 30, outputPlane = 6
            winners = (0..<pooled.scalarCount).map { index in
                let plane = index / outputPlane, row = (index % outputPlane) / 2, column = index % 2
                var best: (Float, Int32) = (rectifying ? 0 : -.infinity, -1)
                for dy in 0..<2 {
                    for dx in 0..<2 {
                        let offset = (2 * row + dy) * 5 + 2 * column + dx
                        let value = x.array[plane * planeSize + offset]
                        if value > best.0 { best = (value, Int32(offset)) }
                    }
                }
                return best.1
            }
            return pooled.sum()
        }
        let ones = Tensor(repeating: 1, shape: [2, 2, 3, 2])
        #expect(maxUnpool2d(ones, winners: winners, inputShape: x.shape) == gradient)
        let u = seededTensor([2, 2, 3, 2], seed: 35)
        expectGradientMatchesFiniteDifferences(at: [u]) { maxUnpool2d($0[0], winners: winners, inputShape: x.shape) }
    }

    @Test func unslicingIsTheSlicesGradient() {
        let u = seededTensor([2, 2, 4], seed: 36)
        let x = seededTensor([2, 5, 4], seed: 37)
        let gradient = valueWithGradient(at: x) { ($0.slice(alongAxis: 1, 1..<3) * u).sum() }.gradient
        #expect(u.unsliced(to: x.shape, alongAxis: 1, 1..<3) == gradient)
        expectGradientMatchesFiniteDifferences(at: [u]) { $0[0].unsliced(to: [2, 5, 4], alongAxis: 1, 1..<3) }
    }

    // MARK: - Second derivatives

    @Test(arguments: [([2, 3], [2, 3]), ([2, 3], [3]), ([1, 3], [4, 2, 3]), ([4, 1, 3], [1, 5, 1]), ([3], [])] as [([Int], [Int])])
    func broadcastingArithmetic(lhsShape: [Int], rhsShape: [Int]) {
        let a = seededTensor(lhsShape, in: 0.5...1.5, seed: 41)
        let b = seededTensor(rhsShape, in: 0.5...2, seed: 42)
        // Products keep the inner gradient a function of both inputs.
        expectSecondDerivativesMatchFiniteDifferences(at: [a, b]) { ($0[0] + $0[1]) * ($0[0] - $0[1]) }
        expectSecondDerivativesMatchFiniteDifferences(at: [a, b]) { $0[0] * $0[1] * $0[0] }
        expectSecondDerivativesMatchFiniteDifferences(at: [a, b]) { $0[0] / $0[1] * $0[0] }
        expectSecondDerivativesMatchFiniteDifferences(at: [b, a]) { $0[1] / $0[0] }
        expectSecondDerivativesMatchFiniteDifferences(at: [a, b]) { ($0[0] * $0[1]).broadcasted(to: [2] + broadcastShape(lhsShape, rhsShape)).squared() }
    }

    @Test func unaryMath() {
        let x = awayFromKinks([3, 4], in: -1.5...1.5, margin: 0.1, seed: 43)
        let positive = seededTensor([3, 4], in: 0.5...2, seed: 44)
        let w = seededTensor([3, 4], seed: 45)
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { ($0[0] * $0[1]).exp() }
        expectSecondDerivativesMatchFiniteDifferences(at: [positive, w]) { $0[0].log() * $0[1] }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { ($0[0] * $0[1]).sigmoid() }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { ($0[0] * $0[1]).tanh() }
        expectSecondDerivativesMatchFiniteDifferences(at: [positive, w]) { $0[0].sqrt() * $0[1] }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { (-$0[0]).squared() * $0[1] }
        // Piecewise-linear operations: their masks pass no second derivative, the product does.
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { $0[0].relu() * $0[0] * $0[1] }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { $0[0].abs() * $0[1] * $0[0] }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { $0[0].sign() * $0[1] * $0[0] }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { $0[0].clamped(to: -0.7...0.7) * $0[0] * $0[1] }
        let other = x + 0.03
        expectSecondDerivativesMatchFiniteDifferences(at: [x, other]) { Tensor.maximum($0[0], $0[1]).squared() }
    }

    @Test func reductionsAndShapes() {
        let x = seededTensor([2, 3, 4], seed: 46)
        let w = seededTensor([2, 3, 4], seed: 47)
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { ($0[0] * $0[1]).sum(alongAxis: 1).squared() }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { ($0[0] * $0[1]).mean(alongAxes: [0, 2], keepingDims: true).squared() }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { ($0[0] * $0[1]).logSumExp(alongAxis: -1) }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { ($0[0] * $0[1]).logSumExp(alongAxis: 1, keepingDims: true) }
        let distinct = distinctValues([2, 3, 4], spacing: 0.1, seed: 48)
        expectSecondDerivativesMatchFiniteDifferences(at: [distinct, w]) { ($0[0].max(alongAxis: 1) * $0[1].sum(alongAxis: 1)).squared() }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { ($0[0] * $0[1]).reshaped(to: [4, -1]).squared() }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { ($0[0] * $0[1]).transposed(permutation: [2, 0, 1]).exp() }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { ($0[0] * $0[1]).slice(alongAxis: 1, 1..<3).squared() }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { Tensor.concatenating([$0[0] * $0[1], $0[0].squared()], alongAxis: 2).tanh() }
    }

    @Test func softmaxCrossEntropyHessian() {
        // The Hessian of log-sum-exp minus the label's logit, through the composite.
        let logits = seededTensor([3, 5], in: -2...2, seed: 49)
        let oneHot = Tensor(shape: [3, 5], scalars: [0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0])
        expectSecondDerivativesMatchFiniteDifferences(at: [logits]) { ($0[0].logSumExp(alongAxis: 1) - ($0[0] * oneHot).sum(alongAxis: 1)).mean() }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matrixProducts(transposeLHS: Bool, transposeRHS: Bool) {
        let a = seededTensor(transposeLHS ? [4, 3] : [3, 4], seed: 50)
        let b = seededTensor(transposeRHS ? [5, 4] : [4, 5], seed: 51)
        expectSecondDerivativesMatchFiniteDifferences(at: [a, b]) { matmul($0[0], $0[1], transposeLHS: transposeLHS, transposeRHS: transposeRHS).tanh() }
        expectSecondDerivativesMatchFiniteDifferences(at: [b, a]) { matmul($0[1], $0[0], transposeLHS: transposeLHS, transposeRHS: transposeRHS).tanh() }
        let batchedA = seededTensor(transposeLHS ? [2, 4, 3] : [2, 3, 4], seed: 52)
        let batchedB = seededTensor(transposeRHS ? [2, 5, 4] : [2, 4, 5], seed: 53)
        expectSecondDerivativesMatchFiniteDifferences(at: [batchedA, batchedB]) {
            batchedMatmul($0[0], $0[1], transposeLHS: transposeLHS, transposeRHS: transposeRHS).tanh()
        }
    }

    @Test func linearLayer() {
        let x = seededTensor([3, 4], seed: 54)
        let w = seededTensor([5, 4], seed: 55)
        let b = seededTensor([5], seed: 56)
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w, b]) { linear($0[0], weight: $0[1], bias: $0[2]).tanh() }
        expectSecondDerivativesMatchFiniteDifferences(at: [w, x, b]) { linear($0[1], weight: $0[0], bias: $0[2]).tanh() }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) { linear($0[0], weight: $0[1]).tanh() }
    }

    @Test(arguments: ConvolutionKernels.allCases, [(1, 1), (2, 1), (2, 0)])
    func convolution(kernels: ConvolutionKernels, geometry: (stride: Int, padding: Int)) {
        let x = seededTensor([2, 2, 6, 5], seed: 57)
        let w = seededTensor([3, 2, 3, 3], in: -0.5...0.5, seed: 58)
        let b = seededTensor([3], seed: 59)
        func convolve(_ x: Tensor, _ w: Tensor, _ b: Tensor) -> Tensor {
            conv2d(x, weight: w, bias: b, stride: geometry.stride, padding: geometry.padding, kernels: kernels).tanh()
        }
        // The gradient with respect to the input, differentiated: what GradAlign needs.
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w, b]) { convolve($0[0], $0[1], $0[2]) }
        // And the one with respect to the weight.
        expectSecondDerivativesMatchFiniteDifferences(at: [w, x, b]) { convolve($0[1], $0[0], $0[2]) }
    }

    @Test(arguments: [false, true])
    func rectifiedMaxPooling(rectifying: Bool) {
        // Away from ties and zeros, so differences never change a winner or a ReLU's side.
        let x = distinctValues([2, 2, 4, 6], spacing: 0.1, seed: 60)
        let w = seededTensor([2, 2, 2, 3], in: 0.5...1.5, seed: 61)
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) {
            (maxPool2d($0[0].relu(), kernelSize: 2, stride: 2, padding: 0, rectifying: rectifying) * $0[1]).squared()
        }
        expectSecondDerivativesMatchFiniteDifferences(at: [x, w]) {
            (maxPool2d($0[0], kernelSize: 2, stride: 2, padding: 0, rectifying: rectifying) * $0[1]).squared()
        }
    }

    /// A small convolutional network end to end: the parameter gradient of a function of the
    /// input gradient of the cross-entropy, as GradAlign takes it.
    @Test func networkInputGradientIsDifferentiableInTheWeights() {
        let x = seededTensor([2, 1, 6, 6], in: 0...1, seed: 62)
        let conv = seededTensor([3, 1, 3, 3], in: -0.6...0.6, seed: 63)
        let bias = seededTensor([3], in: -0.1...0.1, seed: 64)
        let dense = seededTensor([4, 27], in: -0.4...0.4, seed: 65)
        let oneHot = Tensor(shape: [2, 4], scalars: [0, 0, 1, 0, 1, 0, 0, 0])
        expectSecondDerivativesMatchFiniteDifferences(at: [x, conv, bias, dense], step: 1e-3, tolerance: 2e-2) { inputs in
            let hidden = maxPool2d(conv2d(inputs[0], weight: inputs[1], bias: inputs[2], padding: 1), kernelSize: 2, stride: 2, padding: 0, rectifying: true)
            let logits = linear(hidden.flattened(), weight: inputs[3])
            return (logits.logSumExp(alongAxis: 1) - (logits * oneHot).sum(alongAxis: 1)).sum()
        }
    }

    @Test func differentiableGradientOutsideADifferentiationIsTheOrdinaryOne() {
        let x = seededTensor([3, 4], seed: 66)
        let (value, gradient) = valueWithDifferentiableGradient(at: x, on: nil) { x in (x * x * x).sum() }
        let ordinary = valueWithGradient(at: x) { x in (x * x * x).sum() }
        #expect(value == ordinary.value && gradient == ordinary.gradient)
        #expect(!gradient.isTraced)
    }

    private func maximumDifference(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.array, b.array).map { Swift.abs($0 - $1) }.max() ?? 0
    }
}
