import BulwarkCore

/// Layers applied in order, PyTorch's `nn.Sequential`: layer `i`'s parameters have paths
/// `"i.name"`, as in the PyTorch module's `state_dict`.
public struct Sequential: Layer {
    /// The layers, applied first to last.
    public var layers: [any Layer]

    /// Creates a container of `layers`.
    public init(_ layers: [any Layer]) {
        self.layers = layers
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        var output = input
        var index = layers.startIndex
        while index < layers.endIndex {
            // ReLU then max pooling runs as one fused pass (same values and gradients): the
            // full-size ReLU output and its pullback were a tenth of an attack's profile.
            if layers[index] is ReLU, index + 1 < layers.endIndex, let pool = layers[index + 1] as? MaxPool2D {
                output = maxPool2d(output, kernelSize: pool.kernelSize, stride: pool.stride, padding: pool.padding, rectifying: true)
                index += 2
                continue
            }
            output = layers[index](output)
            index += 1
        }
        return output
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        for index in layers.indices {
            layers[index].visitParameters { name, tensor in visitor("\(index).\(name)", &tensor) }
        }
    }

    public mutating func visitState(_ visitor: (String, inout Tensor) -> Void) {
        for index in layers.indices {
            layers[index].visitState { name, tensor in visitor("\(index).\(name)", &tensor) }
        }
    }

    /// The mode of the first layer that has one; setting it sets every layer's.
    public var mode: LayerMode {
        get { layers.first(where: { !($0 is any ParameterlessLayer) })?.mode ?? .inference }
        set { for index in layers.indices { layers[index].mode = newValue } }
    }
}
