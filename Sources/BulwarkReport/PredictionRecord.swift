import BulwarkCore
import BulwarkData
import BulwarkNN

/// A model's logits and predicted classes on labelled examples: the JSON `bulwark predict`
/// writes (`{"logits": [[…]], "predictions": […], "labels": […]}`), to compare a checkpoint's
/// behaviour in Bulwark and in PyTorch.
public struct PredictionRecord: Sendable, Codable, Equatable {
    /// Per example, the logit of every class.
    public var logits: [[Float]]
    /// Per example, the class of the largest logit.
    public var predictions: [Int32]
    /// The true labels.
    public var labels: [Int32]
    /// The absolute path of the user's data the examples came from, when they did not come
    /// from a built-in dataset.
    public var dataPath: String?

    enum CodingKeys: String, CodingKey {
        case logits, predictions, labels, dataPath = "data_path"
    }
    /// The fraction of the predictions that equal the labels.
    public var accuracy: Float {
        guard !labels.isEmpty else { return 0 }
        return Float(zip(predictions, labels).filter { $0 == $1 }.count) / Float(labels.count)
    }

    /// A logit that is NaN or infinite, which JSON cannot hold.
    public struct NonFiniteLogit: Error, Sendable, Equatable {
        /// The example it belongs to.
        public var example: Int
        /// Its value.
        public var value: Float
    }

    /// `model`'s logits and predictions on `dataset`.
    ///
    /// - Throws: ``NonFiniteLogit`` for the first logit that is not a finite number, rather
    ///   than a record that JSON could not hold.
    public init<Model: Layer>(model: Model, on dataset: ImageDataset) throws(NonFiniteLogit) {
        let output = model.applied(to: dataset.images)
        let width = output.shape[1]
        if let index = output.array.firstIndex(where: { !$0.isFinite }) {
            throw NonFiniteLogit(example: index / width, value: output.array[index])
        }
        logits = (0..<dataset.count).map { Array(output.array[($0 * width)..<(($0 + 1) * width)]) }
        predictions = BulwarkNN.predictions(output)
        labels = dataset.labels
    }

    /// The line on the predictions written to `file`: the accuracy, naming `dataName` when
    /// the examples are the user's data (``dataPath`` set).
    public func summaryLine(dataName: String, file: String) -> String {
        let source = dataPath == nil ? "" : " of \(dataName)"
        return "accuracy \(EvaluationSummary.percent(accuracy)) on \(labels.count) examples\(source); logits in \(file)"
    }
}
