import BulwarkCore

/// A rule that updates a model's parameters along their gradients.
///
/// Optimizers keep per-parameter state keyed by parameter path, so an optimizer belongs to one
/// model. `learningRate` is a plain property a schedule sets before each step.
public protocol Optimizer: Sendable {
    /// The step size of the next update.
    var learningRate: Float { get set }

    /// Moves every parameter of `model` that has a gradient one step.
    mutating func update<Model: Layer>(_ model: inout Model, along gradients: Gradients)

    /// The optimizer's state (moments, step count) as named tensors, for checkpoints.
    var stateTensors: [String: Tensor] { get }

    /// Restores state saved by ``stateTensors``.
    mutating func loadStateTensors(_ tensors: [String: Tensor])
}

extension Layer {
    /// Calls `update` with the path, the parameter (detached, so that the update is not
    /// recorded) and the gradient's scalars of every parameter that `gradients` holds a
    /// gradient for, in ``visitParameters(_:)`` order: an optimizer's walk over the model.
    package mutating func visitParameters(along gradients: Gradients, _ update: (String, inout Tensor, [Float]) -> Void) {
        visitParameters { path, parameter in
            guard let gradient = gradients[path] else { return }
            precondition(gradient.shape == parameter.shape, "gradient for \(path) has shape \(gradient.shape), parameter \(parameter.shape)")
            let g = gradient.array
            parameter = parameter.detached
            update(path, &parameter, g)
        }
    }
}

extension Tensor {
    /// Applies `body` to the scalars in place (no tape); for optimizer updates.
    package mutating func updateScalars(_ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        scalars.withUnsafeMutableBufferPointer { body($0) }
    }
}
