import BulwarkCore

/// Whether layers behave as during training (dropout active, batch statistics) or inference.
public enum LayerMode: String, Sendable, Codable {
    case training
    case inference
}

/// A value-semantic neural-network layer.
///
/// A layer maps a tensor to a tensor and exposes its trainable parameters and non-trainable
/// state through visitors with dotted paths (`0.weight`, `block.1.bias`) that equal the keys of
/// the equivalent PyTorch module's `state_dict`. The call is `mutating` because some layers
/// update themselves while running: batch normalization its running statistics and dropout
/// its random generator, both only in ``LayerMode/training`` mode.
public protocol Layer: Sendable {
    /// Applies the layer.
    mutating func callAsFunction(_ input: Tensor) -> Tensor

    /// Calls `visitor` with the path and a mutable reference to each trainable parameter, in a
    /// fixed order.
    mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void)

    /// Calls `visitor` with the path and a mutable reference to each piece of non-trainable
    /// state (running statistics). The default visits nothing.
    mutating func visitState(_ visitor: (String, inout Tensor) -> Void)

    /// Calls `visitor` with the path and a mutable reference to each random generator the
    /// layer keeps inside itself (``Dropout``'s), so that a checkpoint can save and restore
    /// where its sequence stands. The default visits nothing.
    mutating func visitGenerators(_ visitor: (String, inout SplitMix64) -> Void)

    /// The layer's mode; containers forward it to their children.
    var mode: LayerMode { get set }
}

extension Layer {
    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {}
    public mutating func visitState(_ visitor: (String, inout Tensor) -> Void) {}
    public mutating func visitGenerators(_ visitor: (String, inout SplitMix64) -> Void) {}

    /// The layer's output without changing the layer (state updates are discarded).
    public func applied(to input: Tensor) -> Tensor {
        var copy = self
        return copy(input)
    }

    /// A copy of the layer in `mode`.
    public func with(mode: LayerMode) -> Self {
        var copy = self
        copy.mode = mode
        return copy
    }

    /// The parameters keyed by path.
    public var parameters: [String: Tensor] { collected { $0.visitParameters($1) } }

    /// The parameter paths in visiting order.
    public var parameterPaths: [String] {
        var copy = self
        var result = [String]()
        copy.visitParameters { path, _ in result.append(path) }
        return result
    }

    /// The non-trainable state keyed by path.
    public var state: [String: Tensor] { collected { $0.visitState($1) } }

    /// The random generators kept inside the layer, keyed by path.
    public var generators: [String: SplitMix64] { collected { $0.visitGenerators($1) } }

    /// What `visit` (one of the visitors) reports of a copy of the layer, keyed by path.
    private func collected<Value>(_ visit: (inout Self, (String, inout Value) -> Void) -> Void) -> [String: Value] {
        var copy = self
        var result = [String: Value]()
        visit(&copy) { path, value in result[path] = value }
        return result
    }

    /// The number of trainable scalars.
    public var parameterCount: Int {
        parameters.values.reduce(0) { $0 + $1.scalarCount }
    }
}

/// A layer without parameters whose behaviour does not depend on the mode.
public protocol ParameterlessLayer: Layer {
    /// Applies the layer.
    func forward(_ input: Tensor) -> Tensor
}

extension ParameterlessLayer {
    public mutating func callAsFunction(_ input: Tensor) -> Tensor { forward(input) }
    public var mode: LayerMode {
        get { .inference }
        set {}
    }
}
