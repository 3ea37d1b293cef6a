import Foundation
import BulwarkCore

/// Adam (Kingma and Ba 2015) and AdamW (Loshchilov and Hutter 2019), with PyTorch's
/// `torch.optim.Adam`/`AdamW` semantics:
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `θ ← θ − η · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)`.
///
/// Weight decay λ is added to the gradient (Adam, L2) or, when `decoupledWeightDecay` is set,
/// applied as `θ ← θ(1 − ηλ)` before the step (AdamW).
public struct Adam: Optimizer {
    /// η.
    public var learningRate: Float
    /// β₁, the decay of the first-moment estimate.
    public var beta1: Float
    /// β₂, the decay of the second-moment estimate.
    public var beta2: Float
    /// ε, added to the denominator for numerical stability.
    public var epsilon: Float
    /// λ.
    public var weightDecay: Float
    /// Whether weight decay is decoupled from the gradient (AdamW).
    public var decoupledWeightDecay: Bool
    /// t, the number of updates so far.
    public private(set) var step: Int = 0
    /// m, the first-moment estimates, keyed by parameter path.
    public private(set) var firstMoments: [String: Tensor] = [:]
    /// v, the second-moment estimates, keyed by parameter path.
    public private(set) var secondMoments: [String: Tensor] = [:]

    /// Creates Adam (or AdamW with `decoupledWeightDecay`).
    public init(
        learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: Float = 0, decoupledWeightDecay: Bool = false
    ) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
    }

    public mutating func update<Model: Layer>(_ model: inout Model, along gradients: Gradients) {
        step += 1
        let (rate, beta1, beta2, epsilon, decay, decoupled) = (learningRate, self.beta1, self.beta2, self.epsilon, weightDecay, decoupledWeightDecay)
        let correction1 = 1 - Float(pow(Double(beta1), Double(step)))
        let correction2Root = Float((1 - pow(Double(beta2), Double(step))).squareRoot())
        // Taken out of `self` so that each buffer is uniquely referenced and updates in place
        // (a second reference made every step copy both moments of every parameter).
        var first = firstMoments, second = secondMoments
        (firstMoments, secondMoments) = ([:], [:])
        model.visitParameters(along: gradients) { path, parameter, g in
            var m = first.removeValue(forKey: path) ?? Tensor(zeros: parameter.shape)
            var v = second.removeValue(forKey: path) ?? Tensor(zeros: parameter.shape)
            parameter.updateScalars { theta in
                m.updateScalars { m in
                    v.updateScalars { v in
                        g.withUnsafeBufferPointer { g in
                            // Elementwise, so both cores share the largest matrices.
                            parallelChunks(theta.count, grain: 1 << 16) { range in
                                var start = range.lowerBound
                                // Eight lanes at a time, the same expressions in the same order.
                                if !decoupled, let t = theta.baseAddress, let mb = m.baseAddress, let vb = v.baseAddress, let gb = g.baseAddress {
                                    let decay8 = SIMD8<Float>(repeating: decay)
                                    let (beta1s, beta2s) = (SIMD8<Float>(repeating: beta1), SIMD8<Float>(repeating: beta2))
                                    let (keep1, keep2) = (SIMD8<Float>(repeating: 1 - beta1), SIMD8<Float>(repeating: 1 - beta2))
                                    let scaledRate = SIMD8<Float>(repeating: rate / correction1)
                                    let (root, epsilon8) = (SIMD8<Float>(repeating: correction2Root), SIMD8<Float>(repeating: epsilon))
                                    while start + 8 <= range.upperBound {
                                        let theta8 = UnsafeRawPointer(t + start).loadUnaligned(as: SIMD8<Float>.self)
                                        let gi = UnsafeRawPointer(gb + start).loadUnaligned(as: SIMD8<Float>.self) + decay8 * theta8
                                        let m8 = beta1s * UnsafeRawPointer(mb + start).loadUnaligned(as: SIMD8<Float>.self) + keep1 * gi
                                        let v8 = beta2s * UnsafeRawPointer(vb + start).loadUnaligned(as: SIMD8<Float>.self) + keep2 * gi * gi
                                        UnsafeMutableRawPointer(mb + start).storeBytes(of: m8, as: SIMD8<Float>.self)
                                        UnsafeMutableRawPointer(vb + start).storeBytes(of: v8, as: SIMD8<Float>.self)
                                        let update = scaledRate * m8 / (v8.squareRoot() / root + epsilon8)
                                        UnsafeMutableRawPointer(t + start).storeBytes(of: theta8 - update, as: SIMD8<Float>.self)
                                        start += 8
                                    }
                                }
                                for i in start..<range.upperBound {
                                    var gi = g[i]
                                    if decoupled { theta[i] *= 1 - rate * decay } else { gi += decay * theta[i] }
                                    m[i] = beta1 * m[i] + (1 - beta1) * gi
                                    v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
                                    theta[i] -= (rate / correction1) * m[i] / (v[i].squareRoot() / correction2Root + epsilon)
                                }
                            }
                        }
                    }
                }
            }
            first[path] = m
            second[path] = v
        }
        firstMoments = first
        secondMoments = second
    }

    public var stateTensors: [String: Tensor] {
        var result = ["step": Tensor(Float(step))]
        for (key, value) in firstMoments { result["m.\(key)"] = value }
        for (key, value) in secondMoments { result["v.\(key)"] = value }
        return result
    }

    public mutating func loadStateTensors(_ tensors: [String: Tensor]) {
        step = Int(tensors["step"]?.array.first ?? 0)
        firstMoments = [:]
        secondMoments = [:]
        for (key, value) in tensors {
            if key.hasPrefix("m.") { firstMoments[String(key.dropFirst(2))] = value }
            if key.hasPrefix("v.") { secondMoments[String(key.dropFirst(2))] = value }
        }
    }
}

