// Elementwise primitives: binary arithmetic with NumPy broadcasting, and unary math.
// Each primitive's pullback stands beside its forward kernel.

// MARK: - Broadcasting

/// The shape two operands broadcast to under NumPy rules (align trailing dimensions; an
/// extent of 1 stretches).
///
/// - Precondition: the shapes are compatible.
package func broadcastShape(_ lhs: [Int], _ rhs: [Int]) -> [Int] {
    let rank = max(lhs.count, rhs.count)
    var result = [Int](repeating: 1, count: rank)
    for axis in 0..<rank {
        let l = axis < rank - lhs.count ? 1 : lhs[axis - (rank - lhs.count)]
        let r = axis < rank - rhs.count ? 1 : rhs[axis - (rank - rhs.count)]
        precondition(l == r || l == 1 || r == 1, "shapes \(lhs) and \(rhs) do not broadcast")
        result[axis] = l == 1 ? r : l
    }
    return result
}

/// Row-major strides of `shape` aligned to `outputShape`, with 0 where `shape` broadcasts.
private func broadcastStrides(_ shape: [Int], to outputShape: [Int]) -> [Int] {
    let rank = outputShape.count
    var strides = [Int](repeating: 0, count: rank)
    var step = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
        let outputAxis = axis + rank - shape.count
        strides[outputAxis] = shape[axis] == 1 ? 0 : step
        step *= shape[axis]
    }
    return strides
}

/// Applies `operation` elementwise with broadcasting. Fast paths for equal shapes, a scalar
/// operand and a trailing-suffix operand (a bias); otherwise a strided walk whose inner loop
/// runs along the last axis.
@inline(__always)
package func broadcastBinary(
    _ lhs: Tensor, _ rhs: Tensor, _ operation: (Float, Float) -> Float
) -> Tensor {
    let outputShape = lhs.shape == rhs.shape ? lhs.shape : broadcastShape(lhs.shape, rhs.shape)
    let count = outputShape.reduce(1, *)
    return Tensor.overwriting(shape: outputShape, { out in
        lhs.scalars.withUnsafeBufferPointer { a in
            rhs.scalars.withUnsafeBufferPointer { b in
                if a.count == count && b.count == count {
                    parallelChunks(count, grain: 1 << 16) { range in
                        for i in range { out[i] = operation(a[i], b[i]) }
                    }
                } else if b.count == 1 {
                    let value = b[0]
                    parallelChunks(count, grain: 1 << 16) { range in
                        for i in range { out[i] = operation(a[i], value) }
                    }
                } else if a.count == 1 {
                    let value = a[0]
                    parallelChunks(count, grain: 1 << 16) { range in
                        for i in range { out[i] = operation(value, b[i]) }
                    }
                } else if a.count == count && b.count > 0 && isTrailingSuffix(rhs.shape, of: outputShape) {
                    let period = b.count
                    parallelChunks(count / period, grain: max(1, (1 << 16) / period)) { rows in
                        for row in rows {
                            let base = row * period
                            for j in 0..<period { out[base + j] = operation(a[base + j], b[j]) }
                        }
                    }
                } else if b.count == count && a.count > 0 && isTrailingSuffix(lhs.shape, of: outputShape) {
                    let period = a.count
                    parallelChunks(count / period, grain: max(1, (1 << 16) / period)) { rows in
                        for row in rows {
                            let base = row * period
                            for j in 0..<period { out[base + j] = operation(a[j], b[base + j]) }
                        }
                    }
                } else {
                    stridedBinary(a, lhs.shape, b, rhs.shape, out, outputShape, operation)
                }
            }
        }
    })
}

/// Whether `shape`, with leading 1s dropped, equals the trailing dimensions of `outputShape`.
private func isTrailingSuffix(_ shape: [Int], of outputShape: [Int]) -> Bool {
    let trimmed = shape.drop(while: { $0 == 1 })
    return trimmed.count <= outputShape.count && Array(outputShape.suffix(trimmed.count)) == Array(trimmed)
}

@inline(__always)
private func stridedBinary(
    _ a: UnsafeBufferPointer<Float>, _ aShape: [Int],
    _ b: UnsafeBufferPointer<Float>, _ bShape: [Int],
    _ out: UnsafeMutableBufferPointer<Float>, _ outputShape: [Int],
    _ operation: (Float, Float) -> Float
) {
    let rank = outputShape.count
    guard rank > 0, out.count > 0 else {
        if out.count == 1 { out[0] = operation(a[0], b[0]) }
        return
    }
    let aStrides = broadcastStrides(aShape, to: outputShape)
    let bStrides = broadcastStrides(bShape, to: outputShape)
    let inner = outputShape[rank - 1]
    let aInner = aStrides[rank - 1], bInner = bStrides[rank - 1]
    let rows = out.count / inner
    var coordinate = [Int](repeating: 0, count: rank - 1)
    var aOffset = 0, bOffset = 0
    for row in 0..<rows {
        let base = row * inner
        for j in 0..<inner { out[base + j] = operation(a[aOffset + j * aInner], b[bOffset + j * bInner]) }
        // Advance the odometer over the outer axes.
        var axis = rank - 2
        while axis >= 0 {
            coordinate[axis] += 1
            aOffset += aStrides[axis]
            bOffset += bStrides[axis]
            if coordinate[axis] < outputShape[axis] { break }
            aOffset -= aStrides[axis] * outputShape[axis]
            bOffset -= bStrides[axis] * outputShape[axis]
            coordinate[axis] = 0
            axis -= 1
        }
    }
}

extension Tensor {
    /// Sums this gradient over the axes along which a tensor of `shape` was broadcast, the
    /// adjoint of broadcasting.
    package func unbroadcasted(to shape: [Int]) -> Tensor {
        if self.shape == shape { return self }
        let leading = rank - shape.count
        var axes = Array(0..<leading)
        for axis in 0..<shape.count where shape[axis] == 1 && self.shape[axis + leading] != 1 {
            axes.append(axis + leading)
        }
        return sum(alongAxes: axes, keepingDims: true).reshaped(to: shape)
    }

    /// This tensor stretched to `shape` under broadcasting rules.
    public func broadcasted(to shape: [Int]) -> Tensor {
        if self.shape == shape { return self }
        precondition(broadcastShape(self.shape, shape) == shape, "cannot broadcast \(self.shape) to \(shape)")
        let output = broadcastBinary(Tensor(zeros: shape), self.detached) { _, value in value }
        let sourceShape = self.shape
        return Tensor.record(output, inputs: [self], differentiablePullback: {
            { upstream, _, _ in [upstream.unbroadcasted(to: sourceShape)] }
        })
    }
}

// MARK: - Binary arithmetic

extension Tensor {
    /// Elementwise sum with broadcasting.
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        let output = broadcastBinary(lhs, rhs, +)
        let (lhsShape, rhsShape) = (lhs.shape, rhs.shape)
        return record(output, inputs: [lhs, rhs], differentiablePullback: {
            { upstream, needed, _ in
                [needed[0] ? upstream.unbroadcasted(to: lhsShape) : nil,
                 needed[1] ? upstream.unbroadcasted(to: rhsShape) : nil]
            }
        })
    }

    /// Elementwise difference with broadcasting.
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
        let output = broadcastBinary(lhs, rhs, -)
        let (lhsShape, rhsShape) = (lhs.shape, rhs.shape)
        return record(output, inputs: [lhs, rhs], differentiablePullback: {
            { upstream, needed, _ in
                [needed[0] ? upstream.unbroadcasted(to: lhsShape) : nil,
                 needed[1] ? (-upstream).unbroadcasted(to: rhsShape) : nil]
            }
        })
    }

    /// Elementwise product with broadcasting.
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
        let output = broadcastBinary(lhs, rhs, *)
        let (a, b) = (lhs.detached, rhs.detached)
        return record(output, inputs: [lhs, rhs], differentiablePullback: {
            { upstream, needed, traced in
                [needed[0] ? (upstream * traced.input(1, b)).unbroadcasted(to: a.shape) : nil,
                 needed[1] ? (upstream * traced.input(0, a)).unbroadcasted(to: b.shape) : nil]
            }
        })
    }

    /// Elementwise quotient with broadcasting.
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor {
        let output = broadcastBinary(lhs, rhs, /)
        let (a, b) = (lhs.detached, rhs.detached)
        return record(output, inputs: [lhs, rhs], differentiablePullback: {
            { upstream, needed, traced in
                let divisor = traced.input(1, b)
                // −(g·y)/b: the negation is exact, so this rounds as one fused pass would.
                return [needed[0] ? (upstream / divisor).unbroadcasted(to: a.shape) : nil,
                        needed[1] ? (-(upstream * traced.output(output)) / divisor).unbroadcasted(to: b.shape) : nil]
            }
        })
    }

    /// Elementwise maximum with broadcasting; the gradient goes to the larger operand (to the
    /// left one on ties).
    public static func maximum(_ lhs: Tensor, _ rhs: Tensor) -> Tensor {
        let output = broadcastBinary(lhs, rhs) { Swift.max($0, $1) }
        let (a, b) = (lhs.detached, rhs.detached)
        return record(output, inputs: [lhs, rhs], differentiablePullback: {
            { upstream, needed, _ in
                // The choice of winner is piecewise constant: its derivative is zero. Each mask
                // holds 0 or 1, so the products round as `g · leftWins` and `g · (1 − leftWins)`.
                [needed[0] ? (upstream * broadcastBinary(a, b) { $0 >= $1 ? 1 : 0 }).unbroadcasted(to: a.shape) : nil,
                 needed[1] ? (upstream * broadcastBinary(a, b) { $0 >= $1 ? 0 : 1 }).unbroadcasted(to: b.shape) : nil]
            }
        })
    }

    /// Arithmetic with a scalar, broadcast to every element.
    public static func + (lhs: Tensor, rhs: Float) -> Tensor { lhs + Tensor(rhs) }
    /// Arithmetic with a scalar, broadcast to every element.
    public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs - Tensor(rhs) }
    /// Arithmetic with a scalar, broadcast to every element.
    public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs * Tensor(rhs) }
    /// Arithmetic with a scalar, broadcast to every element.
    public static func / (lhs: Tensor, rhs: Float) -> Tensor { lhs * Tensor(1 / rhs) }
    /// Arithmetic with a scalar, broadcast to every element.
    public static func + (lhs: Float, rhs: Tensor) -> Tensor { Tensor(lhs) + rhs }
    /// Arithmetic with a scalar, broadcast to every element.
    public static func - (lhs: Float, rhs: Tensor) -> Tensor { Tensor(lhs) - rhs }
    /// Arithmetic with a scalar, broadcast to every element.
    public static func * (lhs: Float, rhs: Tensor) -> Tensor { Tensor(lhs) * rhs }
    /// Arithmetic with a scalar, broadcast to every element.
    public static func / (lhs: Float, rhs: Tensor) -> Tensor { Tensor(lhs) / rhs }

    /// Elementwise negation.
    public static prefix func - (operand: Tensor) -> Tensor {
        operand.unary({ -$0 }, derivative: { _, _ in -1 }, derivativeTensor: { x, _ in Tensor(repeating: -1, shape: x.shape) })
    }
}

// MARK: - Unary math

extension Tensor {
    /// Applies `transform` to every scalar, untraced.
    @inline(__always)
    package func mapKernel(_ transform: (Float) -> Float) -> Tensor {
        Tensor.overwriting(shape: shape, { out in
            scalars.withUnsafeBufferPointer { input in
                parallelChunks(input.count, grain: 1 << 15) { range in
                    for i in range { out[i] = transform(input[i]) }
                }
            }
        })
    }

    /// A unary primitive: `forward` elementwise, and a pullback that multiplies the upstream
    /// gradient by `derivative(input, output)`. `derivativeTensor` computes the same
    /// derivative from the (traced) input and output tensors with traced operations, for the
    /// differentiable pullback; a derivative that is piecewise constant may be built untraced.
    @inline(__always)
    package func unary(
        _ forward: (Float) -> Float, derivative: @escaping @Sendable (Float, Float) -> Float,
        derivativeTensor: @escaping (_ input: Tensor, _ output: Tensor) -> Tensor,
        operation: StaticString = #function
    ) -> Tensor {
        let output = mapKernel(forward)
        guard isTraced else { return output }
        let input = self.detached
        // Kernel pullback kept: one fused pass where the traced one makes two to four (LSTM gates).
        return Tensor.record(output, inputs: [self], operation: operation) {
            { upstream, _ in
                [Tensor(shape: input.shape) { out in
                    upstream.scalars.withUnsafeBufferPointer { g in
                        input.scalars.withUnsafeBufferPointer { x in
                            output.scalars.withUnsafeBufferPointer { y in
                                for i in 0..<out.count { out[i] = g[i] * derivative(x[i], y[i]) }
                            }
                        }
                    }
                }]
            }
        } differentiablePullback: {
            { upstream, _, traced in [upstream * derivativeTensor(traced.input(0, input), traced.output(output))] }
        }
    }

    /// Elementwise `max(x, 0)`; the derivative at 0 is taken as 0, as in PyTorch. NaN passes
    /// through, as in PyTorch, so that a poisoned input shows in the loss.
    public func relu() -> Tensor {
        // The loop is written here, not passed to `mapKernel` as a closure: through the
        // closure each element cost an indirect call (8% of a PGD-AT profile with the pullback).
        let output = Tensor.overwriting(shape: shape, { out in
            scalars.withUnsafeBufferPointer { x in
                parallelChunks(x.count, grain: 1 << 15) { range in
                    // Eight lanes at a time, branch-free; NaN compares false and passes through.
                    let zero = SIMD8<Float>(repeating: 0)
                    var i = range.lowerBound
                    while i + 8 <= range.upperBound {
                        let value = UnsafeRawPointer(x.address + i).loadUnaligned(as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(out.address + i).storeBytes(of: value.replacing(with: zero, where: value .< zero), as: SIMD8<Float>.self)
                        i += 8
                    }
                    for j in i..<range.upperBound {
                        let value = x[j]
                        out[j] = 0 > value ? 0 : value
                    }
                }
            }
        })
        guard isTraced else { return output }
        // Kernel pullback kept: the traced `upstream * mask` gives −0 (NaN for infinities) where this gives +0.
        // Written out rather than through `unary`: this pullback is on every hot path.
        return Tensor.record(output, inputs: [self]) {
            { upstream, _ in
                [Tensor.overwriting(shape: output.shape, { out in
                    upstream.scalars.withUnsafeBufferPointer { g in
                        output.scalars.withUnsafeBufferPointer { y in
                            parallelChunks(out.count, grain: 1 << 15) { range in
                                // Branch-free: as a branch on the sign it mispredicted half the time.
                                let zero = SIMD8<Float>(repeating: 0)
                                var i = range.lowerBound
                                while i + 8 <= range.upperBound {
                                    let value = UnsafeRawPointer(y.address + i).loadUnaligned(as: SIMD8<Float>.self)
                                    let incoming = UnsafeRawPointer(g.address + i).loadUnaligned(as: SIMD8<Float>.self)
                                    UnsafeMutableRawPointer(out.address + i).storeBytes(of: zero.replacing(with: incoming, where: value .> zero), as: SIMD8<Float>.self)
                                    i += 8
                                }
                                for j in i..<range.upperBound { out[j] = y[j] > 0 ? g[j] : 0 }
                            }
                        }
                    }
                })]
            }
        } differentiablePullback: {
            // The mask is piecewise constant: ReLU's second derivative is zero.
            { upstream, _, _ in [upstream * output.mapKernel { $0 > 0 ? 1 : 0 }] }
        }
    }

    /// Elementwise natural exponential.
    public func exp() -> Tensor {
        unary({ Foundation.exp($0) }, derivative: { _, y in y }, derivativeTensor: { _, y in y })
    }

    /// Elementwise natural logarithm.
    public func log() -> Tensor {
        unary({ Foundation.log($0) }, derivative: { x, _ in 1 / x }, derivativeTensor: { x, _ in 1 / x })
    }

    /// Elementwise logistic sigmoid `1 / (1 + e^-x)`, computed without overflow.
    public func sigmoid() -> Tensor {
        unary({ x in
            x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
        }, derivative: { _, y in y * (1 - y) }, derivativeTensor: { _, y in y * (1 - y) })
    }

    /// Elementwise hyperbolic tangent.
    public func tanh() -> Tensor {
        unary({ Foundation.tanh($0) }, derivative: { _, y in 1 - y * y }, derivativeTensor: { _, y in 1 - y * y })
    }

    /// Elementwise absolute value; the derivative at 0 is 0.
    public func abs() -> Tensor {
        unary({ Swift.abs($0) }, derivative: { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) },
              derivativeTensor: { x, _ in x.mapKernel { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) } })
    }

    /// Elementwise sign (−1, 0 or 1); its derivative is zero almost everywhere.
    public func sign() -> Tensor {
        unary({ $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }, derivative: { _, _ in 0 }, derivativeTensor: { x, _ in Tensor(zeros: x.shape) })
    }

    /// Elementwise square root.
    public func sqrt() -> Tensor {
        unary({ $0.squareRoot() }, derivative: { _, y in 0.5 / y }, derivativeTensor: { _, y in 0.5 / y })
    }

    /// Elementwise square.
    public func squared() -> Tensor {
        unary({ $0 * $0 }, derivative: { x, _ in 2 * x }, derivativeTensor: { x, _ in 2 * x })
    }

    /// Elementwise clamp to `range`; the gradient passes where the input is inside the range
    /// (bounds included), as in PyTorch's `clamp`.
    public func clamped(to range: ClosedRange<Float>) -> Tensor {
        let (low, high) = (range.lowerBound, range.upperBound)
        return unary({ Swift.min(Swift.max($0, low), high) },
                     derivative: { x, _ in x >= low && x <= high ? 1 : 0 },
                     derivativeTensor: { x, _ in x.mapKernel { $0 >= low && $0 <= high ? 1 : 0 } })
    }

    /// Clamps every scalar to `range` in place (the pair of ``clamped(to:)``).
    public mutating func clamp(to range: ClosedRange<Float>) {
        self = clamped(to: range)
    }
}

import Foundation
