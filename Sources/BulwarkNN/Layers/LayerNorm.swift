import BulwarkCore

/// Layer normalization over the last axis (Ba, Kiros and Hinton 2016), PyTorch's
/// `nn.LayerNorm(size)`: `(x − mean) / √(var + ε) · weight + bias` with the biased variance;
/// a composite of differentiable primitives.
public struct LayerNorm: Layer {
    /// `[size]`, initialized to ones.
    public var weight: Tensor
    /// `[size]`, initialized to zeros.
    public var bias: Tensor
    /// Added to the variance (PyTorch's default 1e-5).
    public var epsilon: Float
    public var mode: LayerMode = .training

    /// Creates a layer normalizing `size` features.
    public init(size: Int, epsilon: Float = 1e-5) {
        weight = Tensor(repeating: 1, shape: [size])
        bias = Tensor(zeros: [size])
        self.epsilon = epsilon
    }

    /// Normalizes each vector along the last axis of `input`.
    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.shape.last == weight.scalarCount, "LayerNorm of size \(weight.scalarCount) got \(input.shape)")
        let centered = input - input.mean(alongAxis: -1, keepingDims: true)
        let variance = centered.squared().mean(alongAxis: -1, keepingDims: true)
        return centered / (variance + epsilon).sqrt() * weight + bias
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        visitor("weight", &weight)
        visitor("bias", &bias)
    }
}
