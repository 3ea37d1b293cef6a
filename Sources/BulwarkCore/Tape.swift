/// The position of a traced tensor on a tape.
package struct Trace: Sendable {
    package let tape: Tape
    package let index: Int
}

/// An append-only record of the operations applied to traced tensors (a Wengert list).
///
/// Each entry holds the indices of its traced inputs and a pullback that maps the gradient of
/// the entry's output to the gradients of its inputs. Backward is one reverse loop over the
/// entries: entries are appended in evaluation order, so the order is already topological.
///
/// `@unchecked Sendable`: a tape is created and used by one differentiation call on one thread;
/// tensors that refer to it may be handed to kernels on other threads, which never touch it.
package final class Tape: @unchecked Sendable {
    /// Maps the gradient of an entry's output to the gradients of its inputs. The second
    /// argument says which inputs need a gradient; the pullback may return `nil` for the others.
    package typealias Pullback = (_ upstream: Tensor, _ needed: [Bool]) -> [Tensor?]

    package struct Entry {
        /// Tape indices of the inputs; `-1` for an input that is not traced.
        let inputs: [Int]
        let shape: [Int]
        let pullback: Pullback?
    }

    package private(set) var entries: [Entry] = []

    package init() {}

    /// Appends a leaf (a variable to differentiate with respect to) and returns it traced.
    package func variable(_ value: Tensor) -> Tensor {
        entries.append(Entry(inputs: [], shape: value.shape, pullback: nil))
        return Tensor(shape: value.shape, scalars: value.scalars, trace: Trace(tape: self, index: entries.count - 1))
    }

    fileprivate func append(_ output: Tensor, inputs: [Int], pullback: @escaping Pullback) -> Tensor {
        entries.append(Entry(inputs: inputs, shape: output.shape, pullback: pullback))
        return Tensor(shape: output.shape, scalars: output.scalars, trace: Trace(tape: self, index: entries.count - 1))
    }

    /// Runs backward from `output`, seeded with ones, and returns the gradient of every entry
    /// that received one.
    package func gradients(of output: Tensor) -> [Tensor?] {
        guard let trace = output.trace, trace.tape === self else {
            return [Tensor?](repeating: nil, count: entries.count)
        }
        var gradients = [Tensor?](repeating: nil, count: entries.count)
        gradients[trace.index] = Tensor(repeating: 1, shape: output.shape)
        for index in stride(from: trace.index, through: 0, by: -1) {
            guard let upstream = gradients[index], let pullback = entries[index].pullback else { continue }
            let inputs = entries[index].inputs
            let needed = inputs.map { $0 >= 0 }
            let inputGradients = pullback(upstream, needed)
            for (position, input) in inputs.enumerated() where input >= 0 {
                guard let gradient = inputGradients[position] else { continue }
                if let existing = gradients[input] {
                    gradients[input] = existing.adding(gradient)
                } else {
                    gradients[input] = gradient
                }
            }
            // The pullback has run; its gradient is no longer needed unless it is a leaf.
            if !inputs.isEmpty { gradients[index] = nil }
        }
        return gradients
    }
}

extension Tensor {
    /// Records `output` as the result of an operation on `inputs`.
    ///
    /// If no input is traced the output is returned untraced and the pullback is never built.
    /// Inputs traced on another tape are treated as constants.
    ///
    /// - Parameters:
    ///   - output: the untraced result of the forward kernel.
    ///   - inputs: the operation's tensor inputs, in the order the pullback returns gradients.
    ///   - pullback: built only when needed; maps the output's gradient to the inputs'.
    package static func record(
        _ output: Tensor, inputs: [Tensor], pullback: () -> Tape.Pullback
    ) -> Tensor {
        guard let tape = inputs.lazy.compactMap({ $0.trace?.tape }).first else { return output }
        let indices = inputs.map { input -> Int in
            guard let trace = input.trace, trace.tape === tape else { return -1 }
            return trace.index
        }
        return tape.append(output, inputs: indices, pullback: pullback())
    }

    /// Elementwise sum of two tensors of one shape, untraced; used to accumulate gradients.
    package func adding(_ other: Tensor) -> Tensor {
        precondition(shape == other.shape, "gradient shapes differ: \(shape) and \(other.shape)")
        var result = self.detached
        result.scalars.withUnsafeMutableBufferPointer { out in
            other.scalars.withUnsafeBufferPointer { add in
                for index in 0..<out.count { out[index] += add[index] }
            }
        }
        return result
    }
}

// MARK: - Entry points

/// Returns `function(input)` and the gradient of that scalar with respect to `input`.
///
/// `function` must return a tensor with exactly one scalar (a loss). Tensors captured by the
/// closure are constants: no work is spent on their gradients.
///
/// - Complexity: one forward and one backward pass through `function`.
public func valueWithGradient(
    at input: Tensor, of function: (Tensor) throws -> Tensor
) rethrows -> (value: Tensor, gradient: Tensor) {
    let tape = Tape()
    let variable = tape.variable(input.detached)
    let output = try function(variable)
    precondition(output.scalarCount == 1, "valueWithGradient needs a scalar result, got shape \(output.shape)")
    let gradients = tape.gradients(of: output)
    let gradient = gradients[0] ?? Tensor(zeros: input.shape)
    return (output.detached, gradient)
}

/// Returns the gradient of the scalar `function(input)` with respect to `input`.
public func gradient(at input: Tensor, of function: (Tensor) throws -> Tensor) rethrows -> Tensor {
    try valueWithGradient(at: input, of: function).gradient
}

/// Returns `function(inputs)` and its gradient with respect to each input, from one backward
/// pass.
public func valueWithGradient(
    at inputs: [Tensor], of function: ([Tensor]) throws -> Tensor
) rethrows -> (value: Tensor, gradients: [Tensor]) {
    let tape = Tape()
    let variables = inputs.map { tape.variable($0.detached) }
    let output = try function(variables)
    precondition(output.scalarCount == 1, "valueWithGradient needs a scalar result, got shape \(output.shape)")
    let gradients = tape.gradients(of: output)
    return (output.detached, inputs.indices.map { gradients[$0] ?? Tensor(zeros: inputs[$0].shape) })
}
