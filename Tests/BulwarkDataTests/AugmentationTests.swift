import BulwarkCore
import BulwarkData
import Testing

@Suite("Augmentation")
struct AugmentationTests {
    /// Two 2-channel 5 × 6 images whose pixels are all distinct and positive.
    let images = Tensor(shape: [2, 2, 5, 6], scalars: (0..<120).map { Float($0 + 1) })

    /// The pixel of `tensor` at (image, channel, row, column) for 2 × 5 × 6 images.
    func pixel(_ tensor: Tensor, _ image: Int, _ channel: Int, _ row: Int, _ column: Int) -> Float {
        tensor.array[((image * 2 + channel) * 5 + row) * 6 + column]
    }

    @Test func cropWithZeroOffsetIsTheInput() {
        let output = ImageAugmentation.applying([.identity, .identity], to: images)
        #expect(output == images)
    }

    @Test func flipMirrorsRowsAndTwoFlipsAreTheIdentity() {
        let flip = ImageAugmentation.Transform(flipsHorizontally: true)
        let flipped = ImageAugmentation.applying([flip, .identity], to: images)
        for channel in 0..<2 {
            for row in 0..<5 {
                for column in 0..<6 {
                    #expect(pixel(flipped, 0, channel, row, column) == pixel(images, 0, channel, row, 5 - column))
                    #expect(pixel(flipped, 1, channel, row, column) == pixel(images, 1, channel, row, column))
                }
            }
        }
        #expect(ImageAugmentation.applying([flip, flip], to: ImageAugmentation.applying([flip, flip], to: images)) == images)
    }

    @Test func shiftedCropsFillThePaddingWithZeros() {
        let shift = ImageAugmentation.Transform(rowShift: 2, columnShift: -3)
        let output = ImageAugmentation.applying([shift, .identity], to: images)
        for channel in 0..<2 {
            for row in 0..<5 {
                for column in 0..<6 {
                    let (sourceRow, sourceColumn) = (row + 2, column - 3)
                    let inside = sourceRow < 5 && sourceColumn >= 0
                    let expected = inside ? pixel(images, 0, channel, sourceRow, sourceColumn) : 0
                    #expect(pixel(output, 0, channel, row, column) == expected)
                }
            }
        }
        // The padded region: the last 2 rows and the first 3 columns.
        let zeros = output.array[0..<60].filter { $0 == 0 }.count
        #expect(zeros == 2 * (5 * 6 - 3 * 3))
        // Shifted by the whole padding and flipped, the crop still keeps the input's pixels.
        let flippedShift = ImageAugmentation.Transform(rowShift: -1, columnShift: 1, flipsHorizontally: true)
        let flipped = ImageAugmentation.applying([.identity, flippedShift], to: images)
        #expect(pixel(flipped, 1, 1, 0, 0) == 0, "row −1 is padding")
        #expect(pixel(flipped, 1, 1, 1, 0) == 0, "column 5 + 1 is padding")
        #expect(pixel(flipped, 1, 1, 1, 1) == pixel(images, 1, 1, 0, 5))
    }

    @Test func drawsAreDeterministicForASeedAndCoverTheRange() {
        let augmentation = ImageAugmentation.cifar10
        var first = SplitMix64(seed: 11), second = SplitMix64(seed: 11), other = SplitMix64(seed: 12)
        let transforms = augmentation.transforms(count: 500, using: &first)
        #expect(transforms == augmentation.transforms(count: 500, using: &second))
        #expect(transforms != augmentation.transforms(count: 500, using: &other))
        #expect(Set(transforms.map(\.rowShift)) == Set(-4...4))
        #expect(Set(transforms.map(\.columnShift)) == Set(-4...4))
        let flips = transforms.filter(\.flipsHorizontally).count
        #expect(flips > 200 && flips < 300)
        var noCrop = SplitMix64(seed: 11)
        let flipOnly = ImageAugmentation(padding: 0).transforms(count: 50, using: &noCrop)
        #expect(flipOnly.allSatisfy { $0.rowShift == 0 && $0.columnShift == 0 })
    }

    @Test func augmentedBatchesKeepLabelsAndShape() {
        let batch = Batch(inputs: images, labels: [7, 3])
        var generator = SplitMix64(seed: 5), again = SplitMix64(seed: 5)
        let augmented = ImageAugmentation(padding: 2).augmented(batch, using: &generator)
        #expect(augmented.labels == [7, 3])
        #expect(augmented.inputs.shape == images.shape)
        #expect(augmented.inputs == ImageAugmentation(padding: 2).augmented(batch, using: &again).inputs)
        // Each output is the transform it drew applied to its input.
        var redraw = SplitMix64(seed: 5)
        let transforms = ImageAugmentation(padding: 2).transforms(count: 2, using: &redraw)
        #expect(augmented.inputs == ImageAugmentation.applying(transforms, to: images))
    }
}
