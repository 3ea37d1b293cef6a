import ArgumentParser
import Bulwark
import Foundation

/// `bulwark attack`: adversarial examples to a file.
struct AttackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attack",
        abstract: "Generate adversarial examples and write them, with predictions, to a file.",
        discussion: """
            safetensors (default) holds the tensors clean, adversarial, labels, clean_predictions, adversarial_predictions, \
            clean_confidences, adversarial_confidences (softmax probability of each prediction), success (1 where the attack \
            changed a correct prediction to a wrong one), clean_misclassified (1 where the model was wrong before the attack) \
            and indices (images and confidences float32; labels, predictions, flags and indices int64) with the attack and its \
            settings (steps, step size, restarts, iterations or queries), norm, ε, seed, model and versions in its metadata. \
            --format npy writes one .npy per tensor (labels, predictions and indices as int64) and the metadata as JSON, into \
            the directory --out names. Check a file with bulwark verify-adversarial. --png DIR also draws every example as a \
            PNG triptych (original, perturbation in a blue-white-red colour map, adversarial), the first 100 as one grid.png, \
            and lists labels and predictions in examples.csv. A file of examples in a run directory appears in bulwark report.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case safetensors, npy }

    @OptionGroup var checkpoint: ModelOptions
    @OptionGroup var data: DatasetOptions
    @OptionGroup var threat: ThreatOptions
    @Option(help: "The split to take examples from.") var split: DatasetSplit = .test
    @Option(help: "The attack: \(AttackRegistry.list).") var attack: String = "pgd"
    @OptionGroup var parameters: AttackOptions
    @OptionGroup var threads: ThreadOptions
    @Option(help: "Attack the first N examples of the split.") var count: Int = 100
    @Option(help: "The seed of the attack's random choices.") var seed: UInt64 = 0
    @Option(help: "The output: a .safetensors file, or a directory for --format npy.") var out: String
    @Option(help: "safetensors or npy.") var format: Format = .safetensors
    @Option(help: "Also draw the examples as PNG files into this directory.") var png: String?

    func validate() throws {
        try require(count >= 1, "--count must be at least 1, got \(count)")
        try flagged { try EvaluationConfiguration.validate(singleAttack: attack, norm: threat.norm, epsilon: threat.epsilon.value) }
        if format == .npy { try flagged { try AdversarialExampleFile.checkNumPyDirectory(out) } }
    }

    func run() throws {
        try checkOutputs(files: format == .safetensors ? [("--out", out)] : [], directories: (format == .npy ? [("--out", out)] : []) + [("--png", png)],
                         inputs: [("--model", checkpoint.model)] + data.inputs)
        parameters.warnAboutBudgets()
        let progress = Progress(quiet: false)
        let (classifier, metadata) = try checkpoint.load()
        let (data, dataset) = try self.data.evaluationData(split, count: count, for: classifier, metadata: metadata)
        let threatModel = threat.threatModel
        let unit = AttackRegistry.registration(named: attack)?.progressUnit == "query" ? "queries" : "iterations"
        let adversary = try flagged {
            try AttackRegistry.makeAttack(attack, threatModel: threatModel, parameters: parameters.parameters, iterationProgress: { done, total in
                progress.show(.update(done: done, total: total, unit: unit))
            })
        }
        progress.line("Attacking \(dataset.count) examples\(data.dataPath == nil ? "" : " of " + data.dataName) with \(adversary.name) …")
        progress.show(.begin(adversary.name, unit: unit))
        let file = AdversarialExampleFile(attacking: dataset, of: data, split: split, with: adversary, threatModel: threatModel,
                                          against: classifier, model: checkpoint.model, seed: seed)
        switch format {
        case .safetensors: try file.writeSafeTensors(to: out)
        case .npy:
            do { try file.writeNumPy(to: out) } catch { throw ValidationError("\(error)") }
        }
        output(file.summary(ofAttack: adversary.name) + "; wrote \(out)")
        do { try png.map { output(try ExampleDrawings.write(file, into: $0)) } } catch let error as PNGError {
            throw ValidationError("Cannot draw the examples as PNG: \(error.description)")
        } catch let error as OutputFileError { throw ValidationError(error.description) }
    }
}

/// `bulwark verify-adversarial`: checks a file of adversarial examples as a challenge harness
/// would.
struct VerifyAdversarial: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-adversarial",
        abstract: "Check a file written by bulwark attack against a model (checkpoint or ONNX), the data and a threat model.",
        discussion: """
            Re-derives the examples from the dataset and the model: every index is a row of the split; the clean images and \
            labels equal the dataset's; labels are classes of the model; adversarial inputs are finite, inside [0, 1] and \
            within ε + 1e-6 of the dataset's images in the norm; the clean and adversarial predictions, success flags (the \
            attack changed a correct prediction to a wrong one) and clean mistakes equal the model's. The data (--dataset or \
            your own --data), split, norm and ε default to the ones the file records, which the file's author chose: give --epsilon and --norm to hold it to \
            your own budget (the result says which ε it checked and where that came from). Reads .safetensors files and \
            --format npy directories. Exits 1 on any failure.
            """)

    @OptionGroup var checkpoint: ModelOptions
    @OptionGroup var threads: ThreadOptions
    @Option(help: "The .safetensors file, or the --format npy directory, written by bulwark attack.") var file: String
    @Option(help: "The dataset the examples came from; default the one the file records.") var dataset: ImageDatasetName?
    @Option(help: "The directory holding the dataset's files (as for bulwark attack); default the one the file records, else the dataset's default.")
    var dataDir: String?
    @Option(name: .customLong("data"), help: ArgumentHelp("Your own images the examples came from (as for bulwark attack --data); default the ones the file records.", valueName: "path"))
    var dataPath: String?
    @Option(help: "The split the examples came from; default the one the file records.") var split: DatasetSplit?
    @Option(name: [.customLong("epsilon"), .customLong("eps")],
            help: "The budget ε to check; default the one the file records. Fractions accepted.")
    var epsilon: Fraction?
    @Option(help: "The norm of the budget: linf or l2; default the one the file records.") var norm: Norm?

    func validate() throws { if let epsilon { try flagged { try requireBudget(epsilon.value) } } }

    func run() throws {
        let (result, dataName, splitName) = try flagged {
            try AdversarialExampleFile.verify(path: file, model: checkpoint.selection, dataset: dataset, dataPath: dataPath.map(absolutePath),
                                              split: split, dataDirectory: dataDir, norm: norm, epsilon: epsilon?.value)
        }
        output("\(file): verified \(result.count) examples of \(dataName) \(splitName.rawValue); largest perturbation \(result.largestPerturbation) ≤ ε = \(result.threatModel.epsilon) (\(result.threatModel.norm.rawValue), \(epsilon == nil && norm == nil ? "as the file records" : "as given")); \(result.cleanCorrectCount) classified correctly before the attack, \(result.flippedCount) of them misclassified after it")
    }
}
