import BulwarkCore

/// A minibatch: a tensor of inputs and the label of each.
public struct Batch: Sendable {
    /// The inputs; the first dimension indexes examples (`[count, channels, height, width]`
    /// for images).
    public var inputs: Tensor
    /// The label of each example, in the same order as ``inputs``.
    public var labels: [Int32]

    /// The number of examples.
    public var count: Int { labels.count }

    /// Creates a batch.
    ///
    /// - Precondition: `inputs.shape.first == labels.count`.
    public init(inputs: Tensor, labels: [Int32]) {
        precondition(
            inputs.shape.first == labels.count,
            "Batch has inputs of shape \(inputs.shape) but \(labels.count) labels")
        self.inputs = inputs
        self.labels = labels
    }
}
