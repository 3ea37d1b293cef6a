import BulwarkNN
import BulwarkONNX
import Foundation

/// Which model to evaluate and how to read it: a checkpoint of a built-in architecture
/// (``architecture`` for a file that does not record it), or an ONNX image classifier with
/// the input contract the other fields describe (see ``ONNXInputContract``).
public struct ModelSelection: Sendable, Equatable {
    /// The `.safetensors` checkpoint or `.onnx` file.
    public var path: String
    /// The architecture of a checkpoint that does not record it.
    public var architecture: Architecture?
    /// An ONNX model's per-channel means, comma separated.
    public var mean: String?
    /// An ONNX model's per-channel standard deviations, comma separated.
    public var standardDeviation: String?
    /// An ONNX model's input layout.
    public var layout: ONNXInputContract.Layout?
    /// The ONNX graph input to feed.
    public var inputName: String?

    /// A selection of the model at `path`; leave the other fields unset for what the file says.
    public init(
        path: String, architecture: Architecture? = nil, mean: String? = nil, standardDeviation: String? = nil,
        layout: ONNXInputContract.Layout? = nil, inputName: String? = nil
    ) {
        self.path = path
        self.architecture = architecture
        self.mean = mean
        self.standardDeviation = standardDeviation
        self.layout = layout
        self.inputName = inputName
    }

    /// What the note on a graph whose final `Softmax` was left out says.
    public static let droppedSoftmaxNote = "the model's final Softmax is left out: attacks run on the logits before it"

    /// The input contract the fields describe.
    ///
    /// - Throws: ``ONNXError`` naming `mean` or `standardDeviation` when it is not a list of
    ///   numbers.
    public func contract() throws(ONNXError) -> ONNXInputContract {
        try ONNXInputContract(inputName: inputName, layout: layout, meanList: mean, standardDeviationList: standardDeviation)
    }

    /// The model in inference mode and the checkpoint's metadata (empty for an ONNX file).
    ///
    /// - Throws: ``ConfigurationError`` naming the contract fields given for a checkpoint,
    ///   which has no ONNX input; the reading errors of ``ImageClassifier/load(from:architecture:contract:)``.
    public func load() throws -> (classifier: ImageClassifier, metadata: [String: String]) {
        let loaded = try ImageClassifier.load(from: path, architecture: architecture, contract: contract())
        let contractFields = [("mean", mean), ("standardDeviation", standardDeviation), ("layout", layout?.rawValue), ("inputName", inputName)]
            .filter { $0.1 != nil }.map { "`\($0.0)`" }
        if let builtIn = loaded.classifier.architecture, !contractFields.isEmpty {
            throw ConfigurationError(
                "\(contractFields.joined(separator: ", ")) describe the input of an ONNX model, but \(path) is a checkpoint of \(builtIn.rawValue), whose input is fixed; leave \(contractFields.count == 1 ? "it" : "them") out")
        }
        return loaded
    }
}

extension ModelSelection {
    /// The checkpoint as a serialized ONNX model (see
    /// ``ONNXExport/serializedModel(_:exampleShape:)``) and its architecture.
    ///
    /// - Throws: ``ConfigurationError`` when the selection is not a checkpoint of a built-in
    ///   architecture; the reading and export errors.
    public func exportedONNX() throws -> (model: Data, architecture: Architecture) {
        let (classifier, _) = try load()
        guard let model = classifier.builtIn, let architecture = classifier.architecture else {
            let graph = ImageClassifier.isONNX(path) ? "" : " (a fine-tuned graph's: the trained graph is the \(ImageClassifier.runGraphName) beside it)"
            throw ConfigurationError("\(path) is already an ONNX model\(graph); export writes checkpoints of a built-in `architecture` as ONNX")
        }
        return (try ONNXExport.serializedModel(model, exampleShape: architecture.inputShape), architecture)
    }
}

/// What a model name given to training names: an ONNX image classifier to fine-tune
/// (``ImageTrainingConfiguration/modelPath``) or, as earlier versions spelled the
/// architecture, a built-in architecture.
public enum TrainingModelName: Sendable, Equatable {
    /// A built-in architecture.
    case architecture(Architecture)
    /// An ONNX file, known by its extension (see ``ImageClassifier/isONNX(_:)``).
    case file(String)

    /// What `name` names: an ONNX file, else an architecture; `nil` when it names neither.
    public init?(_ name: String) {
        if ImageClassifier.isONNX(name) {
            self = .file(name)
        } else if let architecture = Architecture(rawValue: name) {
            self = .architecture(architecture)
        } else {
            return nil
        }
    }

    /// The architecture named, if one is.
    public var architecture: Architecture? { if case .architecture(let architecture) = self { architecture } else { nil } }
    /// The ONNX file named, if one is.
    public var file: String? { if case .file(let file) = self { file } else { nil } }
}
