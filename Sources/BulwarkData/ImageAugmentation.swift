import BulwarkCore

/// Random crops of a zero-padded image and random horizontal flips, the standard CIFAR-10
/// training augmentation.
///
/// He et al. 2016 ("Deep residual learning for image recognition", §4.2) pad each side by 4
/// pixels, take a random 32 × 32 crop and flip it horizontally at random; the adversarial
/// training code of Wong, Rice and Kolter 2020 and Rice, Wong and Kolter 2020 does the same
/// (torchvision's `RandomCrop(32, padding=4)` then `RandomHorizontalFlip()`). A crop of the
/// padded image is a shift of the original by (``Transform/rowShift``,
/// ``Transform/columnShift``), each in `-padding…padding`, with zeros where the shift exposes
/// the padding; the flip mirrors the cropped image left to right.
///
/// The trainer applies it to every training batch (``augmented(_:using:)``), drawing from its
/// seeded generator, so a run is reproducible; validation and test images are never augmented.
public struct ImageAugmentation: Sendable, Equatable, Codable {
    /// The zeros added on every side before cropping back to the original size: the largest
    /// shift, in pixels, in each direction. 0 for no cropping.
    public var padding: Int
    /// Whether each image is mirrored left to right with probability 1/2.
    public var flipsHorizontally: Bool

    /// Creates an augmentation.
    ///
    /// - Precondition: `padding >= 0`.
    public init(padding: Int = 4, flipsHorizontally: Bool = true) {
        precondition(padding >= 0, "augmentation padding must not be negative, got \(padding)")
        self.padding = padding
        self.flipsHorizontally = flipsHorizontally
    }

    /// The CIFAR-10 recipe of He et al. 2016: 4 pixels of zero padding and random flips.
    public static let cifar10 = ImageAugmentation(padding: 4, flipsHorizontally: true)

    /// What happens to one image: the output pixel at (row *y*, column *x*) is the input pixel
    /// at (*y* + `rowShift`, *x′* + `columnShift`), where *x′* is `width − 1 − x` when flipped
    /// and *x* otherwise, and zero when that lies outside the image.
    public struct Transform: Sendable, Equatable {
        /// The crop's vertical offset from the centre: positive moves the content up.
        public var rowShift: Int
        /// The crop's horizontal offset from the centre (before flipping): positive moves
        /// the content left.
        public var columnShift: Int
        /// Whether the cropped image is mirrored left to right.
        public var flipsHorizontally: Bool

        /// Creates a transform.
        public init(rowShift: Int = 0, columnShift: Int = 0, flipsHorizontally: Bool = false) {
            self.rowShift = rowShift
            self.columnShift = columnShift
            self.flipsHorizontally = flipsHorizontally
        }

        /// The transform that leaves an image as it is.
        public static let identity = Transform()
    }

    /// One transform per image, drawn from `generator`: for each image in turn the row shift
    /// and the column shift uniformly in `-padding…padding`, then the flip with probability
    /// 1/2 (when ``flipsHorizontally``); nothing is drawn for a part that is off.
    public func transforms<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> [Transform] {
        let positions = UInt64(2 * padding + 1)
        return (0..<count).map { _ in
            var transform = Transform.identity
            if padding > 0 {
                // The modulo bias, about (2·padding + 1)/2⁶⁴, is negligible.
                transform.rowShift = Int(generator.next() % positions) - padding
                transform.columnShift = Int(generator.next() % positions) - padding
            }
            if flipsHorizontally { transform.flipsHorizontally = generator.next() >> 63 == 1 }
            return transform
        }
    }

    /// `batch` with each image randomly cropped and flipped; the labels are unchanged.
    ///
    /// - Parameters:
    ///   - batch: Images `[N, C, H, W]` and their labels.
    ///   - generator: The source of the random crops and flips; advanced by
    ///     ``transforms(count:using:)``.
    /// - Complexity: O(*N·C·H·W*).
    public func augmented<G: RandomNumberGenerator>(_ batch: Batch, using generator: inout G) -> Batch {
        let drawn = transforms(count: batch.count, using: &generator)
        return Batch(inputs: Self.applying(drawn, to: batch.inputs), labels: batch.labels)
    }

    /// `images` `[N, C, H, W]` with `transforms[n]` applied to image `n` (the same to every
    /// channel). Not differentiable: augmentation happens before the model sees the batch.
    ///
    /// - Precondition: `images` has rank 4 and `transforms.count == N`.
    /// - Complexity: O(*N·C·H·W*).
    public static func applying(_ transforms: [Transform], to images: Tensor) -> Tensor {
        precondition(images.rank == 4, "augmentation needs images of shape [N, C, H, W], got \(images.shape)")
        let (count, channels, height, width) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        precondition(transforms.count == count, "augmentation needs one transform per image: \(transforms.count) for \(count)")
        let source = images.array
        // Starts zeroed, so pixels the shift brings in from the padding stay zero.
        return Tensor(shape: images.shape) { output in
            source.withUnsafeBufferPointer { input in
                for (image, transform) in transforms.enumerated() {
                    for channel in 0..<channels {
                        let plane = (image * channels + channel) * height * width
                        for row in 0..<height {
                            let sourceRow = row + transform.rowShift
                            guard sourceRow >= 0 && sourceRow < height else { continue }
                            let from = plane + sourceRow * width
                            let to = plane + row * width
                            for column in 0..<width {
                                let sourceColumn = (transform.flipsHorizontally ? width - 1 - column : column) + transform.columnShift
                                if sourceColumn >= 0 && sourceColumn < width { output[to + column] = input[from + sourceColumn] }
                            }
                        }
                    }
                }
            }
        }
    }
}
