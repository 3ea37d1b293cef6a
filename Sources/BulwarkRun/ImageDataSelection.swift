import BulwarkAttacks
import BulwarkData
import BulwarkNN
import BulwarkONNX
import Foundation

/// Which image dataset to read and where from: a built-in dataset (``dataset`` in
/// ``dataDirectory``) or the user's own file or folder (``dataPath``, and ``testDataPath``
/// for a test split of its own). Unset fields take the data a checkpoint was trained on (see
/// ``matching(checkpointMetadata:)``), else Fashion-MNIST at its default location.
///
/// A data path is read by ``ImageDataset/load(path:split:layout:limit:)``: a `.npz` archive, a
/// `.npy` images file with its labels file beside it, a `.safetensors` file (also the
/// adversarial examples `bulwark attack` writes) or a folder of PNG images in one sub-folder per
/// class. A file is one split: it is read whole for whichever split is asked for, unless
/// ``testDataPath`` names the test split's. A folder with `train` and `test` sub-folders holds
/// both splits.
public struct ImageDataSelection: Sendable, Codable, Equatable {
    /// The dataset, when chosen.
    public var dataset: ImageDatasetName?
    /// The directory of its files, when chosen.
    public var dataDirectory: String?
    /// The user's file or folder of images, when chosen instead of a built-in dataset: the
    /// training split, and the test split too unless ``testDataPath`` is set.
    public var dataPath: String?
    /// The file or folder of the test split, when it is not ``dataPath``.
    public var testDataPath: String?
    /// The layout of four-dimensional image arrays in a data file; `nil` infers it
    /// (``ImageLayout/inferred(from:)``).
    public var imageLayout: ImageLayout?

    /// A selection of `dataset` in `dataDirectory`, or of the user's data at `dataPath` (and
    /// `testDataPath`); leave them unset for the default.
    public init(
        dataset: ImageDatasetName? = nil, dataDirectory: String? = nil, dataPath: String? = nil,
        testDataPath: String? = nil, imageLayout: ImageLayout? = nil
    ) {
        self.dataset = dataset
        self.dataDirectory = dataDirectory
        self.dataPath = dataPath
        self.testDataPath = testDataPath
        self.imageLayout = imageLayout
    }

    /// The dataset chosen, or Fashion-MNIST.
    public var resolvedDataset: ImageDatasetName { dataset ?? .fashionMNIST }

    /// The file or folder `split` is read from, when the data is the user's.
    public func dataPath(for split: DatasetSplit) -> String? {
        split == .test ? testDataPath ?? dataPath : dataPath
    }

    /// What `split`'s data is called in messages: the built-in dataset's name, or the last
    /// component of the path the split is read from.
    public func dataName(of split: DatasetSplit) -> String {
        dataPath(for: split).map { URL(fileURLWithPath: $0).lastPathComponent } ?? resolvedDataset.rawValue
    }

    /// Whether the test split would be read from the file the training split is: a data path
    /// that is a file (not a folder of `train` and `test` sub-folders), without a test data path.
    public var testSplitIsTrainingData: Bool {
        guard let dataPath, testDataPath == nil else { return false }
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: dataPath, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// What the data is called in messages: the built-in dataset's name, or the data path's
    /// last component.
    public var dataName: String {
        dataPath.map { URL(fileURLWithPath: $0).lastPathComponent } ?? resolvedDataset.rawValue
    }

    /// This selection for evaluating a checkpoint whose metadata is `metadata`: without a
    /// dataset or data path, the data the model was trained on (a built-in dataset, without a
    /// directory in the directory it was trained from if it still exists; or the data path and
    /// test data path it was trained from), so that a model trained on MNIST or on a file is
    /// not silently evaluated on Fashion-MNIST. Data chosen that differs from the recorded data
    /// is kept, with a note (naming the `dataset` or `dataPath` field) to pass on.
    public func matching(checkpointMetadata metadata: [String: String]) -> (selection: ImageDataSelection, note: ConfigurationError?) {
        guard let configuration = trainingConfiguration(in: metadata) else { return (self, nil) }
        let recordedPath = configuration[ManifestKey.key(of: "dataPath")]
        guard let recorded = recordedPath ?? configuration["dataset"].flatMap(ImageDatasetName.init(rawValue:))?.rawValue else {
            return (self, nil)
        }
        if let dataPath {
            guard dataPath != recordedPath else { return (self, nil) }
            return (self, ConfigurationError("the model was trained on \(recorded); evaluating it on \(dataPath) as `dataPath` asks"))
        }
        if let dataset {
            guard dataset.rawValue != recorded || recordedPath != nil else { return (self, nil) }
            return (self, ConfigurationError(
                "the model was trained on \(recorded); evaluating it on \(dataset.rawValue) as `dataset` asks"))
        }
        var selection = self
        if let recordedPath {
            selection.dataPath = recordedPath
            selection.testDataPath = configuration[ManifestKey.key(of: "testDataPath")]
            selection.imageLayout = configuration[ManifestKey.key(of: "imageLayout")].flatMap(ImageLayout.init(rawValue:))
            return (selection, nil)
        }
        selection.dataset = ImageDatasetName(rawValue: recorded)
        if dataDirectory == nil, let directory = configuration["data_dir"], FileManager.default.fileExists(atPath: directory) {
            selection.dataDirectory = directory
        }
        return (selection, nil)
    }

    /// The split, or only its first `limit` examples (a gzipped file is inflated no further
    /// than they end).
    ///
    /// - Throws: ``ConfigurationError`` when a data path is chosen together with `dataset` or
    ///   `dataDirectory`, or `testDataPath` without `dataPath`; the dataset's reading error
    ///   (``DatasetError``).
    public func load(_ split: DatasetSplit, limit: Int? = nil) throws -> ImageDataset {
        try validate()
        if let path = dataPath(for: split) {
            return try ImageDataset.load(path: path, split: split, layout: imageLayout, limit: limit)
        }
        return try ImageDataset.load(resolvedDataset, split: split, directory: dataDirectory, limit: limit)
    }

    /// Throws unless the fields chosen go together.
    public func validate() throws(ConfigurationError) {
        if dataPath != nil, let dataset {
            throw ConfigurationError("`dataset` \(dataset.rawValue) and `dataPath` both choose the data; set only one")
        }
        if dataPath != nil, dataDirectory != nil {
            throw ConfigurationError("`dataDirectory` applies to a built-in `dataset`, not to `dataPath`; leave it out")
        }
        if testDataPath != nil, dataPath == nil {
            throw ConfigurationError("`testDataPath` needs `dataPath`, the training data; set both")
        }
        if imageLayout != nil, dataPath == nil {
            throw ConfigurationError("`imageLayout` applies to the arrays of `dataPath`; set `dataPath` or leave it out")
        }
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

    /// The first `count` examples of `split` to evaluate `classifier` on, refused unless the
    /// images fit its input and it scores every label (see
    /// ``evaluationData(_:count:for:architecture:)``).
    public func evaluationData(_ split: DatasetSplit, count: Int, for classifier: ImageClassifier) throws -> ImageDataset {
        let dataset = try load(split, limit: count)
        try requireShape(of: dataset, fitting: classifier)
        try requireLabels(dataset.labels, fit: classifier, inputShape: classifier.inputShape, dataClassCount: dataset.classCount)
        return dataset
    }

    /// Throws unless `images` fit `classifier`'s input, naming both and the fix.
    public func requireShape(of images: ImageDataset, fitting classifier: ImageClassifier) throws(ConfigurationError) {
        if let architecture = classifier.architecture { return try requireShape(of: images, fitting: architecture) }
        guard images.imageShape == classifier.inputShape else {
            throw ConfigurationError(
                "The \(dataName) images have shape \(images.imageShape) but the ONNX model takes \(classifier.inputShape) (channels, height, width); choose data of that shape, or a model for these images.")
        }
    }

    /// Throws unless `images` fit `architecture`'s input, naming both and the fix.
    public func requireShape(of images: ImageDataset, fitting architecture: Architecture) throws(ConfigurationError) {
        guard images.imageShape == architecture.inputShape else {
            let fitting = Architecture.allCases.filter { $0.inputShape == images.imageShape }.map(\.rawValue)
            let advice = fitting.isEmpty ? "" : " Architectures for these images: \(fitting.joined(separator: ", "))."
            throw ConfigurationError(
                "The \(dataName) images have shape \(images.imageShape) but '\(architecture.rawValue)' expects \(architecture.inputShape).\(advice)")
        }
    }
}

/// The training configuration `bulwark train` records in a checkpoint's metadata (every
/// option as text), or `nil` when the checkpoint has none.
public func trainingConfiguration(in metadata: [String: String]) -> [String: String]? {
    metadata["configuration"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
}
