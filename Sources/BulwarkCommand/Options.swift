import ArgumentParser
import Bulwark
import Foundation

/// A number that may be written as a fraction (`8/255`), as users think of pixel budgets.
struct Fraction: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var value: Float
    var description: String { String(value) }

    init(_ value: Float) { self.value = value }

    init?(argument: String) {
        guard let value = Float(decimalOrFraction: argument) else { return nil }
        self.value = value
    }
}

extension ImageDatasetName: ExpressibleByArgument {}
extension Architecture: ExpressibleByArgument {}
extension Norm: ExpressibleByArgument {
    /// `linf` or `l2` in any case, and the spellings of torchattacks and AutoAttack (`Linf`,
    /// `L2`, `inf`), which Bulwark's JSON also writes.
    public init?(argument: String) { self.init(spelling: argument) }
}
extension DatasetSplit: ExpressibleByArgument {}
extension ImageLayout: ExpressibleByArgument {}
extension EvaluationStrategy: ExpressibleByArgument {}

/// The engine's thread count, an option of every command.
struct ThreadOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Threads the computation runs on (default \(EngineThreads.variable), else the cores divided among the MPI ranks on this machine).",
        discussion: "Convolutional models' training depends in the last bits on the thread count; the run records it.", valueName: "n"))
    var threads: Int?

    /// Sets the engine's thread count while the options are parsed, before any computation.
    func validate() throws {
        if let threads { try require(EngineThreads.allowedCounts.contains(threads), "--threads must be between 1 and 1024, got \(threads)") }
        do {
            if let count = try threads ?? EngineThreads.count(in: ProcessInfo.processInfo.environment) { try EngineThreads.use(count) }
        } catch { throw ValidationError(String(describing: error)) }
    }
}

/// Where the images come from.
struct DatasetOptions: ParsableArguments {
    @Option(name: .customLong("dataset"), help: ArgumentHelp(
        "The dataset: fashion-mnist, mnist, idx (any IDX files in --data-dir) or cifar10; default fashion-mnist, or for a checkpoint the dataset it was trained on.",
        valueName: "dataset"))
    var chosenDataset: ImageDatasetName?

    @Option(help: ArgumentHelp(
        "The directory holding the IDX files (train-images-idx3-ubyte[.gz] and so on) or CIFAR-10's binary batches (data_batch_1.bin … data_batch_5.bin, test_batch.bin).",
        discussion: """
            Fashion-MNIST defaults to /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist), CIFAR-10 to \
            ~/.cache/bulwark/cifar-10, where the binary archive (\(ImageDatasetName.cifar10DownloadURL)) may be extracted as \
            it is: the files are looked for in the directory and in its cifar-10-batches-bin folder.
            """))
    var dataDir: String?

    @Option(name: .customLong("data"), help: ArgumentHelp(
        "Your own images instead of a built-in dataset: a .npz (x, y), a .npy images file with its labels file beside it, a .safetensors file (such as bulwark attack writes) or a folder of PNG images in one sub-folder per class (train/ and test/ sub-folders for both splits).",
        valueName: "path"))
    var dataPath: String?
    @Option(name: .customLong("test-data"), help: ArgumentHelp("The test split's file or folder, when --data holds the training split only.", valueName: "path"))
    var testDataPath: String?
    @Option(help: "The layout of --data's image arrays: nchw or nhwc (default inferred from the shape).")
    var imageLayout: ImageLayout?

    /// The user's data files, which no output may replace.
    var inputs: [PathOption] { [("--data", dataPath), ("--test-data", testDataPath)] }

    /// The library's selection these options make.
    var selection: ImageDataSelection {
        ImageDataSelection(dataset: chosenDataset, dataDirectory: dataDir, dataPath: dataPath.map(absolutePath),
                           testDataPath: testDataPath.map(absolutePath), imageLayout: imageLayout)
    }

    /// The first `count` examples of `split` to evaluate `classifier` on, from the dataset it
    /// was trained on unless `--dataset` says otherwise (with a note on standard error when
    /// they differ; see ``ImageDataSelection/matching(checkpointMetadata:)``).
    func evaluationData(
        _ split: DatasetSplit, count: Int, for classifier: ImageClassifier, metadata: [String: String]
    ) throws -> (selection: ImageDataSelection, dataset: ImageDataset) {
        let (selection, note) = self.selection.matching(checkpointMetadata: metadata)
        if let note { writeToStandardError("note: \(commandLine(note))") }
        return (selection, try flagged { try selection.evaluationData(split, count: count, for: classifier) })
    }
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
    func validate() throws { try flagged { try requireBudget(epsilon.value) } }
}

/// The model to load.
struct ModelOptions: ParsableArguments {
    @Option(help: "The checkpoint (.safetensors), or an ONNX image classifier (.onnx).") var model: String
    @Option(help: "The architecture, for checkpoints without Bulwark metadata (saved by PyTorch).")
    var architecture: Architecture?
    @OptionGroup var contract: ONNXContractOptions

    /// The library's selection these options make.
    var selection: ModelSelection {
        ModelSelection(path: model, architecture: architecture, mean: contract.mean, standardDeviation: contract.std,
                       layout: contract.layout, inputName: contract.inputName)
    }

    /// The model in inference mode and the file's metadata, with a note on standard error
    /// when an ONNX graph's final Softmax was left out.
    func load() throws -> (classifier: ImageClassifier, metadata: [String: String]) {
        let loaded = try flagged { try selection.load() }
        if loaded.classifier.droppedFinalSoftmax { writeToStandardError("note: \(ModelSelection.droppedSoftmaxNote)") }
        return loaded
    }
}

extension ONNXInputContract.Layout: ExpressibleByArgument {}

/// How Bulwark's `[N, C, H, W]` pixels in [0, 1] become an ONNX graph's input.
struct ONNXContractOptions: ParsableArguments {
    @Option(help: "For an ONNX model: per-channel means the graph's input is standardized with, comma separated (default the model's bulwark.mean metadata, else none).")
    var mean: String?
    @Option(help: "For an ONNX model: per-channel standard deviations, comma separated (default the model's bulwark.std metadata).")
    var std: String?
    @Option(help: "For an ONNX model: the layout of its input, nchw or nhwc (default: the model's bulwark.layout metadata, else inferred from its input shape).")
    var layout: ONNXInputContract.Layout?
    @Option(help: "For an ONNX model: the graph input to feed (default its only input).")
    var inputName: String?
}

/// The attacks' hyper-parameters, shared by `eval` and `attack`.
struct AttackOptions: ParsableArguments {
    @Option(help: "Steps of pgd and gradient-ascent (default 20), mi-fgsm (default 10) and deepfool (at least 50); of bim when --step-size is given (else Kurakin et al.'s count).")
    var steps: Int?
    @Option(name: [.customLong("step-size"), .customLong("alpha")], help: "Step size α of pgd and gradient-ascent (default 2.5ε/steps), mi-fgsm (default ε/steps) and bim (default 1/255 with Kurakin et al.'s step count). Fractions accepted.")
    var stepSize: Fraction?
    @Option(help: "Decay factor μ of mi-fgsm's accumulated gradient.") var momentumDecay: Float = 1
    @Option(name: [.customLong("restarts"), .customLong("n-restarts")], help: "Restarts of pgd and the APGD attacks, runs per target of the FAB attacks; an example is robust only if it survives all of them.")
    var restarts: Int = 1
    @Flag(inversion: .prefixedNo, help: "Start PGD at a random point of the ε-ball.") var randomStart = true
    @Option(help: "Iterations of the APGD and FAB attacks (per target class for apgd-t and fab-t).") var iterations: Int = 100
    @Option(help: "Query budget of the Square attack.") var queries: Int = 5000

    /// The library's parameters these options give.
    var parameters: AttackParameters {
        var parameters = AttackParameters()
        (parameters.steps, parameters.stepSize, parameters.momentumDecay) = (steps, stepSize?.value, momentumDecay)
        (parameters.restarts, parameters.randomStart) = (restarts, randomStart)
        (parameters.iterations, parameters.queries) = (iterations, queries)
        return parameters
    }

    func validate() throws { try flagged { try parameters.validate() } }

    /// Prints the parameters' budget warnings on standard error.
    func warnAboutBudgets() {
        parameters.budgetWarnings.forEach { writeToStandardError("warning: \(commandLine($0))") }
    }
}
