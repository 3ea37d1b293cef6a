// 2-D convolution (NCHW, PyTorch weight layout): oneDNN's kernels on Linux, im2col + GEMM
// elsewhere or when oneDNN declines a geometry.
#if os(Linux)
import COneDNN
import Glibc
#endif
import Synchronization

/// How many convolution calls oneDNN declined so that the portable kernels ran instead; tests
/// check that it stays zero for the architectures' geometries.
package let oneDNNFallbacks = Atomic<Int>(0)

/// Which kernels compute convolutions.
package enum ConvolutionKernels: Sendable, CaseIterable {
    /// oneDNN's (Linux): blocked-layout AVX2/AVX-512 kernels, the ones PyTorch uses on CPUs.
    case oneDNN
    /// im2col + GEMM through the BLAS: every platform, and the fallback whenever oneDNN
    /// declines a geometry.
    case portable

    /// oneDNN where it is linked, unless `BULWARK_CONVOLUTION=im2col` asks for the portable
    /// kernels (for comparison, and as a way out should oneDNN misbehave).
    package static let preferred: ConvolutionKernels = {
        #if os(Linux)
        guard let value = getenv("BULWARK_CONVOLUTION") else { return .oneDNN }
        return String(cString: value) == "im2col" ? .portable : .oneDNN
        #else
        return .portable
        #endif
    }()
}

#if os(Linux)

extension ConvolutionGeometry {
    /// Whether oneDNN computes the input gradient. Its AVX2 kernels block channels by 8, and
    /// for fewer input channels it pads the gradient to 8 of them: the first layer's input
    /// gradient (1 channel, needed by every attack) ran at about 1 GFLOP/s, 5 to 40 times
    /// slower than that layer's forward pass, so the portable kernels take it.
    fileprivate var oneDNNComputesInputGradient: Bool { inputChannels % 8 == 0 }

    /// Whether oneDNN computes the weight gradient: for the same reason, not below 8 input
    /// channels (smallcnn's first layer: 8.5 ms per 64 images, about 9 GFLOP/s, against
    /// 1.3 ms for its forward pass).
    fileprivate var oneDNNComputesWeightGradient: Bool { inputChannels % 8 == 0 }

    /// oneDNN's description of this convolution restricted to `count` images.
    fileprivate func oneDNN(count: Int) -> bulwark_convolution {
        bulwark_convolution(
            batch: count, input_channels: inputChannels, height: height, width: width,
            output_channels: outputChannels, kernel_height: kernelHeight, kernel_width: kernelWidth,
            stride: stride, padding: padding)
    }
}
#endif

/// The geometry of one 2-D convolution, shared by forward and backward.
package struct ConvolutionGeometry: Sendable {
    package let batch, inputChannels, height, width: Int
    package let outputChannels, kernelHeight, kernelWidth: Int
    package let stride, padding: Int
    package var outputHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    package var outputWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    /// Rows of the column matrix: one per (input channel, kernel row, kernel column).
    package var patchSize: Int { inputChannels * kernelHeight * kernelWidth }
    package var outputPlane: Int { outputHeight * outputWidth }

    package init(
        batch: Int, inputChannels: Int, height: Int, width: Int, outputChannels: Int, kernelHeight: Int, kernelWidth: Int,
        stride: Int, padding: Int
    ) {
        (self.batch, self.inputChannels, self.height, self.width) = (batch, inputChannels, height, width)
        (self.outputChannels, self.kernelHeight, self.kernelWidth) = (outputChannels, kernelHeight, kernelWidth)
        (self.stride, self.padding) = (stride, padding)
    }

    /// How many images one worker's GEMM covers: enough to keep BLAS efficient, few enough
    /// that the worker's column buffer stays near 16 MiB.
    package var chunk: Int {
        let perImage = patchSize * outputPlane
        return Swift.max(1, Swift.min(batch, (4 << 20) / Swift.max(perImage, 1)))
    }
}

/// Copies the receptive fields of images `first..<first + count` into `columns`, laid out as
/// `[patchSize, count · outputPlane]`; padding reads as zero.
private func im2col(
    _ x: UnsafePointer<Float>, _ g: ConvolutionGeometry, first: Int, count: Int,
    into columns: UnsafeMutablePointer<Float>
) {
    let (oh, ow) = (g.outputHeight, g.outputWidth)
    let rowLength = count * g.outputPlane
    for row in 0..<g.patchSize {
            let kw = row % g.kernelWidth
            let kh = (row / g.kernelWidth) % g.kernelHeight
            let c = row / (g.kernelWidth * g.kernelHeight)
            let destinationRow = columns + row * rowLength
            for n in 0..<count {
                let plane = x + ((first + n) * g.inputChannels + c) * g.height * g.width
                let destination = destinationRow + n * g.outputPlane
                for y in 0..<oh {
                    let sourceY = y * g.stride - g.padding + kh
                    let line = destination + y * ow
                    guard sourceY >= 0 && sourceY < g.height else {
                        line.update(repeating: 0, count: ow)
                        continue
                    }
                    let source = plane + sourceY * g.width
                    if g.stride == 1 {
                        // Columns inside the image form one contiguous run.
                        let offset = kw - g.padding
                        let start = Swift.max(0, -offset), end = Swift.min(ow, g.width - offset)
                        if start > 0 { line.update(repeating: 0, count: Swift.min(start, ow)) }
                        if end > start { (line + start).update(from: source + start + offset, count: end - start) }
                        if end < ow { (line + Swift.max(end, 0)).update(repeating: 0, count: ow - Swift.max(end, 0)) }
                    } else {
                        for xIndex in 0..<ow {
                            let sourceX = xIndex * g.stride - g.padding + kw
                            line[xIndex] = sourceX >= 0 && sourceX < g.width ? source[sourceX] : 0
                        }
                    }
                }
            }
    }
}

/// Adds the columns back into the image gradient (the adjoint of `im2col`).
private func col2im(
    _ columns: UnsafePointer<Float>, _ g: ConvolutionGeometry, first: Int, count: Int,
    into dx: UnsafeMutablePointer<Float>
) {
    let (oh, ow) = (g.outputHeight, g.outputWidth)
    let rowLength = count * g.outputPlane
    let kernelArea = g.kernelHeight * g.kernelWidth
    for n in 0..<count {
            for c in 0..<g.inputChannels {
                let plane = dx + ((first + n) * g.inputChannels + c) * g.height * g.width
                for k in 0..<kernelArea {
                    let (kh, kw) = (k / g.kernelWidth, k % g.kernelWidth)
                    let source = columns + (c * kernelArea + k) * rowLength + n * g.outputPlane
                    // Output columns whose input column lies inside the image.
                    let firstX = g.stride == 1 ? Swift.max(0, g.padding - kw) : 0
                    let endX = g.stride == 1 ? Swift.min(ow, g.width + g.padding - kw) : ow
                    for y in 0..<oh {
                        let targetY = y * g.stride - g.padding + kh
                        guard targetY >= 0 && targetY < g.height else { continue }
                        let target = plane + targetY * g.width
                        let line = source + y * ow
                        if g.stride == 1 {
                            let shifted = target + (kw - g.padding)
                            for xIndex in firstX..<Swift.max(firstX, endX) { shifted[xIndex] += line[xIndex] }
                        } else {
                            for xIndex in 0..<ow {
                                let targetX = xIndex * g.stride - g.padding + kw
                                if targetX >= 0 && targetX < g.width { target[targetX] += line[xIndex] }
                            }
                        }
                    }
                }
            }
    }
}

/// 2-D cross-correlation of `input` `[N, C, H, W]` with `weight` `[O, C, KH, KW]` plus an
/// optional `bias` `[O]`, as PyTorch's `torch.nn.functional.conv2d`.
///
/// Output extent: `(H + 2·padding − KH) / stride + 1` (floor), likewise for width.
///
/// - Complexity: 2·N·O·C·KH·KW·OH·OW flops in GEMMs forward; the pullback runs one GEMM per
///   input that needs a gradient (the input's gradient is skipped when only the weights need
///   one, and the weights' when only the input does, as in an attack).
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0) -> Tensor {
    conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, kernels: .preferred)
}

/// ``conv2d(_:weight:bias:stride:padding:)`` on the given kernels, so tests check both.
package func conv2d(
    _ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
    kernels: ConvolutionKernels
) -> Tensor {
    precondition(input.rank == 4, "conv2d needs an input of shape [N, C, H, W], got \(input.shape)")
    precondition(weight.rank == 4, "conv2d needs a weight of shape [O, C, KH, KW], got \(weight.shape)")
    precondition(input.shape[1] == weight.shape[1], "conv2d input has \(input.shape[1]) channels, weight expects \(weight.shape[1])")
    precondition(stride >= 1 && padding >= 0, "conv2d needs stride ≥ 1 and padding ≥ 0")
    let g = ConvolutionGeometry(
        batch: input.shape[0], inputChannels: input.shape[1], height: input.shape[2], width: input.shape[3],
        outputChannels: weight.shape[0], kernelHeight: weight.shape[2], kernelWidth: weight.shape[3],
        stride: stride, padding: padding)
    precondition(g.outputHeight >= 1 && g.outputWidth >= 1, "conv2d kernel \(weight.shape) is larger than the padded input \(input.shape)")
    if let bias { precondition(bias.shape == [g.outputChannels], "conv2d bias must have shape [\(g.outputChannels)], got \(bias.shape)") }

    let output = conv2dForward(input, weight, bias, g, kernels)
    let (x, w) = (input.detached, weight.detached)
    var inputs = [input, weight]
    if let bias { inputs.append(bias) }
    // Kernel pullback kept: one pass for both gradients, the bias summed in the weight pass (rounding unlike `sum`).
    return Tensor.record(output, inputs: inputs) {
        { upstream, needed in
            let needBias = needed.count == 3 && needed[2]
            let (dx, dw, db) = conv2dBackward(upstream, x, w, g, kernels, needInput: needed[0], needWeight: needed[1], needBias: needBias)
            var result: [Tensor?] = [dx, dw]
            if needed.count == 3 {
                result.append(needBias ? db ?? upstream.sumKernel(alongAxes: [0, 2, 3]).reshapedKernel(to: [g.outputChannels]) : nil)
            }
            return result
        }
    } differentiablePullback: {
        { upstream, needed, traced in
            var result: [Tensor?] = [
                needed[0] ? conv2dInputGradient(upstream, weight: traced.input(1, w), geometry: g, kernels: kernels) : nil,
                needed[1] ? conv2dWeightGradient(upstream, input: traced.input(0, x), geometry: g, kernels: kernels) : nil,
            ]
            if needed.count == 3 { result.append(needed[2] ? upstream.sum(alongAxes: [0, 2, 3]) : nil) }
            return result
        }
    }
}

/// The gradient of a convolution with respect to its input, `A(u, W)` for the output
/// gradient `u` `[N, O, OH, OW]` and the weight `W` (a transposed convolution), as a
/// differentiable primitive: the input gradient of ``conv2d(_:weight:bias:stride:padding:)``'s
/// differentiable pullback.
///
/// `A` is bilinear and the adjoint of the convolution in its input, `⟨r, A(u, W)⟩ =
/// ⟨conv(r, W), u⟩`, so its pullback of `r` (shaped like the input) is `conv(r, W)` for `u`
/// and the convolution's weight gradient for input `r` and output gradient `u` for `W`.
package func conv2dInputGradient(_ upstream: Tensor, weight: Tensor, geometry g: ConvolutionGeometry, kernels: ConvolutionKernels) -> Tensor {
    let inputShape = [g.batch, g.inputChannels, g.height, g.width]
    let (u, w) = (upstream.detached, weight.detached)
    // The kernel reads only the input's shape when it computes no weight gradient.
    let output = conv2dBackward(u, Tensor(zeros: inputShape), w, g, kernels, needInput: true, needWeight: false, needBias: false).input
        ?? Tensor(zeros: inputShape)
    return Tensor.record(output, inputs: [upstream, weight]) {
        { r, needed in
            [needed[0] ? conv2dForward(r, w, nil, g, kernels) : nil,
             needed[1] ? conv2dBackward(u, r, w, g, kernels, needInput: false, needWeight: true, needBias: false).weight : nil]
        }
    }
}

/// The gradient of a convolution with respect to its weight, `B(x, u)` for the input `x` and
/// the output gradient `u`, as a differentiable primitive: the weight gradient of
/// ``conv2d(_:weight:bias:stride:padding:)``'s differentiable pullback.
///
/// `⟨R, B(x, u)⟩ = ⟨conv(x, R), u⟩`, so its pullback of `R` (shaped like the weight) is
/// `conv(x, R)` for `u` and ``conv2dInputGradient(_:weight:geometry:kernels:)`` of `u` and `R`
/// for `x`.
package func conv2dWeightGradient(_ upstream: Tensor, input: Tensor, geometry g: ConvolutionGeometry, kernels: ConvolutionKernels) -> Tensor {
    let weightShape = [g.outputChannels, g.inputChannels, g.kernelHeight, g.kernelWidth]
    let (u, x) = (upstream.detached, input.detached)
    let output = conv2dBackward(u, x, Tensor(zeros: weightShape), g, kernels, needInput: false, needWeight: true, needBias: false).weight
        ?? Tensor(zeros: weightShape)
    return Tensor.record(output, inputs: [upstream, input]) {
        { r, needed in
            [needed[0] ? conv2dForward(x, r, nil, g, kernels) : nil,
             needed[1] ? conv2dBackward(u, x, r, g, kernels, needInput: true, needWeight: false, needBias: false).input : nil]
        }
    }
}

/// The linked oneDNN's version (`3.0.0`), or `nil` where convolutions do not use oneDNN; for
/// run manifests.
package var oneDNNVersion: String? {
    #if os(Linux)
    var (major, minor, patch): (Int32, Int32, Int32) = (0, 0, 0)
    guard bulwark_onednn_version(&major, &minor, &patch) == 0 else { return nil }
    return "\(major).\(minor).\(patch)"
    #else
    return nil
    #endif
}

private func conv2dForward(
    _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, _ g: ConvolutionGeometry, _ kernels: ConvolutionKernels
) -> Tensor {
    let chunk = g.chunk
    let biasScalars = bias?.scalars
    return Tensor.overwriting(shape: [g.batch, g.outputChannels, g.outputHeight, g.outputWidth], { out in
        input.scalars.withUnsafeBufferPointer { x in
            weight.scalars.withUnsafeBufferPointer { w in
                let pointers = UncheckedSendable((x.address, w.address, out.address))
                // Each worker convolves its own images: im2col, one single-threaded GEMM per
                // chunk, then [O, count, plane] → [count, O, plane] with the bias added.
                parallelChunks(g.batch, grain: 1) { images in
                    let (x, w, out) = pointers.value
                    #if os(Linux)
                    if kernels == .oneDNN {
                        var slice = g.oneDNN(count: images.count)
                        let first = images.lowerBound
                        let status = withOptionalPointer(biasScalars) { bias in
                            bulwark_convolution_forward(
                                &slice, x + first * g.inputChannels * g.height * g.width, w, bias,
                                out + first * g.outputChannels * g.outputPlane)
                        }
                        if status == 0 { return }
                        oneDNNFallbacks.add(1, ordering: .relaxed)
                    }
                    #endif
                    var columns = uninitializedScalars(g.patchSize * chunk * g.outputPlane)
                    var product = uninitializedScalars(g.outputChannels * chunk * g.outputPlane)
                    columns.withUnsafeMutableBufferPointer { columns in
                        product.withUnsafeMutableBufferPointer { product in
                            for first in stride(from: images.lowerBound, to: images.upperBound, by: chunk) {
                                let count = Swift.min(chunk, images.upperBound - first)
                                let width = count * g.outputPlane
                                im2col(x, g, first: first, count: count, into: columns.address)
                                sgemm(transposeA: false, transposeB: false, m: g.outputChannels, n: width, k: g.patchSize,
                                      a: w, lda: g.patchSize, b: columns.address, ldb: width,
                                      c: product.address, ldc: width)
                                for n in 0..<count {
                                    for o in 0..<g.outputChannels {
                                        let source = product.address + (o * count + n) * g.outputPlane
                                        let destination = out + ((first + n) * g.outputChannels + o) * g.outputPlane
                                        let shift = biasScalars?[o] ?? 0
                                        for i in 0..<g.outputPlane { destination[i] = source[i] + shift }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

private func conv2dBackward(
    _ upstream: Tensor, _ input: Tensor, _ weight: Tensor, _ g: ConvolutionGeometry, _ kernels: ConvolutionKernels,
    needInput: Bool, needWeight: Bool, needBias: Bool
) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    let weightCount = weight.scalarCount
    // The bias gradient comes with the weight gradient's pass when both are needed (otherwise
    // the caller sums the upstream gradient).
    let biasCount = needWeight && needBias ? g.outputChannels : 0
    // One partial weight (and bias) gradient per worker, summed at the end.
    let partialCount = weightCount + biasCount
    var partials = [Float](repeating: 0, count: needWeight ? workerCount * partialCount : 0)
    // Overwritten by oneDNN; the portable path clears each worker's images first.
    var dx = uninitializedScalars(needInput ? input.scalarCount : 0)
    var used = 0
    upstream.scalars.withUnsafeBufferPointer { dy in
        input.scalars.withUnsafeBufferPointer { x in
            weight.scalars.withUnsafeBufferPointer { w in
                dx.withUnsafeMutableBufferPointer { dxBuffer in
                    partials.withUnsafeMutableBufferPointer { partialsBuffer in
                        let pointers = UncheckedSendable((dy.address, x.address, w.address, dxBuffer.baseAddress, partialsBuffer.baseAddress))
                        used = parallelPartitions(g.batch, grain: 1) { worker, images in
                            let (dy, x, w, dx, partials) = pointers.value
                            // What is left for the portable kernels once oneDNN has done its part.
                            var (portableWeight, portableInput) = (needWeight, needInput)
                            #if os(Linux)
                            if kernels == .oneDNN {
                                var slice = g.oneDNN(count: images.count)
                                let first = images.lowerBound
                                let inputOffset = first * g.inputChannels * g.height * g.width
                                let outputOffset = first * g.outputChannels * g.outputPlane
                                let partial = needWeight ? partials! + worker * partialCount : nil
                                if needWeight && g.oneDNNComputesWeightGradient {
                                    let status = bulwark_convolution_backward_weights(
                                        &slice, x + inputOffset, dy + outputOffset, partial!, biasCount > 0 ? partial! + weightCount : nil)
                                    if status == 0 {
                                        portableWeight = false
                                    } else {
                                        oneDNNFallbacks.add(1, ordering: .relaxed)
                                        // The portable path below accumulates into zeroed buffers.
                                        partial!.update(repeating: 0, count: partialCount)
                                    }
                                }
                                if needInput && g.oneDNNComputesInputGradient {
                                    if bulwark_convolution_backward_data(&slice, dy + outputOffset, w, dx! + inputOffset) == 0 {
                                        portableInput = false
                                    } else {
                                        oneDNNFallbacks.add(1, ordering: .relaxed)
                                    }
                                }
                                if !portableWeight && !portableInput { return }
                            }
                            #endif
                            let (needWeight, needInput) = (portableWeight, portableInput)
                            if needInput, let dx {
                                let imageSize = g.inputChannels * g.height * g.width
                                (dx + images.lowerBound * imageSize).update(repeating: 0, count: images.count * imageSize)
                            }
                            if needWeight && biasCount > 0, let partials {
                                let biasPartial = partials + worker * partialCount + weightCount
                                for n in images {
                                    for o in 0..<g.outputChannels {
                                        let plane = dy + (n * g.outputChannels + o) * g.outputPlane
                                        var total: Float = 0
                                        for i in 0..<g.outputPlane { total += plane[i] }
                                        biasPartial[o] += total
                                    }
                                }
                            }
                            // Image by image: one image's upstream gradient is already the
                            // [O, plane] matrix the GEMMs want, and its columns stay in cache
                            // between the GEMM and im2col/col2im.
                            let plane = g.outputPlane
                            var columns = uninitializedScalars(needWeight ? g.patchSize * plane : 0)
                            var gradientColumns = uninitializedScalars(needInput ? g.patchSize * plane : 0)
                            columns.withUnsafeMutableBufferPointer { columns in
                                gradientColumns.withUnsafeMutableBufferPointer { gradientColumns in
                                    for n in images {
                                        let upstreamMatrix = dy + n * g.outputChannels * plane
                                        if needWeight, let partials {
                                            im2col(x, g, first: n, count: 1, into: columns.address)
                                            // dW[O, patch] += dY[O, plane] · colsᵀ
                                            sgemm(transposeA: false, transposeB: true, m: g.outputChannels, n: g.patchSize, k: plane,
                                                  a: upstreamMatrix, lda: plane, b: columns.address, ldb: plane,
                                                  beta: 1, c: partials + worker * partialCount, ldc: g.patchSize)
                                        }
                                        if needInput, let dx {
                                            // dCols[patch, plane] = Wᵀ · dY
                                            sgemm(transposeA: true, transposeB: false, m: g.patchSize, n: plane, k: g.outputChannels,
                                                  a: w, lda: g.patchSize, b: upstreamMatrix, ldb: plane,
                                                  c: gradientColumns.address, ldc: plane)
                                            col2im(gradientColumns.address, g, first: n, count: 1, into: dx)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    var dw: Tensor?, db: Tensor?
    if needWeight {
        let sums = Tensor.overwriting(shape: [partialCount], { out in
            partials.withUnsafeBufferPointer { partials in
                for i in 0..<partialCount {
                    var total: Float = 0
                    for worker in 0..<used { total += partials[worker * partialCount + i] }
                    out[i] = total
                }
            }
        })
        dw = Tensor(shape: weight.shape, scalars: Array(sums.scalars[0..<weightCount]))
        if biasCount > 0 { db = Tensor(shape: [biasCount], scalars: Array(sums.scalars[weightCount...])) }
    }
    return (needInput ? Tensor(shape: input.shape, scalars: dx) : nil, dw, db)
}

/// Calls `body` with the address of `scalars`, or with `nil` when there are none.
private func withOptionalPointer<R>(_ scalars: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let scalars else { return body(nil) }
    return scalars.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Scratch space that the kernels overwrite before reading.
private func uninitializedScalars(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}
