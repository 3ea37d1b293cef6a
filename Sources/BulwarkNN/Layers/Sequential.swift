import BulwarkCore

/// Layers applied in order, PyTorch's `nn.Sequential`: layer `i`'s parameters have paths
/// `"i.name"`, as in the PyTorch module's `state_dict`, or `"child.name"` for a container
/// built from named layers (PyTorch's `nn.Sequential(OrderedDict(...))`, or a module whose
/// `forward` calls its attributes in order).
public struct Sequential: Layer {
    /// The layers, applied first to last.
    public var layers: [any Layer]
    /// The path component of each layer, or `nil` to use its index.
    private var layerNames: [String]?

    /// Creates a container of `layers`, named by index (`0`, `1`, …).
    public init(_ layers: [any Layer]) {
        self.layers = layers
    }

    /// Creates a container of named layers; each name prefixes its layer's parameter paths.
    ///
    /// - Precondition: the names are distinct, non-empty and contain no `.`.
    public init(named layers: KeyValuePairs<String, any Layer>) {
        let names = layers.map(\.key)
        precondition(Set(names).count == names.count, "Sequential layer names must be distinct: \(names)")
        precondition(names.allSatisfy { !$0.isEmpty && !$0.contains(".") }, "Sequential layer names must be non-empty and contain no '.': \(names)")
        self.layers = layers.map(\.value)
        self.layerNames = names
    }

    /// The path component of each layer: its name, or its index for unnamed layers.
    public var names: [String] {
        layers.indices.map { index in
            layerNames.flatMap { index < $0.count ? $0[index] : nil } ?? String(index)
        }
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
        let names = names
        for index in layers.indices {
            layers[index].visitParameters { name, tensor in visitor("\(names[index]).\(name)", &tensor) }
        }
    }

    public mutating func visitState(_ visitor: (String, inout Tensor) -> Void) {
        let names = names
        for index in layers.indices {
            layers[index].visitState { name, tensor in visitor("\(names[index]).\(name)", &tensor) }
        }
    }

    public mutating func visitGenerators(_ visitor: (String, inout SplitMix64) -> Void) {
        let names = names
        for index in layers.indices {
            layers[index].visitGenerators { name, generator in visitor("\(names[index]).\(name)", &generator) }
        }
    }

    /// The mode of the first layer that has one; setting it sets every layer's.
    public var mode: LayerMode {
        get { layers.first(where: { !($0 is any ParameterlessLayer) })?.mode ?? .inference }
        set { for index in layers.indices { layers[index].mode = newValue } }
    }
}
