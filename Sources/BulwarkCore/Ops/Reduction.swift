// Reductions over axes: sum, mean, max, argmax, log-sum-exp.

extension Tensor {
    /// Splits the shape around `axis` into (outer, length, inner) for [outer, length, inner]
    /// loops.
    package func split(around axis: Int) -> (outer: Int, length: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    package func normalizedAxis(_ axis: Int) -> Int {
        let normalized = axis < 0 ? axis + rank : axis
        precondition(normalized >= 0 && normalized < rank, "axis \(axis) is out of range for shape \(shape)")
        return normalized
    }

    /// Untraced sum over `axes`, keeping them as extent-1 dimensions.
    package func sumKernel(alongAxes axes: [Int]) -> Tensor {
        var result = self.detached
        for axis in Set(axes.map(normalizedAxis)).sorted() {
            let (outer, length, inner) = result.split(around: axis)
            var outputShape = result.shape
            outputShape[axis] = 1
            let source = result
            result = Tensor(shape: outputShape) { out in
                source.scalars.withUnsafeBufferPointer { x in
                    parallelChunks(outer, grain: Swift.max(1, 4096 / Swift.max(1, length * inner))) { range in
                        for o in range {
                            let base = o * length * inner
                            for k in 0..<length {
                                let row = base + k * inner
                                for i in 0..<inner { out[o * inner + i] += x[row + i] }
                            }
                        }
                    }
                }
            }
        }
        return result
    }

    /// The sum over `axes`; with `keepingDims` the reduced axes stay with extent 1.
    public func sum(alongAxes axes: [Int], keepingDims: Bool = false) -> Tensor {
        let normalized = axes.map(normalizedAxis)
        let kept = sumKernel(alongAxes: normalized)
        let sourceShape = shape
        let summed = Tensor.record(kept, inputs: [self], differentiablePullback: {
            { upstream, _, _ in [upstream.broadcasted(to: sourceShape)] }
        })
        if keepingDims { return summed }
        let reducedShape = shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
        return summed.reshaped(to: reducedShape)
    }

    /// The sum over one axis.
    public func sum(alongAxis axis: Int, keepingDims: Bool = false) -> Tensor {
        sum(alongAxes: [axis], keepingDims: keepingDims)
    }

    /// The sum of all scalars, as a rank-0 tensor.
    public func sum() -> Tensor {
        sum(alongAxes: Array(0..<rank))
    }

    /// The mean over `axes`.
    public func mean(alongAxes axes: [Int], keepingDims: Bool = false) -> Tensor {
        let count = axes.map { shape[normalizedAxis($0)] }.reduce(1, *)
        return sum(alongAxes: axes, keepingDims: keepingDims) * (1 / Float(count))
    }

    /// The mean over one axis.
    public func mean(alongAxis axis: Int, keepingDims: Bool = false) -> Tensor {
        mean(alongAxes: [axis], keepingDims: keepingDims)
    }

    /// The mean of all scalars, as a rank-0 tensor.
    public func mean() -> Tensor {
        sum() * (1 / Float(Swift.max(scalarCount, 1)))
    }

    /// The index of the largest scalar along `axis` (the first on ties), as `Int`s in a
    /// tensor's row-major order with `axis` removed.
    public func argmax(alongAxis axis: Int) -> [Int] {
        let axis = normalizedAxis(axis)
        let (outer, length, inner) = split(around: axis)
        var result = [Int](repeating: 0, count: outer * inner)
        scalars.withUnsafeBufferPointer { x in
            for o in 0..<outer {
                for i in 0..<inner {
                    var best = x[o * length * inner + i], bestIndex = 0
                    for k in 1..<Swift.max(length, 1) {
                        let value = x[(o * length + k) * inner + i]
                        if value > best || (best.isNaN && !value.isNaN) { best = value; bestIndex = k }
                    }
                    result[o * inner + i] = bestIndex
                }
            }
        }
        return result
    }

    /// The largest scalar along `axis`; the gradient flows to the first maximal element.
    public func max(alongAxis axis: Int, keepingDims: Bool = false) -> Tensor {
        let axis = normalizedAxis(axis)
        let (outer, length, inner) = split(around: axis)
        let indices = argmax(alongAxis: axis)
        var keptShape = shape
        keptShape[axis] = 1
        let output = Tensor(shape: keptShape) { out in
            scalars.withUnsafeBufferPointer { x in
                for o in 0..<outer {
                    for i in 0..<inner { out[o * inner + i] = x[(o * length + indices[o * inner + i]) * inner + i] }
                }
            }
        }
        let sourceShape = shape
        // Kernel pullback kept: the traced `broadcast * winners` makes two full passes and gives −0 where this gives +0.
        let result = Tensor.record(output, inputs: [self]) {
            { upstream, _ in
                [Tensor(shape: sourceShape) { out in
                    upstream.scalars.withUnsafeBufferPointer { g in
                        for o in 0..<outer {
                            for i in 0..<inner { out[(o * length + indices[o * inner + i]) * inner + i] = g[o * inner + i] }
                        }
                    }
                }]
            }
        } differentiablePullback: {
            { upstream, _, _ in
                // The winners' mask is piecewise constant.
                let winners = Tensor(shape: sourceShape) { out in
                    for o in 0..<outer {
                        for i in 0..<inner { out[(o * length + indices[o * inner + i]) * inner + i] = 1 }
                    }
                }
                return [upstream.broadcasted(to: sourceShape) * winners]
            }
        }
        if keepingDims { return result }
        var reducedShape = shape
        reducedShape.remove(at: axis)
        return result.reshaped(to: reducedShape)
    }

    /// `log(Σ exp(x))` along `axis`, computed stably by subtracting the maximum. Its gradient
    /// is the softmax along `axis`.
    public func logSumExp(alongAxis axis: Int, keepingDims: Bool = false) -> Tensor {
        let axis = normalizedAxis(axis)
        let (outer, length, inner) = split(around: axis)
        var keptShape = shape
        keptShape[axis] = 1
        let input = self.detached
        let output = Tensor(shape: keptShape) { out in
            input.scalars.withUnsafeBufferPointer { x in
                parallelChunks(outer, grain: Swift.max(1, 8192 / Swift.max(1, length * inner))) { range in
                    for o in range {
                        for i in 0..<inner {
                            var maximum = -Float.infinity
                            for k in 0..<length { maximum = Swift.max(maximum, x[(o * length + k) * inner + i]) }
                            if !maximum.isFinite { out[o * inner + i] = maximum; continue }
                            var total: Float = 0
                            for k in 0..<length { total += Foundation.exp(x[(o * length + k) * inner + i] - maximum) }
                            out[o * inner + i] = maximum + Foundation.log(total)
                        }
                    }
                }
            }
        }
        let result = Tensor.record(output, inputs: [self], differentiablePullback: {
            // upstream · softmax(x), the softmax as exp(x − logSumExp(x)) on the traced values.
            { upstream, _, traced in [upstream * (traced.input(0, input) - traced.output(output)).exp()] }
        })
        if keepingDims { return result }
        var reducedShape = shape
        reducedShape.remove(at: axis)
        return result.reshaped(to: reducedShape)
    }
}

import Foundation
