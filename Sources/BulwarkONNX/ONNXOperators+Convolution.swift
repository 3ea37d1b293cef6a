import BulwarkCore

// Conv, Gemm and MatMul on Bulwark's kernels: conv2d (oneDNN) and matmul/linear (BLAS).

extension ONNXNode {
    /// `Conv` on 2-D (and 1-D, as height 1) inputs.
    ///
    /// Ungrouped, undilated convolutions with symmetric padding and equal strides are one
    /// `conv2d` call, as the built-in `Conv2D` makes. The rest is composed of differentiable
    /// operations around it: asymmetric or `auto_pad` padding pads the input first; dilation
    /// spreads the kernel with zeros (exact, at the cost of a larger kernel); groups run one
    /// `conv2d` per group on channel slices and concatenate (a depthwise convolution thus costs
    /// one call per channel); unequal strides run stride 1 and subsample.
    func convolution(_ inputs: [ONNXValue?]) throws -> Tensor {
        var x = try floatInput(inputs, 0)
        var weight = try floatInput(inputs, 1)
        let bias = try optionalFloatInput(inputs, 2)
        let oneDimensional = x.rank == 3
        guard x.rank == 4 || oneDimensional, weight.rank == x.rank else {
            throw unsupported("only 1-D and 2-D convolutions are supported, got input \(x.shape) and weight \(weight.shape)")
        }
        let window = try windowAttributes(spatialRank: x.rank - 2)
        let (strides, dilations) = (window.strides, window.dilations)
        var pads = window.pads
        if oneDimensional {
            x = x.reshaped(to: [x.shape[0], x.shape[1], 1, x.shape[2]])
            weight = weight.reshaped(to: [weight.shape[0], weight.shape[1], 1, weight.shape[2]])
        }
        let group = try integer("group", default: 1)
        let (channels, outputChannels) = (x.shape[1], weight.shape[0])
        guard group >= 1, channels % group == 0, outputChannels % group == 0, weight.shape[1] * group == channels else {
            throw mismatch("input \(x.shape) with \(group) groups does not fit weight \(weight.shape)")
        }
        if let bias, bias.shape != [outputChannels] { throw mismatch("bias must have shape [\(outputChannels)], got \(bias.shape)") }
        let kernel = [(weight.shape[2] - 1) * dilations[0] + 1, (weight.shape[3] - 1) * dilations[1] + 1]
        pads = try resolvedPads(pads, input: [x.shape[2], x.shape[3]], kernel: kernel, strides: strides)
        guard x.shape[2] + pads[0] + pads[2] >= kernel[0], x.shape[3] + pads[1] + pads[3] >= kernel[1] else {
            throw mismatch("kernel \(kernel) is larger than the padded input \(x.shape)")
        }

        if dilations != [1, 1] { weight = dilated(weight, by: dilations) }
        var padding = pads[0]
        if !pads.allSatisfy({ $0 == padding }) {
            x = constantPadded(x, begin: [0, 0, pads[0], pads[1]], end: [0, 0, pads[2], pads[3]], value: 0)
            padding = 0
        }
        let stride = strides[0] == strides[1] ? strides[0] : 1
        var y: Tensor
        if group == 1 {
            y = conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
        } else {
            let (inputsPerGroup, outputsPerGroup) = (channels / group, outputChannels / group)
            y = Tensor.concatenating((0..<group).map { index in
                let outputs = (index * outputsPerGroup)..<((index + 1) * outputsPerGroup)
                return conv2d(
                    x.slice(alongAxis: 1, (index * inputsPerGroup)..<((index + 1) * inputsPerGroup)),
                    weight: weight.slice(alongAxis: 0, outputs), bias: bias?.slice(alongAxis: 0, outputs),
                    stride: stride, padding: padding)
            }, alongAxis: 1)
        }
        if strides[0] != strides[1] {
            y = y.gathering(atIndices: Array(Swift.stride(from: 0, to: y.shape[2], by: strides[0])), alongAxis: 2)
            y = y.gathering(atIndices: Array(Swift.stride(from: 0, to: y.shape[3], by: strides[1])), alongAxis: 3)
        }
        return oneDimensional ? y.reshaped(to: [y.shape[0], y.shape[1], y.shape[3]]) : y
    }

    /// The strides, dilations and pads `[top, left, bottom, right]` of a 1-D or 2-D window
    /// operator (`Conv`, pooling), checked; 1-D ones lifted to a height of 1.
    func windowAttributes(spatialRank: Int) throws -> (strides: [Int], dilations: [Int], pads: [Int]) {
        let strides = try integers("strides") ?? [Int](repeating: 1, count: spatialRank)
        let dilations = try integers("dilations") ?? [Int](repeating: 1, count: spatialRank)
        let pads = try integers("pads") ?? [Int](repeating: 0, count: 2 * spatialRank)
        guard strides.count == spatialRank, dilations.count == spatialRank, pads.count == 2 * spatialRank else {
            throw mismatch("strides, dilations and pads must have \(spatialRank), \(spatialRank) and \(2 * spatialRank) entries")
        }
        guard strides.allSatisfy({ $0 >= 1 }), dilations.allSatisfy({ $0 >= 1 }), pads.allSatisfy({ $0 >= 0 }) else {
            throw mismatch("strides and dilations must be ≥ 1 and pads ≥ 0")
        }
        return spatialRank == 1 ? ([1] + strides, [1] + dilations, [0, pads[0], 0, pads[1]]) : (strides, dilations, pads)
    }

    /// Explicit pads `[top, left, bottom, right]` from `pads` or the `auto_pad` attribute.
    func resolvedPads(_ pads: [Int], input: [Int], kernel: [Int], strides: [Int]) throws -> [Int] {
        let autoPad = try string("auto_pad", default: "NOTSET")
        switch autoPad {
        case "NOTSET": return pads
        case "VALID": return [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            var begin = [0, 0], end = [0, 0]
            for axis in 0..<2 {
                let output = (input[axis] + strides[axis] - 1) / strides[axis]
                let total = Swift.max(0, (output - 1) * strides[axis] + kernel[axis] - input[axis])
                let smaller = total / 2
                (begin[axis], end[axis]) = autoPad == "SAME_UPPER" ? (smaller, total - smaller) : (total - smaller, smaller)
            }
            return begin + end
        default: throw unsupported("auto_pad \(autoPad) is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
        }
    }

    /// The kernel `[O, C, KH, KW]` with `dilation − 1` zeros between taps along each spatial
    /// axis, built by gathering from the kernel plus one zero slice so gradients reach the taps.
    private func dilated(_ weight: Tensor, by dilations: [Int]) -> Tensor {
        var result = weight
        for (offset, dilation) in dilations.enumerated() where dilation > 1 {
            let axis = offset + 2
            let taps = result.shape[axis]
            var zeroShape = result.shape
            zeroShape[axis] = 1
            let padded = Tensor.concatenating([result, Tensor(zeros: zeroShape)], alongAxis: axis)
            let indices = (0..<((taps - 1) * dilation + 1)).map { $0 % dilation == 0 ? $0 / dilation : taps }
            result = padded.gathering(atIndices: indices, alongAxis: axis)
        }
        return result
    }

    /// `Gemm`: `α·op(A)·op(B) + β·C`. The common `transB = 1` form with a bias vector is one
    /// `linear` call, as the built-in `Linear` makes.
    func gemm(_ inputs: [ONNXValue?]) throws -> Tensor {
        let (a, b) = (try floatInput(inputs, 0), try floatInput(inputs, 1))
        let c = try optionalFloatInput(inputs, 2)
        let (alpha, beta) = (try float("alpha", default: 1), try float("beta", default: 1))
        let (transposeA, transposeB) = (try integer("transA", default: 0) != 0, try integer("transB", default: 0) != 0)
        guard a.rank == 2, b.rank == 2 else { throw mismatch("Gemm needs matrices, got \(a.shape) and \(b.shape)") }
        let inner = transposeA ? a.shape[0] : a.shape[1]
        guard inner == (transposeB ? b.shape[1] : b.shape[0]) else { throw mismatch("inner dimensions of \(a.shape) and \(b.shape) differ") }
        let outputShape = [transposeA ? a.shape[1] : a.shape[0], transposeB ? b.shape[0] : b.shape[1]]
        if let c, try broadcastShape(outputShape, c.shape) != outputShape {
            throw mismatch("C of shape \(c.shape) does not broadcast to \(outputShape)")
        }
        if !transposeA && transposeB && alpha == 1 && beta == 1, let c, c.shape == [outputShape[1]] {
            return linear(a, weight: b, bias: c)
        }
        var y = matmul(a, b, transposeLHS: transposeA, transposeRHS: transposeB)
        if alpha != 1 { y = y * alpha }
        if let c, beta != 0 { y = y + (beta == 1 ? c : c * beta) }
        return y
    }

    /// `MatMul` (NumPy's `matmul`) for a matrix or vector on the right and any leading
    /// dimensions on the left, or two stacks of matrices with one batch size.
    func matrixProduct(_ inputs: [ONNXValue?]) throws -> Tensor {
        var (a, b) = (try floatInput(inputs, 0), try floatInput(inputs, 1))
        let (vectorLeft, vectorRight) = (a.rank == 1, b.rank == 1)
        if vectorLeft { a = a.reshaped(to: [1, a.shape[0]]) }
        if vectorRight { b = b.reshaped(to: [b.shape[0], 1]) }
        guard a.rank >= 2, b.rank >= 2, a.shape[a.rank - 1] == b.shape[b.rank - 2] else {
            throw mismatch("shapes \(a.shape) and \(b.shape) do not multiply")
        }
        var y: Tensor
        if b.rank == 2 {
            let leading = Array(a.shape.dropLast())
            y = matmul(a.reshaped(to: [leading.reduce(1, *), a.shape[a.rank - 1]]), b).reshaped(to: leading + [b.shape[1]])
        } else if a.rank == 3 && b.rank == 3 && a.shape[0] == b.shape[0] {
            y = batchedMatmul(a, b)
        } else {
            throw unsupported("MatMul of \(a.shape) and \(b.shape) (broadcast batches) is not supported")
        }
        if vectorRight { y = y.reshaped(to: Array(y.shape.dropLast())) }
        // A vector on the left became the matrix's only row, now the first axis.
        if vectorLeft { y = y.reshaped(to: Array(y.shape.dropFirst())) }
        return y
    }
}
