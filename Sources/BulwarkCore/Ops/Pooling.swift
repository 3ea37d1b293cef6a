// 2-D max and average pooling over NCHW tensors.

/// The shape of one pooling, checked once for both kinds.
private struct PoolingGeometry {
    let stride: Int
    let planes, height, width: Int
    let outputHeight, outputWidth: Int
    var outputPlane: Int { outputHeight * outputWidth }

    init(_ operation: String, input: Tensor, kernelSize: Int, stride: Int?, padding: Int) {
        precondition(input.rank == 4, "\(operation) needs [N, C, H, W], got \(input.shape)")
        let stride = stride ?? kernelSize
        precondition(kernelSize >= 1 && stride >= 1 && padding >= 0 && padding * 2 <= kernelSize,
                     "\(operation) needs kernel ≥ 1, stride ≥ 1 and padding ≤ kernel / 2")
        self.stride = stride
        (planes, height, width) = (input.shape[0] * input.shape[1], input.shape[2], input.shape[3])
        outputHeight = (height + 2 * padding - kernelSize) / stride + 1
        outputWidth = (width + 2 * padding - kernelSize) / stride + 1
        precondition(outputHeight >= 1 && outputWidth >= 1, "\(operation) window is larger than the input \(input.shape)")
    }
}

/// Max pooling over `kernelSize × kernelSize` windows of an `[N, C, H, W]` tensor, as
/// PyTorch's `max_pool2d` (padding reads as −∞). The gradient flows to the first maximal
/// element of each window.
public func maxPool2d(_ input: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    let g = PoolingGeometry("maxPool2d", input: input, kernelSize: kernelSize, stride: stride, padding: padding)
    let (stride, planes, height, width) = (g.stride, g.planes, g.height, g.width)
    let (outputHeight, outputWidth, outputPlane) = (g.outputHeight, g.outputWidth, g.outputPlane)
    let outputShape = [input.shape[0], input.shape[1], outputHeight, outputWidth]
    // The winning input offset (within its plane) of each output element.
    var winners = [Int32](repeating: 0, count: planes * outputPlane)
    let output = Tensor(shape: outputShape) { out in
        input.scalars.withUnsafeBufferPointer { x in
            winners.withUnsafeMutableBufferPointer { winners in
                let outBox = UncheckedSendable(out), winnersBox = UncheckedSendable(winners)
                parallelChunks(planes, grain: 16) { range in
                    for plane in range {
                        let source = x.address + plane * height * width
                        if kernelSize == 2 && stride == 2 && padding == 0 {
                            // The common 2×2 window, unrolled.
                            for y in 0..<outputHeight {
                                let top = source + 2 * y * width, bottom = top + width
                                for xIndex in 0..<outputWidth {
                                    let column = 2 * xIndex
                                    var best = top[column], offset = 2 * y * width + column
                                    if top[column + 1] > best { best = top[column + 1]; offset += 1 }
                                    if bottom[column] > best { best = bottom[column]; offset = (2 * y + 1) * width + column }
                                    if bottom[column + 1] > best { best = bottom[column + 1]; offset = (2 * y + 1) * width + column + 1 }
                                    let index = plane * outputPlane + y * outputWidth + xIndex
                                    outBox.value[index] = best
                                    winnersBox.value[index] = Int32(offset)
                                }
                            }
                            continue
                        }
                        for y in 0..<outputHeight {
                            for xIndex in 0..<outputWidth {
                                var best = -Float.infinity, bestOffset = -1
                                for ky in 0..<kernelSize {
                                    let sourceY = y * stride - padding + ky
                                    guard sourceY >= 0 && sourceY < height else { continue }
                                    for kx in 0..<kernelSize {
                                        let sourceX = xIndex * stride - padding + kx
                                        guard sourceX >= 0 && sourceX < width else { continue }
                                        let value = source[sourceY * width + sourceX]
                                        if value > best || bestOffset < 0 || value.isNaN {
                                            best = value
                                            bestOffset = sourceY * width + sourceX
                                        }
                                    }
                                }
                                let index = plane * outputPlane + y * outputWidth + xIndex
                                outBox.value[index] = best
                                winnersBox.value[index] = Int32(bestOffset)
                            }
                        }
                    }
                }
            }
        }
    }
    let inputShape = input.shape
    return Tensor.record(output, inputs: [input]) {
        { upstream, _ in
            [Tensor(shape: inputShape) { out in
                upstream.scalars.withUnsafeBufferPointer { g in
                    winners.withUnsafeBufferPointer { winners in
                        for plane in 0..<planes {
                            let base = plane * height * width
                            for i in 0..<outputPlane {
                                let index = plane * outputPlane + i
                                out[base + Int(winners[index])] += g[index]
                            }
                        }
                    }
                }
            }]
        }
    }
}

/// Average pooling over `kernelSize × kernelSize` windows of an `[N, C, H, W]` tensor, as
/// PyTorch's `avg_pool2d` with `count_include_pad=True` (padding counts as zeros).
public func avgPool2d(_ input: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    let g = PoolingGeometry("avgPool2d", input: input, kernelSize: kernelSize, stride: stride, padding: padding)
    let (stride, planes, height, width) = (g.stride, g.planes, g.height, g.width)
    let (outputHeight, outputWidth, outputPlane) = (g.outputHeight, g.outputWidth, g.outputPlane)
    let scale = 1 / Float(kernelSize * kernelSize)

    // Visits every (output index, input offset) pair of one plane.
    func forEachWindow(_ body: (Int, Int) -> Void) {
        for y in 0..<outputHeight {
            for xIndex in 0..<outputWidth {
                for ky in 0..<kernelSize {
                    let sourceY = y * stride - padding + ky
                    guard sourceY >= 0 && sourceY < height else { continue }
                    for kx in 0..<kernelSize {
                        let sourceX = xIndex * stride - padding + kx
                        guard sourceX >= 0 && sourceX < width else { continue }
                        body(y * outputWidth + xIndex, sourceY * width + sourceX)
                    }
                }
            }
        }
    }

    let output = Tensor(shape: [input.shape[0], input.shape[1], outputHeight, outputWidth]) { out in
        input.scalars.withUnsafeBufferPointer { x in
            for plane in 0..<planes {
                let (source, destination) = (plane * height * width, plane * outputPlane)
                forEachWindow { o, i in out[destination + o] += x[source + i] * scale }
            }
        }
    }
    let inputShape = input.shape
    return Tensor.record(output, inputs: [input]) {
        { upstream, _ in
            [Tensor(shape: inputShape) { out in
                upstream.scalars.withUnsafeBufferPointer { g in
                    for plane in 0..<planes {
                        let (target, source) = (plane * height * width, plane * outputPlane)
                        forEachWindow { o, i in out[target + i] += g[source + o] * scale }
                    }
                }
            }]
        }
    }
}
