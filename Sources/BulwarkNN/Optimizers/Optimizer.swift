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

    /// Applies ``update(_:along:)`` when the step is finite (`isFinite`: its loss and
    /// `gradients`), and returns whether it did. Every update of a training step goes through
    /// here, so that an optimizer shared by several processes can agree with the others to
    /// update or to skip (see `DataParallelOptimizer`). The default updates exactly when
    /// `isFinite`.
    mutating func update<Model: Layer>(_ model: inout Model, along gradients: Gradients, ifFinite isFinite: Bool) -> Bool

    /// The optimizer's state (moments, step count) as named tensors, for checkpoints.
    var stateTensors: [String: Tensor] { get }

    /// Restores state saved by ``stateTensors``.
    mutating func loadStateTensors(_ tensors: [String: Tensor])
}

extension Optimizer {
    public mutating func update<Model: Layer>(_ model: inout Model, along gradients: Gradients, ifFinite isFinite: Bool) -> Bool {
        guard isFinite else { return false }
        update(&model, along: gradients)
        return true
    }
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
