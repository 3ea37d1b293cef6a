import BulwarkAttacks
import BulwarkData
import BulwarkNN
import BulwarkONNX
import BulwarkReport
import Foundation

extension AdversarialExampleFile {
    /// Verifies the file at `path` against the model `model` selects (a checkpoint or an ONNX
    /// classifier) and the data the examples came from, as a challenge harness would (see
    /// ``verify(path:against:inputShape:dataset:threatModel:)``). The data (the user's file or
    /// folder at `dataPath`, else the built-in `dataset` in `dataDirectory`), split, norm and ε
    /// default to the ones the file records; a norm or ε given replaces the recorded one.
    ///
    /// - Returns: The result, with the name of the data and the split checked against.
    /// - Throws: ``ConfigurationError`` naming `dataset` when neither it, `dataPath` nor the
    ///   file names the data, or when `dataset` and `dataPath` are both given; the reading
    ///   and verification errors.
    public static func verify(
        path: String, model: ModelSelection, dataset: ImageDatasetName? = nil, dataPath: String? = nil,
        split: DatasetSplit? = nil, dataDirectory: String? = nil, norm: Norm? = nil, epsilon: Float? = nil
    ) throws -> (result: AdversarialExampleVerification, dataName: String, split: DatasetSplit) {
        let examples = try AdversarialExampleFile(contentsOf: path)
        let recorded = examples.threatModel
        let threatModel: ThreatModel? = (epsilon == nil && norm == nil) ? recorded
            : (epsilon ?? recorded?.epsilon).map { ThreatModel(norm: norm ?? recorded?.norm ?? .lInfinity, epsilon: $0) }
        // An ONNX file is fed as the attack fed it unless told otherwise.
        var model = model
        let sameFile = examples.metadata["model"].map { URL(fileURLWithPath: $0).standardizedFileURL == URL(fileURLWithPath: model.path).standardizedFileURL }
        if ImageClassifier.isONNX(model.path), sameFile == true {
            let recorded = examples.metadata
            model.mean = model.mean ?? recorded["onnx_mean"]
            model.standardDeviation = model.standardDeviation ?? recorded["onnx_std"]
            model.layout = model.layout ?? recorded["onnx_layout"].flatMap(ONNXInputContract.Layout.init(rawValue:))
            model.inputName = model.inputName ?? recorded["onnx_input_name"]
        }
        let (classifier, _) = try model.load()
        let splitName = split ?? examples.metadata["split"].flatMap(DatasetSplit.init(rawValue:)) ?? .test
        let selection = try examples.dataSelection(path: path, dataset: dataset, dataPath: dataPath, dataDirectory: dataDirectory)
        let data = try selection.load(splitName)
        let result = try examples.verify(path: path, against: classifier, inputShape: classifier.inputShape, dataset: data,
                                         threatModel: threatModel)
        return (result, selection.dataName, splitName)
    }

    /// The data the examples came from: what is given, else what the file records (the
    /// user's data path and its layout, or the built-in dataset and its directory).
    private func dataSelection(
        path: String, dataset: ImageDatasetName?, dataPath: String?, dataDirectory: String?
    ) throws(ConfigurationError) -> ImageDataSelection {
        if dataset != nil, dataPath != nil {
            throw ConfigurationError("`dataset` \(dataset!.rawValue) and `dataPath` both choose the data; set only one")
        }
        let recordedPath = dataset == nil ? metadata["data_path"] : nil
        if let chosenPath = dataPath ?? recordedPath {
            // The recorded layout holds for the recorded file, also when it is named again.
            let isRecordedFile = dataPath.map { absolutePath($0) == metadata["data_path"] } ?? true
            let layout = isRecordedFile ? metadata["image_layout"].flatMap(ImageLayout.init(rawValue:)) : nil
            return ImageDataSelection(dataPath: chosenPath, imageLayout: layout)
        }
        guard let name = dataset ?? metadata["dataset"].flatMap(ImageDatasetName.init(rawValue:)) else {
            throw ConfigurationError("\(path) does not record its dataset; pass `dataset` and `dataDirectory`, or `dataPath`")
        }
        return ImageDataSelection(dataset: name, dataDirectory: dataDirectory ?? metadata["data_dir"])
    }
}
