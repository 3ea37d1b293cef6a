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
