import BulwarkAttacks
import BulwarkData
import BulwarkNN
import Foundation

/// Which image dataset to read and where from; unset fields take the dataset a checkpoint was
/// trained on (see ``matching(checkpointMetadata:)``), else Fashion-MNIST at its default
/// location.
public struct ImageDataSelection: Sendable, Codable, Equatable {
    /// The dataset, when chosen.
    public var dataset: ImageDatasetName?
    /// The directory of its files, when chosen.
    public var dataDirectory: String?

    /// A selection of `dataset` in `dataDirectory`; leave either unset for the default.
    public init(dataset: ImageDatasetName? = nil, dataDirectory: String? = nil) {
        self.dataset = dataset
        self.dataDirectory = dataDirectory
    }

    /// The dataset chosen, or Fashion-MNIST.
    public var resolvedDataset: ImageDatasetName { dataset ?? .fashionMNIST }

    /// This selection for evaluating a checkpoint whose metadata is `metadata`: without a
    /// dataset, the one the model was trained on (and without a directory, the directory it
    /// was trained from, if it still exists), so that a model trained on MNIST is not
    /// silently evaluated on Fashion-MNIST. A dataset chosen that differs from the recorded
    /// one is kept, with a note (naming the `dataset` field) to pass on.
    public func matching(checkpointMetadata metadata: [String: String]) -> (selection: ImageDataSelection, note: ConfigurationError?) {
        guard let configuration = trainingConfiguration(in: metadata),
              let recorded = configuration["dataset"].flatMap(ImageDatasetName.init(rawValue:))
        else { return (self, nil) }
        if let dataset {
            guard dataset != recorded else { return (self, nil) }
            return (self, ConfigurationError(
                "the model was trained on \(recorded.rawValue); evaluating it on \(dataset.rawValue) as `dataset` asks"))
        }
        var selection = self
        selection.dataset = recorded
        if dataDirectory == nil, let directory = configuration["data_dir"], FileManager.default.fileExists(atPath: directory) {
            selection.dataDirectory = directory
        }
        return (selection, nil)
    }

    /// The split, or only its first `limit` examples (a gzipped file is inflated no further
    /// than they end).
    public func load(_ split: DatasetSplit, limit: Int? = nil) throws -> ImageDataset {
        try ImageDataset.load(resolvedDataset, split: split, directory: dataDirectory, limit: limit)
    }

    /// The first `count` examples of `split` to evaluate `network`, a checkpoint of
    /// `architecture`, on, refused unless the images fit the architecture and the model scores
    /// every label. Take the selection from ``matching(checkpointMetadata:)`` first, so that a
    /// model is evaluated on the dataset it was trained on.
    ///
    /// - Throws: ``ConfigurationError`` when the images do not fit the architecture,
    ///   `EvaluationError` for labels the model cannot score, or the dataset's reading error.
    public func evaluationData<Model: Layer>(
        _ split: DatasetSplit, count: Int, for network: Model, architecture: Architecture
    ) throws -> ImageDataset {
        let dataset = try load(split, limit: count)
        try requireShape(of: dataset, fitting: architecture)
        try requireLabels(dataset.labels, fit: network, inputShape: architecture.inputShape, dataClassCount: dataset.classCount)
        return dataset
    }

    /// Throws unless `images` fit `architecture`'s input, naming both and the fix.
    public func requireShape(of images: ImageDataset, fitting architecture: Architecture) throws(ConfigurationError) {
        guard images.imageShape == architecture.inputShape else {
            let fitting = Architecture.allCases.filter { $0.inputShape == images.imageShape }.map(\.rawValue)
            let advice = fitting.isEmpty ? "" : " Architectures for these images: \(fitting.joined(separator: ", "))."
            throw ConfigurationError(
                "The \(resolvedDataset.rawValue) images have shape \(images.imageShape) but '\(architecture.rawValue)' expects \(architecture.inputShape).\(advice)")
        }
    }
}

/// The training configuration `bulwark train` records in a checkpoint's metadata (every
/// option as text), or `nil` when the checkpoint has none.
public func trainingConfiguration(in metadata: [String: String]) -> [String: String]? {
    metadata["configuration"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
}
