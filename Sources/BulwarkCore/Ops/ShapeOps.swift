// Shape primitives: reshape, transpose, slice, concatenate, gather.

extension Tensor {
    /// Untraced reshape (shares storage).
    package func reshapedKernel(to newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// The same scalars viewed with `newShape`; one extent may be `-1` and is inferred.
    ///
    /// - Precondition: the shape holds exactly `scalarCount` scalars.
    public func reshaped(to newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            precondition(known > 0 && scalarCount % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[inferred] = scalarCount / known
        }
        precondition(resolved.reduce(1, *) == scalarCount, "cannot reshape \(shape) to \(newShape)")
        if resolved == shape { return self }
        let sourceShape = shape
        return Tensor.record(reshapedKernel(to: resolved), inputs: [self], differentiablePullback: {
            { upstream, _, _ in [upstream.reshaped(to: sourceShape)] }
        })
    }

    /// Collapses every axis after the first into one: `[N, …] → [N, product]`.
    public func flattened() -> Tensor {
        reshaped(to: [shape.first ?? 1, -1])
    }

    /// Untraced axis permutation: `result.shape[i] == shape[permutation[i]]`.
    package func transposedKernel(_ permutation: [Int]) -> Tensor {
        let outputShape = permutation.map { shape[$0] }
        var sourceStrides = [Int](repeating: 1, count: rank)
        for axis in stride(from: rank - 2, through: 0, by: -1) { sourceStrides[axis] = sourceStrides[axis + 1] * shape[axis + 1] }
        let strides = permutation.map { sourceStrides[$0] }
        let count = scalarCount
        return Tensor(shape: outputShape) { out in
            guard count > 0 else { return }
            scalars.withUnsafeBufferPointer { x in
                let inner = outputShape.last ?? 1
                let innerStride = strides.last ?? 1
                var coordinate = [Int](repeating: 0, count: Swift.max(rank - 1, 0))
                var offset = 0
                for row in 0..<(count / inner) {
                    for j in 0..<inner { out[row * inner + j] = x[offset + j * innerStride] }
                    var axis = rank - 2
                    while axis >= 0 {
                        coordinate[axis] += 1
                        offset += strides[axis]
                        if coordinate[axis] < outputShape[axis] { break }
                        offset -= strides[axis] * outputShape[axis]
                        coordinate[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
    }

    /// The axes permuted: axis `i` of the result is axis `permutation[i]` of this tensor.
    public func transposed(permutation: [Int]) -> Tensor {
        precondition(permutation.sorted() == Array(0..<rank), "\(permutation) is not a permutation of \(rank) axes")
        var inverse = permutation
        for (position, axis) in permutation.enumerated() { inverse[axis] = position }
        return Tensor.record(transposedKernel(permutation), inputs: [self], differentiablePullback: {
            { upstream, _, _ in [upstream.transposed(permutation: inverse)] }
        })
    }

    /// The matrix transpose of a rank-2 tensor.
    public func transposed() -> Tensor {
        precondition(rank == 2, "transposed() needs a matrix, shape is \(shape)")
        return transposed(permutation: [1, 0])
    }

    /// The elements at `range` along `axis`.
    public func slice(alongAxis axis: Int, _ range: Range<Int>) -> Tensor {
        let axis = normalizedAxis(axis)
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[axis], "slice \(range) is out of range for axis \(axis) of \(shape)")
        let output = selecting(range.count, alongAxis: axis) { source, destination, inner in
            destination.update(from: source + range.lowerBound * inner, count: range.count * inner)
        }
        let sourceShape = shape
        return Tensor.record(output, inputs: [self], differentiablePullback: {
            { upstream, _, _ in [upstream.unsliced(to: sourceShape, alongAxis: axis, range)] }
        })
    }

    /// Zeros of `shape` with this tensor at `range` along `axis`: the adjoint of
    /// ``slice(alongAxis:_:)`` and its pullback. Its own pullback is the slice, so gradients
    /// through either can be differentiated again.
    package func unsliced(to shape: [Int], alongAxis axis: Int, _ range: Range<Int>) -> Tensor {
        var expected = shape
        expected[axis] = range.count
        precondition(self.shape == expected, "unsliced needs shape \(expected), got \(self.shape)")
        let (outer, length, inner) = (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
        let output = Tensor(shape: shape) { out in
            guard !scalars.isEmpty else { return }
            scalars.withUnsafeBufferPointer { g in
                for o in 0..<outer {
                    (out.address + (o * length + range.lowerBound) * inner)
                        .update(from: g.address + o * range.count * inner, count: range.count * inner)
                }
            }
        }
        return Tensor.record(output, inputs: [self], differentiablePullback: {
            { upstream, _, _ in [upstream.slice(alongAxis: axis, range)] }
        })
    }

    /// The tensors joined along `axis`; all other extents must agree.
    public static func concatenating(_ tensors: [Tensor], alongAxis axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concatenating needs at least one tensor")
        let axis = tensors[0].normalizedAxis(axis)
        let first = tensors[0].shape
        for tensor in tensors {
            precondition(
                tensor.rank == first.count && (0..<first.count).allSatisfy { $0 == axis || tensor.shape[$0] == first[$0] },
                "cannot concatenate \(tensor.shape) with \(first) along axis \(axis)")
        }
        let lengths = tensors.map { $0.shape[axis] }
        let total = lengths.reduce(0, +)
        let outer = first[..<axis].reduce(1, *)
        let inner = first[(axis + 1)...].reduce(1, *)
        var outputShape = first
        outputShape[axis] = total
        let output = Tensor(shape: outputShape) { out in
            var start = 0
            for (tensor, length) in zip(tensors, lengths) where tensor.scalarCount > 0 {
                tensor.scalars.withUnsafeBufferPointer { x in
                    for o in 0..<outer where length > 0 {
                        (out.address + (o * total + start) * inner)
                            .update(from: x.address + o * length * inner, count: length * inner)
                    }
                }
                start += length
            }
        }
        return record(output, inputs: tensors, differentiablePullback: {
            { upstream, needed, _ in
                var start = 0
                return lengths.enumerated().map { position, length in
                    defer { start += length }
                    return needed[position] ? upstream.slice(alongAxis: axis, start..<(start + length)) : nil
                }
            }
        })
    }

    /// The slices at `indices` along `axis` (like `torch.index_select`); repeated indices are
    /// allowed and their gradients add up.
    public func gathering(atIndices indices: [Int], alongAxis axis: Int) -> Tensor {
        let axis = normalizedAxis(axis)
        let (outer, length, inner) = split(around: axis)
        precondition(indices.allSatisfy { $0 >= 0 && $0 < length }, "gather index out of range 0..<\(length)")
        let output = selecting(indices.count, alongAxis: axis) { source, destination, inner in
            for (position, index) in indices.enumerated() where inner > 0 {
                (destination + position * inner).update(from: source + index * inner, count: inner)
            }
        }
        let sourceShape = shape
        return Tensor.record(output, inputs: [self]) {
            { upstream, _ in
                [Tensor(shape: sourceShape) { out in
                    upstream.scalars.withUnsafeBufferPointer { g in
                        for o in 0..<outer {
                            for (position, index) in indices.enumerated() {
                                let target = (o * length + index) * inner
                                let source = (o * indices.count + position) * inner
                                for i in 0..<inner { out[target + i] += g[source + i] }
                            }
                        }
                    }
                }]
            }
        }
    }

    /// This tensor with `count` slices along `axis` in place of its own, untraced: for each
    /// index of the axes before `axis`, `copy` fills the `count × inner` elements at
    /// `destination` from this tensor's `length × inner` at `source` (`inner` the elements
    /// of one slice).
    private func selecting(
        _ count: Int, alongAxis axis: Int,
        _ copy: (_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, _ inner: Int) -> Void
    ) -> Tensor {
        let (outer, length, inner) = split(around: axis)
        var outputShape = shape
        outputShape[axis] = count
        return Tensor(shape: outputShape) { out in
            guard !out.isEmpty else { return }
            scalars.withUnsafeBufferPointer { x in
                for o in 0..<outer { copy(x.address + o * length * inner, out.address + o * count * inner, inner) }
            }
        }
    }
}
