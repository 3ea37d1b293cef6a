import BulwarkCore
import BulwarkNN

/// Why examples cannot be evaluated or attacked against a model.
public enum EvaluationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The labels name classes the model does not score: a model trained on another dataset.
    case classCountMismatch(modelClassCount: Int, dataClassCount: Int, largestLabel: Int)
    /// A label is negative.
    case negativeLabel(Int)

    /// A sentence naming the problem and the fix.
    public var description: String {
        switch self {
        case let .classCountMismatch(model, data, largest):
            return "The model scores \(model) classes but the data has \(data), and its examples include label \(largest), which the model cannot predict. "
                + "Evaluate the model on the dataset it was trained on, or pass a model trained with \(data) classes."
        case let .negativeLabel(label):
            return "The data has a negative label (\(label)); labels must be class numbers 0, 1, 2, …. Check the label file."
        }
    }
}

/// The number of classes `model` scores: the width of its logits for one input of
/// `inputShape` (`[channels, height, width]`).
public func outputClassCount<Model: Layer>(of model: Model, inputShape: [Int]) -> Int {
    let logits = model.with(mode: .inference).applied(to: Tensor(zeros: [1] + inputShape))
    return logits.shape.last ?? 0
}

/// Throws unless every label is one of the `modelClassCount` classes a model scores. Call it
/// before any loss: the losses take out-of-range labels for programmer errors.
///
/// - Parameter dataClassCount: the dataset's own class count, named in the error (default one
///   more than the largest label).
public func requireLabels(
    _ labels: [Int32], withinClassCount modelClassCount: Int, dataClassCount: Int? = nil
) throws(EvaluationError) {
    if let negative = labels.first(where: { $0 < 0 }) { throw .negativeLabel(Int(negative)) }
    let largest = Int(labels.max() ?? 0)
    guard largest < modelClassCount else {
        throw .classCountMismatch(modelClassCount: modelClassCount, dataClassCount: Swift.max(dataClassCount ?? 0, largest + 1),
                                  largestLabel: largest)
    }
}

/// Throws unless `model` scores every class in `labels`; see
/// ``requireLabels(_:withinClassCount:dataClassCount:)``.
public func requireLabels<Model: Layer>(
    _ labels: [Int32], fit model: Model, inputShape: [Int], dataClassCount: Int? = nil
) throws(EvaluationError) {
    try requireLabels(labels, withinClassCount: outputClassCount(of: model, inputShape: inputShape), dataClassCount: dataClassCount)
}
