import BulwarkAttacks
import BulwarkData
import BulwarkNN
import BulwarkReport

extension AdversarialExampleFile {
    /// Verifies the file at `path` against the checkpoint `model` (of `architecture` when the
    /// checkpoint does not say) and the dataset the examples came from, as a challenge
    /// harness would (see ``verify(path:against:inputShape:dataset:threatModel:)``). The
    /// dataset, split, directory, norm and ε default to the ones the file records; a norm or
    /// ε given replaces the recorded one.
    ///
    /// - Returns: The result, with the dataset and split checked against.
    /// - Throws: ``ConfigurationError`` naming `dataset` when neither it nor the file names
    ///   the dataset; the reading and verification errors.
    public static func verify(
        path: String, model: String, architecture: Architecture? = nil, dataset: ImageDatasetName? = nil,
        split: DatasetSplit? = nil, dataDirectory: String? = nil, norm: Norm? = nil, epsilon: Float? = nil
    ) throws -> (result: AdversarialExampleVerification, dataset: ImageDatasetName, split: DatasetSplit) {
        let examples = try AdversarialExampleFile(contentsOf: path)
        let recorded = examples.threatModel
        let threatModel: ThreatModel? = (epsilon == nil && norm == nil) ? recorded
            : (epsilon ?? recorded?.epsilon).map { ThreatModel(norm: norm ?? recorded?.norm ?? .lInfinity, epsilon: $0) }
        let (network, loadedArchitecture, _) = try Checkpoint.load(from: model, architecture: architecture)
        guard let datasetName = dataset ?? examples.metadata["dataset"].flatMap(ImageDatasetName.init(rawValue:)) else {
            throw ConfigurationError("\(path) does not record its dataset; pass `dataset` and `dataDirectory`")
        }
        let splitName = split ?? examples.metadata["split"].flatMap(DatasetSplit.init(rawValue:)) ?? .test
        let data = try ImageDataset.load(datasetName, split: splitName, directory: dataDirectory ?? examples.metadata["data_dir"])
        let result = try examples.verify(path: path, against: network, inputShape: loadedArchitecture.inputShape, dataset: data,
                                         threatModel: threatModel)
        return (result, datasetName, splitName)
    }
}
