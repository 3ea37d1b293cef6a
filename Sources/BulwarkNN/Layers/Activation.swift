import BulwarkCore

/// The rectifier `max(x, 0)`, PyTorch's `nn.ReLU`.
public struct ReLU: ParameterlessLayer {
    /// Creates the layer.
    public init() {}
    public func forward(_ input: Tensor) -> Tensor { input.relu() }
}

/// Flattens every axis after the first: `[N, …] → [N, product]`, PyTorch's `nn.Flatten`.
public struct Flatten: ParameterlessLayer {
    /// Creates the layer.
    public init() {}
    public func forward(_ input: Tensor) -> Tensor { input.flattened() }
}

/// The Gaussian error linear unit (Hendrycks and Gimpel 2016) in its tanh form,
/// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, PyTorch's `nn.GELU(approximate="tanh")`;
/// a composite of differentiable primitives.
public func gelu(_ input: Tensor) -> Tensor {
    let inner = (input + 0.044715 * input * input * input) * Float((2 / Double.pi).squareRoot())
    return 0.5 * input * (1 + inner.tanh())
}

/// The GELU activation as a layer (see ``gelu(_:)``).
public struct GELU: ParameterlessLayer {
    /// Creates the layer.
    public init() {}
    public func forward(_ input: Tensor) -> Tensor { gelu(input) }
}
