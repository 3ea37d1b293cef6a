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
/// Most operations have one pullback, a ``DifferentiablePullback`` written with traced
/// operations: a first-order backward runs it on untraced gradients and untraced forward
/// values, so that it records nothing and costs what an untraced kernel would, and a double
/// backward runs it on traced ones. The few whose traced pullback is slower than a fused kernel,
/// or rounds differently, also have a kernel ``Pullback`` for the first order.
///
/// `@unchecked Sendable`: a tape is created and used by one differentiation call on one thread;
/// tensors that refer to it may be handed to kernels on other threads, which never touch it.
package final class Tape: @unchecked Sendable {
    /// Maps the gradient of an entry's output to the gradients of its inputs. The second
    /// argument says which inputs need a gradient; the pullback may return `nil` for the others.
    package typealias Pullback = (_ upstream: Tensor, _ needed: [Bool]) -> [Tensor?]

    /// A pullback written with traced operations, so that the gradients it returns are
    /// themselves recorded on the tape and can be differentiated again (double backward).
    /// The upstream gradient may be traced; `traced` re-attaches the forward values the
    /// pullback captured (detached, so that no entry refers to its own tape) to their places
    /// on the tape. In a first-order backward the upstream gradient and the values `traced`
    /// hands back are untraced, so the pullback records nothing.
    package typealias DifferentiablePullback = (_ upstream: Tensor, _ needed: [Bool], _ traced: Reattachment) -> [Tensor?]

    package struct Entry {
        /// Tape indices of the inputs; `-1` for an input that is not traced.
        let inputs: [Int]
        let shape: [Int]
        /// The kernel pullback, for the operations that keep one beside their differentiable
        /// pullback; first-order backward prefers it.
        let pullback: Pullback?
        /// Recorded always for an operation without a kernel pullback, and otherwise only
        /// while ``recordsDifferentiablePullbacks`` is set.
        let differentiablePullback: DifferentiablePullback?
        /// The recording function, named when a double backward meets an operation without a
        /// differentiable pullback.
        let operation: StaticString
    }

    package private(set) var entries: [Entry] = []

    /// Whether operations that have a kernel pullback record a ``DifferentiablePullback``
    /// beside it; set by ``valueWithDifferentiableGradient(at:on:of:)`` while it evaluates its
    /// function, so that ordinary differentiation never builds them.
    package var recordsDifferentiablePullbacks = false

    package init() {}

    /// Appends a leaf (a variable to differentiate with respect to) and returns it traced.
    package func variable(_ value: Tensor) -> Tensor {
        entries.append(Entry(inputs: [], shape: value.shape, pullback: nil, differentiablePullback: nil, operation: "variable"))
        return Tensor(shape: value.shape, scalars: value.scalars, trace: Trace(tape: self, index: entries.count - 1))
    }

    fileprivate func append(
        _ output: Tensor, inputs: [Int], pullback: Pullback?,
        differentiablePullback: DifferentiablePullback?, operation: StaticString
    ) -> Tensor {
        entries.append(Entry(inputs: inputs, shape: output.shape, pullback: pullback,
                             differentiablePullback: differentiablePullback, operation: operation))
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
            guard let upstream = gradients[index] else { continue }
            let entry = entries[index]
            let inputs = entry.inputs
            let needed = inputs.map { $0 >= 0 }
            let inputGradients: [Tensor?]
            if let pullback = entry.pullback {
                inputGradients = pullback(upstream, needed)
            } else if let pullback = entry.differentiablePullback {
                // Untraced upstream and forward values: the traced operations record nothing.
                inputGradients = pullback(upstream, needed, .detached)
            } else {
                continue
            }
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

    /// The gradient of `output` with respect to the traced tensor `input`, recorded on this
    /// tape as a function of everything it depends on, so that a later backward pass (from a
    /// scalar built on it) differentiates through it: double backward, PyTorch's
    /// `autograd.grad(…, create_graph=True)`.
    ///
    /// Only entries between `input` and `output` that depend on `input` are pulled back, each
    /// through its ``DifferentiablePullback``; the entries that do must have been recorded
    /// while ``recordsDifferentiablePullbacks`` was set.
    ///
    /// - Precondition: every such entry has a differentiable pullback; the message names the
    ///   operation that has none.
    package func differentiableGradient(of output: Tensor, at input: Tensor) -> Tensor? {
        guard let outputTrace = output.trace, outputTrace.tape === self,
              let inputTrace = input.trace, inputTrace.tape === self, inputTrace.index <= outputTrace.index else { return nil }
        let (first, last) = (inputTrace.index, outputTrace.index)
        // Positions are offset by `first`: nothing recorded before `input` depends on it.
        var dependsOnInput = [Bool](repeating: false, count: last - first + 1)
        dependsOnInput[0] = true
        if last > first {
            for index in (first + 1)...last {
                dependsOnInput[index - first] = entries[index].inputs.contains { $0 >= first && dependsOnInput[$0 - first] }
            }
        }
        var gradients = [Tensor?](repeating: nil, count: last - first + 1)
        gradients[last - first] = Tensor(repeating: 1, shape: output.shape)
        for index in stride(from: last, to: first, by: -1) {
            guard dependsOnInput[index - first], let upstream = gradients[index - first] else { continue }
            // A copy: the pullback appends to `entries`.
            let entry = entries[index]
            guard let pullback = entry.differentiablePullback else {
                preconditionFailure("\(entry.operation) has no differentiable pullback, so a gradient through it cannot be differentiated again")
            }
            let needed = entry.inputs.map { $0 >= first && dependsOnInput[$0 - first] }
            let inputGradients = pullback(upstream, needed, Reattachment(tape: self, inputs: entry.inputs, output: index))
            for (position, source) in entry.inputs.enumerated() where needed[position] {
                guard let gradient = inputGradients[position] else { continue }
                gradients[source - first] = gradients[source - first].map { $0 + gradient } ?? gradient
            }
            gradients[index - first] = nil
        }
        return gradients[0]
    }
}

/// Re-attaches the forward values a ``Tape/DifferentiablePullback`` captured to their entries,
/// so that operations on them record gradients flowing back into the forward pass; in a
/// first-order backward (``detached``) it hands them back untraced.
package struct Reattachment {
    /// `nil` in a first-order backward.
    let tape: Tape?
    let inputs: [Int]
    let output: Int

    /// Hands back every value untraced, for a first-order backward.
    static var detached: Reattachment { Reattachment(tape: nil, inputs: [], output: -1) }

    /// `value`, the forward input at `position`, traced at its entry; untraced if that input was
    /// a constant or the backward is first-order.
    package func input(_ position: Int, _ value: Tensor) -> Tensor {
        guard let tape, inputs[position] >= 0 else { return value.detached }
        return Tensor(shape: value.shape, scalars: value.scalars, trace: Trace(tape: tape, index: inputs[position]))
    }

    /// `value`, the forward output, traced at its entry; untraced if the backward is first-order.
    package func output(_ value: Tensor) -> Tensor {
        guard let tape else { return value.detached }
        return Tensor(shape: value.shape, scalars: value.scalars, trace: Trace(tape: tape, index: output))
    }
}

extension Tensor {
    /// Records `output` as the result of an operation on `inputs`, with its one pullback,
    /// written with traced operations: it serves first-order backward (on untraced values, so
    /// at the cost of the kernels it calls) and double backward.
    ///
    /// If no input is traced the output is returned untraced and the pullback is never built.
    /// Inputs traced on another tape are treated as constants.
    ///
    /// - Parameters:
    ///   - output: the untraced result of the forward kernel.
    ///   - inputs: the operation's tensor inputs, in the order the pullback returns gradients.
    ///   - differentiablePullback: built only when needed; maps the output's gradient to the
    ///     inputs'.
    ///   - operation: the recording function's name, for diagnostics.
    package static func record(
        _ output: Tensor, inputs: [Tensor], operation: StaticString = #function,
        differentiablePullback: () -> Tape.DifferentiablePullback
    ) -> Tensor {
        guard let (tape, indices) = tapeIndices(of: inputs) else { return output }
        return tape.append(output, inputs: indices, pullback: nil, differentiablePullback: differentiablePullback(), operation: operation)
    }

    /// Records `output` as the result of an operation on `inputs`, with a kernel pullback for
    /// first-order backward: for the operations whose traced pullback is slower than a fused
    /// kernel or rounds differently, and for those a double backward cannot pass.
    ///
    /// If no input is traced the output is returned untraced and the pullback is never built.
    /// Inputs traced on another tape are treated as constants.
    ///
    /// - Parameters:
    ///   - output: the untraced result of the forward kernel.
    ///   - inputs: the operation's tensor inputs, in the order the pullback returns gradients.
    ///   - pullback: built only when needed; maps the output's gradient to the inputs'.
    ///   - differentiablePullback: the same map written with traced operations, built only
    ///     while the tape ``Tape/recordsDifferentiablePullbacks``; `nil` for an operation that
    ///     a double backward cannot pass.
    ///   - operation: the recording function's name, for the message when that happens.
    package static func record(
        _ output: Tensor, inputs: [Tensor], operation: StaticString = #function, pullback: () -> Tape.Pullback,
        differentiablePullback: (() -> Tape.DifferentiablePullback)? = nil
    ) -> Tensor {
        guard let (tape, indices) = tapeIndices(of: inputs) else { return output }
        let differentiable = tape.recordsDifferentiablePullbacks ? differentiablePullback?() : nil
        return tape.append(output, inputs: indices, pullback: pullback(), differentiablePullback: differentiable, operation: operation)
    }

    /// The tape of the first traced input and every input's index on it (`-1` for the others),
    /// or `nil` if no input is traced.
    private static func tapeIndices(of inputs: [Tensor]) -> (Tape, [Int])? {
        guard let tape = inputs.lazy.compactMap({ $0.trace?.tape }).first else { return nil }
        return (tape, inputs.map { input -> Int in
            guard let trace = input.trace, trace.tape === tape else { return -1 }
            return trace.index
        })
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

/// Returns `function(input)` and its gradient with respect to `input`, both recorded on
/// `tape` (an enclosing differentiation's), so that the gradient can be differentiated again:
/// a scalar built from it and passed to the enclosing backward pass gets the exact second
/// derivatives (double backward, as GradAlign's regularizer needs).
///
/// `input` is used as it is if it is traced on `tape` (the gradient is then the total
/// derivative through every path from it) and becomes a new variable of `tape` otherwise.
/// Without a tape, and with `input` untraced, this is ``valueWithGradient(at:of:)``: nothing
/// is recorded and the gradient is a constant.
///
/// - Precondition: every operation of `function` on the path from `input` to the result has
///   a differentiable pullback (elementwise arithmetic and math, reductions, reshapes and
///   transposes, matrix products, `linear`, `conv2d`, ReLU and max pooling, hence
///   cross-entropy, softmax and the built-in image architectures); the message names the
///   operation that has none.
/// - Complexity: a forward pass, a backward pass that records about as many operations as
///   the forward pass did, and later, in the enclosing backward pass, the derivatives of
///   both: about three times a first-order gradient.
package func valueWithDifferentiableGradient(
    at input: Tensor, on tape: Tape?, of function: (Tensor) -> Tensor
) -> (value: Tensor, gradient: Tensor) {
    guard let tape = tape ?? input.trace?.tape else { return valueWithGradient(at: input, of: function) }
    let variable = input.trace?.tape === tape ? input : tape.variable(input.detached)
    let recorded = tape.recordsDifferentiablePullbacks
    tape.recordsDifferentiablePullbacks = true
    let output = function(variable)
    tape.recordsDifferentiablePullbacks = recorded
    precondition(output.scalarCount == 1, "valueWithDifferentiableGradient needs a scalar result, got shape \(output.shape)")
    let gradient = tape.differentiableGradient(of: output, at: variable) ?? Tensor(zeros: input.shape)
    return (output, gradient)
}
