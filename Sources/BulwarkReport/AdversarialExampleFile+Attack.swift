import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

extension AdversarialExampleFile {
    /// The examples `attack` makes of `dataset` against `network`, its random choices drawn
    /// from `SplitMix64(seed: seed)`, with the model's predictions and their confidences on
    /// both the clean and the adversarial inputs; `metadata` is recorded as given.
    ///
    /// An example the model already misclassifies is its own adversarial example, as in
    /// AutoAttack's output: whatever the attack's last step did to it, so that the adversarial
    /// images, read back as a dataset, score exactly the attack's robust accuracy.
    public init<Model: Layer>(attacking dataset: ImageDataset, with attack: any Attack, against network: Model, seed: UInt64,
                              metadata: [String: String]) {
        var generator = SplitMix64(seed: seed)
        let cleanPredictions = predictions(network.applied(to: dataset.images))
        var adversarial = attack.perturb(dataset.images, labels: dataset.labels, against: network, using: &generator)
        let misclassified = dataset.labels.indices.filter { cleanPredictions[$0] != dataset.labels[$0] }
        if !misclassified.isEmpty {
            var scalars = adversarial.scalars
            let clean = dataset.images.scalars
            let size = scalars.count / Swift.max(dataset.labels.count, 1)
            for row in misclassified { scalars[(row * size)..<((row + 1) * size)] = clean[(row * size)..<((row + 1) * size)] }
            adversarial = Tensor(shape: adversarial.shape, scalars: scalars)
        }
        self.init(
            clean: dataset.images, adversarial: adversarial, labels: dataset.labels.map(Int.init),
            cleanPredictions: cleanPredictions.map(Int.init),
            adversarialPredictions: predictions(network.applied(to: adversarial)).map(Int.init),
            cleanConfidences: predictionConfidences(of: network, on: dataset.images),
            adversarialConfidences: predictionConfidences(of: network, on: adversarial),
            metadata: metadata)
    }
}
