import BulwarkCore

/// Gradients of a scalar with respect to a model's parameters, keyed by parameter path.
public struct Gradients: Sendable {
    /// The gradient of each parameter, keyed by its path (`0.weight`).
    public var tensors: [String: Tensor]

    /// Creates gradients from tensors keyed by path.
    public init(_ tensors: [String: Tensor] = [:]) {
        self.tensors = tensors
    }

    /// The gradient at `path`, if any.
    public subscript(path: String) -> Tensor? {
        get { tensors[path] }
        set { tensors[path] = newValue }
    }

    /// The L2 norm over all gradients together.
    public var globalNorm: Float {
        var total: Double = 0
        for tensor in tensors.values { for value in tensor.array { total += Double(value) * Double(value) } }
        return Float(total.squareRoot())
    }

    /// Whether every gradient is finite.
    public var isFinite: Bool { tensors.values.allSatisfy(\.isFinite) }
}

/// Returns `function(&model)` and its gradient with respect to every parameter of `model`.
///
/// The model is `inout` so that state a layer updates while running in training mode (batch
/// norm running statistics, dropout's generator) is kept; its parameters come back untraced.
///
/// - Complexity: one forward and one backward pass.
public func valueWithGradient<Model: Layer>(
    at model: inout Model, of function: (inout Model) throws -> Tensor
) rethrows -> (value: Tensor, gradient: Gradients) {
    let (value, gradient, _) = try valueWithGradients(at: &model, nil) { model, _ in try function(&model) }
    return (value, gradient)
}

/// Returns `function(&model, input)` with its gradients with respect to the model's
/// parameters and to `input`, from one backward pass (as Free-AT and YOPO need).
public func valueWithGradients<Model: Layer>(
    at model: inout Model, _ input: Tensor,
    of function: (inout Model, Tensor) throws -> Tensor
) rethrows -> (value: Tensor, gradient: Gradients, inputGradient: Tensor) {
    let (value, gradient, inputGradient) = try valueWithGradients(at: &model, Optional(input)) { model, input in
        try function(&model, input ?? Tensor(0))
    }
    return (value, gradient, inputGradient ?? Tensor(zeros: input.shape))
}

private func valueWithGradients<Model: Layer>(
    at model: inout Model, _ input: Tensor?,
    of function: (inout Model, Tensor?) throws -> Tensor
) rethrows -> (Tensor, Gradients, Tensor?) {
    let tape = Tape()
    var traced = model
    var indices = [(String, Int)]()
    traced.visitParameters { path, tensor in
        tensor = tape.variable(tensor.detached)
        indices.append((path, tape.entries.count - 1))
    }
    let tracedInput = input.map { tape.variable($0.detached) }
    let inputIndex = tape.entries.count - 1
    let output = try function(&traced, tracedInput)
    precondition(output.scalarCount == 1, "valueWithGradient needs a scalar result, got shape \(output.shape)")
    let gradients = tape.gradients(of: output)
    var result = Gradients()
    traced.visitParameters { path, tensor in tensor = tensor.detached }
    let shapes = traced.parameters
    for (path, index) in indices {
        result[path] = gradients[index] ?? Tensor(zeros: shapes[path]?.shape ?? [])
    }
    model = traced
    let inputGradient = input.map { gradients[inputIndex] ?? Tensor(zeros: $0.shape) }
    return (output.detached, result, inputGradient)
}

/// Returns `function(&model, input)` and its gradient with respect to `input`. Called inside
/// ``valueWithGradient(at:of:)`` for `model`, the gradient is recorded on that differentiation's
/// tape, so that a loss built from it has exact gradients with respect to the parameters
/// (double backward, as GradAlign's regularizer needs); otherwise it is an ordinary input
/// gradient.
///
/// - Precondition: every operation on the path from `input` to the result has a
///   differentiable pullback (true of the built-in image architectures and the losses); the
///   message names the operation that has none.
package func valueWithDifferentiableInputGradient<Model: Layer>(
    of model: inout Model, at input: Tensor, of function: (inout Model, Tensor) -> Tensor
) -> (value: Tensor, gradient: Tensor) {
    var tape: Tape?
    var probe = model
    probe.visitParameters { _, tensor in
        if tape == nil { tape = tensor.trace?.tape }
    }
    return valueWithDifferentiableGradient(at: input, on: tape) { input in function(&model, input) }
}
