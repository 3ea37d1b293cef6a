import BulwarkCore
import BulwarkNN
import BulwarkONNX
import BulwarkTraining
import Foundation

/// Fine-tuning an imported ONNX graph: the model a run of ``ImageTrainingConfiguration/modelPath``
/// starts from, and the trained graph it writes back beside its checkpoints.
extension ImageTrainingJob {
    /// The checkpoint metadata key naming the ONNX file a fine-tuned model was imported from.
    public static let sourceModelKey = "bulwark.onnx_source"

    /// The trained graph's file in the run directory.
    public var onnxModelFile: String { path(in: outputDirectory, "model.onnx") }

    /// The imported graph of ``ImageTrainingConfiguration/modelPath`` as read, its dropout masks
    /// seeded by the run's seed.
    ///
    /// - Throws: ``ConfigurationError`` naming `modelPath` when the file cannot be imported.
    func importedModel() throws(ConfigurationError) -> ImageClassifier {
        let c = configuration
        guard let modelPath = c.modelPath else { preconditionFailure("importedModel() needs a modelPath") }
        do {
            return ImageClassifier(try ONNXModel(contentsOf: URL(fileURLWithPath: modelPath), contract: c.onnxContract, seed: c.seed))
        } catch {
            throw ConfigurationError("\(field: "modelPath") \(modelPath) cannot be fine-tuned: \(error)")
        }
    }

    /// The model of the run's `model.safetensors`, in inference mode: a built-in architecture,
    /// or the imported graph with the file's tensors.
    func finalModel() throws -> ImageClassifier {
        let file = path(in: outputDirectory, RunFile.model)
        guard configuration.modelPath != nil else {
            let (model, architecture, _) = try Checkpoint.load(from: file)
            return ImageClassifier(model, architecture: architecture)
        }
        var model = try importedModel()
        try Checkpoint.assign(SafeTensorsFile(contentsOf: file).tensors, to: &model, path: file, architecture: configuration.modelName)
        model.mode = .inference
        return model
    }

    /// Writes the trained imported graph to ``onnxModelFile``: the source graph with the
    /// trained parameters and running statistics, its metadata naming the standardization.
    func writeONNXModel(_ model: ImageClassifier) throws {
        guard let imported = model.imported else { return }
        do {
            try OutputFile.write(Array(imported.serializedModel()), to: onnxModelFile)
        } catch {
            throw ConfigurationError("Cannot write the trained ONNX model '\(onnxModelFile)': \(error)")
        }
    }

    /// Throws when the run would write its trained graph over the graph it imports.
    func checkImportedModelIsKept() throws(ConfigurationError) {
        guard let modelPath = configuration.modelPath else { return }
        let resolved = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        try check(resolved(modelPath) != resolved(onnxModelFile),
                  "\(field: "modelPath") \(modelPath) is the file the run writes its trained graph to; copy it elsewhere or choose another \(field: "outputDirectory")")
    }
}
