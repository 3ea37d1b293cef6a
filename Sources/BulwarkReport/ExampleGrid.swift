/// One adversarial example drawn as three images, original | perturbation | adversarial, with
/// what the model believed before and after.
public struct ExampleTriptych: Sendable {
    /// The example's position in its ``AdversarialExampleFile``.
    public var position: Int
    /// The example's index in its dataset split.
    public var datasetIndex: Int
    /// The clean input.
    public var original: PNGImage
    /// The perturbation in the diverging colour map (see ``ExampleGrid/perturbationScale``).
    public var perturbation: PNGImage
    /// The adversarial input.
    public var adversarial: PNGImage
    /// The true class name.
    public var trueLabel: String
    /// The predicted class name on the clean input.
    public var cleanPrediction: String
    /// The probability of the clean prediction, when known.
    public var cleanConfidence: Float?
    /// The predicted class name on the adversarial input.
    public var adversarialPrediction: String
    /// The probability of the adversarial prediction, when known.
    public var adversarialConfidence: Float?
    /// Whether the adversarial input is misclassified.
    public var fooled: Bool
    /// The perturbation's norm in the attack's norm.
    public var perturbationNorm: Float

    /// The three images side by side, enlarged `scale` times, `gap` pixels apart.
    public func combined(scale: Int = 4, gap: Int = 4) -> PNGImage {
        PNGImage.horizontalConcatenation(
            [original.scaled(by: scale), perturbation.scaled(by: scale), adversarial.scaled(by: scale)], gap: gap)
    }
}

/// A selection of adversarial examples drawn as triptychs that share one perturbation colour
/// scale, so their perturbations can be compared.
public struct ExampleGrid: Sendable {
    /// The examples, in display order.
    public var triptychs: [ExampleTriptych]
    /// The perturbation value drawn at the ends of the colour map: dark red is +scale, dark
    /// blue −scale, white 0. The largest absolute (channel-mean) perturbation of the shown
    /// examples, so the strongest pixel saturates.
    public var perturbationScale: Float

    /// Draws the examples at `positions` of `file`.
    ///
    /// - Precondition: every position is in `0..<file.count`.
    /// - Throws: ``PNGError`` when the images are not 1- or 3-channel.
    public init(file: AdversarialExampleFile, positions: [Int]) throws(PNGError) {
        precondition(positions.allSatisfy { (0..<file.count).contains($0) }, "example position out of range")
        let shape = file.clean.shape
        let (channels, height, width) = (shape[1], shape[2], shape[3])
        let size = channels * height * width
        let clean = file.clean.array, adversarial = file.adversarial.array
        // Channel-mean perturbation per pixel, as the colour map shows it.
        var largest: Float = 0
        for position in positions {
            for pixel in 0..<(height * width) {
                var sum: Float = 0
                for channel in 0..<channels {
                    let offset = position * size + channel * height * width + pixel
                    sum += adversarial[offset] - clean[offset]
                }
                if sum.isFinite { largest = Swift.max(largest, abs(sum / Float(channels))) }
            }
        }
        let scale = largest > 0 ? largest : (file.threatModel?.epsilon ?? 1)
        perturbationScale = scale > 0 ? scale : 1
        let names = file.classNames
        func name(_ label: Int) -> String { names.indices.contains(label) ? names[label] : String(label) }
        let norms = file.perturbationNorms()
        var triptychs = [ExampleTriptych]()
        for position in positions {
            let range = (position * size)..<((position + 1) * size)
            let delta = zip(adversarial[range], clean[range]).map { $0 - $1 }
            triptychs.append(ExampleTriptych(
                position: position, datasetIndex: file.indices[position],
                original: try PNGImage(intensities: clean[range], channels: channels, height: height, width: width),
                perturbation: try PNGImage(perturbation: delta[...], channels: channels, height: height, width: width, scale: perturbationScale),
                adversarial: try PNGImage(intensities: adversarial[range], channels: channels, height: height, width: width),
                trueLabel: name(file.labels[position]),
                cleanPrediction: name(file.cleanPredictions[position]), cleanConfidence: file.cleanConfidences?[position],
                adversarialPrediction: name(file.adversarialPredictions[position]),
                adversarialConfidence: file.adversarialConfidences?[position],
                fooled: file.success[position], perturbationNorm: norms[position]))
        }
        self.triptychs = triptychs
    }

    /// Up to `maximum` positions to show: the examples the attack fooled among those the model
    /// classified correctly first (two thirds of the places), then the ones that resisted, each
    /// in file order, so a grid of a robust model still shows what fooling looks like.
    public static func defaultPositions(in file: AdversarialExampleFile, maximum: Int = 12) -> [Int] {
        let correct = (0..<file.count).filter { file.cleanPredictions[$0] == file.labels[$0] }
        let fooled = correct.filter { file.success[$0] }
        let resisted = correct.filter { !file.success[$0] }
        let wrongClean = (0..<file.count).filter { file.cleanPredictions[$0] != file.labels[$0] }
        let fooledTaken = resisted.isEmpty ? maximum : Swift.min(fooled.count, (maximum * 2 + 2) / 3)
        var chosen = Array(fooled.prefix(fooledTaken))
        chosen += resisted.prefix(maximum - chosen.count)
        chosen += fooled.dropFirst(fooledTaken).prefix(maximum - chosen.count)
        chosen += wrongClean.prefix(Swift.max(maximum - chosen.count, 0))
        // Fooled first, then by position.
        return chosen.sorted { a, b in (file.success[a] ? 0 : 1, a) < (file.success[b] ? 0 : 1, b) }
    }

    /// All triptychs in one image, `columns` per row, enlarged `scale` times.
    ///
    /// - Precondition: the grid is not empty and `columns >= 1`.
    public func image(columns: Int = 4, scale: Int = 3) -> PNGImage {
        precondition(!triptychs.isEmpty && columns >= 1, "an empty grid has no image")
        let cells = triptychs.map { $0.combined(scale: scale, gap: scale) }
        let rows = stride(from: 0, to: cells.count, by: columns).map { start in
            PNGImage.horizontalConcatenation(Array(cells[start..<Swift.min(start + columns, cells.count)]), gap: 6 * scale)
        }
        return PNGImage.verticalConcatenation(rows, gap: 4 * scale)
    }
}
