/// Which part of a dataset to load: the training examples or the held-out test examples.
public enum DatasetSplit: String, Sendable, CaseIterable, Codable {
    /// The training examples (MNIST-format files named `train-…`).
    case train
    /// The held-out test examples (MNIST-format files named `t10k-…`).
    case test
}
