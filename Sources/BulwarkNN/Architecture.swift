import BulwarkCore

/// The built-in image classifiers for 1×28×28 inputs (MNIST, Fashion-MNIST) with 10 classes.
///
/// Each is a ``Sequential`` whose parameter paths and layouts equal the `state_dict` of the
/// PyTorch `nn.Sequential` given in the case's documentation (ReLU, pooling and flatten count
/// as layers, so the indices match), so checkpoints move both ways between Bulwark and
/// PyTorch.
public enum Architecture: String, Sendable, CaseIterable, Codable {
    /// A multilayer perceptron 784-256-256-10:
    /// ```python
    /// nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),
    ///               nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    /// ```
    case mlp
    /// A LeNet-style network:
    /// ```python
    /// nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    ///               nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    ///               nn.Flatten(), nn.Linear(1568, 100), nn.ReLU(), nn.Linear(100, 10))
    /// ```
    case lenet
    /// The MNIST network of Madry et al. 2018 ("Towards deep learning models resistant to
    /// adversarial attacks"):
    /// ```python
    /// nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
    ///               nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
    ///               nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Linear(1024, 10))
    /// ```
    case smallcnn
    /// The MNIST network of Fast-AT (Wong, Rice and Kolter 2020, "Fast is better than free"):
    /// ```python
    /// nn.Sequential(nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.ReLU(),
    ///               nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.ReLU(),
    ///               nn.Flatten(), nn.Linear(1568, 100), nn.ReLU(), nn.Linear(100, 10))
    /// ```
    case fastcnn

    /// The input shape of one example, `[channels, height, width]`.
    public var inputShape: [Int] { [1, 28, 28] }

    /// A freshly initialized model (PyTorch's default initialization) drawn from `generator`.
    public func makeModel<G: RandomNumberGenerator>(classCount: Int = 10, using generator: inout G) -> Sequential {
        switch self {
        case .mlp:
            return Sequential([
                Flatten(),
                Linear(inputSize: 784, outputSize: 256, using: &generator), ReLU(),
                Linear(inputSize: 256, outputSize: 256, using: &generator), ReLU(),
                Linear(inputSize: 256, outputSize: classCount, using: &generator),
            ])
        case .lenet:
            return Sequential([
                Conv2D(inputChannels: 1, outputChannels: 16, kernelSize: 3, padding: 1, using: &generator), ReLU(), MaxPool2D(kernelSize: 2),
                Conv2D(inputChannels: 16, outputChannels: 32, kernelSize: 3, padding: 1, using: &generator), ReLU(), MaxPool2D(kernelSize: 2),
                Flatten(),
                Linear(inputSize: 1568, outputSize: 100, using: &generator), ReLU(),
                Linear(inputSize: 100, outputSize: classCount, using: &generator),
            ])
        case .smallcnn:
            return Sequential([
                Conv2D(inputChannels: 1, outputChannels: 32, kernelSize: 5, padding: 2, using: &generator), ReLU(), MaxPool2D(kernelSize: 2),
                Conv2D(inputChannels: 32, outputChannels: 64, kernelSize: 5, padding: 2, using: &generator), ReLU(), MaxPool2D(kernelSize: 2),
                Flatten(),
                Linear(inputSize: 3136, outputSize: 1024, using: &generator), ReLU(),
                Linear(inputSize: 1024, outputSize: classCount, using: &generator),
            ])
        case .fastcnn:
            return Sequential([
                Conv2D(inputChannels: 1, outputChannels: 16, kernelSize: 4, stride: 2, padding: 1, using: &generator), ReLU(),
                Conv2D(inputChannels: 16, outputChannels: 32, kernelSize: 4, stride: 2, padding: 1, using: &generator), ReLU(),
                Flatten(),
                Linear(inputSize: 1568, outputSize: 100, using: &generator), ReLU(),
                Linear(inputSize: 100, outputSize: classCount, using: &generator),
            ])
        }
    }
}
