import BulwarkCore

// Elementwise arithmetic with NumPy broadcasting, activations, softmax and reductions.

extension ONNXNode {
    /// `Add`, `Sub`, `Mul`, `Div`: on floats with Bulwark's broadcasting operators, on
    /// integers (shape arithmetic) exactly, truncating division as ONNX does.
    func arithmetic(_ inputs: [ONNXValue?]) throws -> ONNXValue {
        let (lhs, rhs) = (try present(inputs, 0), try present(inputs, 1))
        let shape = try broadcastShape(lhs.shape, rhs.shape)
        if case .integer(let a) = lhs, case .integer(let b) = rhs {
            let operation: (Int, Int) throws -> Int
            switch opType {
            case "Add": operation = { $0 + $1 }
            case "Sub": operation = { $0 - $1 }
            case "Mul": operation = { $0 * $1 }
            default: operation = { a, b in
                guard b != 0 else { throw self.mismatch("integer division by zero") }
                return a / b
            }
            }
            let (x, y) = (a.broadcast(to: shape), b.broadcast(to: shape))
            return .integer(IntegerTensor(shape: shape, values: try zip(x, y).map(operation)))
        }
        let (a, b) = (lhs.floatTensor, rhs.floatTensor)
        switch opType {
        case "Add": return .float(a + b)
        case "Sub": return .float(a - b)
        case "Mul": return .float(a * b)
        default: return .float(a / b)
        }
    }

    /// The NumPy broadcast of two shapes, or a thrown mismatch.
    func broadcastShape(_ lhs: [Int], _ rhs: [Int]) throws -> [Int] {
        let rank = Swift.max(lhs.count, rhs.count)
        return try (0..<rank).map { axis in
            let l = axis < rank - lhs.count ? 1 : lhs[axis - (rank - lhs.count)]
            let r = axis < rank - rhs.count ? 1 : rhs[axis - (rank - rhs.count)]
            guard l == r || l == 1 || r == 1 else { throw mismatch("shapes \(lhs) and \(rhs) do not broadcast") }
            return l == 1 ? r : l
        }
    }

    /// The one-input activations and math functions.
    func activation(_ x: Tensor) throws -> Tensor {
        switch opType {
        case "Neg": return -x
        case "Sqrt": return x.sqrt()
        case "Exp": return x.exp()
        case "Log": return x.log()
        case "Abs": return x.abs()
        case "Relu": return x.relu()
        case "Sigmoid": return x.sigmoid()
        case "Tanh": return x.tanh()
        case "LeakyRelu":
            let alpha = try float("alpha", default: 0.01)
            return x.unary({ $0 >= 0 ? $0 : alpha * $0 }, derivative: { x, _ in x >= 0 ? 1 : alpha },
                           derivativeTensor: { x, _ in x.mapKernel { $0 >= 0 ? 1 : alpha } })
        case "Elu":
            // α(eˣ − 1) below zero; the derivative there is y + α.
            let alpha = try float("alpha", default: 1)
            return x.unary({ $0 > 0 ? $0 : alpha * (_exp($0) - 1) }, derivative: { x, y in x > 0 ? 1 : y + alpha },
                           derivativeTensor: { x, y in
                               let positive = x.mapKernel { $0 > 0 ? 1 : 0 }
                               return positive + (1 - positive) * (y + alpha)
                           })
        case "HardSigmoid":
            let (alpha, beta) = (try float("alpha", default: 0.2), try float("beta", default: 0.5))
            return (x * alpha + beta).clamped(to: 0...1)
        default:  // HardSwish: x · HardSigmoid(x) with α = 1/6, β = 1/2.
            return x * (x * (1 / 6 as Float) + 0.5).clamped(to: 0...1)
        }
    }

    /// `PRelu`: `max(x, 0) + slope · min(x, 0)`, the slope broadcast to the input.
    func parametricRectifier(_ inputs: [ONNXValue?]) throws -> Tensor {
        let (x, slope) = (try floatInput(inputs, 0), try floatInput(inputs, 1))
        _ = try broadcastShape(x.shape, slope.shape)
        return x.relu() - slope * (-x).relu()
    }

    /// `Softmax` and `LogSoftmax` along `axis` (before opset 13, over the input flattened to
    /// two dimensions at `axis`).
    func softmax(_ x: Tensor, opset: Int) throws -> Tensor {
        let coerced = opset < 13
        let axis = try normalized(axis: try integer("axis", default: coerced ? 1 : -1), rank: x.rank)
        let input = coerced
            ? x.reshaped(to: [x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *)]) : x
        let reducedAxis = coerced ? 1 : axis
        let logProbabilities = input - input.logSumExp(alongAxis: reducedAxis, keepingDims: true)
        let output = opType == "LogSoftmax" ? logProbabilities : logProbabilities.exp()
        return coerced ? output.reshaped(to: x.shape) : output
    }

    /// `Clip`: bounds from inputs since opset 11, from attributes before.
    func clip(_ inputs: [ONNXValue?], opset: Int) throws -> Tensor {
        let x = try floatInput(inputs, 0)
        var (low, high) = (-Float.infinity, Float.infinity)
        if opset < 11 {
            (low, high) = (try float("min", default: low), try float("max", default: high))
        } else {
            if let bound = try optionalFloatInput(inputs, 1) { low = try scalar(bound, "min") }
            if let bound = try optionalFloatInput(inputs, 2) { high = try scalar(bound, "max") }
        }
        guard low <= high else { throw unsupported("min \(low) exceeds max \(high)") }
        return x.clamped(to: low...high)
    }

    func scalar(_ tensor: Tensor, _ what: String) throws -> Float {
        guard tensor.scalarCount == 1 else { throw unsupported("\(what) must be a scalar, got shape \(tensor.shape)") }
        return tensor.scalars[0]
    }

    /// `ReduceMean` and `ReduceSum`: axes from the input (ReduceSum since 13, ReduceMean
    /// since 18) or the attribute; all axes when none are given.
    func reduction(_ inputs: [ONNXValue?], opset: Int) throws -> Tensor {
        let x = try floatInput(inputs, 0)
        let keepingDims = try integer("keepdims", default: 1) != 0
        var axes = try optionalIntegers(inputs, 1) ?? integers("axes") ?? []
        if axes.isEmpty {
            if try integer("noop_with_empty_axes", default: 0) != 0 { return x }
            axes = Array(0..<x.rank)
        }
        let normalizedAxes = try Array(Set(axes.map { try normalized(axis: $0, rank: x.rank) })).sorted()
        return opType == "ReduceMean"
            ? x.mean(alongAxes: normalizedAxes, keepingDims: keepingDims)
            : x.sum(alongAxes: normalizedAxes, keepingDims: keepingDims)
    }
}

extension IntegerTensor {
    /// The values repeated to `shape` under NumPy broadcasting (already checked).
    func broadcast(to target: [Int]) -> [Int] {
        guard shape != target else { return values }
        let rank = target.count
        let padded = [Int](repeating: 1, count: rank - shape.count) + shape
        var strides = [Int](repeating: 0, count: rank)
        var step = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            strides[axis] = padded[axis] == 1 ? 0 : step
            step *= padded[axis]
        }
        let count = target.reduce(1, *)
        return (0..<count).map { flat in
            var (remainder, offset) = (flat, 0)
            for axis in stride(from: rank - 1, through: 0, by: -1) {
                offset += (remainder % target[axis]) * strides[axis]
                remainder /= target[axis]
            }
            return values[offset]
        }
    }
}

#if canImport(Glibc)
import Glibc
private func _exp(_ x: Float) -> Float { Glibc.expf(x) }
#else
import Darwin
private func _exp(_ x: Float) -> Float { Darwin.expf(x) }
#endif
