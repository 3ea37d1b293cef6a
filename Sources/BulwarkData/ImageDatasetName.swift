/// A built-in image dataset stored as MNIST-format IDX files.
///
/// Every named dataset is a directory holding `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each
/// optionally gzipped (`.gz`), with `.idx3-ubyte` / `.idx1-ubyte` also accepted after a dot
/// (`train-images.idx3-ubyte`). The raw value is the name used on the command line.
public enum ImageDatasetName: String, Sendable, CaseIterable, Codable {
    /// Fashion-MNIST (Xiao, Rasul and Vollgraf 2017): 28 × 28 grayscale photos of clothing in
    /// 10 classes, 60,000 training and 10,000 test images. Found by default in
    /// `/usr/share/datasets/fashion-mnist` (Debian package `dataset-fashion-mnist`).
    case fashionMNIST = "fashion-mnist"
    /// MNIST (LeCun, Bottou, Bengio and Haffner 1998): 28 × 28 handwritten digits, 10 classes,
    /// 60,000 training and 10,000 test images. Has no default location.
    case mnist
    /// Any dataset in MNIST's IDX layout with uint8 images and up to 10 classes named `0`…`9`
    /// (for more classes use ``ImageDataset/loadIDX(images:labels:classCount:classNames:)``).
    /// Has no default location.
    case idx

    /// The human-readable name, as papers spell it.
    public var displayName: String {
        switch self {
        case .fashionMNIST: return "Fashion-MNIST"
        case .mnist: return "MNIST"
        case .idx: return "IDX dataset"
        }
    }

    /// The number of classes labels range over: labels lie in `0..<classCount`.
    public var classCount: Int { 10 }

    /// The name of each class, indexed by label.
    public var classNames: [String] {
        switch self {
        case .fashionMNIST:
            return [
                "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
            ]
        case .mnist, .idx:
            return (0..<10).map(String.init)
        }
    }

    /// The directory searched when none is given, or `nil` if the dataset has none.
    public var defaultDirectory: String? {
        switch self {
        case .fashionMNIST: return "/usr/share/datasets/fashion-mnist"
        case .mnist, .idx: return nil
        }
    }

    /// The four files a dataset directory must contain, for error messages.
    static let expectedFilesSummary =
        "train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), "
        + "t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz)"

    /// How to make the dataset available, for error messages.
    var installationAdvice: String {
        let directoryAdvice = "pass --data-dir DIR containing \(Self.expectedFilesSummary)"
        switch self {
        case .fashionMNIST:
            return "install the Debian package dataset-fashion-mnist or " + directoryAdvice
        case .mnist, .idx:
            return directoryAdvice
        }
    }
}
