import BulwarkCore
import BulwarkNN

// MaxPool, AveragePool, their global forms, BatchNormalization and Dropout.

extension ONNXNode {
    /// `MaxPool` and `AveragePool` over 2-D (and 1-D, as height 1) inputs.
    ///
    /// Square windows with equal strides, symmetric padding of at most half the window, no
    /// dilation and no `ceil_mode` overhang run on the same kernels as the built-in pooling
    /// layers (average pooling there counts padding, so it takes that path only with
    /// `count_include_pad = 1` or no padding); every other geometry runs on a general kernel.
    func pooling(_ input: Tensor) throws -> Tensor {
        let oneDimensional = input.rank == 3
        guard input.rank == 4 || oneDimensional else { throw unsupported("only 1-D and 2-D pooling is supported, got \(input.shape)") }
        let x = oneDimensional ? input.reshaped(to: [input.shape[0], input.shape[1], 1, input.shape[2]]) : input
        let spatialRank = input.rank - 2
        guard var kernel = try integers("kernel_shape"), kernel.count == spatialRank else {
            throw unsupported("kernel_shape must have \(spatialRank) entries")
        }
        let attributes = try windowAttributes(spatialRank: spatialRank)
        let (strides, dilations) = (attributes.strides, attributes.dilations)
        var pads = attributes.pads
        if oneDimensional { kernel = [1] + kernel }
        guard kernel.allSatisfy({ $0 >= 1 }) else { throw mismatch("kernel_shape must be ≥ 1, got \(kernel)") }
        let isMax = opType == "MaxPool"
        let ceilMode = try integer("ceil_mode", default: 0) != 0
        let includePadding = try integer("count_include_pad", default: 0) != 0
        let span = [(kernel[0] - 1) * dilations[0] + 1, (kernel[1] - 1) * dilations[1] + 1]
        let extent = [x.shape[2], x.shape[3]]
        pads = try resolvedPads(pads, input: extent, kernel: span, strides: strides)
        var output = [0, 0]
        for axis in 0..<2 {
            let room = extent[axis] + pads[axis] + pads[axis + 2] - span[axis]
            guard room >= 0 else { throw mismatch("window \(span) is larger than the padded input \(x.shape)") }
            output[axis] = (ceilMode ? (room + strides[axis] - 1) / strides[axis] : room / strides[axis]) + 1
            // The last window must start inside the input or its leading padding.
            if ceilMode && (output[axis] - 1) * strides[axis] >= extent[axis] + pads[axis] { output[axis] -= 1 }
        }
        let padding = pads[0]
        let builtIn = kernel[0] == kernel[1] && strides[0] == strides[1] && dilations == [1, 1]
            && pads.allSatisfy({ $0 == padding }) && 2 * padding <= kernel[0]
            && (0..<2).allSatisfy({ output[$0] == (extent[$0] + 2 * padding - kernel[0]) / strides[0] + 1 })
            && (isMax || includePadding || padding == 0)
        let y: Tensor
        if builtIn {
            y = isMax
                ? maxPool2d(x, kernelSize: kernel[0], stride: strides[0], padding: padding, rectifying: rectifiesInput)
                : avgPool2d(x, kernelSize: kernel[0], stride: strides[0], padding: padding)
        } else {
            let window = PoolingWindow(
                extent: extent, kernel: kernel, strides: strides, dilations: dilations, pads: pads, output: output,
                includePadding: includePadding)
            y = isMax ? window.maximum(rectifiesInput ? x.relu() : x) : window.average(x)
        }
        return oneDimensional ? y.reshaped(to: [y.shape[0], y.shape[1], y.shape[3]]) : y
    }

    /// `GlobalAveragePool` and `GlobalMaxPool`: one value per channel, spatial axes kept as 1.
    func globalPooling(_ x: Tensor) throws -> Tensor {
        guard x.rank >= 3 else { throw mismatch("needs [N, C, …], got \(x.shape)") }
        let spatial = Array(2..<x.rank)
        if opType == "GlobalAveragePool" { return x.mean(alongAxes: spatial, keepingDims: true) }
        let kept = Array(x.shape.prefix(2)) + [Int](repeating: 1, count: spatial.count)
        return x.reshaped(to: [x.shape[0], x.shape[1], -1]).max(alongAxis: 2).reshaped(to: kept)
    }

    /// `BatchNormalization` over axis 1: running statistics in inference mode; batch
    /// statistics in training mode, with the running ones updated as
    /// `running·momentum + batch·(1 − momentum)` (ONNX's convention; PyTorch exports its
    /// momentum 0.1 as 0.9) and the unbiased variance, as the built-in `BatchNorm2D` does.
    func batchNormalization(_ inputs: [ONNXValue?], _ execution: inout ONNXExecution) throws -> Tensor {
        let x = try floatInput(inputs, 0)
        let (scale, bias) = (try floatInput(inputs, 1), try floatInput(inputs, 2))
        let (runningMean, runningVariance) = (try floatInput(inputs, 3), try floatInput(inputs, 4))
        guard x.rank >= 2 else { throw mismatch("needs [N, C, …], got \(x.shape)") }
        let channels = x.shape[1]
        guard [scale, bias, runningMean, runningVariance].allSatisfy({ $0.shape == [channels] }) else {
            throw mismatch("scale, bias, mean and variance must have shape [\(channels)]")
        }
        let epsilon = try float("epsilon", default: 1e-5)
        let momentum = try float("momentum", default: 0.9)
        let perChannel = [1, channels] + [Int](repeating: 1, count: x.rank - 2)
        let normalized: Tensor
        if execution.mode == .training {
            let axes = [0] + Array(2..<x.rank)
            let mean = x.mean(alongAxes: axes, keepingDims: true)
            let centered = x - mean
            let variance = centered.squared().mean(alongAxes: axes, keepingDims: true)
            normalized = centered / (variance + epsilon).sqrt()
            let count = Float(x.scalarCount / Swift.max(channels, 1))
            let unbiased = variance.detached.reshaped(to: [channels]) * (count / Swift.max(count - 1, 1))
            if let name = input(3) { execution.updatedState[name] = runningMean * momentum + mean.detached.reshaped(to: [channels]) * (1 - momentum) }
            if let name = input(4) { execution.updatedState[name] = runningVariance * momentum + unbiased * (1 - momentum) }
        } else {
            normalized = (x - runningMean.reshaped(to: perChannel)) / (runningVariance.reshaped(to: perChannel) + epsilon).sqrt()
        }
        return normalized * scale.reshaped(to: perChannel) + bias.reshaped(to: perChannel)
    }

    /// `Dropout`: the identity in inference mode; in training mode inverted dropout with masks
    /// drawn as the built-in `Dropout` draws them. The ratio is an attribute before opset 12
    /// and an input since.
    func dropout(_ inputs: [ONNXValue?], _ execution: inout ONNXExecution) throws -> Tensor {
        let x = try floatInput(inputs, 0)
        var ratio = try float("ratio", default: 0.5)
        if let given = try optionalFloatInput(inputs, 1) { ratio = try scalar(given, "ratio") }
        guard ratio >= 0 && ratio < 1 else { throw unsupported("ratio must be in [0, 1), got \(ratio)") }
        guard execution.mode == .training, ratio > 0 else { return x }
        let scale = 1 / (1 - ratio)
        let mask = Tensor(shape: x.shape, scalars: (0..<x.scalarCount).map { _ in
            execution.generator.nextUnitFloat() >= ratio ? scale : 0
        })
        return x * mask
    }
}

/// The geometry of a pooling the built-in kernels do not cover, with each output position's
/// input taps precomputed (the same for every plane).
struct PoolingWindow {
    let height, width: Int
    let outputHeight, outputWidth: Int
    /// Offsets inside the plane of the taps of each output position that fall in the input.
    let taps: [[Int]]
    /// The divisor of each average: the taps inside the input, or inside the padded input when
    /// padding counts.
    let divisors: [Float]

    init(extent: [Int], kernel: [Int], strides: [Int], dilations: [Int], pads: [Int], output: [Int], includePadding: Bool) {
        (height, width) = (extent[0], extent[1])
        (outputHeight, outputWidth) = (output[0], output[1])
        var taps = [[Int]](), divisors = [Float]()
        for outputY in 0..<output[0] {
            for outputX in 0..<output[1] {
                var inside = [Int](), padded = 0
                for ky in 0..<kernel[0] {
                    let y = outputY * strides[0] - pads[0] + ky * dilations[0]
                    for kx in 0..<kernel[1] {
                        let x = outputX * strides[1] - pads[1] + kx * dilations[1]
                        if y >= -pads[0] && y < extent[0] + pads[2] && x >= -pads[1] && x < extent[1] + pads[3] { padded += 1 }
                        if y >= 0 && y < extent[0] && x >= 0 && x < extent[1] { inside.append(y * extent[1] + x) }
                    }
                }
                taps.append(inside)
                divisors.append(Float(includePadding ? padded : inside.count))
            }
        }
        self.taps = taps
        self.divisors = divisors
    }

    private func outputShape(_ x: Tensor) -> [Int] { [x.shape[0], x.shape[1], outputHeight, outputWidth] }

    /// The maximum of each window (−∞ for a window wholly in padding); the gradient goes to
    /// the first maximal tap, and NaN wins.
    func maximum(_ x: Tensor) -> Tensor {
        let (planes, plane, outputPlane) = (x.shape[0] * x.shape[1], height * width, outputHeight * outputWidth)
        var winners = [Int](repeating: -1, count: planes * outputPlane)
        let output = Tensor(shape: outputShape(x)) { out in
            x.scalars.withUnsafeBufferPointer { source in
                for index in 0..<planes {
                    for position in 0..<outputPlane {
                        var (best, winner) = (-Float.infinity, -1)
                        for tap in taps[position] {
                            let value = source[index * plane + tap]
                            if value.isNaN { (best, winner) = (value, tap); break }
                            if winner < 0 || value > best { (best, winner) = (value, tap) }
                        }
                        out[index * outputPlane + position] = best
                        winners[index * outputPlane + position] = winner
                    }
                }
            }
        }
        let finalWinners = winners
        return Self.recorded(output, from: x) { g, gradient in
            for index in 0..<planes {
                for position in 0..<outputPlane where finalWinners[index * outputPlane + position] >= 0 {
                    gradient[index * plane + finalWinners[index * outputPlane + position]] += g[index * outputPlane + position]
                }
            }
        }
    }

    /// The average of each window over ``divisors``.
    func average(_ x: Tensor) -> Tensor {
        let (planes, plane, outputPlane) = (x.shape[0] * x.shape[1], height * width, outputHeight * outputWidth)
        let output = Tensor(shape: outputShape(x)) { out in
            x.scalars.withUnsafeBufferPointer { source in
                for index in 0..<planes {
                    for position in 0..<outputPlane where divisors[position] > 0 {
                        var sum: Float = 0
                        for tap in taps[position] { sum += source[index * plane + tap] }
                        out[index * outputPlane + position] = sum / divisors[position]
                    }
                }
            }
        }
        return Self.recorded(output, from: x) { g, gradient in
            for index in 0..<planes {
                for position in 0..<outputPlane where divisors[position] > 0 {
                    let share = g[index * outputPlane + position] / divisors[position]
                    for tap in taps[position] { gradient[index * plane + tap] += share }
                }
            }
        }
    }

    /// Records `output` with a pullback that builds the input's gradient by `scatter`, which
    /// adds the upstream gradient (first argument) into it.
    private static func recorded(
        _ output: Tensor, from x: Tensor,
        scatter: @escaping (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) -> Void
    ) -> Tensor {
        let inputShape = x.shape
        return Tensor.record(output, inputs: [x]) {
            { upstream, _ in
                [Tensor(shape: inputShape) { gradient in upstream.scalars.withUnsafeBufferPointer { scatter($0, gradient) } }]
            }
        }
    }
}
