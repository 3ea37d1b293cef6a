import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN
import BulwarkTraining
import Foundation

/// The adversarial examples `bulwark attack --out FILE.safetensors` writes, read back: clean
/// and adversarial images `[N, C, H, W]` in [0, 1], labels, both predictions, success flags,
/// the indices into the split, optionally the confidences of both predictions, and metadata
/// (attack, norm, ε, seed, model, dataset, versions).
public struct AdversarialExampleFile: Sendable {
    /// The clean inputs, `[N, C, H, W]`.
    public var clean: Tensor
    /// The adversarial inputs, same shape.
    public var adversarial: Tensor
    /// True labels.
    public var labels: [Int]
    /// The model's predictions on the clean inputs.
    public var cleanPredictions: [Int]
    /// The model's predictions on the adversarial inputs.
    public var adversarialPredictions: [Int]
    /// Softmax probability of each clean prediction, when the file records it.
    public var cleanConfidences: [Float]?
    /// Softmax probability of each adversarial prediction, when the file records it.
    public var adversarialConfidences: [Float]?
    /// Whether the attack changed a correct clean prediction to a wrong one. (Files written
    /// before ``cleanMisclassified`` existed flag every misclassified adversarial input.)
    public var success: [Bool]
    /// Whether each clean input was misclassified before the attack, when the file records it.
    public var cleanMisclassified: [Bool]?
    /// The position of each example in its split.
    public var indices: [Int]
    /// The file's metadata.
    public var metadata: [String: String]

    /// The number of examples.
    public var count: Int { labels.count }

    /// Creates a set of examples in memory.
    ///
    /// - Precondition: `clean` and `adversarial` are `[N, C, H, W]` of one shape and every
    ///   array has N entries.
    public init(
        clean: Tensor, adversarial: Tensor, labels: [Int], cleanPredictions: [Int], adversarialPredictions: [Int],
        cleanConfidences: [Float]? = nil, adversarialConfidences: [Float]? = nil, indices: [Int]? = nil,
        metadata: [String: String] = [:]
    ) {
        let count = labels.count
        precondition(clean.shape.count == 4 && clean.shape == adversarial.shape && clean.shape[0] == count,
                     "clean and adversarial must be [N, C, H, W] tensors of one shape with N labels")
        precondition(cleanPredictions.count == count && adversarialPredictions.count == count
                     && (cleanConfidences?.count ?? count) == count && (adversarialConfidences?.count ?? count) == count
                     && (indices?.count ?? count) == count, "every array needs one entry per example")
        self.clean = clean
        self.adversarial = adversarial
        self.labels = labels
        self.cleanPredictions = cleanPredictions
        self.adversarialPredictions = adversarialPredictions
        self.cleanConfidences = cleanConfidences
        self.adversarialConfidences = adversarialConfidences
        cleanMisclassified = zip(cleanPredictions, labels).map { $0 != $1 }
        success = labels.indices.map { cleanPredictions[$0] == labels[$0] && adversarialPredictions[$0] != labels[$0] }
        self.indices = indices ?? Array(0..<count)
        self.metadata = metadata
    }

    /// Reads what `bulwark attack` wrote: a `.safetensors` file, or the directory of `.npy`
    /// files and `metadata.json` of `--format npy`.
    ///
    /// Labels, predictions and indices that are not whole numbers (or are negative) read as
    /// -1, an unknown class, rather than trapping on a damaged file.
    ///
    /// - Throws: ``ReportError/notAdversarialExamples(path:reason:)`` when tensors are missing
    ///   or their shapes disagree, ``ReportError/unreadable(path:reason:)`` for a damaged
    ///   `.npy` directory, or the checkpoint error when a `.safetensors` file cannot be read.
    public init(contentsOf path: String) throws {
        let tensors: [String: Tensor]
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            (tensors, metadata) = try Self.readNumPyDirectory(path)
        } else {
            let file = try SafeTensorsFile(contentsOf: path)
            (tensors, metadata) = (file.tensors, file.metadata)
        }
        func tensor(_ name: String) throws -> Tensor {
            guard let value = tensors[name] else {
                throw ReportError.notAdversarialExamples(path: path, reason: "it has no '\(name)' tensor")
            }
            return value
        }
        clean = try tensor("clean")
        adversarial = try tensor("adversarial")
        guard clean.shape.count == 4, clean.shape == adversarial.shape else {
            throw ReportError.notAdversarialExamples(
                path: path, reason: "clean \(clean.shape) and adversarial \(adversarial.shape) are not two [N, C, H, W] tensors of one shape")
        }
        let count = clean.shape[0]
        func integers(_ name: String) throws -> [Int] {
            let values = try tensor(name).array
            guard values.count == count else {
                throw ReportError.notAdversarialExamples(path: path, reason: "'\(name)' holds \(values.count) values for \(count) examples")
            }
            return values.map { $0.isFinite && $0 >= 0 && $0 < 1e9 && $0.rounded() == $0 ? Int($0) : -1 }
        }
        labels = try integers("labels")
        cleanPredictions = try integers("clean_predictions")
        adversarialPredictions = try integers("adversarial_predictions")
        success = try integers("success").map { $0 != 0 }
        cleanMisclassified = tensors["clean_misclassified"] == nil ? nil : try integers("clean_misclassified").map { $0 != 0 }
        indices = tensors["indices"] == nil ? Array(0..<count) : try integers("indices")
        func confidences(_ name: String) -> [Float]? {
            guard let values = tensors[name]?.array, values.count == count else { return nil }
            return values
        }
        cleanConfidences = confidences("clean_confidences")
        adversarialConfidences = confidences("adversarial_confidences")
    }

    /// The tensors and metadata of a `--format npy` directory.
    private static func readNumPyDirectory(_ path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let directory = URL(fileURLWithPath: path)
        var tensors = [String: Tensor]()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in names where name.hasSuffix(".npy") {
            let file = directory.appendingPathComponent(name).path
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ReportError.unreadable(path: file, reason: "the file cannot be opened")
            }
            do {
                tensors[String(name.dropLast(4))] = try NumPyArray.tensor(fromBytes: [UInt8](data))
            } catch {
                throw ReportError.unreadable(path: file, reason: error.reason)
            }
        }
        var metadata = [String: String]()
        let metadataPath = directory.appendingPathComponent("metadata.json").path
        if let data = FileManager.default.contents(atPath: metadataPath) {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ReportError.unreadable(path: metadataPath, reason: "it is not a JSON object")
            }
            for (key, value) in object { metadata[key] = value as? String ?? "\(value)" }
        }
        return (tensors, metadata)
    }

    // MARK: - Writing

    /// The tensors stored as integers (I64) rather than F32.
    private static let integerTensorNames: Set<String> = [
        "labels", "clean_predictions", "adversarial_predictions", "success", "clean_misclassified", "indices",
    ]

    /// Every tensor of the file by name: images and confidences as floats, labels,
    /// predictions, indices and flags as whole numbers (the flags 1 or 0).
    private var tensors: [String: Tensor] {
        func whole(_ values: [Int]) -> Tensor { Tensor(values.map(Float.init)) }
        func flags(_ values: [Bool]) -> Tensor { Tensor(values.map { $0 ? 1 : 0 }) }
        var tensors: [String: Tensor] = [
            "clean": clean, "adversarial": adversarial, "labels": whole(labels),
            "clean_predictions": whole(cleanPredictions), "adversarial_predictions": whole(adversarialPredictions),
            "success": flags(success), "indices": whole(indices),
        ]
        if let cleanMisclassified { tensors["clean_misclassified"] = flags(cleanMisclassified) }
        if let cleanConfidences { tensors["clean_confidences"] = Tensor(cleanConfidences) }
        if let adversarialConfidences { tensors["adversarial_confidences"] = Tensor(adversarialConfidences) }
        return tensors
    }

    /// Writes the examples as one `.safetensors` file (through ``OutputFile``), the integer
    /// tensors as I64 and the metadata in its header.
    ///
    /// - Throws: ``CheckpointError`` when `path` cannot be written.
    public func writeSafeTensors(to path: String) throws {
        try SafeTensorsFile(tensors: tensors, metadata: metadata, integerTensorNames: Self.integerTensorNames).write(to: path)
    }

    /// Writes the examples into `directory` (created if missing) as one `.npy` file per tensor
    /// (the integer ones as int64) and the metadata as `metadata.json`.
    ///
    /// - Throws: ``OutputFileError`` or ``TrainingError/cannotWrite(path:reason:)`` when a file
    ///   or the directory cannot be written.
    public func writeNumPy(to directory: String) throws {
        try createDirectory(directory)
        for (name, tensor) in tensors.sorted(by: { $0.key < $1.key }) {
            let bytes = Self.integerTensorNames.contains(name)
                ? NumPyArray.int64Bytes(tensor.array.map { Int($0) }) : NumPyArray.float32Bytes(tensor)
            try OutputFile.write(bytes, to: path(in: directory, name + ".npy"))
        }
        let json = try JSONOutput.encode(metadata) { $0.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] }
        try OutputFile.write(Array(json), to: path(in: directory, "metadata.json"))
    }

    /// The class names of the dataset named in the metadata (digits when unknown).
    public var classNames: [String] {
        metadata["dataset"].flatMap(ImageDatasetName.init(rawValue:))?.classNames ?? (0..<10).map(String.init)
    }

    /// The threat model recorded in the metadata, if complete.
    public var threatModel: ThreatModel? {
        guard let normName = metadata["norm"], let norm = Norm(rawValue: normName),
              let epsilonText = metadata["epsilon"], let epsilon = Float(epsilonText), epsilon >= 0, epsilon.isFinite
        else { return nil }
        return ThreatModel(norm: norm, epsilon: epsilon)
    }

    /// Each perturbation's norm in `norm` (L∞ when the metadata names none).
    public func perturbationNorms() -> [Float] {
        (threatModel ?? .lInfinity(epsilon: 1)).norms(of: adversarial - clean)
    }

    /// Fills in missing confidences with `model`'s softmax on the clean and adversarial inputs
    /// at `positions` (all examples when `nil`); confidences elsewhere stay NaN (unknown).
    ///
    /// - Precondition: every position is in `0..<count`.
    public mutating func computeConfidences<Model: Layer>(with model: Model, at positions: [Int]? = nil) {
        guard cleanConfidences == nil || adversarialConfidences == nil else { return }
        let chosen = positions ?? Array(0..<count)
        precondition(chosen.allSatisfy { (0..<count).contains($0) }, "example position out of range")
        var clean = [Float](repeating: .nan, count: count), adversarial = clean
        let cleanValues = predictionConfidences(of: model, on: self.clean.gathering(atIndices: chosen, alongAxis: 0))
        let adversarialValues = predictionConfidences(of: model, on: self.adversarial.gathering(atIndices: chosen, alongAxis: 0))
        for (offset, position) in chosen.enumerated() {
            clean[position] = cleanValues[offset]
            adversarial[position] = adversarialValues[offset]
        }
        cleanConfidences = clean
        adversarialConfidences = adversarial
    }
}

/// The largest softmax probability of `model` for each input (the confidence of its prediction).
package func predictionConfidences<Model: Layer>(of model: Model, on inputs: Tensor) -> [Float] {
    let batchSize = 256
    var confidences = [Float]()
    let count = inputs.shape.first ?? 0
    for start in stride(from: 0, to: count, by: batchSize) {
        let probabilities = softmax(model.applied(to: inputs.slice(alongAxis: 0, start..<Swift.min(start + batchSize, count))))
        let width = probabilities.shape.last ?? 1
        let values = probabilities.array
        for row in 0..<(values.count / width) {
            confidences.append(values[(row * width)..<((row + 1) * width)].max() ?? 0)
        }
    }
    return confidences
}
