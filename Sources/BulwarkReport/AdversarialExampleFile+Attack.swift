import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN

extension AdversarialExampleFile {
    /// The examples `attack` makes of `dataset` against `network`, its random choices drawn
    /// from `SplitMix64(seed: seed)`, with the model's predictions and their confidences on
    /// both the clean and the adversarial inputs; `metadata` is recorded as given.
    public init<Model: Layer>(attacking dataset: ImageDataset, with attack: any Attack, against network: Model, seed: UInt64,
                              metadata: [String: String]) {
        var generator = SplitMix64(seed: seed)
        let adversarial = attack.perturb(dataset.images, labels: dataset.labels, against: network, using: &generator)
        self.init(
            clean: dataset.images, adversarial: adversarial, labels: dataset.labels.map(Int.init),
            cleanPredictions: predictions(network.applied(to: dataset.images)).map(Int.init),
            adversarialPredictions: predictions(network.applied(to: adversarial)).map(Int.init),
            cleanConfidences: predictionConfidences(of: network, on: dataset.images),
            adversarialConfidences: predictionConfidences(of: network, on: adversarial),
            metadata: metadata)
    }
}
