import BulwarkAttacks
import BulwarkData
import BulwarkNN
import BulwarkONNX
import BulwarkReport
import Foundation

extension AdversarialExampleFile {
    /// The examples `attack` makes of `dataset` (the first examples of `selection`'s `split`)
    /// against `classifier`, read from the file `model`, with `SplitMix64(seed:)`; the
    /// metadata records the attack's settings, its threat model, the seed, the model (its
    /// file and kind, whether an ONNX graph's final Softmax was left out, and an ONNX file's
    /// input contract) and the data
    /// (the built-in dataset and its directory, or the absolute path of the user's data), so
    /// that a verification finds the same images.
    public init(
        attacking dataset: ImageDataset, of selection: ImageDataSelection, split: DatasetSplit, with attack: any Attack,
        threatModel: ThreatModel, against classifier: ImageClassifier, model: String, seed: UInt64
    ) {
        var metadata = attackSettings(attack).merging([
            "norm": threatModel.norm.rawValue, "epsilon": String(threatModel.epsilon), "seed": String(seed), "model": model,
            "architecture": classifier.kind, "dataset": selection.dataName, "split": split.rawValue,
            "bulwark_version": bulwarkVersion,
        ]) { _, recorded in recorded }
        if let directory = selection.dataDirectory { metadata["data_dir"] = absolutePath(directory) }
        if let path = selection.dataPath(for: split) { metadata["data_path"] = absolutePath(path) }
        if let layout = selection.imageLayout { metadata["image_layout"] = layout.rawValue }
        if classifier.droppedFinalSoftmax { metadata["final_softmax_dropped"] = "true" }
        // The standardization and layout given for an ONNX model, for checking against it later.
        if ImageClassifier.isONNX(model), let contract = classifier.imported?.contract {
            metadata.merge(contract.recordedEntries) { recorded, _ in recorded }
        }
        self.init(attacking: dataset, with: attack, against: classifier, seed: seed, metadata: metadata)
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

    /// Throws unless `directory`, where `format` npy writes the examples, names a directory
    /// rather than a `.npy` file.
    public static func checkNumPyDirectory(_ directory: String) throws(ConfigurationError) {
        guard directory.lowercased().hasSuffix(".npy") else { return }
        let base = URL(fileURLWithPath: directory).deletingPathExtension().lastPathComponent
        throw ConfigurationError(
            "`format` npy writes a directory of .npy files (clean.npy, labels.npy, …) and metadata.json, but `outputDirectory` \(directory) names a .npy file; pass a directory name such as `outputDirectory` \(base)-npy")
    }
}
