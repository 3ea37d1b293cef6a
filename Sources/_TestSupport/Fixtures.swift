import Bulwark

/// Seeded synthetic image data and small trained models, so tests need no dataset on disk.
public enum Fixtures {
    /// `count` images of shape `[1, side, side]` in `[0, 1]` from `classCount` classes: each
    /// class is a fixed random template of pixels at 0.2 or 0.8, each image its template plus
    /// uniform noise of ±`noise`, clipped. An L∞ perturbation must move pixels by 0.3 to cross
    /// between templates, so a robust classifier exists for ε up to about 0.3 − `noise`, while
    /// a standard one, which spreads its weight over every pixel, falls to much less.
    public static func templates(count: Int, classCount: Int = 4, side: Int = 8, noise: Float = 0.1, seed: UInt64 = 1) -> ImageDataset {
        var generator = SplitMix64(seed: 1234)
        let pixels = side * side
        let templates = (0..<classCount).map { _ in (0..<pixels).map { _ -> Float in generator.next() % 2 == 0 ? 0.2 : 0.8 } }
        var sampler = SplitMix64(seed: seed)
        var scalars = [Float]()
        var labels = [Int32]()
        for index in 0..<count {
            let label = index % classCount
            labels.append(Int32(label))
            for pixel in 0..<pixels {
                let value = templates[label][pixel] + noise * (2 * sampler.nextUnitFloat() - 1)
                scalars.append(Swift.min(Swift.max(value, 0), 1))
            }
        }
        return ImageDataset(images: Tensor(shape: [count, 1, side, side], scalars: scalars), labels: labels, classCount: classCount)
    }

    /// A small MLP for `[1, side, side]` inputs.
    public static func mlp(side: Int = 8, hidden: Int = 32, classCount: Int = 4, seed: UInt64 = 2) -> Sequential {
        var generator = SplitMix64(seed: seed)
        return Sequential([
            Flatten(),
            Linear(inputSize: side * side, outputSize: hidden, using: &generator), ReLU(),
            Linear(inputSize: hidden, outputSize: classCount, using: &generator),
        ])
    }

    /// A small CNN for `[1, side, side]` inputs.
    public static func cnn(side: Int = 8, classCount: Int = 4, seed: UInt64 = 3) -> Sequential {
        var generator = SplitMix64(seed: seed)
        return Sequential([
            Conv2D(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1, using: &generator), ReLU(), MaxPool2D(kernelSize: 2),
            Flatten(),
            Linear(inputSize: 4 * (side / 2) * (side / 2), outputSize: classCount, using: &generator),
        ])
    }

    /// ``mlp(side:hidden:classCount:seed:)`` trained with Adam on ``templates(count:classCount:side:noise:seed:)``
    /// until it classifies the training data (near) perfectly; in inference mode.
    public static func trainedMLP(epochs: Int = 20) -> (model: Sequential, data: ImageDataset) {
        let data = templates(count: 256)
        var model = mlp()
        var optimizer = Adam(learningRate: 1e-2)
        var generator = SplitMix64(seed: 5)
        for _ in 0..<epochs {
            for batch in data.batches(ofSize: 32, shuffledUsing: &generator) {
                let (_, gradients) = valueWithGradient(at: &model) { model in
                    softmaxCrossEntropy(logits: model(batch.inputs), labels: batch.labels)
                }
                optimizer.update(&model, along: gradients)
            }
        }
        model.mode = .inference
        return (model, data)
    }
}
