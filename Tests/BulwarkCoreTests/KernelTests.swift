import BulwarkCore
import Foundation
import Testing
import _TestSupport

/// Forward values against hand-computed results.
@Suite struct KernelTests {
    @Test func broadcastingValues() {
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect((a + Tensor([10, 20, 30])).array == [11, 22, 33, 14, 25, 36])
        #expect((a * Tensor(shape: [2, 1], scalars: [2, 3])).array == [2, 4, 6, 12, 15, 18])
        #expect((Tensor([10, 20, 30]) - a).array == [9, 18, 27, 6, 15, 24], "a suffix-shaped left operand")
        let column = Tensor(shape: [3, 1], scalars: [1, 2, 3])
        let row = Tensor(shape: [1, 2], scalars: [10, 20])
        #expect((column + row).shape == [3, 2])
        #expect((column + row).array == [11, 21, 12, 22, 13, 23])
    }

    @Test func matmulMatchesHandComputation() {
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], scalars: [7, 8, 9, 10, 11, 12])
        #expect(matmul(a, b).array == [58, 64, 139, 154])
        #expect(matmul(a, a, transposeRHS: true).array == [14, 32, 32, 77])
    }

    @Test(arguments: ConvolutionKernels.allCases)
    func convolutionMatchesDirectLoop(kernels: ConvolutionKernels) {
        let x = seededTensor([3, 2, 9, 8], seed: 1)
        let w = seededTensor([4, 2, 3, 2], seed: 2)
        let b = seededTensor([4], seed: 3)
        for (stride, padding) in [(1, 0), (1, 1), (2, 1), (3, 2)] {
            let y = conv2d(x, weight: w, bias: b, stride: stride, padding: padding, kernels: kernels)
            let oh = (9 + 2 * padding - 3) / stride + 1, ow = (8 + 2 * padding - 2) / stride + 1
            #expect(y.shape == [3, 4, oh, ow])
            var expected = [Float]()
            let xs = x.array, ws = w.array, bs = b.array
            for n in 0..<3 { for o in 0..<4 { for i in 0..<oh { for j in 0..<ow {
                var total = bs[o]
                for c in 0..<2 { for ky in 0..<3 { for kx in 0..<2 {
                    let (yy, xx) = (i * stride - padding + ky, j * stride - padding + kx)
                    if yy >= 0 && yy < 9 && xx >= 0 && xx < 8 {
                        total += xs[((n * 2 + c) * 9 + yy) * 8 + xx] * ws[((o * 2 + c) * 3 + ky) * 2 + kx]
                    }
                }}}
                expected.append(total)
            }}}}
            let error = zip(y.array, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(error < 1e-5, "stride \(stride) padding \(padding): max error \(error)")
        }
    }

    @Test func largeConvolutionSpansSeveralChunks() {
        // 2 MiB-float chunks: 64 images of this size need several, exercising chunk offsets.
        let x = seededTensor([64, 8, 28, 28], seed: 4)
        let w = seededTensor([4, 8, 5, 5], seed: 5)
        let whole = conv2d(x, weight: w, padding: 2)
        let last = conv2d(x.slice(alongAxis: 0, 63..<64), weight: w, padding: 2)
        #expect(whole.slice(alongAxis: 0, 63..<64).array == last.array)
    }

    /// The convolutions of the built-in architectures at training batch sizes: oneDNN and the
    /// portable kernels agree on outputs and on every gradient.
    @Test(arguments: [
        ([5, 1, 28, 28], [32, 1, 5, 5], 1, 2),  // smallcnn, first layer
        ([64, 32, 14, 14], [64, 32, 5, 5], 1, 2),  // smallcnn, second (split across workers)
        ([3, 16, 14, 14], [32, 16, 3, 3], 1, 1),  // lenet, second
        ([4, 16, 14, 14], [32, 16, 4, 4], 2, 1),  // fastcnn, second (stride 2)
        ([2, 3, 11, 9], [5, 3, 2, 3], 3, 0),  // odd sizes, stride 3
        ([4, 3, 32, 32], [64, 3, 3, 3], 1, 1),  // preact-resnet18, first (3 channels: portable input gradient)
        ([2, 3, 32, 32], [64, 3, 3, 3], 1, 0),  // cifar-cnn, first
        ([2, 64, 16, 16], [128, 64, 3, 3], 2, 1),  // preact-resnet18, layer2's first block (stride 2)
        ([2, 64, 16, 16], [128, 64, 1, 1], 2, 0),  // preact-resnet18, layer2's 1×1 projection shortcut
    ])
    func convolutionKernelsAgree(inputShape: [Int], weightShape: [Int], stride: Int, padding: Int) {
        let x = seededTensor(inputShape, seed: 7)
        let w = seededTensor(weightShape, seed: 8)
        let b = seededTensor([weightShape[0]], seed: 9)
        var results: [[Tensor]] = []
        let fallbacksBefore = oneDNNFallbacks.load(ordering: .relaxed)
        for kernels in ConvolutionKernels.allCases {
            let (value, gradients) = valueWithGradient(at: [x, w, b]) { inputs in
                let y = conv2d(inputs[0], weight: inputs[1], bias: inputs[2], stride: stride, padding: padding, kernels: kernels)
                // A weighted sum, so every output element gets a different upstream gradient.
                return (y * seededTensor(y.shape, seed: 10)).sum()
            }
            results.append([value] + gradients)
        }
        #if os(Linux)
        #expect(oneDNNFallbacks.load(ordering: .relaxed) == fallbacksBefore, "oneDNN declined this geometry")
        #endif
        for (index, name) in ["value", "input gradient", "weight gradient", "bias gradient"].enumerated() {
            let (a, b) = (results[0][index].array, results[1][index].array)
            let scale = max(1, a.map(abs).max() ?? 0)
            let error = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(error <= 1e-4 * scale, "\(name): oneDNN and portable kernels differ by \(error) (scale \(scale))")
        }
    }

    /// The fused ReLU + max pooling equals the two operations, values and gradients, including
    /// windows that are entirely negative.
    @Test(arguments: [(2, nil, 0), (3, 2, 1), (2, 1, 0), (3, 3, 0)] as [(Int, Int?, Int)])
    func rectifyingMaxPoolMatchesReLUThenPool(kernelSize: Int, stride: Int?, padding: Int) {
        let x = distinctValues([3, 4, 7, 6], seed: 21) - 0.4  // mostly negative: many all-negative windows
        let weights = seededTensor(maxPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding).shape, seed: 22)
        let (fusedValue, fusedGradient) = valueWithGradient(at: x) {
            (maxPool2d($0, kernelSize: kernelSize, stride: stride, padding: padding, rectifying: true) * weights).sum()
        }
        let (value, gradient) = valueWithGradient(at: x) {
            (maxPool2d($0.relu(), kernelSize: kernelSize, stride: stride, padding: padding) * weights).sum()
        }
        #expect(fusedValue.scalar == value.scalar)
        #expect(fusedGradient.array == gradient.array)
        #expect(gradient.array.contains(0) && gradient.array.contains { $0 != 0 })
    }

    /// Rows of 15 windows take the eight-lane, four-lane and scalar paths of 2×2 pooling; all
    /// must agree with a direct computation, values and gradients, and a NaN in a lane must
    /// come out as NaN.
    @Test(arguments: [false, true])
    func vectorizedMaxPoolMatchesDirectComputation(rectifying: Bool) {
        let (planes, height, width) = (3, 6, 31)  // odd width: the last column is in no window
        let x = distinctValues([1, planes, height, width], spacing: 0.01, seed: 40) - 0.2
        let weights = seededTensor([1, planes, height / 2, width / 2], seed: 41)
        let (value, gradient) = valueWithGradient(at: x) {
            (maxPool2d($0, kernelSize: 2, stride: 2, padding: 0, rectifying: rectifying) * weights).sum()
        }
        let xs = x.array, ws = weights.array
        var expectedValue: Float = 0
        var expectedGradient = [Float](repeating: 0, count: xs.count)
        for plane in 0..<planes {
            for y in 0..<height / 2 {
                for column in 0..<width / 2 {
                    let offsets = [(2 * y) * width + 2 * column, (2 * y) * width + 2 * column + 1,
                                   (2 * y + 1) * width + 2 * column, (2 * y + 1) * width + 2 * column + 1].map { plane * height * width + $0 }
                    let winner = offsets.max { xs[$0] < xs[$1] }!
                    let weight = ws[(plane * (height / 2) + y) * (width / 2) + column]
                    let best = rectifying ? max(0, xs[winner]) : xs[winner]
                    expectedValue += best * weight
                    if !rectifying || xs[winner] > 0 { expectedGradient[winner] += weight }
                }
            }
        }
        #expect(abs(value.scalar - expectedValue) < 1e-4)
        #expect(gradient.array == expectedGradient)

        var poisoned = xs
        poisoned[2 * width + 6] = .nan  // window (1, 3): inside the eight-lane block
        let output = maxPool2d(Tensor(shape: x.shape, scalars: poisoned), kernelSize: 2, stride: 2, padding: 0, rectifying: rectifying).array
        #expect(output[1 * (width / 2) + 3].isNaN)
        #expect(output.filter(\.isNaN).count == 1)
    }

    @Test(arguments: [false, true])
    func maxPoolPropagatesNaN(rectifying: Bool) {
        // One NaN in the first 2×2 window (unrolled path) and one in a 3×3 window (general path).
        var scalars = [Float](repeating: 1, count: 36)
        scalars[7] = .nan
        let x = Tensor(shape: [1, 1, 6, 6], scalars: scalars)
        let unrolled = maxPool2d(x, kernelSize: 2, stride: 2, padding: 0, rectifying: rectifying).array
        #expect(unrolled[0].isNaN && unrolled[1...].allSatisfy { $0 == 1 })
        let general = maxPool2d(x, kernelSize: 3, stride: 3, padding: 0, rectifying: rectifying).array
        #expect(general[0].isNaN && general[1...].allSatisfy { $0 == 1 })
    }

    @Test func poolingValues() {
        let x = Tensor(shape: [1, 1, 2, 4], scalars: [1, 5, 2, 0, 3, 4, 8, 7])
        #expect(maxPool2d(x, kernelSize: 2).array == [5, 8])
        #expect(avgPool2d(x, kernelSize: 2).array == [3.25, 4.25])
    }

    @Test func reductionsAndArgmax() {
        let x = Tensor(shape: [2, 3], scalars: [1, 7, 3, 9, 2, 9])
        #expect(x.sum(alongAxis: 0).array == [10, 9, 12])
        #expect(x.sum(alongAxis: 1).array == [11, 20])
        #expect(x.max(alongAxis: 1).array == [7, 9])
        #expect(x.argmax(alongAxis: 1) == [1, 0])
        let lse = Tensor(shape: [1, 2], scalars: [1000, 1000]).logSumExp(alongAxis: 1)
        #expect(abs(lse.scalar - (1000 + log(2))) < 1e-3, "log-sum-exp must not overflow")
    }

    @Test func transposeAndSlice() {
        let x = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(x.transposed().array == [1, 4, 2, 5, 3, 6])
        #expect(x.slice(alongAxis: 1, 1..<3).array == [2, 3, 5, 6])
        #expect(Tensor.concatenating([x, x], alongAxis: 0).shape == [4, 3])
        #expect(x.gathering(atIndices: [1, 1], alongAxis: 0).array == [4, 5, 6, 4, 5, 6])
    }

    @Test func splitMixIsDeterministic() {
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42), c = SplitMix64(seed: 43)
        let first = (0..<5).map { _ in a.next() }
        #expect(first == (0..<5).map { _ in b.next() })
        #expect(first != (0..<5).map { _ in c.next() })
        // Reference value of SplitMix64 for seed 0 (Vigna's splitmix64.c).
        var zero = SplitMix64(seed: 0)
        #expect(zero.next() == 0xE220_A839_7B1D_CDAF)
    }

    @Test func copyOnWriteKeepsValueSemantics() {
        let a = Tensor([1, 2, 3])
        var b = a
        b.clamp(to: 0...2)
        #expect(a.array == [1, 2, 3])
        #expect(b.array == [1, 2, 2])
    }

    /// The engine's worker pool runs every partition once, and the partitions are the same
    /// whether the pool is free, busy with an enclosing call, or wanted by several threads at
    /// once (a busy pool runs them on the caller), so results never depend on timing.
    @Test func parallelPartitionsDoNotDependOnContention() {
        let count = 10_000
        /// Per-partition sums of a sequence whose floating-point sum depends on the grouping.
        @Sendable func partialSums() -> [Float] {
            var sums = [Float](repeating: .nan, count: 16)
            sums.withUnsafeMutableBufferPointer { buffer in
                let sums = UncheckedSendable(buffer)
                let used = parallelPartitions(count, grain: 1) { worker, range in
                    var total: Float = 0
                    for i in range { total += 1 / Float(i + 1) }
                    sums.value[worker] = total
                }
                #expect(used == min(workerCount, count))
            }
            return Array(sums.prefix(min(workerCount, count)))
        }
        let reference = partialSums()
        #expect(reference.allSatisfy { !$0.isNaN })
        var whole: Float = 0
        for i in 0..<count { whole += 1 / Float(i + 1) }
        #expect(abs(reference.reduce(0, +) - whole) < 1e-3)

        // Nested: the inner calls find the pool busy.
        var inner = [[Float]](repeating: [], count: 16)
        inner.withUnsafeMutableBufferPointer { buffer in
            let inner = UncheckedSendable(buffer)
            parallelPartitions(workerCount, grain: 1) { worker, _ in inner.value[worker] = partialSums() }
        }
        #expect(inner.prefix(min(workerCount, count)).allSatisfy { $0 == reference })

        // Several threads at once, many times over.
        let threads = 6, rounds = 200
        var mismatches = [Int](repeating: 0, count: threads)
        mismatches.withUnsafeMutableBufferPointer { buffer in
            let mismatches = UncheckedSendable(buffer)
            DispatchQueue.concurrentPerform(iterations: threads) { thread in
                for _ in 0..<rounds where partialSums() != reference { mismatches.value[thread] += 1 }
            }
        }
        #expect(mismatches == [Int](repeating: 0, count: threads))
    }
}
