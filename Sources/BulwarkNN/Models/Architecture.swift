import BulwarkCore

/// The built-in image classifiers: for 1×28×28 inputs (MNIST, Fashion-MNIST) and for 3×32×32
/// inputs (CIFAR-10), with 10 classes by default. ``inputShape`` tells which.
///
/// Each is a ``Sequential`` whose parameter paths and layouts equal the `state_dict` of the
/// PyTorch module given in the case's documentation (ReLU, pooling, dropout and flatten count
/// as layers of an `nn.Sequential`, so the indices match), so checkpoints move both ways
/// between Bulwark and PyTorch.
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
    /// The MNIST network of TRADES (Zhang et al. 2019, "Theoretically principled trade-off
    /// between robustness and accuracy"; `SmallCNN` in the authors' code, itself Carlini and
    /// Wagner's 2017 MNIST model), 1×28×28 inputs:
    /// ```python
    /// class SmallCNN(nn.Module):  # forward: classifier(feature_extractor(x).view(-1, 64 * 4 * 4))
    ///     feature_extractor = nn.Sequential(OrderedDict([
    ///         ('conv1', nn.Conv2d(1, 32, 3)), ('relu1', nn.ReLU()),
    ///         ('conv2', nn.Conv2d(32, 32, 3)), ('relu2', nn.ReLU()), ('maxpool1', nn.MaxPool2d(2, 2)),
    ///         ('conv3', nn.Conv2d(32, 64, 3)), ('relu3', nn.ReLU()),
    ///         ('conv4', nn.Conv2d(64, 64, 3)), ('relu4', nn.ReLU()), ('maxpool2', nn.MaxPool2d(2, 2))]))
    ///     classifier = nn.Sequential(OrderedDict([
    ///         ('fc1', nn.Linear(64 * 4 * 4, 200)), ('relu1', nn.ReLU()), ('drop', nn.Dropout(0.5)),
    ///         ('fc2', nn.Linear(200, 200)), ('relu2', nn.ReLU()), ('fc3', nn.Linear(200, 10))]))
    /// ```
    /// Paths `feature_extractor.conv1.weight` … `classifier.fc3.bias`. Initialized as that code
    /// does: convolution weights Kaiming-normal (standard deviation `√(2 / fan-in)`) with zero
    /// biases, `fc3` all zeros, `fc1` and `fc2` PyTorch's default. The dropout masks come from
    /// a seed drawn from the initialization generator.
    case tradesCNN = "trades-cnn"
    /// The CIFAR-10 network of Carlini and Wagner 2017 ("Towards evaluating the robustness of
    /// neural networks", Table 1; `train_models.py` of their code, after Papernot et al. 2016),
    /// unpadded 3 × 3 convolutions, 3×32×32 inputs in `[0, 1]`:
    /// ```python
    /// nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
    ///               nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Conv2d(128, 128, 3), nn.ReLU(), nn.MaxPool2d(2),
    ///               nn.Flatten(), nn.Linear(3200, 256), nn.ReLU(), nn.Dropout(0.5),
    ///               nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    /// ```
    /// PyTorch's default initialization; the dropout masks come from a seed drawn from the
    /// initialization generator.
    case cifarCNN = "cifar-cnn"
    /// PreAct-ResNet-18 (He, Zhang, Ren and Sun 2016, "Identity mappings in deep residual
    /// networks"), the CIFAR-10 model of Wong, Rice and Kolter 2020 ("Fast is better than
    /// free") and Rice, Wong and Kolter 2020 ("Overfitting in adversarially robust deep
    /// learning"), 3×32×32 inputs in `[0, 1]`: a 3 × 3 convolution to 64 channels, four stages
    /// of two ``PreActivationBlock``s (64, 128, 256 and 512 channels, strides 1, 2, 2, 2),
    /// batch normalization and ReLU, 4 × 4 average pooling (global on the 4 × 4 maps) and a
    /// linear layer. Their code's `PreActResNet` (`kuangliu/pytorch-cifar`'s):
    /// ```python
    /// class PreActResNet(nn.Module):
    ///     conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    ///     layer1 = nn.Sequential(PreActBlock(64, 64, 1), PreActBlock(64, 64, 1))
    ///     layer2 = nn.Sequential(PreActBlock(64, 128, 2), PreActBlock(128, 128, 1))
    ///     layer3 = nn.Sequential(PreActBlock(128, 256, 2), PreActBlock(256, 256, 1))
    ///     layer4 = nn.Sequential(PreActBlock(256, 512, 2), PreActBlock(512, 512, 1))
    ///     bn = nn.BatchNorm2d(512)
    ///     linear = nn.Linear(512, 10)
    ///     # forward: linear(avg_pool2d(relu(bn(layer4(…layer1(conv1(x))))), 4).view(n, -1))
    /// ```
    /// Paths `conv1.weight`, `layer1.0.bn1.weight`, …, `layer2.0.shortcut.0.weight`, …,
    /// `bn.running_var`, `linear.bias`. That code standardizes inputs outside the model with
    /// CIFAR-10's channel means (0.4914, 0.4822, 0.4465) and deviations (0.2471, 0.2435,
    /// 0.2616); here a ``Normalize`` layer with those constants comes first (it has no
    /// parameters, so the `state_dict` is unchanged): the model takes `[0, 1]` pixels like
    /// every built-in architecture, and a `state_dict` saved by that code gets the standardized
    /// inputs it was trained on. 11,172,170 parameters for 10 classes.
    case preactResNet18 = "preact-resnet18"

    /// The input shape of one example, `[channels, height, width]`.
    public var inputShape: [Int] {
        switch self {
        case .mlp, .lenet, .smallcnn, .fastcnn, .tradesCNN: return [1, 28, 28]
        case .cifarCNN, .preactResNet18: return [3, 32, 32]
        }
    }

    /// The CIFAR-10 channel means and standard deviations of Wong et al.'s code, for
    /// ``preactResNet18``'s ``Normalize`` layer.
    public static let cifar10Mean: [Float] = [0.4914, 0.4822, 0.4465]
    /// See ``cifar10Mean``.
    public static let cifar10StandardDeviation: [Float] = [0.2471, 0.2435, 0.2616]

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
            return Self.pooledCNN(channels: (16, 32), kernelSize: 3, hiddenSize: 100, classCount: classCount, using: &generator)
        case .smallcnn:
            return Self.pooledCNN(channels: (32, 64), kernelSize: 5, hiddenSize: 1024, classCount: classCount, using: &generator)
        case .fastcnn:
            return Sequential([
                Conv2D(inputChannels: 1, outputChannels: 16, kernelSize: 4, stride: 2, padding: 1, using: &generator), ReLU(),
                Conv2D(inputChannels: 16, outputChannels: 32, kernelSize: 4, stride: 2, padding: 1, using: &generator), ReLU(),
                Flatten(),
                Linear(inputSize: 1568, outputSize: 100, using: &generator), ReLU(),
                Linear(inputSize: 100, outputSize: classCount, using: &generator),
            ])
        case .tradesCNN:
            func convolution(_ input: Int, _ output: Int) -> Conv2D {
                var layer = Conv2D(inputChannels: input, outputChannels: output, kernelSize: 3, using: &generator)
                layer.weight = Tensor(
                    randomNormal: layer.weight.shape, standardDeviation: (2 / Float(input * 9)).squareRoot(), using: &generator)
                layer.bias = Tensor(zeros: [output])
                return layer
            }
            let features = Sequential(named: [
                "conv1": convolution(1, 32), "relu1": ReLU(),
                "conv2": convolution(32, 32), "relu2": ReLU(), "maxpool1": MaxPool2D(kernelSize: 2),
                "conv3": convolution(32, 64), "relu3": ReLU(),
                "conv4": convolution(64, 64), "relu4": ReLU(), "maxpool2": MaxPool2D(kernelSize: 2),
            ])
            let fc1 = Linear(inputSize: 64 * 4 * 4, outputSize: 200, using: &generator)
            let dropout = Dropout(probability: 0.5, seed: generator.next())
            let fc2 = Linear(inputSize: 200, outputSize: 200, using: &generator)
            let classifier = Sequential(named: [
                "fc1": fc1, "relu1": ReLU(), "drop": dropout, "fc2": fc2, "relu2": ReLU(),
                "fc3": Linear(weight: Tensor(zeros: [classCount, 200]), bias: Tensor(zeros: [classCount])),
            ])
            return Sequential(named: ["feature_extractor": features, "flatten": Flatten(), "classifier": classifier])
        case .cifarCNN:
            return Sequential([
                Conv2D(inputChannels: 3, outputChannels: 64, kernelSize: 3, using: &generator), ReLU(),
                Conv2D(inputChannels: 64, outputChannels: 64, kernelSize: 3, using: &generator), ReLU(), MaxPool2D(kernelSize: 2),
                Conv2D(inputChannels: 64, outputChannels: 128, kernelSize: 3, using: &generator), ReLU(),
                Conv2D(inputChannels: 128, outputChannels: 128, kernelSize: 3, using: &generator), ReLU(), MaxPool2D(kernelSize: 2),
                Flatten(),
                Linear(inputSize: 3200, outputSize: 256, using: &generator), ReLU(),
                Dropout(probability: 0.5, seed: generator.next()),
                Linear(inputSize: 256, outputSize: 256, using: &generator), ReLU(),
                Linear(inputSize: 256, outputSize: classCount, using: &generator),
            ])
        case .preactResNet18:
            let conv1 = Conv2D(inputChannels: 3, outputChannels: 64, kernelSize: 3, padding: 1, hasBias: false, using: &generator)
            var stages = [Sequential]()
            var channels = 64
            for (width, stride) in [(64, 1), (128, 2), (256, 2), (512, 2)] {
                let first = PreActivationBlock(inputChannels: channels, outputChannels: width, stride: stride, using: &generator)
                let second = PreActivationBlock(inputChannels: width, outputChannels: width, using: &generator)
                stages.append(Sequential([first, second]))
                channels = width
            }
            return Sequential(named: [
                "normalize": Normalize(mean: Self.cifar10Mean, standardDeviation: Self.cifar10StandardDeviation),
                "conv1": conv1,
                "layer1": stages[0], "layer2": stages[1], "layer3": stages[2], "layer4": stages[3],
                "bn": BatchNorm2D(channels: 512), "relu": ReLU(), "pool": AvgPool2D(kernelSize: 4), "flatten": Flatten(),
                "linear": Linear(inputSize: 512, outputSize: classCount, using: &generator),
            ])
        }
    }

    /// LeNet's and SmallCNN's shape on a 28×28 grey image: two blocks of a same-size
    /// convolution, ReLU and 2×2 max pooling, then one hidden layer of `hiddenSize`.
    private static func pooledCNN<G: RandomNumberGenerator>(
        channels: (Int, Int), kernelSize: Int, hiddenSize: Int, classCount: Int, using generator: inout G
    ) -> Sequential {
        let padding = kernelSize / 2
        return Sequential([
            Conv2D(inputChannels: 1, outputChannels: channels.0, kernelSize: kernelSize, padding: padding, using: &generator),
            ReLU(), MaxPool2D(kernelSize: 2),
            Conv2D(inputChannels: channels.0, outputChannels: channels.1, kernelSize: kernelSize, padding: padding, using: &generator),
            ReLU(), MaxPool2D(kernelSize: 2),
            Flatten(),
            Linear(inputSize: channels.1 * 7 * 7, outputSize: hiddenSize, using: &generator), ReLU(),
            Linear(inputSize: hiddenSize, outputSize: classCount, using: &generator),
        ])
    }
}
