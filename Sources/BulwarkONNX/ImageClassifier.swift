import BulwarkCore
import BulwarkNN
import Foundation

/// An image classifier Bulwark evaluates, attacks and trains: one of the built-in
/// architectures, or a graph imported from ONNX. Both take `[N, C, H, W]` pixels in `[0, 1]`
/// and return logits.
///
/// Exactly one of the two models is held; the calls forward to it in place, so that an
/// optimizer's update of a parameter does not copy the others.
public struct ImageClassifier: Layer {
    /// The built-in model, when the classifier is one.
    public private(set) var builtIn: Sequential?
    /// The built-in model's architecture, when the classifier is one.
    public let architecture: Architecture?
    /// The imported graph, when the classifier is one.
    public private(set) var imported: ONNXModel?

    /// A built-in model of `architecture`.
    public init(_ model: Sequential, architecture: Architecture) {
        builtIn = model
        self.architecture = architecture
        imported = nil
    }

    /// An imported graph.
    public init(_ model: ONNXModel) {
        builtIn = nil
        architecture = nil
        imported = model
    }

    /// The shape of one example, `[C, H, W]`.
    public var inputShape: [Int] {
        architecture?.inputShape ?? imported?.contract.exampleShape ?? []
    }

    /// What the model is, for messages and records: the architecture's name, or `onnx`.
    public var kind: String { architecture?.rawValue ?? "onnx" }

    /// Whether the classifier is an imported graph whose final `Softmax` was left out, so
    /// that it returns (and attacks run on) the logits before it.
    public var droppedFinalSoftmax: Bool { imported?.droppedFinalSoftmax ?? false }

    public var mode: LayerMode {
        get { builtIn?.mode ?? imported?.mode ?? .inference }
        set {
            if builtIn != nil { builtIn!.mode = newValue } else { imported!.mode = newValue }
        }
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        builtIn != nil ? builtIn!(input) : imported!(input)
    }

    public mutating func visitParameters(_ visitor: (String, inout Tensor) -> Void) {
        if builtIn != nil { builtIn!.visitParameters(visitor) } else { imported!.visitParameters(visitor) }
    }

    public mutating func visitState(_ visitor: (String, inout Tensor) -> Void) {
        if builtIn != nil { builtIn!.visitState(visitor) } else { imported!.visitState(visitor) }
    }

    public mutating func visitGenerators(_ visitor: (String, inout SplitMix64) -> Void) {
        if builtIn != nil { builtIn!.visitGenerators(visitor) } else { imported!.visitGenerators(visitor) }
    }
}

extension ImageClassifier {
    /// Whether `path` names an ONNX file rather than a checkpoint, by its extension.
    public static func isONNX(_ path: String) -> Bool {
        URL(fileURLWithPath: path).pathExtension.lowercased() == "onnx"
    }

    /// The name of the ONNX graph a run trained from an ONNX model keeps beside its
    /// checkpoint.
    public static let runGraphName = "model.onnx"

    /// The architecture name a checkpoint of an imported ONNX graph records.
    public static let onnxArchitectureName = "onnx"

    /// Loads the classifier in `path` in inference mode: an ONNX graph read under `contract`
    /// (a `.onnx` file); a checkpoint whose recorded architecture is `onnx` (what training an
    /// ONNX model writes), as the graph ``runGraphName`` beside it read under `contract` with
    /// the checkpoint's parameters; else a checkpoint of a built-in architecture
    /// (`architecture` for a file that does not record it).
    ///
    /// - Returns: The classifier and the checkpoint's metadata (empty for an ONNX file).
    /// - Throws: ``ONNXError`` for an ONNX file that cannot be imported or when
    ///   `architecture` is given for one; the checkpoint's reading error otherwise.
    public static func load(
        from path: String, architecture: Architecture? = nil, contract: ONNXInputContract = ONNXInputContract()
    ) throws -> (classifier: ImageClassifier, metadata: [String: String]) {
        guard isONNX(path) else {
            // Read once: the metadata says whether the parameters belong to an imported graph.
            let file = try SafeTensorsFile(contentsOf: path)
            guard architecture == nil, file.metadata[Checkpoint.architectureKey] == onnxArchitectureName else {
                let (model, architecture, metadata) = try Checkpoint.load(file, from: path, architecture: architecture)
                return (ImageClassifier(model, architecture: architecture), metadata)
            }
            let graph = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(runGraphName)
            guard FileManager.default.fileExists(atPath: graph.path) else {
                throw ONNXError.invalidModel(
                    "'\(path)' holds the trained parameters of an imported ONNX graph, which is read from the \(runGraphName) beside it, but '\(graph.path)' is missing; keep the run directory's files together")
            }
            var model = try ONNXModel(contentsOf: graph, contract: contract)
            try Checkpoint.assign(file.tensors, to: &model, path: path, architecture: onnxArchitectureName)
            return (ImageClassifier(model.with(mode: .inference)), file.metadata)
        }
        if let architecture {
            throw ONNXError.invalidContract(
                "'\(path)' is an ONNX graph, which brings its own architecture; leave out `architecture` \(architecture.rawValue)")
        }
        let model = try ONNXModel(contentsOf: URL(fileURLWithPath: path), contract: contract)
        return (ImageClassifier(model.with(mode: .inference)), [:])
    }
}
