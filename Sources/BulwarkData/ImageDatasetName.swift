import Foundation

/// A built-in image dataset: MNIST-format IDX files or the CIFAR-10 binary format.
///
/// An IDX dataset is a directory holding `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each optionally gzipped (`.gz`), with
/// `.idx3-ubyte` / `.idx1-ubyte` also accepted after a dot (`train-images.idx3-ubyte`).
/// CIFAR-10 is a directory holding `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`
/// (see ``ImageDataset/loadCIFAR10(batches:)``). The raw value is the name used on the
/// command line.
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
    /// CIFAR-10 (Krizhevsky 2009, "Learning multiple layers of features from tiny images"):
    /// 32 × 32 colour photos in 10 classes, 50,000 training and 10,000 test images, in its
    /// binary version (`cifar-10-binary.tar.gz`). Found by default in `~/.cache/bulwark/cifar-10`
    /// (see ``defaultDirectory``); not downloaded by Bulwark.
    case cifar10

    /// The human-readable name, as papers spell it.
    public var displayName: String {
        switch self {
        case .fashionMNIST: return "Fashion-MNIST"
        case .mnist: return "MNIST"
        case .idx: return "IDX dataset"
        case .cifar10: return "CIFAR-10"
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
        case .cifar10:
            // The order of `batches.meta.txt` in the binary archive.
            return [
                "airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck",
            ]
        }
    }

    /// The directory searched when none is given, or `nil` if the dataset has none.
    ///
    /// Fashion-MNIST: `/usr/share/datasets/fashion-mnist`, where its Debian package installs it.
    /// CIFAR-10: `~/.cache/bulwark/cifar-10` (the user's home directory), a place a user can
    /// write without root; its files may lie there or in the `cifar-10-batches-bin` folder
    /// that extracting the archive there creates.
    public var defaultDirectory: String? {
        switch self {
        case .fashionMNIST: return "/usr/share/datasets/fashion-mnist"
        case .cifar10:
            return FileManager.default.homeDirectoryForCurrentUser
                .appendingPathComponent(".cache/bulwark/cifar-10").path
        case .mnist, .idx: return nil
        }
    }

    /// Where the CIFAR-10 binary archive can be downloaded.
    public static let cifar10DownloadURL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"

    /// The folder that extracting the CIFAR-10 binary archive creates; a CIFAR-10 directory may
    /// hold the files directly or inside this folder.
    public static let cifar10ArchiveFolder = "cifar-10-batches-bin"

    /// The base names of the files of a split: IDX stems (each may end in `.gz`) or CIFAR-10
    /// batch files.
    func fileNames(for split: DatasetSplit) -> [String] {
        switch (self, split) {
        case (.cifar10, .train): return (1...5).map { "data_batch_\($0).bin" }
        case (.cifar10, .test): return ["test_batch.bin"]
        case (_, .train): return ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
        case (_, .test): return ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
        }
    }

    /// The four files a dataset directory must contain, for error messages.
    static let expectedFilesSummary =
        "train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), "
        + "t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz)"

    /// How to make the dataset available, for error messages.
    var installationAdvice: String {
        let directoryAdvice = "pass `dataDirectory` DIR containing \(Self.expectedFilesSummary)"
        switch self {
        case .fashionMNIST:
            return "install the Debian package dataset-fashion-mnist or " + directoryAdvice
        case .mnist, .idx:
            return directoryAdvice
        case .cifar10:
            let home = defaultDirectory ?? "~/.cache/bulwark/cifar-10"
            return "download the binary version of CIFAR-10 (\(Self.cifar10DownloadURL); "
                + "not the Python or MATLAB version) and extract it into \(home) "
                + "(mkdir -p \(home) && tar -xzf cifar-10-binary.tar.gz -C \(home)), "
                + "or pass `dataDirectory` DIR holding data_batch_1.bin … data_batch_5.bin and test_batch.bin "
                + "(DIR may also be the folder that holds \(Self.cifar10ArchiveFolder))"
        }
    }
}
