import BulwarkCore

// Shape operators and constants. Data movement on floats uses Bulwark's differentiable shape
// operations; on integers (shape arithmetic) the same operations move element indices, which
// are then looked up, so the integers stay exact.

extension ONNXNode {
    /// `operation`, written for float tensors, applied to a float or an integer value.
    func moving(_ value: ONNXValue, _ operation: (Tensor) throws -> Tensor) throws -> ONNXValue {
        switch value {
        case .float(let tensor): return .float(try operation(tensor))
        case .integer(let integers): return .integer(try movingIntegers([integers]) { try operation($0[0]) })
        }
    }

    /// Runs a data-movement `operation` on tensors of element indices standing for `inputs`
    /// (numbered consecutively across them) and looks the moved indices up.
    func movingIntegers(_ inputs: [IntegerTensor], _ operation: ([Tensor]) throws -> Tensor) throws -> IntegerTensor {
        var offset = 0
        let indices = inputs.map { integers -> Tensor in
            defer { offset += integers.values.count }
            return Tensor(shape: integers.shape, scalars: (offset..<(offset + integers.values.count)).map { Float($0) })
        }
        let all = inputs.flatMap(\.values)
        let moved = try operation(indices)
        return IntegerTensor(shape: moved.shape, values: moved.scalars.map { all[Int($0)] })
    }

    func flatten(_ inputs: [ONNXValue?]) throws -> ONNXValue {
        let value = try present(inputs, 0)
        let shape = value.shape
        var axis = try integer("axis", default: 1)
        if axis < 0 { axis += shape.count }
        guard axis >= 0 && axis <= shape.count else { throw mismatch("axis \(axis) is out of range for \(shape)") }
        let target = [shape[..<axis].reduce(1, *), shape[axis...].reduce(1, *)]
        return try moving(value) { $0.reshaped(to: target) }
    }

    /// `Reshape`: `0` copies the input's extent (unless `allowzero`), `-1` is inferred.
    func reshape(_ inputs: [ONNXValue?]) throws -> ONNXValue {
        let value = try present(inputs, 0)
        let requested = try integerInput(inputs, 1).values
        let allowZero = try integer("allowzero", default: 0) != 0
        var target = try requested.enumerated().map { axis, extent -> Int in
            guard extent == 0 && !allowZero else { return extent }
            guard axis < value.shape.count else { throw mismatch("shape \(requested) copies axis \(axis) of \(value.shape)") }
            return value.shape[axis]
        }
        let count = value.shape.reduce(1, *)
        if let inferred = target.firstIndex(of: -1) {
            let others = target.enumerated().filter { $0.offset != inferred }.map(\.element)
            let known = try elementCount(of: others, orThrow: mismatch("cannot reshape \(value.shape) to \(requested)"))
            guard known > 0, count % known == 0 else { throw mismatch("cannot reshape \(value.shape) to \(requested)") }
            target[inferred] = count / known
        }
        guard try elementCount(of: target, orThrow: mismatch("cannot reshape \(value.shape) to \(requested)")) == count else {
            throw mismatch("cannot reshape \(value.shape) to \(requested)")
        }
        return try moving(value) { $0.reshaped(to: target) }
    }

    func transpose(_ inputs: [ONNXValue?]) throws -> ONNXValue {
        let value = try present(inputs, 0)
        let rank = value.shape.count
        let permutation = try integers("perm") ?? Array((0..<rank).reversed())
        guard permutation.sorted() == Array(0..<rank) else { throw mismatch("perm \(permutation) is not a permutation of \(rank) axes") }
        return try moving(value) { $0.transposed(permutation: permutation) }
    }

    /// `Squeeze` and `Unsqueeze`: axes from an attribute before opset 13, an input since.
    func squeezeOrUnsqueeze(_ inputs: [ONNXValue?], opset: Int) throws -> ONNXValue {
        let value = try present(inputs, 0)
        let shape = value.shape
        let axes = opset >= 13 ? try optionalIntegers(inputs, 1) : try integers("axes")
        var target: [Int]
        if opType == "Squeeze" {
            let removed = try Set((axes ?? shape.indices.filter { shape[$0] == 1 }).map { try normalized(axis: $0, rank: shape.count) })
            guard removed.allSatisfy({ shape[$0] == 1 }) else { throw mismatch("cannot squeeze axes \(axes ?? []) of \(shape)") }
            target = shape.indices.filter { !removed.contains($0) }.map { shape[$0] }
        } else {
            guard let axes else { throw unsupported("axes are required") }
            let rank = shape.count + axes.count
            let inserted = try Set(axes.map { try normalized(axis: $0, rank: rank) })
            guard inserted.count == axes.count else { throw mismatch("axes \(axes) repeat") }
            var remaining = shape.makeIterator()
            target = (0..<rank).map { inserted.contains($0) ? 1 : remaining.next()! }
        }
        return try moving(value) { $0.reshaped(to: target) }
    }

    func concat(_ inputs: [ONNXValue?]) throws -> ONNXValue {
        let values = inputs.compactMap { $0 }
        guard let first = values.first else { throw unsupported("needs at least one input") }
        let axis = try normalized(axis: try integer("axis", default: 0), rank: first.shape.count)
        for value in values {
            guard value.shape.count == first.shape.count,
                  value.shape.indices.allSatisfy({ $0 == axis || value.shape[$0] == first.shape[$0] }) else {
                throw mismatch("cannot concatenate \(value.shape) with \(first.shape) along axis \(axis)")
            }
        }
        let integers = values.compactMap { value -> IntegerTensor? in
            if case .integer(let integers) = value { return integers }
            return nil
        }
        if integers.count == values.count {
            return .integer(try movingIntegers(integers) { Tensor.concatenating($0, alongAxis: axis) })
        }
        return .float(Tensor.concatenating(values.map(\.floatTensor), alongAxis: axis))
    }

    /// `Pad` in `constant`, `reflect` and `edge` modes: pads and the constant from inputs
    /// since opset 11 (and axes since 18), from attributes before; negative pads crop.
    func pad(_ inputs: [ONNXValue?], opset: Int) throws -> Tensor {
        let x = try floatInput(inputs, 0)
        let mode = try string("mode", default: "constant")
        var pads: [Int]
        var value: Float = 0
        if opset < 11 {
            pads = try integers("pads") ?? []
            value = try float("value", default: 0)
        } else {
            pads = try integerInput(inputs, 1).values
            if let constant = try optionalFloatInput(inputs, 2), constant.scalarCount > 0 { value = try scalar(constant, "constant_value") }
        }
        let axes = try optionalIntegers(inputs, 3).map { try $0.map { try normalized(axis: $0, rank: x.rank) } } ?? Array(0..<x.rank)
        guard pads.count == 2 * axes.count, pads.allSatisfy({ abs(Double($0)) < Double(maximumONNXElementCount) }) else {
            throw mismatch("pads must have \(2 * axes.count) entries of a sensible size, got \(pads)")
        }
        var begin = [Int](repeating: 0, count: x.rank), end = begin
        for (position, axis) in axes.enumerated() { (begin[axis], end[axis]) = (pads[position], pads[position + axes.count]) }
        // Crop first, then pad.
        var y = x
        for axis in 0..<x.rank where begin[axis] < 0 || end[axis] < 0 {
            let low = Swift.max(0, -begin[axis]), high = y.shape[axis] - Swift.max(0, -end[axis])
            guard low <= high else { throw mismatch("pads \(pads) crop away all of \(x.shape)") }
            y = y.slice(alongAxis: axis, low..<high)
        }
        let (padBegin, padEnd) = (begin.map { Swift.max(0, $0) }, end.map { Swift.max(0, $0) })
        switch mode {
        case "constant":
            return constantPadded(y, begin: padBegin, end: padEnd, value: value)
        case "reflect", "edge":
            for axis in 0..<y.rank where padBegin[axis] > 0 || padEnd[axis] > 0 {
                let length = y.shape[axis]
                guard mode == "edge" || (padBegin[axis] < length && padEnd[axis] < length) else {
                    throw mismatch("reflect pads must be smaller than the extent \(length)")
                }
                let indices = (-padBegin[axis]..<(length + padEnd[axis])).map { index -> Int in
                    if mode == "edge" { return Swift.min(Swift.max(index, 0), length - 1) }
                    return index < 0 ? -index : (index >= length ? 2 * (length - 1) - index : index)
                }
                y = y.gathering(atIndices: indices, alongAxis: axis)
            }
            return y
        default:
            throw unsupported("mode \(mode) is not one of constant, reflect, edge")
        }
    }

    /// `x` with `begin[axis]` and `end[axis]` slices of `value` added along each axis.
    func constantPadded(_ x: Tensor, begin: [Int], end: [Int], value: Float) -> Tensor {
        var y = x
        for axis in 0..<x.rank where begin[axis] > 0 || end[axis] > 0 {
            var parts = [Tensor]()
            for (extent, isBegin) in [(begin[axis], true), (end[axis], false)] where extent > 0 {
                var shape = y.shape
                shape[axis] = extent
                parts.insert(Tensor(repeating: value, shape: shape), at: isBegin ? 0 : parts.count)
            }
            parts.insert(y, at: begin[axis] > 0 ? 1 : 0)
            y = Tensor.concatenating(parts, alongAxis: axis)
        }
        return y
    }

    func constant() throws -> ONNXValue {
        switch attributes["value"] ?? attributes["value_float"] ?? attributes["value_floats"]
            ?? attributes["value_int"] ?? attributes["value_ints"] {
        case .tensor(let value)?: return value
        case .float(let value)?: return .float(Tensor(shape: [], scalars: [value]))
        case .floats(let values)?: return .float(Tensor(values))
        case .integer(let value)?: return .integer(IntegerTensor(shape: [], values: [value]))
        case .integers(let values)?: return .integer(IntegerTensor(values))
        default: throw unsupported("only value, value_float(s) and value_int(s) constants are supported")
        }
    }

    /// `Shape`, with the `start` and `end` attributes of opset 15.
    func shapeOf(_ inputs: [ONNXValue?]) throws -> ONNXValue {
        let shape = try present(inputs, 0).shape
        let clampedBound = { (bound: Int) in Swift.min(Swift.max(bound < 0 ? bound + shape.count : bound, 0), shape.count) }
        let start = clampedBound(try integer("start", default: 0))
        let end = clampedBound(try integer("end", default: shape.count))
        return .integer(IntegerTensor(start < end ? Array(shape[start..<end]) : []))
    }

    /// `Gather` along `axis` with integer indices of any shape (negative ones count from the end).
    func gather(_ inputs: [ONNXValue?]) throws -> ONNXValue {
        let value = try present(inputs, 0)
        let indices = try integerInput(inputs, 1)
        let shape = value.shape
        let axis = try normalized(axis: try integer("axis", default: 0), rank: shape.count)
        let positions = try indices.values.map { index -> Int in
            let position = index < 0 ? index + shape[axis] : index
            guard position >= 0 && position < shape[axis] else { throw mismatch("index \(index) is out of range for axis \(axis) of \(shape)") }
            return position
        }
        let target = Array(shape[..<axis]) + indices.shape + Array(shape[(axis + 1)...])
        return try moving(value) { $0.gathering(atIndices: positions, alongAxis: axis).reshaped(to: target) }
    }

    /// `Slice` with starts, ends, axes and steps as inputs (attributes before opset 10),
    /// clamped as ONNX specifies.
    func slice(_ inputs: [ONNXValue?]) throws -> ONNXValue {
        let value = try present(inputs, 0)
        let shape = value.shape
        let starts = try optionalIntegers(inputs, 1) ?? integers("starts") ?? []
        let ends = try optionalIntegers(inputs, 2) ?? integers("ends") ?? []
        let axes = try (optionalIntegers(inputs, 3) ?? integers("axes") ?? Array(0..<starts.count)).map { try normalized(axis: $0, rank: shape.count) }
        let steps = try optionalIntegers(inputs, 4) ?? [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count, steps.allSatisfy({ $0 != 0 }) else {
            throw mismatch("starts, ends, axes and steps must have one entry per sliced axis and no zero step")
        }
        return try moving(value) { tensor in
            var y = tensor
            for (position, axis) in axes.enumerated() {
                let (extent, step) = (shape[axis], steps[position])
                guard extent > 0 else { continue }
                var (start, end) = (starts[position], ends[position])
                if start < 0 { start += extent }
                if end < 0 { end += extent }
                if step > 0 {
                    (start, end) = (Swift.min(Swift.max(start, 0), extent), Swift.min(Swift.max(end, 0), extent))
                } else {
                    (start, end) = (Swift.min(Swift.max(start, 0), extent - 1), Swift.min(Swift.max(end, -1), extent - 1))
                }
                if step == 1 {
                    y = y.slice(alongAxis: axis, start..<Swift.max(start, end))
                } else {
                    y = y.gathering(atIndices: Array(Swift.stride(from: start, to: end, by: step)), alongAxis: axis)
                }
            }
            return y
        }
    }

    /// `Cast` between floats and integers (floats truncate toward zero; booleans are 0 or 1).
    func cast(_ inputs: [ONNXValue?]) throws -> ONNXValue {
        let value = try present(inputs, 0)
        let target = try integer("to", default: ONNXElementType.float)
        switch target {
        case ONNXElementType.float, ONNXElementType.double, ONNXElementType.float16, 16:
            return .float(value.floatTensor)
        case ONNXElementType.bool:
            switch value {
            case .float(let tensor): return .integer(IntegerTensor(shape: tensor.shape, values: tensor.scalars.map { $0 != 0 ? 1 : 0 }))
            case .integer(let integers): return .integer(IntegerTensor(shape: integers.shape, values: integers.values.map { $0 != 0 ? 1 : 0 }))
            }
        case 2...7, 12, 13:
            switch value {
            case .float(let tensor):
                guard tensor.scalars.allSatisfy({ $0.isFinite && Swift.abs($0) < 9e18 }) else { throw mismatch("cannot cast non-finite floats to integers") }
                return .integer(IntegerTensor(shape: tensor.shape, values: tensor.scalars.map { Int($0) }))
            case .integer: return value
            }
        default:
            throw unsupported("cast to \(ONNXElementType.name(target)) is not supported")
        }
    }

    func constantOfShape(_ inputs: [ONNXValue?]) throws -> ONNXValue {
        let shape = try integerInput(inputs, 0).values
        let count = try elementCount(of: shape, orThrow: mismatch("shape \(shape) has a negative or too large extent"))
        switch attributes["value"] {
        case nil: return .float(Tensor(zeros: shape))
        case .tensor(.float(let value))? where value.scalarCount == 1: return .float(Tensor(repeating: value.scalars[0], shape: shape))
        case .tensor(.integer(let value))? where value.values.count == 1:
            return .integer(IntegerTensor(shape: shape, values: [Int](repeating: value.values[0], count: count)))
        default: throw unsupported("value must be a one-element tensor")
        }
    }

    /// `Range`: `start, start + delta, …` up to `limit` (exclusive).
    func range(_ inputs: [ONNXValue?]) throws -> ONNXValue {
        let bounds = try (0..<3).map { try present(inputs, $0) }
        if case .integer(let start) = bounds[0], case .integer(let limit) = bounds[1], case .integer(let delta) = bounds[2] {
            guard start.values.count == 1, limit.values.count == 1, delta.values.count == 1, delta.values[0] != 0 else {
                throw mismatch("start, limit and delta must be scalars and delta non-zero")
            }
            let span = (Double(limit.values[0]) - Double(start.values[0])) / Double(delta.values[0])
            guard span <= Double(maximumONNXElementCount) else { throw mismatch("the range has too many elements") }
            return .integer(IntegerTensor(Array(Swift.stride(from: start.values[0], to: limit.values[0], by: delta.values[0]))))
        }
        let (start, limit, delta) = (bounds[0].floatTensor, bounds[1].floatTensor, bounds[2].floatTensor)
        guard start.scalarCount == 1, limit.scalarCount == 1, delta.scalarCount == 1, delta.scalars[0] != 0 else {
            throw mismatch("start, limit and delta must be scalars and delta non-zero")
        }
        let span = (Double(limit.scalars[0]) - Double(start.scalars[0])) / Double(delta.scalars[0])
        guard span.isFinite, span <= Double(maximumONNXElementCount) else { throw mismatch("the range has too many elements") }
        let count = span > 0 ? Int(span.rounded(.up)) : 0
        return .float(Tensor((0..<count).map { start.scalars[0] + Float($0) * delta.scalars[0] }))
    }

    /// `Expand`: broadcasts the input and the requested shape to each other.
    func expand(_ inputs: [ONNXValue?]) throws -> ONNXValue {
        let value = try present(inputs, 0)
        let target = try broadcastShape(value.shape, try integerInput(inputs, 1).values)
        return try moving(value) { $0.broadcasted(to: target) }
    }
}
