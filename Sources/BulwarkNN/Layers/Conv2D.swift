import BulwarkCore

/// A 2-D convolution layer over NCHW inputs, PyTorch's `nn.Conv2d` (square kernel, equal
/// stride and padding in both directions, zero padding).
///
/// `weight` has shape `[outputChannels, inputChannels, kernelSize, kernelSize]`.
public struct Conv2D: Layer {
    /// `[outputChannels, inputChannels, kernelSize, kernelSize]`.
    public var weight: Tensor
    /// `[outputChannels]`, or `nil`.
    public var bias: Tensor?
    /// The step between receptive fields.
    public var stride: Int
    /// Zeros added on every side.
    public var padding: Int
    public var mode: LayerMode = .training

    /// Creates a layer initialized as PyTorch does: uniform in `±1/√(inputChannels·k²)`.
    public init<G: RandomNumberGenerator>(
        inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        hasBias: Bool = true, using generator: inout G
    ) {
        let bound = 1 / Float(inputChannels * kernelSize * kernelSize).squareRoot()
        weight = Tensor(randomUniform: [outputChannels, inputChannels, kernelSize, kernelSize], in: -bound...bound, using: &generator)
        bias = hasBias ? Tensor(randomUniform: [outputChannels], in: -bound...bound, using: &generator) : nil
        self.stride = stride
        self.padding = padding
    }

    /// Maps `[N, inputChannels, H, W]` to `[N, outputChannels, H', W']`.
    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == weight.shape[1],
                     "Conv2D expects [N, \(weight.shape[1]), H, W], got \(input.shape)")
        return conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding)
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        visitor("weight", &weight)
        // In place through the optional: a copy would share the scalars and make every
        // optimizer step copy them.
        if bias != nil { visitor("bias", &bias!) }
    }
}
