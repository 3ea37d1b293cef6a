import BulwarkCore

/// A fully connected layer `y = x · Wᵀ + b`, PyTorch's `nn.Linear`.
///
/// `weight` has shape `[outputSize, inputSize]` and `bias` `[outputSize]`, as in PyTorch's
/// `state_dict` (`weight`, `bias`).
public struct Linear: Layer {
    /// `[outputSize, inputSize]`.
    public var weight: Tensor
    /// `[outputSize]`, or `nil` for a layer without bias.
    public var bias: Tensor?
    public var mode: LayerMode = .training

    /// Creates a layer initialized as PyTorch does: weight and bias uniform in
    /// `±1/√inputSize` (Kaiming-uniform with `a = √5`).
    public init<G: RandomNumberGenerator>(inputSize: Int, outputSize: Int, hasBias: Bool = true, using generator: inout G) {
        let bound = 1 / Float(inputSize).squareRoot()
        weight = Tensor(randomUniform: [outputSize, inputSize], in: -bound...bound, using: &generator)
        bias = hasBias ? Tensor(randomUniform: [outputSize], in: -bound...bound, using: &generator) : nil
    }

    /// Creates a layer from existing tensors.
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear weight must be [out, in], got \(weight.shape)")
        self.weight = weight
        self.bias = bias
    }

    /// Maps `[N, inputSize]` to `[N, outputSize]`.
    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.rank == 2 && input.shape[1] == weight.shape[1],
                     "Linear expects [N, \(weight.shape[1])], got \(input.shape)")
        return linear(input, weight: weight, bias: bias)
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        visitor("weight", &weight)
        // In place through the optional: a copy would share the scalars and make every
        // optimizer step copy them.
        if bias != nil { visitor("bias", &bias!) }
    }
}
