import BulwarkAttacks
import BulwarkData
import BulwarkNN
import BulwarkONNX

extension RunRecord {
    /// Adds ``generatedExamples(count:dataDirectory:)`` to ``exampleFiles`` when the run holds
    /// no adversarial examples, so that its report shows some.
    public mutating func addGeneratedExamplesIfNone(count: Int, dataDirectory: String?) {
        guard exampleFiles.isEmpty, let generated = generatedExamples(count: count, dataDirectory: dataDirectory) else { return }
        exampleFiles.append(("(attacked while building this report)", generated))
    }

    /// PGD-20 examples (Madry et al.'s 2.5ε/20 step) of the first `count` test images against
    /// the run's model, at the run's training ε (else its first evaluation's, else 0.1) in its
    /// norm, for a report of a run that holds none; `nil` when the run has no model, its
    /// dataset is not in `dataDirectory` (or the default location), or the images do not fit
    /// the model.
    public func generatedExamples(count: Int, dataDirectory: String?) -> AdversarialExampleFile? {
        guard let modelPath, let datasetName = configuration["dataset"].flatMap(ImageDatasetName.init(rawValue:)),
              let (network, _) = try? ImageClassifier.load(from: modelPath),
              let dataset = try? ImageDataset.load(datasetName, split: .test, directory: dataDirectory, limit: count)
        else { return nil }
        guard Array(dataset.images.shape.dropFirst()) == network.inputShape,
              (try? requireLabels(dataset.labels, fit: network, inputShape: network.inputShape)) != nil
        else { return nil }
        let evaluated = evaluations.first?.record
        let norm = (configuration["norm"] ?? evaluated?.norm).flatMap(Norm.init(rawValue:)) ?? .lInfinity
        let trained = configuration["epsilon"].flatMap(Float.init)
        let usable: (Float) -> Float? = { $0 > 0 && $0.isFinite ? $0 : nil }
        let epsilon = trained.flatMap(usable) ?? evaluated.flatMap { usable($0.epsilon) } ?? 0.1
        let pgd = PGD(threatModel: ThreatModel(norm: norm, epsilon: epsilon), steps: 20, stepSize: 2.5 * epsilon / 20)
        return AdversarialExampleFile(
            attacking: dataset, with: pgd, against: network, seed: 0,
            metadata: ["attack": "pgd-20", "norm": norm.rawValue, "epsilon": String(epsilon), "seed": "0",
                       "model": modelPath, "dataset": datasetName.rawValue, "split": "test"])
    }
}
