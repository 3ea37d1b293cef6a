import ArgumentParser
import Bulwark
import Foundation

/// A number that may be written as a fraction (`8/255`), as users think of pixel budgets.
struct Fraction: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var value: Float

    init(_ value: Float) { self.value = value }

    init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            guard let value = Float(argument), value.isFinite else { return nil }
            self.value = value
        case 2:
            guard let numerator = Float(parts[0]), let denominator = Float(parts[1]), denominator != 0,
                  (numerator / denominator).isFinite else { return nil }
            value = numerator / denominator
        default:
            return nil
        }
    }

    var description: String { String(value) }
}

extension ImageDatasetName: ExpressibleByArgument {}
extension Architecture: ExpressibleByArgument {}
extension Norm: ExpressibleByArgument {
    /// `linf` or `l2` in any case, and the spellings of torchattacks and AutoAttack (`Linf`,
    /// `L2`, `inf`), which Bulwark's JSON also writes.
    public init?(argument: String) {
        switch argument.lowercased() {
        case "linf", "inf", "l-inf", "linfinity": self = .lInfinity
        case "l2": self = .l2
        default: return nil
        }
    }
}
extension DatasetSplit: ExpressibleByArgument {}
extension EvaluationStrategy: ExpressibleByArgument {}

/// Where the images come from.
struct DatasetOptions: ParsableArguments {
    @Option(name: .customLong("dataset"), help: ArgumentHelp(
        "The dataset: fashion-mnist, mnist, idx (any IDX files in --data-dir) or cifar10; default fashion-mnist, or for a checkpoint the dataset it was trained on.",
        valueName: "dataset"))
    var chosenDataset: ImageDatasetName?

    /// The dataset given, or Fashion-MNIST.
    var dataset: ImageDatasetName { chosenDataset ?? .fashionMNIST }

    @Option(help: ArgumentHelp(
        "The directory holding the IDX files (train-images-idx3-ubyte[.gz] and so on) or CIFAR-10's binary batches (data_batch_1.bin … data_batch_5.bin, test_batch.bin).",
        discussion: """
            Fashion-MNIST defaults to /usr/share/datasets/fashion-mnist (Debian package \
            dataset-fashion-mnist), CIFAR-10 to ~/.cache/bulwark/cifar-10, where the binary \
            archive (\(ImageDatasetName.cifar10DownloadURL)) may be extracted as it is: the \
            files are looked for in the directory and in its cifar-10-batches-bin folder.
            """))
    var dataDir: String?

    /// These options for evaluating a checkpoint whose metadata is `metadata`: without
    /// `--dataset`, the dataset the model was trained on (and without `--data-dir`, the directory
    /// it was trained from, if it still exists), so that a model trained on MNIST is not
    /// silently evaluated on Fashion-MNIST. A dataset given that differs from the recorded one
    /// is kept, with a note on standard error.
    func matching(checkpointMetadata metadata: [String: String]) -> DatasetOptions {
        guard let configuration = trainingConfiguration(in: metadata),
              let recorded = configuration["dataset"].flatMap(ImageDatasetName.init(rawValue:))
        else { return self }
        if let chosenDataset {
            if chosenDataset != recorded {
                let note = "note: the model was trained on \(recorded.rawValue); evaluating it on \(chosenDataset.rawValue) as --dataset asks\n"
                FileHandle.standardError.write(Data(note.utf8))
            }
            return self
        }
        var options = self
        options.chosenDataset = recorded
        if dataDir == nil, let directory = configuration["data_dir"], FileManager.default.fileExists(atPath: directory) {
            options.dataDir = directory
        }
        return options
    }

    /// The split, or only its first `limit` examples (a gzipped file is inflated no further than they end).
    func load(_ split: DatasetSplit, limit: Int? = nil) throws -> ImageDataset {
        try ImageDataset.load(dataset, split: split, directory: dataDir, limit: limit)
    }

    /// Throws unless `images` fit `architecture`'s input, naming both and the fix.
    /// The first `count` examples of `split` to evaluate `network`, a checkpoint of
    /// `architecture` with `metadata`, on: from the dataset it was trained on unless
    /// `--dataset` says otherwise (see ``matching(checkpointMetadata:)``), refused unless the
    /// images fit the architecture and the model scores every label. Returns the options
    /// used with the examples.
    func evaluationData(
        _ split: DatasetSplit, count: Int, for network: Sequential, architecture: Architecture, metadata: [String: String]
    ) throws -> (options: DatasetOptions, dataset: ImageDataset) {
        let options = matching(checkpointMetadata: metadata)
        let dataset = try options.load(split, limit: count)
        try options.requireShape(of: dataset, fitting: architecture)
        try requireLabels(dataset.labels, fit: network, inputShape: architecture.inputShape, dataClassCount: dataset.classCount)
        return (options, dataset)
    }

    func requireShape(of images: ImageDataset, fitting architecture: Architecture) throws {
        guard images.imageShape == architecture.inputShape else {
            let fitting = Architecture.allCases.filter { $0.inputShape == images.imageShape }.map(\.rawValue)
            let advice = fitting.isEmpty
                ? "" : " Architectures for these images: \(fitting.joined(separator: ", "))."
            throw ValidationError(
                "The \(dataset.rawValue) images have shape \(images.imageShape) but '\(architecture.rawValue)' expects \(architecture.inputShape).\(advice)")
        }
    }
}

/// The training configuration `bulwark train` records in a checkpoint's metadata (every
/// option as text), or `nil` when the checkpoint has none.
func trainingConfiguration(in metadata: [String: String]) -> [String: String]? {
    metadata["configuration"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
}

/// The threat model shared by training and evaluation.
struct ThreatOptions: ParsableArguments {
    @Option(name: [.customLong("epsilon"), .customLong("eps")],
            help: "The perturbation budget ε, in pixel units of [0, 1]; fractions such as 8/255 are accepted.")
    var epsilon: Fraction = Fraction(0.1)

    @Option(help: "The norm of the budget: linf or l2 (any case; Linf and inf as torchattacks and AutoAttack write it).")
    var norm: Norm = .lInfinity

    var threatModel: ThreatModel { ThreatModel(norm: norm, epsilon: epsilon.value) }

    /// Refuses a negative budget here, so no command builds a threat model from one.
    func validate() throws { try requireBudget(epsilon) }
}

/// Throws unless `epsilon` is a budget a threat model can take: finite and not negative.
func requireBudget(_ epsilon: Fraction) throws {
    try require(epsilon.value >= 0 && epsilon.value.isFinite,
                "--epsilon must be a non-negative budget such as 0.1 or 8/255, got \(epsilon.value)")
}

/// The checkpoint to load.
struct ModelOptions: ParsableArguments {
    @Option(help: "The checkpoint (.safetensors).")
    var model: String

    @Option(help: "The architecture, for checkpoints without Bulwark metadata (saved by PyTorch).")
    var architecture: Architecture?

    /// The model in inference mode, its architecture and the file's metadata.
    func load() throws -> (model: Sequential, architecture: Architecture, metadata: [String: String]) {
        try Checkpoint.load(from: model, architecture: architecture)
    }
}

/// The attacks the command line can build.
enum AttackName: String, CaseIterable {
    case fgsm, pgd, bim
    case miFGSM = "mi-fgsm"
    case gradientAscent = "gradient-ascent"
    case apgdCE = "apgd-ce"
    case apgdDLR = "apgd-dlr"
    case apgdT = "apgd-t"
    case fab
    case fabT = "fab-t"
    case square
    case deepfool
    case carliniWagner = "cw-l2"

    /// DeepFool, Carlini–Wagner and FAB search for the smallest perturbation.
    var isMinimumNorm: Bool { [.deepfool, .carliniWagner, .fab, .fabT].contains(self) }

    static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// The attacks' hyper-parameters, shared by `eval` and `attack`.
struct AttackParameters: ParsableArguments {
    @Option(help: "Steps of pgd and gradient-ascent (default 20), mi-fgsm (default 10) and deepfool (at least 50); of bim when --step-size is given (else Kurakin et al.'s count).")
    var steps: Int?

    @Option(name: [.customLong("step-size"), .customLong("alpha")], help: "Step size α of pgd and gradient-ascent (default 2.5ε/steps), mi-fgsm (default ε/steps) and bim (default 1/255 with Kurakin et al.'s step count). Fractions accepted.")
    var stepSize: Fraction?

    @Option(help: "Decay factor μ of mi-fgsm's accumulated gradient.")
    var momentumDecay: Float = 1

    @Option(name: [.customLong("restarts"), .customLong("n-restarts")], help: "Restarts of pgd and the APGD attacks, runs per target of the FAB attacks; an example is robust only if it survives all of them.")
    var restarts: Int = 1

    @Flag(inversion: .prefixedNo, help: "Start PGD at a random point of the ε-ball.")
    var randomStart = true

    @Option(help: "Iterations of the APGD and FAB attacks (per target class for apgd-t and fab-t).")
    var iterations: Int = 100

    @Option(help: "Query budget of the Square attack.")
    var queries: Int = 5000

    func validate() throws {
        if let steps { try require(steps >= 1, "--steps must be at least 1, got \(steps)") }
        try require(restarts >= 1, "--restarts must be at least 1, got \(restarts)")
        try require(iterations >= 1, "--iterations must be at least 1, got \(iterations)")
        try require(queries >= 1, "--queries must be at least 1, got \(queries)")
        if let stepSize { try require(stepSize.value > 0, "--step-size must be positive, got \(stepSize.value)") }
        try require(momentumDecay >= 0 && momentumDecay.isFinite, "--momentum-decay must be a finite number ≥ 0, got \(momentumDecay)")
    }

    /// The steps of PGD-like attacks: the given count or 20.
    var pgdSteps: Int { steps ?? 20 }

    /// α for `threatModel`: the given step size, or Madry et al.'s 2.5ε/steps.
    func stepSize(for threatModel: ThreatModel) -> Float {
        stepSize?.value ?? 2.5 * threatModel.epsilon / Float(pgdSteps)
    }

    /// Budgets far beyond the papers', each with the option, its value and the papers' range:
    /// warnings to print before a run that may not end in any reasonable time.
    ///
    /// The thresholds are ten times the largest budgets the papers use. PGD: Madry et al. 2018
    /// attack with 40 (MNIST) to 100 steps, and robustness checks go to 1,000 (Croce and Hein
    /// 2020); so 10,000. APGD and FAB: AutoAttack runs 100 iterations (at most 1,000 in its
    /// checks); so 10,000. Square: 5,000 queries in AutoAttack, 10,000 in Andriushchenko et
    /// al. 2020's main tables; so 100,000. Restarts: AutoAttack's rand and plus versions use 5
    /// to 20; so 200.
    var budgetWarnings: [String] {
        var warnings = [String]()
        if let steps, steps > 10_000 {
            warnings.append("--steps \(steps) is far beyond the 10 to 1,000 steps PGD-type attacks use in the literature; the attack will take very long for no gain in strength")
        }
        if iterations > 10_000 {
            warnings.append("--iterations \(iterations) is far beyond the 100 (at most 1,000) iterations of APGD and FAB in AutoAttack; the attack will take very long")
        }
        if queries > 100_000 {
            warnings.append("--queries \(queries) is far beyond the 5,000 to 10,000 queries of the Square attack in its paper and AutoAttack; the attack will take very long")
        }
        if restarts > 200 {
            warnings.append("--restarts \(restarts) is far beyond the 1 to 20 restarts used in the literature; the attack will take very long")
        }
        return warnings
    }

    /// Prints ``budgetWarnings`` on standard error.
    func warnAboutBudgets() {
        for warning in budgetWarnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
    }

    /// The attack called `name` with these parameters; PGD, APGD and Square report their
    /// iterations (queries) within a batch to `iterationProgress`.
    func makeAttack(_ name: AttackName, threatModel: ThreatModel, iterationProgress: IterationProgress? = nil) -> any Attack {
        var attack = makeAttack(name, threatModel: threatModel)
        if var pgd = attack as? PGD { pgd.onProgress = iterationProgress; attack = pgd }
        if var apgd = attack as? APGD { apgd.onProgress = iterationProgress; attack = apgd }
        if var square = attack as? SquareAttack { square.onProgress = iterationProgress; attack = square }
        return attack
    }

    /// The attack called `name` with these parameters.
    func makeAttack(_ name: AttackName, threatModel: ThreatModel) -> any Attack {
        let alpha = stepSize(for: threatModel)
        switch name {
        case .fgsm: return FGSM(threatModel: threatModel)
        case .pgd: return PGD(threatModel: threatModel, steps: pgdSteps, stepSize: alpha, randomStart: randomStart, restarts: restarts)
        case .bim:
            // Kurakin et al.'s schedule unless the user sets the step size.
            guard let stepSize else { return BIM(threatModel: threatModel, steps: steps) }
            return BIM(threatModel: threatModel, steps: pgdSteps, stepSize: stepSize.value)
        case .miFGSM: return MIFGSM(threatModel: threatModel, steps: steps ?? 10, stepSize: stepSize?.value, decay: momentumDecay)
        case .gradientAscent: return GradientAscent(threatModel: threatModel, steps: pgdSteps, stepSize: alpha)
        case .apgdCE: return APGD(threatModel: threatModel, iterations: iterations, restarts: restarts)
        case .apgdDLR: return APGD(threatModel: threatModel, iterations: iterations, restarts: restarts, loss: .dlr)
        case .apgdT: return APGD(threatModel: threatModel, iterations: iterations, restarts: restarts, loss: .dlr, objective: .targeted())
        case .fab: return FAB(threatModel: threatModel, iterations: iterations, restarts: restarts)
        case .fabT: return FAB(threatModel: threatModel, iterations: iterations, restarts: restarts, objective: .targeted())
        case .square: return SquareAttack(threatModel: threatModel, queries: queries)
        case .deepfool: return DeepFool(threatModel: threatModel, steps: Swift.max(steps ?? 50, 50))
        case .carliniWagner: return CarliniWagnerL2(threatModel: threatModel)
        }
    }
}

/// Rejects an empty `--attack` (`--attack none` asks for clean accuracy only).
func requireAttackNames(_ names: [String]) throws {
    try require(!names.contains { $0.trimmingCharacters(in: .whitespaces).isEmpty },
                "--attack is empty: name an attack (\(AttackName.list)), or none for clean accuracy only")
}

/// Rejects values outside a range with a message naming the option.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ValidationError(message()) }
}
