import ArgumentParser
import Bulwark
import Foundation

/// `bulwark attack`: adversarial examples to a file.
struct AttackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attack",
        abstract: "Generate adversarial examples and write them, with predictions, to a file.",
        discussion: """
            safetensors (default) holds the tensors clean, adversarial, labels, clean_predictions, \
            adversarial_predictions, clean_confidences, adversarial_confidences (softmax \
            probability of each prediction), success (1 where the attack changed a correct \
            prediction to a wrong one), clean_misclassified (1 where the model was wrong before \
            the attack) and indices (images and confidences float32; labels, predictions, flags \
            and indices int64) with the attack and its settings (steps, step size, restarts, \
            iterations or queries), norm, ε, seed, model and versions in its metadata. --format npy writes one .npy per tensor (labels, predictions and \
            indices as int64) and the metadata as JSON, into the directory --out names. Check a \
            file with bulwark verify-adversarial. --png DIR also draws every example as a PNG \
            triptych (original, perturbation in a blue-white-red colour map, adversarial), the \
            first 100 as one grid.png, and lists labels and predictions in examples.csv. A file \
            of examples in a run directory appears in bulwark report.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case safetensors, npy }

    @OptionGroup var checkpoint: ModelOptions
    @OptionGroup var data: DatasetOptions
    @OptionGroup var threat: ThreatOptions

    @Option(help: "The split to take examples from.")
    var split: DatasetSplit = .test

    @Option(help: "The attack: \(AttackName.list).")
    var attack: String = "pgd"

    @OptionGroup var parameters: AttackParameters

    @Option(help: "Attack the first N examples of the split.")
    var count: Int = 100

    @Option(help: "The seed of the attack's random choices.")
    var seed: UInt64 = 0

    @Option(help: "The output: a .safetensors file, or a directory for --format npy.")
    var out: String

    @Option(help: "safetensors or npy.")
    var format: Format = .safetensors

    @Option(help: "Also draw the examples as PNG files into this directory.")
    var png: String?

    func validate() throws {
        try require(count >= 1, "--count must be at least 1, got \(count)")
        try requireAttackNames([attack])
        guard let name = AttackName(rawValue: attack) else {
            throw ValidationError("Unknown attack '\(attack)'. Choose from: \(AttackName.list).")
        }
        if name == .carliniWagner { try require(threat.norm == .l2, "cw-l2 is an L2 attack: add --norm l2") }
        if format == .npy {
            let base = URL(fileURLWithPath: out).deletingPathExtension().lastPathComponent
            try require(!out.lowercased().hasSuffix(".npy"),
                        "--format npy writes a directory of .npy files (clean.npy, labels.npy, …) and metadata.json, but --out \(out) names a .npy file; pass a directory name such as --out \(base)-npy")
        }
    }

    func run() throws {
        try checkOutputs(files: format == .safetensors ? [("--out", out)] : [], directories: (format == .npy ? [("--out", out)] : []) + [("--png", png)],
                         inputs: [("--model", checkpoint.model)])
        parameters.warnAboutBudgets()
        let progress = Progress(quiet: false)
        let (network, loadedArchitecture, checkpointMetadata) = try checkpoint.load()
        let (data, dataset) = try self.data.evaluationData(split, count: count, for: network, architecture: loadedArchitecture, metadata: checkpointMetadata)
        guard let name = AttackName(rawValue: attack) else { throw ValidationError("Unknown attack '\(attack)'") }
        let threatModel = threat.threatModel
        let unit = name == .square ? "queries" : "iterations"
        let adversary = parameters.makeAttack(name, threatModel: threatModel, iterationProgress: { done, total in
            progress.update(done: done, total: total, unit: unit)
        })
        progress.line("Attacking \(dataset.count) examples with \(adversary.name) …")
        progress.begin(adversary.name, total: 0, unit: unit)
        var generator = SplitMix64(seed: seed)
        let adversarial = adversary.perturb(dataset.images, labels: dataset.labels, against: network, using: &generator)
        let cleanPredictions = predictions(network.applied(to: dataset.images))
        let adversarialPredictions = predictions(network.applied(to: adversarial))
        let cleanConfidences = predictionConfidences(of: network, on: dataset.images)
        let adversarialConfidences = predictionConfidences(of: network, on: adversarial)
        var metadata = attackSettings(adversary).merging([
            "norm": threatModel.norm.rawValue, "epsilon": String(threatModel.epsilon),
            "seed": String(seed), "model": checkpoint.model, "architecture": loadedArchitecture.rawValue,
            "dataset": data.dataset.rawValue, "split": split.rawValue, "bulwark_version": bulwarkVersion,
        ]) { _, recorded in recorded }
        // Lets verify-adversarial find the same images without --data-dir.
        if let directory = data.dataDir { metadata["data_dir"] = URL(fileURLWithPath: directory).standardizedFileURL.path }
        let file = AdversarialExampleFile(
            clean: dataset.images, adversarial: adversarial, labels: dataset.labels.map(Int.init),
            cleanPredictions: cleanPredictions.map(Int.init), adversarialPredictions: adversarialPredictions.map(Int.init),
            cleanConfidences: cleanConfidences, adversarialConfidences: adversarialConfidences,
            indices: Array(0..<dataset.count), metadata: metadata)
        switch format {
        case .safetensors: try file.writeSafeTensors(to: out)
        case .npy:
            do { try file.writeNumPy(to: out) } catch { throw ValidationError("\(error)") }
        }
        let mistaken = (file.cleanMisclassified ?? []).filter { $0 }.count
        let correct = file.count - mistaken
        let flipped = file.success.filter { $0 }.count
        output("\(adversary.name): \(mistaken) of \(file.count) misclassified before the attack; the attack flipped \(flipped) of the \(correct) correct ones"
               + (correct > 0 ? " (\(percent(Float(flipped) / Float(correct))))" : "") + "; wrote \(out)")
        if let png {
            let scale = try writePNGs(file, to: png)
            output("drew \(file.count) examples into \(png) (grid.png, example-*.png, examples.csv); perturbation colours span ±\(String(format: "%.4g", scale))")
        }
    }

    /// Writes one triptych PNG per example, a grid of the first 100 and a CSV of labels and
    /// predictions; returns the perturbation scale the colours share.
    private func writePNGs(_ file: AdversarialExampleFile, to directory: String) throws -> Float {
        try createDirectory(directory)
        let grid: ExampleGrid
        do { grid = try ExampleGrid(file: file, positions: Array(0..<file.count)) } catch {
            throw ValidationError("Cannot draw the examples as PNG: \(error.description)")
        }
        func write(_ bytes: [UInt8], _ name: String) throws {
            let target = path(in: directory, name)
            try writeOutput(bytes, to: target)
        }
        let digits = String(file.count - 1).count
        var csv = "index,true_label,clean_prediction,clean_confidence,adversarial_prediction,adversarial_confidence,fooled,perturbation_norm,file\n"
        for triptych in grid.triptychs {
            let number = String(triptych.datasetIndex)
            let name = "example-" + String(repeating: "0", count: Swift.max(0, digits - number.count)) + number + ".png"
            try write(try triptych.combined(scale: 4, gap: 4).encoded(), name)
            let fields = [number, triptych.trueLabel, triptych.cleanPrediction,
                          triptych.cleanConfidence.map { String(format: "%.4f", $0) } ?? "",
                          triptych.adversarialPrediction, triptych.adversarialConfidence.map { String(format: "%.4f", $0) } ?? "",
                          triptych.fooled ? "1" : "0", String(format: "%.6f", triptych.perturbationNorm), name]
            csv += fields.map { $0.contains(",") || $0.contains("\"") ? "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : $0 }
                .joined(separator: ",") + "\n"
        }
        var first = grid
        first.triptychs = Array(grid.triptychs.prefix(100))
        try write(try first.image(columns: 4, scale: 3).encoded(), "grid.png")
        try write(Array(csv.utf8), "examples.csv")
        return grid.perturbationScale
    }
}

/// `bulwark verify-adversarial`: checks a file of adversarial examples as a challenge harness
/// would.
struct VerifyAdversarial: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-adversarial",
        abstract: "Check a file written by bulwark attack against a model, the dataset and a threat model.",
        discussion: """
            Re-derives the examples from the dataset and the model: every index is a row of the \
            split; the clean images and labels equal the dataset's; labels are classes of the \
            model; adversarial inputs are finite, inside [0, 1] and within ε + 1e-6 of the \
            dataset's images in the norm; the clean and adversarial predictions, success flags \
            (the attack changed a correct prediction to a wrong one) and clean mistakes equal the \
            model's. The dataset, split, norm and ε default to the ones the file records, which \
            the file's author chose: give --epsilon and --norm to hold it to your own budget (the \
            result says which ε it checked and where that came from). Reads .safetensors files \
            and --format npy directories. Exits 1 on any failure.
            """)

    @OptionGroup var checkpoint: ModelOptions

    @Option(help: "The .safetensors file, or the --format npy directory, written by bulwark attack.")
    var file: String

    @Option(help: "The dataset the examples came from; default the one the file records.")
    var dataset: ImageDatasetName?

    @Option(help: "The directory holding the dataset's files (as for bulwark attack); default the one the file records, else the dataset's default.")
    var dataDir: String?

    @Option(help: "The split the examples came from; default the one the file records.")
    var split: DatasetSplit?

    @Option(name: [.customLong("epsilon"), .customLong("eps")],
            help: "The budget ε to check; default the one the file records. Fractions accepted.")
    var epsilon: Fraction?

    @Option(help: "The norm of the budget: linf or l2; default the one the file records.")
    var norm: Norm?

    func validate() throws {
        if let epsilon { try requireBudget(epsilon) }
    }

    func run() throws {
        let examples = try AdversarialExampleFile(contentsOf: file)
        let recorded = examples.threatModel
        let threatModel: ThreatModel? = (epsilon == nil && norm == nil) ? recorded
            : (epsilon ?? recorded.map { Fraction($0.epsilon) }).map { ThreatModel(norm: norm ?? recorded?.norm ?? .lInfinity, epsilon: $0.value) }
        let (network, architecture, _) = try checkpoint.load()
        guard let datasetName = dataset ?? examples.metadata["dataset"].flatMap(ImageDatasetName.init(rawValue:)) else {
            throw ValidationError("\(file) does not record its dataset; pass --dataset and --data-dir")
        }
        let splitName = split ?? examples.metadata["split"].flatMap(DatasetSplit.init(rawValue:)) ?? .test
        let data = try ImageDataset.load(datasetName, split: splitName, directory: dataDir ?? examples.metadata["data_dir"])
        let result = try examples.verify(path: file, against: network, inputShape: architecture.inputShape, dataset: data, threatModel: threatModel)
        output("\(file): verified \(result.count) examples of \(datasetName.rawValue) \(splitName.rawValue); largest perturbation \(result.largestPerturbation) ≤ ε = \(result.threatModel.epsilon) (\(result.threatModel.norm.rawValue), \(epsilon == nil && norm == nil ? "as the file records" : "as given")); \(result.cleanCorrectCount) classified correctly before the attack, \(result.flippedCount) of them misclassified after it")
    }
}
