import BulwarkCore

/// Images and labels as a file stores them, before they are checked and made a dataset.
struct ImageArrays {
    /// The images' shape as stored: rank 3 (`N×H×W`) or 4.
    var imageShape: [Int]
    /// The image values, in storage order.
    var imageValues: [Float]
    /// Whether the images are bytes 0…255 (uint8), to be divided by 255, rather than floats
    /// already in [0, 1].
    var imagesAreBytes: Bool
    /// The name of the images array, for messages.
    var imageArrayName: String
    /// The label values.
    var labelValues: [Float]
    /// The label element type's name when it is not an integer type (`float32`), else `nil`.
    var nonIntegerLabelType: String?
}

extension ImageDataset {
    /// The most classes a dataset read from a file may have: a label beyond is taken for
    /// damage rather than a class (it would make a class table of millions of names).
    public static let maximumClassCount = 1 << 16

    /// Checks `arrays` read from `path` and makes them a dataset.
    ///
    /// - Parameters:
    ///   - layout: The images' layout; `nil` infers it (``ImageLayout/inferred(from:)``).
    ///   - classCount: The number of classes; `nil` takes the largest label plus one. Labels
    ///     must lie below ``maximumClassCount``.
    ///   - classNames: The names of the classes, when the file records them.
    ///   - limit: Keep only the first `limit` examples; the labels are checked in full (the
    ///     class count comes from all of them), the pixels only for the examples kept.
    static func checked(
        _ arrays: ImageArrays, path: String, layout: ImageLayout?, classCount: Int?, classNames: [String]? = nil, limit: Int?
    ) throws(DatasetError) -> ImageDataset {
        var shape = arrays.imageShape
        if shape.count == 3 { shape.insert(1, at: 1) }
        guard shape.count == 4 else {
            throw .invalidImageShape(path: path, array: arrays.imageArrayName, shape: arrays.imageShape)
        }
        let count = shape[0]
        guard count > 0 else { throw .emptyDataset(path: path) }
        guard shape.dropFirst().allSatisfy({ $0 > 0 }) else {
            throw .invalidImageShape(path: path, array: arrays.imageArrayName, shape: arrays.imageShape)
        }
        guard arrays.labelValues.count == count else {
            throw .exampleCountMismatch(path: path, imageCount: count, labelCount: arrays.labelValues.count)
        }
        if let type = arrays.nonIntegerLabelType { throw .invalidLabels(path: path, problem: "are \(type)") }
        var largest: Float = 0
        for (index, label) in arrays.labelValues.enumerated() {
            guard label >= 0, label < Float(maximumClassCount) else {
                throw .invalidLabels(path: path, problem: "include \(label) at index \(index), which is not a class index")
            }
            largest = max(largest, label)
        }
        let classes = classCount ?? Int(largest) + 1
        if let index = arrays.labelValues.firstIndex(where: { Int($0) >= classes }) {
            throw .labelOutOfRange(path: path, index: index, label: Int(arrays.labelValues[index]), classCount: classes)
        }

        let kept = max(0, min(count, limit ?? count))
        let layout = arrays.imageShape.count == 3 ? .channelsFirst : (layout ?? ImageLayout.inferred(from: shape))
        let (channels, height, width) = layout == .channelsFirst ? (shape[1], shape[2], shape[3]) : (shape[3], shape[1], shape[2])
        let perImage = channels * height * width
        let values = arrays.imageValues[0..<(kept * perImage)]
        if !arrays.imagesAreBytes {
            if let index = values.firstIndex(where: { !$0.isFinite }) { throw .nonFinitePixels(path: path, index: index) }
            if let minimum = values.min(), let maximum = values.max(), minimum < 0 || maximum > 1 {
                throw .pixelsOutOfRange(path: path, minimum: minimum, maximum: maximum)
            }
        }
        var pixels: [Float]
        if layout == .channelsFirst {
            pixels = arrays.imagesAreBytes ? values.map { $0 / 255 } : Array(values)
        } else {
            pixels = [Float](repeating: 0, count: values.count)
            let base = values.startIndex
            for image in 0..<kept {
                let start = image * perImage
                for row in 0..<height {
                    for column in 0..<width {
                        let source = base + start + (row * width + column) * channels
                        for channel in 0..<channels {
                            let value = values[source + channel]
                            pixels[start + (channel * height + row) * width + column] = arrays.imagesAreBytes ? value / 255 : value
                        }
                    }
                }
            }
        }
        return ImageDataset(
            images: Tensor(shape: [kept, channels, height, width], scalars: pixels),
            labels: arrays.labelValues[0..<kept].map { Int32($0) }, classCount: classes,
            classNames: classNames?.count == classes ? classNames : nil)
    }
}
