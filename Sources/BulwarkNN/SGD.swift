import BulwarkCore

/// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, with
/// PyTorch's `torch.optim.SGD` semantics (no dampening):
/// `g ← ∇ + λθ`, `v ← μv + g`, `θ ← θ − η·(Nesterov ? g + μv : v)`.
public struct SGD: Optimizer {
    /// η.
    public var learningRate: Float
    /// μ.
    public var momentum: Float
    /// Whether to use Nesterov momentum (Sutskever et al. 2013).
    public var nesterov: Bool
    /// λ, the L2 penalty added to the gradient.
    public var weightDecay: Float
    /// The momentum buffers, keyed by parameter path.
    public private(set) var velocities: [String: Tensor] = [:]

    /// Creates the optimizer.
    public init(learningRate: Float, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        precondition(!nesterov || momentum > 0, "Nesterov momentum needs momentum > 0")
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    public mutating func update<Model: Layer>(_ model: inout Model, along gradients: Gradients) {
        let (rate, momentum, nesterov, decay) = (learningRate, self.momentum, self.nesterov, weightDecay)
        // Taken out of `self` so that each buffer is uniquely referenced and updates in place
        // (a second reference made every step copy every velocity).
        var velocities = self.velocities
        self.velocities = [:]
        model.visitParameters { path, parameter in
            guard let gradient = gradients[path] else { return }
            precondition(gradient.shape == parameter.shape, "gradient for \(path) has shape \(gradient.shape), parameter \(parameter.shape)")
            let existing = velocities.removeValue(forKey: path)
            let hasVelocity = existing != nil
            var velocity = existing ?? Tensor(zeros: parameter.shape)
            let g = gradient.array
            parameter = parameter.detached
            parameter.updateScalars { theta in
                velocity.updateScalars { v in
                    g.withUnsafeBufferPointer { g in
                        // Elementwise, so both cores share the largest matrices.
                        parallelChunks(theta.count, grain: 1 << 16) { range in
                            for i in range {
                                var step = g[i] + decay * theta[i]
                                if momentum != 0 {
                                    v[i] = hasVelocity ? momentum * v[i] + step : step
                                    step = nesterov ? step + momentum * v[i] : v[i]
                                }
                                theta[i] -= rate * step
                            }
                        }
                    }
                }
            }
            if momentum != 0 { velocities[path] = velocity }
        }
        self.velocities = velocities
    }

    public var stateTensors: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: velocities.map { ("velocity.\($0.key)", $0.value) })
    }

    public mutating func loadStateTensors(_ tensors: [String: Tensor]) {
        velocities = [:]
        for (key, value) in tensors where key.hasPrefix("velocity.") {
            velocities[String(key.dropFirst("velocity.".count))] = value
        }
    }
}
