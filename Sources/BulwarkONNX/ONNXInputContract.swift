/// What an imported model expects and what Bulwark feeds it.
///
/// Bulwark always feeds `[N, C, H, W]` pixels in `[0, 1]`, so that ε is measured in pixel
/// units. The layer turns them into what the graph expects: it standardizes each channel with
/// ``mean`` and ``standardDeviation`` (when given or read from the model's metadata keys
/// `bulwark.mean` and `bulwark.std`) and, for an NHWC graph, transposes to `[N, H, W, C]`.
public struct ONNXInputContract: Codable, Sendable, Equatable {
    /// How the graph's input lays out an image.
    public enum Layout: String, Codable, Sendable {
        /// `[N, C, H, W]`, as PyTorch exports.
        case nchw
        /// `[N, H, W, C]`, as TensorFlow exports.
        case nhwc
    }

    /// The graph input to feed; `nil` takes the only graph input that is not an initializer.
    public var inputName: String?
    /// The per-example shape as Bulwark feeds it, `[C, H, W]`; `nil` reads it from the model,
    /// whose non-batch dimensions must then be fixed.
    public var exampleShape: [Int]?
    /// The graph's layout.
    public var layout: Layout
    /// Per-channel means subtracted inside the layer; `nil` reads `bulwark.mean` from the
    /// model's metadata, and without it no standardization is applied.
    public var mean: [Float]?
    /// Per-channel standard deviations divided by inside the layer; `nil` reads `bulwark.std`.
    public var standardDeviation: [Float]?

    /// Creates a contract; every field defaults to what the model says.
    public init(
        inputName: String? = nil, exampleShape: [Int]? = nil, layout: Layout = .nchw,
        mean: [Float]? = nil, standardDeviation: [Float]? = nil
    ) {
        self.inputName = inputName
        self.exampleShape = exampleShape
        self.layout = layout
        self.mean = mean
        self.standardDeviation = standardDeviation
    }
}
