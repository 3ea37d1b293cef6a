import BulwarkCore

/// Inverted dropout (Srivastava et al. 2014), PyTorch's `nn.Dropout`: in training mode each
/// scalar is zeroed with `probability` and the survivors are scaled by `1/(1 − probability)`;
/// in inference mode the layer is the identity.
///
/// The masks come from the layer's own seeded generator, which advances with every training
/// call, so a run is reproducible from its seed.
public struct Dropout: Layer {
    /// The chance that a scalar is dropped, in `[0, 1)`.
    public var probability: Float
    /// The generator the masks are drawn from.
    public var generator: SplitMix64
    public var mode: LayerMode = .training

    /// Creates a dropout layer drawing its masks from a generator seeded with `seed`.
    public init(probability: Float, seed: UInt64) {
        precondition(probability >= 0 && probability < 1, "Dropout probability must be in [0, 1), got \(probability)")
        self.probability = probability
        self.generator = SplitMix64(seed: seed)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        guard mode == .training, probability > 0 else { return input }
        let scale = 1 / (1 - probability)
        let keep = probability
        let mask = Tensor(shape: input.shape, scalars: (0..<input.scalarCount).map { _ in
            generator.nextUnitFloat() >= keep ? scale : 0
        })
        return input * mask
    }

    public mutating func visitGenerators(_ visitor: (String, inout SplitMix64) -> Void) {
        visitor("generator", &generator)
    }
}
