import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

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
    /// Whether each adversarial input is misclassified.
    public var success: [Bool]
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
        success = zip(adversarialPredictions, labels).map { $0 != $1 }
        self.indices = indices ?? Array(0..<count)
        self.metadata = metadata
    }

    /// Reads a file written by `bulwark attack`.
    ///
    /// - Throws: ``ReportError/notAdversarialExamples(path:reason:)`` when tensors are missing
    ///   or their shapes disagree, or the checkpoint error when the file cannot be read.
    public init(contentsOf path: String) throws {
        let file = try SafeTensorsFile(contentsOf: path)
        func tensor(_ name: String) throws -> Tensor {
            guard let value = file.tensors[name] else {
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
            // Whole numbers by contract; anything else (NaN, huge) becomes -1, an unknown class,
            // rather than trapping on a damaged file.
            return values.map { $0.isFinite && abs($0) < 1e9 ? Int($0) : -1 }
        }
        labels = try integers("labels")
        cleanPredictions = try integers("clean_predictions")
        adversarialPredictions = try integers("adversarial_predictions")
        success = try integers("success").map { $0 != 0 }
        indices = (try? integers("indices")) ?? Array(0..<count)
        func confidences(_ name: String) -> [Float]? {
            guard let values = file.tensors[name]?.array, values.count == count else { return nil }
            return values
        }
        cleanConfidences = confidences("clean_confidences")
        adversarialConfidences = confidences("adversarial_confidences")
        metadata = file.metadata
    }

    /// The class names of the dataset named in the metadata (digits when unknown).
    public var classNames: [String] {
        metadata["dataset"].flatMap(ImageDatasetName.init(rawValue:))?.classNames ?? (0..<10).map(String.init)
    }

    /// The threat model recorded in the metadata, if complete.
    public var threatModel: ThreatModel? {
        guard let normName = metadata["norm"], let norm = Norm(rawValue: normName),
              let epsilonText = metadata["epsilon"], let epsilon = Float(epsilonText) else { return nil }
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
