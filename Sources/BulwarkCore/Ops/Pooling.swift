// 2-D max and average pooling over NCHW tensors.

/// The shape of one pooling, checked once for both kinds.
private struct PoolingGeometry {
    let stride, padding: Int
    let planes, height, width: Int
    let outputHeight, outputWidth: Int
    var outputPlane: Int { outputHeight * outputWidth }

    init(_ operation: String, input: Tensor, kernelSize: Int, stride: Int?, padding: Int) {
        precondition(input.rank == 4, "\(operation) needs [N, C, H, W], got \(input.shape)")
        let stride = stride ?? kernelSize
        precondition(kernelSize >= 1 && stride >= 1 && padding >= 0 && padding * 2 <= kernelSize,
                     "\(operation) needs kernel ≥ 1, stride ≥ 1 and padding ≤ kernel / 2")
        self.stride = stride
        self.padding = padding
        (planes, height, width) = (input.shape[0] * input.shape[1], input.shape[2], input.shape[3])
        outputHeight = (height + 2 * padding - kernelSize) / stride + 1
        outputWidth = (width + 2 * padding - kernelSize) / stride + 1
        precondition(outputHeight >= 1 && outputWidth >= 1, "\(operation) window is larger than the input \(input.shape)")
    }
}

/// Max pooling over `kernelSize × kernelSize` windows of an `[N, C, H, W]` tensor, as
/// PyTorch's `max_pool2d` (padding reads as −∞). The gradient flows to the first maximal
/// element of each window; a window holding NaN yields NaN.
public func maxPool2d(_ input: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    maxPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding, rectifying: false)
}

/// `maxPool2d(input.relu(), …)` in one pass when `rectifying`: the maximum of a window is at
/// least 0, and the gradient reaches the winning element only if it is positive, exactly as
/// through the two operations (ReLU's derivative at 0 is 0). Max pooling commutes with the
/// monotone ReLU, so the fused operation reads the activations once and skips the
/// full-size ReLU output and its pullback.
package func maxPool2d(_ input: Tensor, kernelSize: Int, stride: Int?, padding: Int, rectifying: Bool) -> Tensor {
    let g = PoolingGeometry("maxPool2d", input: input, kernelSize: kernelSize, stride: stride, padding: padding)
    let (stride, planes, height, width) = (g.stride, g.planes, g.height, g.width)
    let (outputHeight, outputWidth, outputPlane) = (g.outputHeight, g.outputWidth, g.outputPlane)
    let outputShape = [input.shape[0], input.shape[1], outputHeight, outputWidth]
    // The winning input offset (within its plane) of each output element; −1 when the
    // rectifier's zero won and no gradient flows.
    var winners = [Int32](unsafeUninitializedCapacity: planes * outputPlane) { _, count in count = planes * outputPlane }
    let floor: Float = rectifying ? 0 : -.infinity
    let output = Tensor.overwriting(shape: outputShape, { out in
        input.scalars.withUnsafeBufferPointer { x in
            winners.withUnsafeMutableBufferPointer { winners in
                let boxes = UncheckedSendable((out, winners))
                parallelChunks(planes, grain: 16) { range in
                    let (out, winners) = boxes.value
                    for plane in range {
                        let source = x.address + plane * height * width
                        let planeOut = out.address + plane * outputPlane
                        let planeWinners = winners.address + plane * outputPlane
                        if kernelSize == 2 && stride == 2 && padding == 0 {
                            // The common window, unrolled. The sum is NaN exactly when the window
                            // holds NaN (or both infinities); such windows take the general loop.
                            for y in 0..<outputHeight {
                                // Eight, then four windows at a time (SIMD); the rest one by one.
                                var start = 0
                                let rowOut = planeOut + y * outputWidth, rowWinners = planeWinners + y * outputWidth
                                while start + 8 <= outputWidth,
                                      maxPool2x2Windows(8, source, top: 2 * y * width + 2 * start, width: width, floor: floor,
                                                        rectifying: rectifying, out: rowOut + start, winners: rowWinners + start) {
                                    start += 8
                                }
                                if start + 4 <= outputWidth,
                                   maxPool2x2Windows(4, source, top: 2 * y * width + 2 * start, width: width, floor: floor,
                                                     rectifying: rectifying, out: rowOut + start, winners: rowWinners + start) {
                                    start += 4
                                }
                                for xIndex in start..<outputWidth {
                                    let top = 2 * y * width + 2 * xIndex, bottom = top + width
                                    let (a, b, c, d) = (source[top], source[top + 1], source[bottom], source[bottom + 1])
                                    var best = floor, bestOffset = rectifying ? -1 : top
                                    if a > best { best = a; bestOffset = top }
                                    if b > best { best = b; bestOffset = top + 1 }
                                    if c > best { best = c; bestOffset = bottom }
                                    if d > best { best = d; bestOffset = bottom + 1 }
                                    if (a + b + c + d).isNaN {
                                        (best, bestOffset) = maxPoolWindow(source, y: y, x: xIndex, geometry: g, kernelSize: kernelSize, floor: floor)
                                    }
                                    planeOut[y * outputWidth + xIndex] = best
                                    planeWinners[y * outputWidth + xIndex] = Int32(truncatingIfNeeded: bestOffset)
                                }
                            }
                        } else {
                            for y in 0..<outputHeight {
                                for xIndex in 0..<outputWidth {
                                    let (best, bestOffset) = maxPoolWindow(source, y: y, x: xIndex, geometry: g, kernelSize: kernelSize, floor: floor)
                                    planeOut[y * outputWidth + xIndex] = best
                                    planeWinners[y * outputWidth + xIndex] = Int32(truncatingIfNeeded: bestOffset)
                                }
                            }
                        }
                    }
                }
            }
        }
    })
    let inputShape = input.shape
    return Tensor.record(output, inputs: [input], differentiablePullback: {
        // The winners are piecewise constant, so the pullback is linear in the upstream gradient.
        { upstream, _, _ in [maxUnpool2d(upstream, winners: winners, inputShape: inputShape)] }
    })
}

/// Max pooling's pullback as a differentiable primitive (PyTorch's `max_unpool2d`): each
/// element of `upstream` `[N, C, OH, OW]` goes to its window's winning offset (`winners`, per
/// plane; −1 sends it nowhere) in a zero tensor of `inputShape`. It is linear, so its own
/// pullback gathers the upstream gradient at the winners.
package func maxUnpool2d(_ upstream: Tensor, winners: [Int32], inputShape: [Int]) -> Tensor {
    precondition(upstream.rank == 4 && inputShape.count == 4 && upstream.shape[0...1] == inputShape[0...1] && winners.count == upstream.scalarCount,
                 "maxUnpool2d needs [N, C, OH, OW] with one winner each, got \(upstream.shape), \(winners.count) winners and input \(inputShape)")
    let output = scatterToWinners(upstream, winners: winners, inputShape: inputShape)
    let (planes, plane, outputShape) = (inputShape[0] * inputShape[1], inputShape[2] * inputShape[3], upstream.shape)
    let outputPlane = outputShape[2] * outputShape[3]
    return Tensor.record(output, inputs: [upstream]) {
        { gradient, _ in
            [Tensor.overwriting(shape: outputShape, { out in
                gradient.scalars.withUnsafeBufferPointer { g in
                    for index in 0..<(planes * outputPlane) {
                        let winner = Int(winners[index])
                        out[index] = winner >= 0 ? g[(index / outputPlane) * plane + winner] : 0
                    }
                }
            })]
        }
    }
}

/// Adds each element of `upstream` at its winning offset of its plane of a zero tensor of
/// `inputShape`; untraced.
private func scatterToWinners(_ upstream: Tensor, winners: [Int32], inputShape: [Int]) -> Tensor {
    let (planes, height, width) = (inputShape[0] * inputShape[1], inputShape[2], inputShape[3])
    let outputPlane = upstream.scalarCount / Swift.max(planes, 1)
    return Tensor.overwriting(shape: inputShape, { out in
        guard planes > 0 else { return }
        upstream.scalars.withUnsafeBufferPointer { g in
            winners.withUnsafeBufferPointer { winners in
                let boxes = UncheckedSendable((g, winners))
                // Each plane is cleared and scattered into while it is in cache.
                parallelChunks(planes, grain: 16) { range in
                    let (g, winners) = boxes.value
                    for plane in range {
                        let target = out.address + plane * height * width
                        target.update(repeating: 0, count: height * width)
                        for i in 0..<outputPlane {
                            let index = plane * outputPlane + i
                            let winner = Int(winners[index])
                            if winner >= 0 { target[winner] += g[index] }
                        }
                    }
                }
            }
        }
    })
}

/// `count` (8 or 4) adjacent 2×2 windows whose top-left corners start at offset `top` of the
/// plane, as the scalar loop computes them (first maximum wins; `floor` and −1 when the
/// rectifier's zero wins). Returns false, writing nothing, when a window holds NaN, for the
/// scalar path. Four windows run in the lanes of eight, the other four reading zeros (never
/// NaN) and storing nothing, as the row may end after them.
@inline(__always)
private func maxPool2x2Windows(
    _ count: Int, _ source: UnsafePointer<Float>, top: Int, width: Int, floor: Float, rectifying: Bool,
    out: UnsafeMutablePointer<Float>, winners: UnsafeMutablePointer<Int32>
) -> Bool {
    @inline(__always) func rows(at offset: Int) -> SIMD16<Float> {
        let row = UnsafeRawPointer(source + offset)
        return count == 8 ? row.loadUnaligned(as: SIMD16<Float>.self) : SIMD16(lowHalf: row.loadUnaligned(as: SIMD8<Float>.self), highHalf: .zero)
    }
    let (upper, lower) = (rows(at: top), rows(at: top + width))
    let (a, b, c, d) = (upper.evenHalf, upper.oddHalf, lower.evenHalf, lower.oddHalf)
    let sum = a + b + c + d
    if any(sum .!= sum) { return false }
    let corners = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14) &+ Int32(truncatingIfNeeded: top)
    var best = SIMD8<Float>(repeating: floor)
    var offsets = rectifying ? SIMD8<Int32>(repeating: -1) : corners
    @inline(__always) func consider(_ candidate: SIMD8<Float>, shift: Int) {
        let better = candidate .> best
        best.replace(with: candidate, where: better)
        offsets.replace(with: corners &+ Int32(truncatingIfNeeded: shift), where: better)
    }
    consider(a, shift: 0)
    consider(b, shift: 1)
    consider(c, shift: width)
    consider(d, shift: width + 1)
    if count == 8 {
        UnsafeMutableRawPointer(out).storeBytes(of: best, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(winners).storeBytes(of: offsets, as: SIMD8<Int32>.self)
    } else {
        UnsafeMutableRawPointer(out).storeBytes(of: best.lowHalf, as: SIMD4<Float>.self)
        UnsafeMutableRawPointer(winners).storeBytes(of: offsets.lowHalf, as: SIMD4<Int32>.self)
    }
    return true
}

/// The maximum of one window (at least `floor`) and its offset in the plane: the first NaN if
/// there is one, −1 if `floor` (the rectifier's 0) won, the first element if all are −∞.
private func maxPoolWindow(
    _ source: UnsafePointer<Float>, y: Int, x: Int, geometry g: PoolingGeometry, kernelSize: Int, floor: Float
) -> (Float, Int) {
    var best = floor, bestOffset = -1, first = -1
    for ky in 0..<kernelSize {
        let sourceY = y * g.stride - g.padding + ky
        guard sourceY >= 0 && sourceY < g.height else { continue }
        for kx in 0..<kernelSize {
            let sourceX = x * g.stride - g.padding + kx
            guard sourceX >= 0 && sourceX < g.width else { continue }
            let offset = sourceY * g.width + sourceX
            if first < 0 { first = offset }
            let value = source[offset]
            if value.isNaN { return (value, offset) }
            if value > best { best = value; bestOffset = offset }
        }
    }
    if bestOffset < 0 && floor == -.infinity { bestOffset = first }
    return (best, bestOffset)
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
