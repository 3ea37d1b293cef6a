/// A multi-dimensional array of `Float` with value semantics and reverse-mode autodiff.
///
/// Scalars are stored contiguously in row-major order in a copy-on-write `[Float]`, so
/// copying a tensor is O(1) and mutation copies only when the storage is shared.
///
/// A tensor may carry a *trace*: the tape and index at which an operation recorded it while a
/// gradient is being taken (see ``valueWithGradient(at:of:)``). Operations on traced tensors
/// append one entry to that tape; operations on untraced tensors record nothing and cost
/// nothing beyond the kernel.
public struct Tensor: Sendable {
    /// The extent of each dimension; `[]` for a scalar.
    public let shape: [Int]
    /// The scalars in row-major order. `package` so kernels in other modules can read them.
    package var scalars: [Float]
    /// Where this tensor sits on a tape, if it is being differentiated.
    package var trace: Trace?

    /// Creates a tensor of the given shape from scalars in row-major order.
    ///
    /// - Precondition: `scalars.count` equals the product of `shape`, and no extent is negative.
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative extent")
        precondition(
            shape.reduce(1, *) == scalars.count,
            "Tensor shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
        self.trace = nil
    }

    package init(shape: [Int], scalars: [Float], trace: Trace?) {
        self.shape = shape
        self.scalars = scalars
        self.trace = trace
    }

    /// Creates a tensor of the given shape with every scalar equal to `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// Creates a tensor of the given shape filled with zeros.
    public init(zeros shape: [Int]) {
        self.init(repeating: 0, shape: shape)
    }

    /// Creates a rank-0 tensor holding `value`.
    public init(_ value: Float) {
        self.init(shape: [], scalars: [value])
    }

    /// Creates a rank-1 tensor from `scalars`.
    public init(_ scalars: [Float]) {
        self.init(shape: [scalars.count], scalars: scalars)
    }

    /// Creates a tensor by calling `initializer` with a buffer of `shape.reduce(1, *)`
    /// uninitialized-then-zeroed scalars to fill.
    package init(shape: [Int], filling initializer: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let count = shape.reduce(1, *)
        var scalars = [Float](repeating: 0, count: count)
        scalars.withUnsafeMutableBufferPointer { initializer($0) }
        self.init(shape: shape, scalars: scalars)
    }

    /// Creates a tensor whose every scalar `initializer` writes; the buffer starts
    /// uninitialized, which saves clearing large outputs that a kernel overwrites anyway.
    package static func overwriting(shape: [Int], _ initializer: (UnsafeMutableBufferPointer<Float>) -> Void) -> Tensor {
        let count = shape.reduce(1, *)
        let scalars = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            initializer(buffer)
            initialized = count
        }
        return Tensor(shape: shape, scalars: scalars)
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The number of scalars.
    public var scalarCount: Int { scalars.count }

    /// The scalars in row-major order.
    public var array: [Float] { scalars }

    /// The only scalar of a one-element tensor.
    ///
    /// - Precondition: the tensor holds exactly one scalar.
    public var scalar: Float {
        precondition(scalars.count == 1, "scalar needs a one-element tensor, shape is \(shape)")
        return scalars[0]
    }

    /// Whether the tensor is being traced for differentiation.
    public var isTraced: Bool { trace != nil }

    /// The same values, cut from any tape: gradients do not flow through the result.
    public var detached: Tensor { Tensor(shape: shape, scalars: scalars) }

    /// Whether every scalar is finite (no NaN or infinity).
    public var isFinite: Bool {
        scalars.withUnsafeBufferPointer { buffer in
            for value in buffer where !value.isFinite { return false }
            return true
        }
    }
}

extension Tensor: CustomStringConvertible {
    /// A short description: shape and up to eight leading scalars.
    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(head)\(scalars.count > 8 ? ", …" : "")])"
    }
}

extension Tensor: Equatable {
    /// Tensors are equal when shapes and scalars are equal; traces are ignored.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape && lhs.scalars == rhs.scalars
    }
}

import Foundation
