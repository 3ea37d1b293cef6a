import BulwarkAttacks
import BulwarkData
import BulwarkNN
import BulwarkReport
import Foundation

extension AdversarialExampleFile {
    /// The examples `attack` makes of `dataset` (the first examples of `selection`'s `split`)
    /// against `network`, the checkpoint `model` of `architecture`, with `SplitMix64(seed:)`;
    /// the metadata records the attack's settings, its threat model, the seed, the model and
    /// the data, so that a verification finds the same images.
    public init<Model: Layer>(
        attacking dataset: ImageDataset, of selection: ImageDataSelection, split: DatasetSplit, with attack: any Attack,
        threatModel: ThreatModel, against network: Model, model: String, architecture: Architecture, seed: UInt64
    ) {
        var metadata = attackSettings(attack).merging([
            "norm": threatModel.norm.rawValue, "epsilon": String(threatModel.epsilon), "seed": String(seed), "model": model,
            "architecture": architecture.rawValue, "dataset": selection.resolvedDataset.rawValue, "split": split.rawValue,
            "bulwark_version": bulwarkVersion,
        ]) { _, recorded in recorded }
        if let directory = selection.dataDirectory { metadata["data_dir"] = URL(fileURLWithPath: directory).standardizedFileURL.path }
        self.init(attacking: dataset, with: attack, against: network, seed: seed, metadata: metadata)
    }

    /// A line on what the attack named `attackName` did: the examples misclassified before it
    /// and the correct ones it flipped.
    public func summary(ofAttack attackName: String) -> String {
        let mistaken = (cleanMisclassified ?? []).filter { $0 }.count
        let (correct, flipped) = (count - mistaken, success.filter { $0 }.count)
        let share = correct > 0 ? " (\(EvaluationSummary.percent(Float(flipped) / Float(correct))))" : ""
        return "\(attackName): \(mistaken) of \(count) misclassified before the attack; the attack flipped \(flipped) of the \(correct) correct ones"
            + share
    }
}
