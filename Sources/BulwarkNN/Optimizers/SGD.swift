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
        model.visitParameters(along: gradients) { path, parameter, g in
            // Removed straight into `velocity`: a second binding would keep the buffer shared and
            // make the update below copy it every step.
            let hasVelocity = velocities[path] != nil
            var velocity = velocities.removeValue(forKey: path) ?? Tensor(zeros: parameter.shape)
            parameter.updateScalars { theta in
                velocity.updateScalars { v in
                    g.withUnsafeBufferPointer { g in
                        // Elementwise, so both cores share the largest matrices.
                        parallelChunks(theta.count, grain: 1 << 16) { range in
                            sgdStep(theta: theta, velocity: v, gradient: g, range: range, rate: rate, momentum: momentum,
                                    nesterov: nesterov, decay: decay, hasVelocity: hasVelocity)
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

/// One SGD step on `range`, eight lanes at a time. The common case (momentum with a velocity,
/// no Nesterov) has its own loop so that the per-element branches of the general formula do
/// not keep the compiler from vectorizing it; both compute the same expressions in the same
/// order, so results are identical.
private func sgdStep(
    theta: UnsafeMutableBufferPointer<Float>, velocity v: UnsafeMutableBufferPointer<Float>, gradient g: UnsafeBufferPointer<Float>,
    range: Range<Int>, rate: Float, momentum: Float, nesterov: Bool, decay: Float, hasVelocity: Bool
) {
    var start = range.lowerBound
    if momentum != 0 && hasVelocity && !nesterov, let t = theta.baseAddress, let vb = v.baseAddress, let gb = g.baseAddress {
        let (rate8, momentum8, decay8) = (SIMD8<Float>(repeating: rate), SIMD8<Float>(repeating: momentum), SIMD8<Float>(repeating: decay))
        while start + 8 <= range.upperBound {
            let theta8 = UnsafeRawPointer(t + start).loadUnaligned(as: SIMD8<Float>.self)
            let g8 = UnsafeRawPointer(gb + start).loadUnaligned(as: SIMD8<Float>.self)
            let step = g8 + decay8 * theta8
            let velocity8 = momentum8 * UnsafeRawPointer(vb + start).loadUnaligned(as: SIMD8<Float>.self) + step
            UnsafeMutableRawPointer(vb + start).storeBytes(of: velocity8, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(t + start).storeBytes(of: theta8 - rate8 * velocity8, as: SIMD8<Float>.self)
            start += 8
        }
    }
    for i in start..<range.upperBound {
        var step = g[i] + decay * theta[i]
        if momentum != 0 {
            v[i] = hasVelocity ? momentum * v[i] + step : step
            step = nesterov ? step + momentum * v[i] : v[i]
        }
        theta[i] -= rate * step
    }
}
