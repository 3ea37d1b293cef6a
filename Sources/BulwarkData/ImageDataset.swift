import BulwarkCore

/// Labelled images held in memory, ready to be batched.
///
/// Images are a tensor of shape `[count, channels, height, width]` (NCHW) with pixels in
/// `[0, 1]` when loaded from bytes (byte / 255); labels lie in `0..<classCount`.
/// Load one with ``load(_:split:directory:)`` or ``loadIDX(images:labels:classCount:classNames:)``,
/// take subsets with ``prefix(_:)`` and ``slice(_:)``, and iterate it with
/// ``batches(ofSize:)`` or ``batches(ofSize:shuffledUsing:)``.
public struct ImageDataset: Sendable {
    /// The images, shape `[count, channels, height, width]`; for MNIST-format data
    /// `[count, 1, 28, 28]` with pixels in `[0, 1]`.
    public var images: Tensor
    /// The class of each image, in `0..<classCount`.
    public var labels: [Int32]
    /// The number of classes.
    public var classCount: Int
    /// The name of each class, indexed by label; `classCount` entries.
    public var classNames: [String]

    /// The number of examples.
    public var count: Int { labels.count }

    /// The shape of one image, `[channels, height, width]`.
    public var imageShape: [Int] { Array(images.shape.dropFirst()) }

    /// The number of scalars in one image.
    var scalarsPerImage: Int { images.shape.dropFirst().reduce(1, *) }

    /// Creates a dataset from images and labels.
    ///
    /// - Parameters:
    ///   - images: A rank-4 tensor `[count, channels, height, width]`.
    ///   - labels: One label per image, each in `0..<classCount`.
    ///   - classCount: The number of classes, at least 1.
    ///   - classNames: `classCount` names indexed by label; `nil` names classes `"0"`, `"1"`, ….
    /// - Precondition: the shapes, counts and label ranges above hold (a programmer error
    ///   otherwise; loaders validate files and throw instead).
    public init(images: Tensor, labels: [Int32], classCount: Int, classNames: [String]? = nil) {
        precondition(images.rank == 4, "ImageDataset images need shape [count, channels, height, width], got \(images.shape)")
        precondition(
            images.shape[0] == labels.count,
            "ImageDataset has \(images.shape[0]) images but \(labels.count) labels")
        precondition(classCount > 0, "ImageDataset class count must be positive, got \(classCount)")
        precondition(
            labels.allSatisfy { $0 >= 0 && Int($0) < classCount },
            "ImageDataset labels must lie in 0..<\(classCount)")
        let names = classNames ?? (0..<classCount).map(String.init)
        precondition(
            names.count == classCount,
            "ImageDataset needs \(classCount) class names, got \(names.count)")
        self.images = images
        self.labels = labels
        self.classCount = classCount
        self.classNames = names
    }

    /// The first `maxLength` examples, or all of them if there are fewer.
    ///
    /// - Precondition: `maxLength >= 0`.
    /// - Complexity: O(*k*) in the number of scalars copied.
    public func prefix(_ maxLength: Int) -> ImageDataset {
        precondition(maxLength >= 0, "prefix length must not be negative, got \(maxLength)")
        return slice(0..<Swift.min(maxLength, count))
    }

    /// The examples at positions `range`, in order.
    ///
    /// - Precondition: `range` lies within `0..<count`.
    /// - Complexity: O(*k*) in the number of scalars copied (one contiguous copy).
    public func slice(_ range: Range<Int>) -> ImageDataset {
        precondition(
            range.lowerBound >= 0 && range.upperBound <= count,
            "slice \(range) is out of bounds for a dataset of \(count) examples")
        let row = scalarsPerImage
        let scalars = Array(images.array[(range.lowerBound * row)..<(range.upperBound * row)])
        var sliced = self
        sliced.images = Tensor(shape: [range.count] + imageShape, scalars: scalars)
        sliced.labels = Array(labels[range])
        return sliced
    }
}
