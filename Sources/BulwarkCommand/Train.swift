import ArgumentParser
import Bulwark

/// `bulwark train`: trains an image classifier, optionally adversarially.
struct Train: TrainingCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an image classifier, standard or adversarially (Fast-AT, PGD-AT, TRADES, MART, Free-AT, mixed, AWP, GradAlign).",
        discussion: """
            Writes OUT/model.safetensors (after every epoch), OUT/best.safetensors (best robust validation accuracy, Rice et al. 2020), \
            OUT/metrics.jsonl (one JSON object per epoch), OUT/resume.safetensors (what --resume continues from), OUT/run.json (every option \
            with its resolved default, the command that repeats the run, versions) and, after the last epoch, OUT/final-eval.json (clean \
            accuracy and the validation attack on the test split, as bulwark eval --json writes it). Validation uses the last \
            --validation-count training images, which are held out of training, and PGD at the training ε.

            A killed run continues with bulwark train --resume OUT from its last completed epoch and ends with the same model, bit for bit, as \
            if it had not stopped (same machine and thread count).

            Methods: standard; fast (Fast-AT, Wong et al. 2020: FGSM from a random start); pgd (PGD-AT, Madry et al. 2018); trades (Zhang et \
            al. 2019: CE + β·KL, KL maximized by PGD); mart (Wang et al. 2020: boosted CE on PGD examples + β·KL weighted by 1 − p_y); free \
            (Free-AT, Shafahi et al. 2019: each batch replayed --replays times, the perturbation carried across replays and batches); mix ((1 \
            − r)·clean CE + r·CE on PGD examples with r = --adversarial-ratio); awp (Wu et al. 2020: PGD-AT, or TRADES with --awp-inner \
            trades, whose gradient is taken at weights perturbed layer by layer by --awp-gamma times their norm along the loss's ascent \
            direction, then applied to the unperturbed weights); gradalign (Andriushchenko and Flammarion 2020: FGSM training plus \
            --gradalign-lambda · (1 − cos) of the input gradients at x and at a random point of the ε-ball, differentiated exactly by double \
            backward). --epochs counts passes over the data for every method, so Free-AT does --replays updates per batch: for the paper's \
            budget of N epochs pass --epochs N/replays.
            """)

    typealias Configuration = ImageTrainingConfiguration
    static let commandWords = ["bulwark", "train"]
    static let defaultOutput = "runs/latest"
    static let resumeDiscussion = """
        The options come from DIR/run.json and need not be repeated; options given beside --resume must agree with the run's, except \
        --data-dir, --final-eval-count, --stop-after, --quiet and --json. A run of bulwark train --task text in DIR continues as a text \
        run.
        """
    static let requiredFields: [String] = []

    enum Task: String, ExpressibleByArgument, CaseIterable { case image, text }

    @Option(help: ArgumentHelp("image, or text for text classifiers (SST-2, MR, TREC, AG News, CSV/TSV/JSONL).", discussion: "The text task has its own options: bulwark train --task text --help.")) var task: Task = .image
    @OptionGroup var data: DatasetOptions
    @OptionGroup var threat: ThreatOptions
    @Option(help: "The architecture (default smallcnn): \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).") var architecture: Architecture?
    /// An ONNX file to fine-tune, or an architecture: the old spelling of `--architecture`.
    @Option(name: .customLong("model"), help: ArgumentHelp(
        "An ONNX image classifier (FILE.onnx) to fine-tune instead of a new --architecture model.",
        discussion: "The run also writes OUT/model.onnx, the graph with the trained parameters; --mean, --std, --layout and --input-name say how the graph takes images."))
    var modelArgument: TrainingModelName?
    @OptionGroup var contract: ONNXContractOptions
    /// The architecture to train.
    var model: Architecture { architecture ?? modelArgument?.architecture ?? .smallcnn }
    var inputFiles: [PathOption] { [("--model", modelArgument?.file)] + data.inputs }

    @Option(help: "standard, fast, pgd, trades, mart, free, mix, awp or gradalign (see the discussion below).") var method: ImageTrainingMethodName = .fast
    @Option(help: "Attack steps per batch of pgd, trades, mart, mix and awp; default 7 for pgd, mix and awp on pgd, 10 for trades, mart and awp on trades.") var steps: Int?
    @Option(name: [.customLong("step-size"), .customLong("alpha")], help: ArgumentHelp("Attack step size α; default 1.25ε for fast, ε for free and gradalign, 2.5ε/steps otherwise. Fractions accepted.", discussion: "For free it is the FGSM step on the carried perturbation.")) var stepSize: Fraction?
    @Flag(inversion: .prefixedNo, help: ArgumentHelp("Start the attack of fast, pgd, gradalign and awp on pgd at a random point of the ε-ball.", discussion: "On by default except for gradalign, whose reference starts FGSM at x; --no-random-start makes fast plain FGSM and pgd BIM training.")) var randomStart: Bool?
    @Flag(help: "fast: take the FGSM gradient at the random start before clipping it to [0, 1], as Wong et al.'s MNIST code does (their CIFAR-10 code and the default clip it).") var unclippedStart = false
    @Option(help: "β, the weight of the KL term of trades, mart and awp on trades (default 6).") var beta: Float?
    @Option(help: "The training awp builds on: pgd (PGD-AT) or trades (default pgd).") var awpInner: Configuration.AWPInner?
    @Option(help: ArgumentHelp("γ of awp: each weight tensor is perturbed by γ times its norm (default 0.01 on pgd, 0.005 on trades, as the reference code).", discussion: "Convolution and linear weights are perturbed; biases are not.")) var awpGamma: Float?
    @Option(help: "Epochs of awp trained with its base method alone before the weight perturbation starts (default 0).") var awpWarmup: Int?
    @Option(help: ArgumentHelp("λ of gradalign, the weight of 1 − cos of the input gradients (default 0.2).", discussion: "0.2 is the paper's value for ε = 8/255 on CIFAR-10, whose scripts grow λ with ε as 0.02 · 10^(ε·255/8); a larger ε needs a larger λ, such as 1 for MNIST at ε = 0.3.")) var gradalignLambda: Float?
    @Option(help: "m, the times free replays each batch (default 8).") var replays: Int?
    @Option(help: "r in [0, 1], the weight of the adversarial loss of mix (default 0.5); fractions accepted.") var adversarialRatio: Fraction?
    @Option(help: ArgumentHelp("Epochs over which ε (and the step size with it) ramps linearly, per batch, up to --epsilon; 0 for none. Fractions accepted.", discussion: "For fast, pgd, trades, mart and free.")) var epsilonWarmup: Fraction = Fraction(0)
    @Flag(help: ArgumentHelp(
        "Stop on catastrophic overfitting and restore the most robust checked model.",
        discussion: """
            Checks FGSM and PGD-5 accuracy on 256 held-out validation images (training images when --validation-count is 0) after every epoch \
            (or every --overfitting-interval batches); stops when PGD accuracy falls 20 points below its best while FGSM accuracy stays 20 \
            points above it (Wong et al. 2020).
            """))
    var overfittingGuard = false
    @Option(help: "Batches between the overfitting guard's checks (default: once per epoch).") var overfittingInterval: Int?
    @Flag(inversion: .prefixedNo, help: ArgumentHelp("Randomly crop (4 pixels of zero padding) and flip every training batch; default on for cifar10, off otherwise.", discussion: "The CIFAR-10 augmentation of He et al. 2016, drawn from the run's seeded generator; validation images are not augmented.")) var augment: Bool?
    @Option(help: "Passes over the training data.") var epochs: Int = 5
    @Option(help: "Examples per batch.") var batchSize: Int = 128
    @Option(help: "sgd or adam.") var optimizer: Configuration.OptimizerName = .adam
    @Option(help: "The (peak) learning rate.") var learningRate: Float = 1e-3
    @Option(help: "SGD momentum.") var momentum: Float = 0.9
    @Option(help: "L2 weight decay.") var weightDecay: Float = 0
    @Option(help: ArgumentHelp("constant, cyclic (0 → peak at 40% → 0, per batch, as Fast-AT), piecewise (×0.1 at 50% and 75%) or cosine.", discussion: "Defaults to constant for standard training and cyclic otherwise.")) var schedule: Configuration.ScheduleName?
    @Option(help: "Training images held out for per-epoch validation.") var validationCount: Int = 1000
    @Option(help: "PGD steps of the per-epoch validation attack (step 2.5ε/steps, random start); 0 for clean only.") var validationSteps: Int = 10
    @Option(help: "Use only the first N training images (for quick runs).") var trainCount: Int?
    @Option(help: "The seed of every random choice: initialization, shuffling, attacks.") var seed: UInt64 = 0
    @OptionGroup var runDirectory: RunDirectoryOptions<Train>
    @OptionGroup var threads: ThreadOptions
    @Option(help: ArgumentHelp("Test images of the final evaluation (clean and the validation attack on the first n, OUT/final-eval.json); default 1000, 0 for none.", valueName: "n")) var finalEvalCount: Int?
    @Option(help: "Also write the run's summary as JSON to this file: configuration, model path, every epoch's metrics, the best epoch and the final evaluation's file.") var json: String?

    func validate() throws {
        try require(task == .image, "--task text must follow train directly: bulwark train --task text …")
        try require(architecture == nil || modelArgument?.file == nil,
                    "--architecture \(architecture?.rawValue ?? "") and --model \(modelArgument?.file ?? ""): an ONNX model brings its own architecture; give only one")
        do { _ = try ONNXInputContract(meanList: contract.mean, standardDeviationList: contract.std) } catch { throw ValidationError("\(namingFlags(error))") }
        // The configuration keeps a dataset even for the user's data; the selection knows whether both were chosen.
        try flagged { try data.selection.validate() }
        try validateRun(architecture: architecture, deprecatedModel: modelArgument?.architecture)
    }

    /// The configuration the options give (defaults left to ``ImageTrainingConfiguration/resolved()``).
    var configuration: Configuration {
        var c = Configuration()
        (c.dataset, c.dataDirectory) = (data.selection.resolvedDataset, data.dataDir.map(absolutePath))
        (c.dataPath, c.testDataPath, c.imageLayout) = (data.selection.dataPath, data.selection.testDataPath, data.imageLayout)
        (c.architecture, c.method) = (model, method)
        (c.modelPath, c.layout, c.inputName) = (modelArgument?.file.map(absolutePath), contract.layout, contract.inputName)
        (c.mean, c.standardDeviation) = (contract.mean.flatMap(ONNXInputContract.channelValues), contract.std.flatMap(ONNXInputContract.channelValues))
        (c.epsilon, c.norm, c.steps, c.stepSize, c.randomStart) = (threat.epsilon.value, threat.norm, steps, stepSize?.value, randomStart)
        (c.clipsStart, c.beta, c.awpInner, c.awpGamma, c.awpWarmup) = (unclippedStart ? false : nil, beta, awpInner, awpGamma, awpWarmup)
        (c.gradalignLambda, c.replays, c.adversarialRatio, c.epsilonWarmup) = (gradalignLambda, replays, adversarialRatio?.value, epsilonWarmup.value)
        (c.overfittingGuard, c.overfittingInterval, c.augment, c.epochs, c.batchSize) = (overfittingGuard, overfittingInterval, augment, epochs, batchSize)
        (c.optimizer, c.learningRate, c.momentum, c.weightDecay, c.schedule) = (optimizer, learningRate, momentum, weightDecay, schedule)
        (c.validationCount, c.validationSteps, c.trainCount, c.seed) = (validationCount, validationSteps, trainCount, seed)
        c.finalEvaluationCount = finalEvalCount
        return c
    }

    func job(_ configuration: Configuration, resuming: Bool) throws -> ImageTrainingJob {
        try flagged {
            try ImageTrainingJob(configuration: configuration, outputDirectory: runDirectory.out,
                                 command: commandLine(configuration.resolved()), resuming: resuming,
                                 stopAfterEpoch: runDirectory.stopAfter, summaryRequested: json != nil, communicator: worldCommunicator())
        }
    }

    func train(_ job: ImageTrainingJob) throws {
        let (loaded, outcome) = try trainShowingProgress(job, loading: job.configuration.dataSelection.dataName)
        guard printsResults else { return }
        let finalEvaluation = try job.writeFinalEvaluation(of: outcome)
        // A skipped evaluation's reason names fields: written as options here.
        finalEvaluation.lines.forEach { output(ConfigurationError($0).message(namingFields: flag(for:))) }
        try writeJSON(job.summary(of: outcome, finalEvaluation: finalEvaluation.file), to: json, snakeCase: true)
        job.summaryLines(of: outcome, on: loaded).forEach(output)
        if outcome.stoppedEarly { output(stoppedNotice(after: outcome.history.last?.epoch ?? 0, of: job.configuration.epochs)) }
    }
}

extension TrainingModelName: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension ImageTrainingMethodName: ExpressibleByArgument {
    public static var allValueStrings: [String] { all.map(\.rawValue) }
}
extension ImageTrainingConfiguration.AWPInner: ExpressibleByArgument {}
extension ImageTrainingConfiguration.OptimizerName: ExpressibleByArgument {}
extension ImageTrainingConfiguration.ScheduleName: ExpressibleByArgument {}
