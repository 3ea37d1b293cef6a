import BulwarkCore
import Testing
import _TestSupport

/// Finite-difference checks for every differentiable primitive.
@Suite struct GradientTests {
    @Test(arguments: [
        ([2, 3], [2, 3]), ([2, 3], [3]), ([3], [2, 3]), ([1, 3], [4, 2, 3]), ([2, 3], [2, 1]), ([4, 1, 3], [1, 5, 1]),
        ([3], []), ([], [2, 2]),
    ] as [([Int], [Int])])
    func broadcastingArithmetic(lhsShape: [Int], rhsShape: [Int]) {
        let a = seededTensor(lhsShape, seed: 1)
        let b = seededTensor(rhsShape, in: 0.5...2, seed: 2)
        expectGradientMatchesFiniteDifferences(at: [a, b]) { $0[0] + $0[1] }
        expectGradientMatchesFiniteDifferences(at: [a, b]) { $0[0] - $0[1] }
        expectGradientMatchesFiniteDifferences(at: [a, b]) { $0[0] * $0[1] }
        expectGradientMatchesFiniteDifferences(at: [a, b]) { $0[0] / $0[1] }
    }

    @Test func maximumOfTwo() {
        let a = distinctValues([3, 4], seed: 3)
        let b = distinctValues([3, 4], seed: 4) + 0.025
        expectGradientMatchesFiniteDifferences(at: [a, b]) { Tensor.maximum($0[0], $0[1]) }
    }

    @Test func scalarOperators() {
        let a = seededTensor([5], in: 0.5...2, seed: 5)
        expectGradientMatchesFiniteDifferences(at: [a]) { 2 - $0[0] * 3 + 1 }
        expectGradientMatchesFiniteDifferences(at: [a]) { 1 / $0[0] }
        expectGradientMatchesFiniteDifferences(at: [a]) { -$0[0] / 4 }
    }

    @Test func unaryMath() {
        let x = awayFromKinks([3, 5], in: -2...2, seed: 6)
        let positive = seededTensor([3, 5], in: 0.5...3, seed: 7)
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].relu() }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].exp() }
        expectGradientMatchesFiniteDifferences(at: [positive]) { $0[0].log() }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].sigmoid() }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].tanh() }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].abs() }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].sign() }
        expectGradientMatchesFiniteDifferences(at: [positive]) { $0[0].sqrt() }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].squared() }
        let clampInput = distinctValues([4, 5], spacing: 0.1, seed: 8) // values k·0.1 + 0.05
        expectGradientMatchesFiniteDifferences(at: [clampInput]) { $0[0].clamped(to: -0.5...0.5) }
    }

    @Test func reductions() {
        let x = seededTensor([2, 3, 4], seed: 9)
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].sum() }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].sum(alongAxis: 1) }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].sum(alongAxes: [0, 2], keepingDims: true) }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].mean(alongAxes: [0, 2]) }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].mean() }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].logSumExp(alongAxis: -1) }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].logSumExp(alongAxis: 1, keepingDims: true) }
        let distinct = distinctValues([2, 3, 4], seed: 10)
        expectGradientMatchesFiniteDifferences(at: [distinct]) { $0[0].max(alongAxis: 1) }
        expectGradientMatchesFiniteDifferences(at: [distinct]) { $0[0].max(alongAxis: 2, keepingDims: true) }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].broadcasted(to: [3, 2, 3, 4]) }
    }

    @Test func shapeOperations() {
        let x = seededTensor([2, 3, 4], seed: 11)
        let y = seededTensor([2, 2, 4], seed: 12)
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].reshaped(to: [4, -1]) }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].transposed(permutation: [2, 0, 1]) }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].slice(alongAxis: 1, 1..<3) }
        expectGradientMatchesFiniteDifferences(at: [x, y]) { Tensor.concatenating([$0[0], $0[1]], alongAxis: 1) }
        expectGradientMatchesFiniteDifferences(at: [x]) { $0[0].gathering(atIndices: [2, 0, 2], alongAxis: 1) }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matrixProduct(transposeLHS: Bool, transposeRHS: Bool) {
        let a = seededTensor(transposeLHS ? [4, 3] : [3, 4], seed: 13)
        let b = seededTensor(transposeRHS ? [5, 4] : [4, 5], seed: 14)
        expectGradientMatchesFiniteDifferences(at: [a, b]) {
            matmul($0[0], $0[1], transposeLHS: transposeLHS, transposeRHS: transposeRHS)
        }
    }

    @Test func linearLayerPrimitive() {
        let x = seededTensor([3, 4], seed: 23)
        let w = seededTensor([5, 4], seed: 24)
        let b = seededTensor([5], seed: 25)
        expectGradientMatchesFiniteDifferences(at: [x, w, b]) { linear($0[0], weight: $0[1], bias: $0[2]) }
        expectGradientMatchesFiniteDifferences(at: [x, w]) { linear($0[0], weight: $0[1]) }
        let reference = matmul(x, w, transposeRHS: true) + b
        let error = zip(linear(x, weight: w, bias: b).array, reference.array).map { abs($0 - $1) }.max() ?? 0
        #expect(error < 1e-6)
    }

    @Test(arguments: ConvolutionKernels.allCases, [(1, 0), (1, 1), (2, 1), (2, 0), (3, 2)])
    func convolution(kernels: ConvolutionKernels, geometry: (stride: Int, padding: Int)) {
        let x = seededTensor([2, 3, 7, 6], seed: 15)
        let w = seededTensor([4, 3, 3, 3], seed: 16)
        let b = seededTensor([4], seed: 17)
        expectGradientMatchesFiniteDifferences(at: [x, w, b]) {
            conv2d($0[0], weight: $0[1], bias: $0[2], stride: geometry.stride, padding: geometry.padding, kernels: kernels)
        }
    }

    @Test(arguments: ConvolutionKernels.allCases)
    func convolutionWithoutBiasAndRectangularKernel(kernels: ConvolutionKernels) {
        let x = seededTensor([1, 2, 5, 5], seed: 18)
        let w = seededTensor([3, 2, 2, 4], seed: 19)
        expectGradientMatchesFiniteDifferences(at: [x, w]) { conv2d($0[0], weight: $0[1], padding: 1, kernels: kernels) }
    }

    /// The projection shortcut of a residual block: a 1 × 1 kernel with stride 2 on an odd
    /// extent, so the last row and column are skipped.
    @Test(arguments: ConvolutionKernels.allCases)
    func pointwiseConvolutionWithStride(kernels: ConvolutionKernels) {
        let x = seededTensor([2, 3, 5, 5], seed: 23)
        let w = seededTensor([4, 3, 1, 1], seed: 24)
        expectGradientMatchesFiniteDifferences(at: [x, w]) { conv2d($0[0], weight: $0[1], stride: 2, kernels: kernels) }
    }

    @Test(arguments: [(2, nil, 0), (3, 2, 1), (2, 1, 0)] as [(Int, Int?, Int)])
    func pooling(kernelSize: Int, stride: Int?, padding: Int) {
        let x = distinctValues([2, 2, 6, 5], seed: 20)
        expectGradientMatchesFiniteDifferences(at: [x]) { maxPool2d($0[0], kernelSize: kernelSize, stride: stride, padding: padding) }
        expectGradientMatchesFiniteDifferences(at: [x]) { avgPool2d($0[0], kernelSize: kernelSize, stride: stride, padding: padding) }
        expectGradientMatchesFiniteDifferences(at: [x]) {
            maxPool2d($0[0], kernelSize: kernelSize, stride: stride, padding: padding, rectifying: true)
        }
    }

    @Test func gradientsAccumulateOverReuse() {
        // x used twice: d/dx (x·x + x) = 2x + 1.
        let x = Tensor([1, -2, 3])
        let gradient = gradient(at: x) { x in (x * x + x).sum() }
        #expect(gradient.array == [3, -3, 7])
    }

    /// Most primitives have only a traced pullback; run at first order on untraced values, it
    /// must record nothing.
    @Test func firstOrderBackwardRecordsNothing() {
        let tape = Tape()
        let x = tape.variable(seededTensor([2, 3], seed: 38))
        let w = seededTensor([3, 4], seed: 39)
        let column = x.slice(alongAxis: 1, 0..<1)
        let y = (matmul(x, w) * x.sum(alongAxis: 1, keepingDims: true) / (column * column + 1)).logSumExp(alongAxis: 1).sum()
        let recorded = tape.entries.count
        let gradient = tape.gradients(of: y)[0]
        #expect(tape.entries.count == recorded)
        #expect(gradient.map { !$0.isTraced && $0.shape == [2, 3] } == true)
    }

    @Test func capturedTensorsAreConstants() {
        let w = Tensor([2, 3])
        let (value, gradient) = valueWithGradient(at: Tensor([1, 1])) { x in (x * w).sum() }
        #expect(value.scalar == 5)
        #expect(gradient.array == [2, 3])
        #expect(!w.isTraced)
    }
}
