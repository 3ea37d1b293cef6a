import Foundation

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
    /// The graph's layout; `nil` reads `bulwark.layout` (`nchw` or `nhwc`) from the model's
    /// metadata, and without it infers the layout from the graph input's shape.
    public var layout: Layout?
    /// Per-channel means subtracted inside the layer; `nil` reads `bulwark.mean` from the
    /// model's metadata, and without it no standardization is applied.
    public var mean: [Float]?
    /// Per-channel standard deviations divided by inside the layer; `nil` reads `bulwark.std`.
    public var standardDeviation: [Float]?

    /// Creates a contract; every field defaults to what the model says.
    public init(
        inputName: String? = nil, exampleShape: [Int]? = nil, layout: Layout? = nil,
        mean: [Float]? = nil, standardDeviation: [Float]? = nil
    ) {
        self.inputName = inputName
        self.exampleShape = exampleShape
        self.layout = layout
        self.mean = mean
        self.standardDeviation = standardDeviation
    }
}

extension ONNXInputContract.Layout {
    /// The layout of a graph input of shape `[N, a, b, c]` (`nil` for a symbolic extent):
    /// channels-last when the last extent is 1 or 3 (grayscale or RGB) and the second is not,
    /// as TensorFlow exports; channels-first otherwise, the ONNX convention.
    ///
    /// - Throws: ``ONNXError/invalidContract(_:)`` when both the second and the last extent
    ///   are 1 or 3, so that either layout fits, or for an input that is not rank 4.
    public static func inferred(fromInputShape shape: [Int?], input: String) throws -> Self {
        guard shape.count == 4 else {
            throw ONNXError.invalidContract("input '\(input)' has rank \(shape.count); only rank-4 image inputs are supported")
        }
        let channelCounts: Set<Int> = [1, 3]
        let (second, last) = (shape[1].map(channelCounts.contains) ?? false, shape[3].map(channelCounts.contains) ?? false)
        if second && last {
            let extents = shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ")
            throw ONNXError.invalidContract(
                "input '\(input)' of shape [\(extents)] could be channels-first or channels-last; give the layout (nchw or nhwc) in the input contract's layout or the model's metadata bulwark.layout")
        }
        return last ? .nhwc : .nchw
    }
}

extension ONNXInputContract {
    /// A contract from the text a user writes: `mean` and `standardDeviation` as lists that
    /// ``channelValues(in:)`` reads.
    ///
    /// - Throws: ``ONNXError/invalidContract(_:)`` naming the field (`mean` or
    ///   `standardDeviation`) whose text is not a list of finite numbers.
    public init(
        inputName: String? = nil, layout: Layout? = nil, meanList: String?, standardDeviationList: String?
    ) throws(ONNXError) {
        self.init(inputName: inputName, layout: layout, mean: try meanList.map { text throws(ONNXError) in try Self.channelValues(in: text, field: "mean") },
                  standardDeviation: try standardDeviationList.map { text throws(ONNXError) in
                      try Self.channelValues(in: text, field: "standardDeviation")
                  })
    }

    /// The per-channel numbers of `text`, as users and `run.json` write them: separated by
    /// commas (`0.485,0.456,0.406`), spaces and enclosing brackets allowed (`[0.5, 0.5]`), one
    /// per channel or one for all; `nil` unless every entry is a finite number.
    public static func channelValues(in text: String) -> [Float]? {
        var list = Substring(text.trimmingCharacters(in: .whitespaces))
        if list.first == "[", list.last == "]" { list = list.dropFirst().dropLast() }
        let values = list.split(separator: ",", omittingEmptySubsequences: false).map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard values.allSatisfy({ $0?.isFinite == true }) else { return nil }
        return values.compactMap { $0 }
    }

    /// The per-channel numbers of `text`, the value of `field` (see ``channelValues(in:)``).
    ///
    /// - Throws: ``ONNXError/invalidContract(_:)`` naming `field` when `text` is not a list of
    ///   finite numbers.
    public static func channelValues(in text: String, field: String) throws(ONNXError) -> [Float] {
        guard let values = channelValues(in: text) else {
            throw ONNXError.invalidContract("`\(field)` \(text) is not a comma-separated list of numbers, one per channel (such as 0.485,0.456,0.406)")
        }
        return values
    }
}
