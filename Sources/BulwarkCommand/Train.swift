import ArgumentParser
import Bulwark
import BulwarkCore
import Foundation

/// `bulwark train`: trains an image classifier, optionally adversarially.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an image classifier, standard or adversarially (Fast-AT, PGD-AT, TRADES, MART, Free-AT, mixed, AWP, GradAlign).",
        discussion: """
            Writes OUT/model.safetensors (after every epoch), OUT/best.safetensors (best robust \
            validation accuracy, Rice et al. 2020), OUT/metrics.jsonl (one JSON object per epoch), \
            OUT/resume.safetensors (what --resume continues from), OUT/run.json (every option with \
            its resolved default, the command that repeats the run, versions) and, after the last \
            epoch, OUT/final-eval.json (clean accuracy and the validation attack on the test split, \
            as bulwark eval --json writes it). Validation uses the last --validation-count \
            training images, which are held out of training, and PGD at the training ε.

            A killed run continues with bulwark train --resume OUT from its last completed epoch \
            and ends with the same model, bit for bit, as if it had not stopped (same machine and \
            thread count).

            Methods: standard; fast (Fast-AT, Wong et al. 2020: FGSM from a random start); pgd \
            (PGD-AT, Madry et al. 2018); trades (Zhang et al. 2019: CE + β·KL, KL maximized by \
            PGD); mart (Wang et al. 2020: boosted CE on PGD examples + β·KL weighted by 1 − p_y); \
            free (Free-AT, Shafahi et al. 2019: each batch replayed --replays times, the \
            perturbation carried across replays and batches); mix ((1 − r)·clean CE + r·CE on PGD \
            examples with r = --adversarial-ratio); awp (Wu et al. 2020: PGD-AT, or TRADES with \
            --awp-inner trades, whose gradient is taken at weights perturbed layer by layer by \
            --awp-gamma times their norm along the loss's ascent direction, then applied to the \
            unperturbed weights); gradalign (Andriushchenko and Flammarion 2020: FGSM training \
            plus --gradalign-lambda · (1 − cos) of the input gradients at x and at a random point \
            of the ε-ball, differentiated exactly by double backward). --epochs counts passes \
            over the data for every method, so Free-AT does --replays updates per batch: for the \
            paper's budget of N epochs pass --epochs N/replays.
            """)

    enum Method: String, ExpressibleByArgument, CaseIterable {
        case standard, fast, pgd, trades, mart, free, mix, awp, gradalign
    }

    enum AWPInner: String, ExpressibleByArgument, CaseIterable {
        case pgd, trades
    }

    enum OptimizerName: String, ExpressibleByArgument, CaseIterable {
        case sgd, adam
    }

    enum ScheduleName: String, ExpressibleByArgument, CaseIterable {
        case constant, cyclic, piecewise, cosine
    }

    enum Task: String, ExpressibleByArgument, CaseIterable {
        case image, text
    }

    @Option(help: ArgumentHelp(
        "image, or text for text classifiers (SST-2, MR, TREC, AG News, CSV/TSV/JSONL).",
        discussion: "The text task has its own options: bulwark train --task text --help."))
    var task: Task = .image

    @OptionGroup var data: DatasetOptions
    @OptionGroup var threat: ThreatOptions

    @Option(help: "The architecture (default smallcnn): \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var architecture: Architecture?

    /// The old spelling of `--architecture` (`--model` names a checkpoint file in the other commands).
    @Option(name: .customLong("model"), help: .hidden)
    var deprecatedModel: Architecture?

    /// The architecture to train.
    var model: Architecture { architecture ?? deprecatedModel ?? .smallcnn }

    @Option(help: "standard, fast, pgd, trades, mart, free, mix, awp or gradalign (see the discussion below).")
    var method: Method = .fast

    @Option(help: "Attack steps per batch of pgd, trades, mart, mix and awp; default 7 for pgd, mix and awp on pgd, 10 for trades, mart and awp on trades.")
    var steps: Int?

    @Option(name: [.customLong("step-size"), .customLong("alpha")], help: ArgumentHelp(
        "Attack step size α; default 1.25ε for fast, ε for free and gradalign, 2.5ε/steps otherwise. Fractions accepted.",
        discussion: "For free it is the FGSM step on the carried perturbation."))
    var stepSize: Fraction?

    @Flag(inversion: .prefixedNo, help: ArgumentHelp(
        "Start the attack of fast, pgd, gradalign and awp on pgd at a random point of the ε-ball.",
        discussion: "On by default except for gradalign, whose reference starts FGSM at x; --no-random-start makes fast plain FGSM and pgd BIM training."))
    var randomStart: Bool?

    @Flag(help: "fast: take the FGSM gradient at the random start before clipping it to [0, 1], as Wong et al.'s MNIST code does (their CIFAR-10 code and the default clip it).")
    var unclippedStart = false

    @Option(help: "β, the weight of the KL term of trades, mart and awp on trades (default 6).")
    var beta: Float?

    @Option(help: "The training awp builds on: pgd (PGD-AT) or trades (default pgd).")
    var awpInner: AWPInner?

    @Option(help: ArgumentHelp(
        "γ of awp: each weight tensor is perturbed by γ times its norm (default 0.01 on pgd, 0.005 on trades, as the reference code).",
        discussion: "Convolution and linear weights are perturbed; biases are not."))
    var awpGamma: Float?

    @Option(help: "Epochs of awp trained with its base method alone before the weight perturbation starts (default 0).")
    var awpWarmup: Int?

    @Option(help: ArgumentHelp(
        "λ of gradalign, the weight of 1 − cos of the input gradients (default 0.2).",
        discussion: "0.2 is the paper's value for ε = 8/255 on CIFAR-10, whose scripts grow λ with ε as 0.02 · 10^(ε·255/8); a larger ε needs a larger λ, such as 1 for MNIST at ε = 0.3."))
    var gradalignLambda: Float?

    @Option(help: "m, the times free replays each batch (default 8).")
    var replays: Int?

    @Option(help: "r in [0, 1], the weight of the adversarial loss of mix (default 0.5); fractions accepted.")
    var adversarialRatio: Fraction?

    @Option(help: ArgumentHelp(
        "Epochs over which ε (and the step size with it) ramps linearly, per batch, up to --epsilon; 0 for none. Fractions accepted.",
        discussion: "For fast, pgd, trades, mart and free."))
    var epsilonWarmup: Fraction = Fraction(0)

    @Flag(help: ArgumentHelp(
        "Stop on catastrophic overfitting and restore the most robust checked model.",
        discussion: """
            Checks FGSM and PGD-5 accuracy on 256 held-out validation images (training images when \
            --validation-count is 0) after every epoch (or \
            every --overfitting-interval batches); stops when PGD accuracy falls 20 points below its \
            best while FGSM accuracy stays 20 points above it (Wong et al. 2020).
            """))
    var overfittingGuard = false

    @Option(help: "Batches between the overfitting guard's checks (default: once per epoch).")
    var overfittingInterval: Int?

    @Flag(inversion: .prefixedNo, help: ArgumentHelp(
        "Randomly crop (4 pixels of zero padding) and flip every training batch; default on for cifar10, off otherwise.",
        discussion: "The CIFAR-10 augmentation of He et al. 2016, drawn from the run's seeded generator; validation images are not augmented."))
    var augment: Bool?

    @Option(help: "Passes over the training data.")
    var epochs: Int = 5

    @Option(help: "Examples per batch.")
    var batchSize: Int = 128

    @Option(help: "sgd or adam.")
    var optimizer: OptimizerName = .adam

    @Option(help: "The (peak) learning rate.")
    var learningRate: Float = 1e-3

    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9

    @Option(help: "L2 weight decay.")
    var weightDecay: Float = 0

    @Option(help: ArgumentHelp(
        "constant, cyclic (0 → peak at 40% → 0, per batch, as Fast-AT), piecewise (×0.1 at 50% and 75%) or cosine.",
        discussion: "Defaults to constant for standard training and cyclic otherwise."))
    var schedule: ScheduleName?

    @Option(help: "Training images held out for per-epoch validation.")
    var validationCount: Int = 1000

    @Option(help: "PGD steps of the per-epoch validation attack (step 2.5ε/steps, random start); 0 for clean only.")
    var validationSteps: Int = 10

    @Option(help: "Use only the first N training images (for quick runs).")
    var trainCount: Int?

    @Option(help: "The seed of every random choice: initialization, shuffling, attacks.")
    var seed: UInt64 = 0

    @Option(help: "The output directory.")
    var out: String = "runs/latest"

    @Flag(help: "Print only the final summary.")
    var quiet = false

    @Flag(help: "Replace the run already in --out (its model, checkpoints, metrics and manifest) instead of refusing.")
    var force = false

    @Option(help: ArgumentHelp(
        "Continue the run in this directory from its last completed epoch.",
        discussion: """
            The options come from DIR/run.json and need not be repeated; options given beside \
            --resume must agree with the run's, except --data-dir, --final-eval-count, \
            --stop-after, --quiet and --json. A run of bulwark train --task text in DIR continues \
            as a text run.
            """,
        valueName: "dir"))
    var resume: String?

    @Option(help: ArgumentHelp("Stop after epoch N although the schedule spans --epochs; continue later with --resume OUT.", valueName: "n"))
    var stopAfter: Int?

    @Option(help: ArgumentHelp("Test images of the final evaluation (clean and the validation attack on the first n, OUT/final-eval.json); default 1000, 0 for none.", valueName: "n"))
    var finalEvalCount: Int?

    /// The final evaluation's default size: the first 1,000 test images, as the README's
    /// evaluations use, so that it costs little beside training.
    static let defaultFinalEvalCount = 1000

    @Option(help: "Also write the run's summary as JSON to this file: configuration, model path, every epoch's metrics, the best epoch and the final evaluation's file.")
    var json: String?

    func validate() throws {
        try require(task == .image, "--task text must follow train directly: bulwark train --task text …")
        if let architecture, let deprecatedModel {
            try require(architecture == deprecatedModel,
                        "--architecture \(architecture.rawValue) and --model \(deprecatedModel.rawValue), its old spelling, disagree; give only --architecture")
        }
        try require(epochs >= 1, "--epochs must be at least 1, got \(epochs)")
        try require(batchSize >= 1, "--batch-size must be at least 1, got \(batchSize)")
        if let steps { try require(steps >= 1, "--steps must be at least 1, got \(steps)") }
        try require(randomStart == nil || hasRandomStart,
                    "--random-start and --no-random-start apply to --method fast, pgd, gradalign and awp on pgd, not \(methodDescription)")
        try require(!unclippedStart || (method == .fast && resolvedRandomStart && threat.norm == .lInfinity),
                    "--unclipped-start applies to --method fast with its random start in L∞")
        if let beta {
            try require(hasBeta,
                        "--beta applies to --method trades, mart and awp with --awp-inner trades, not \(methodDescription)")
            try require(beta >= 0 && beta.isFinite, "--beta must be a finite number ≥ 0, got \(beta)")
        }
        try require(method == .awp || (awpInner == nil && awpGamma == nil && awpWarmup == nil),
                    "--awp-inner, --awp-gamma and --awp-warmup apply to --method awp, not \(method.rawValue)")
        if let awpGamma { try require(awpGamma >= 0 && awpGamma.isFinite, "--awp-gamma must be a finite number ≥ 0, got \(awpGamma)") }
        if let awpWarmup {
            try require(awpWarmup >= 0, "--awp-warmup must be a number of epochs ≥ 0, got \(awpWarmup)")
            try require(awpWarmup < epochs, "--awp-warmup \(awpWarmup) leaves no epoch of --epochs \(epochs) with the weight perturbation; lower it or train longer")
        }
        if let gradalignLambda {
            try require(method == .gradalign, "--gradalign-lambda applies to --method gradalign, not \(method.rawValue)")
            try require(gradalignLambda >= 0 && gradalignLambda.isFinite, "--gradalign-lambda must be a finite number ≥ 0, got \(gradalignLambda)")
        }
        if let replays {
            try require(method == .free, "--replays applies to --method free, not \(method.rawValue)")
            try require(replays >= 1, "--replays must be at least 1, got \(replays)")
        }
        if let adversarialRatio {
            try require(method == .mix, "--adversarial-ratio applies to --method mix, not \(method.rawValue)")
            try require((0...1).contains(adversarialRatio.value), "--adversarial-ratio must be in [0, 1], got \(adversarialRatio.value)")
        }
        if let overfittingInterval {
            try require(overfittingGuard, "--overfitting-interval needs --overfitting-guard")
            try require(overfittingInterval >= 1, "--overfitting-interval must be at least 1 batch, got \(overfittingInterval)")
        }
        try require(!overfittingGuard || method != .standard, "--overfitting-guard needs an adversarial --method; standard training has no ε to attack at")
        try require(epsilonWarmup.value >= 0, "--epsilon-warmup must be a number of epochs ≥ 0, got \(epsilonWarmup.value)")
        try require(epsilonWarmup.value <= Float(epochs), "--epsilon-warmup \(epsilonWarmup.value) is longer than --epochs \(epochs); ε would never reach --epsilon")
        try require(epsilonWarmup.value == 0 || ![.standard, .mix].contains(method),
                    "--epsilon-warmup needs --method fast, pgd, trades, mart, free, awp or gradalign; \(method.rawValue) has no ε to ramp")
        try require(learningRate > 0 && learningRate.isFinite, "--learning-rate must be a finite number > 0, got \(learningRate)")
        try require(weightDecay >= 0 && weightDecay.isFinite, "--weight-decay must be a finite number ≥ 0, got \(weightDecay)")
        try require(momentum >= 0 && momentum < 1, "--momentum must be in [0, 1), got \(momentum)")
        if let trainCount { try require(trainCount >= 1, "--train-count must be at least 1, got \(trainCount)") }
        try require(method == .standard || threat.epsilon.value > 0, "--method \(method.rawValue) needs --epsilon > 0")
        try require(validationCount >= 0, "--validation-count must be ≥ 0, got \(validationCount)")
        try require(validationSteps >= 0, "--validation-steps must be ≥ 0, got \(validationSteps)")
        if let stepSize { try require(stepSize.value > 0, "--step-size must be positive, got \(stepSize.value)") }
        if let stopAfter { try require((1...epochs).contains(stopAfter), "--stop-after must be an epoch from 1 to --epochs \(epochs), got \(stopAfter)") }
        if let finalEvalCount { try require(finalEvalCount >= 0, "--final-eval-count must be ≥ 0, got \(finalEvalCount)") }
    }

    // MARK: - Resolved options

    var resolvedSchedule: ScheduleName { schedule ?? (method == .standard ? .constant : .cyclic) }
    var resolvedSteps: Int { steps ?? ([.trades, .mart].contains(method) || (method == .awp && resolvedInner == .trades) ? 10 : 7) }
    var resolvedStepSize: Float {
        let epsilon = threat.epsilon.value
        let defaultStepSize: Float = switch method {
        case .standard, .fast: 1.25 * epsilon
        case .free, .gradalign: epsilon
        case .pgd, .trades, .mart, .mix, .awp: 2.5 * epsilon / Float(resolvedSteps)
        }
        return stepSize?.value ?? defaultStepSize
    }
    /// Whether the attack starts at a random point: on except for gradalign (whose reference starts at x).
    var resolvedRandomStart: Bool { randomStart ?? (method != .gradalign) }
    /// Whether the method has a random start to choose.
    var hasRandomStart: Bool { [.fast, .pgd, .gradalign].contains(method) || (method == .awp && resolvedInner == .pgd) }
    var resolvedBeta: Float { beta ?? 6 }
    /// Whether the method has a β (trades, mart, awp on trades).
    var hasBeta: Bool { [.trades, .mart].contains(method) || (method == .awp && resolvedInner == .trades) }
    /// The base method of awp.
    var resolvedInner: AWPInner { awpInner ?? .pgd }
    /// awp's γ: the reference code's 0.01 on pgd and 0.005 on trades unless given.
    var resolvedGamma: Float { awpGamma ?? (resolvedInner == .pgd ? 0.01 : 0.005) }
    var resolvedAWPWarmup: Int { awpWarmup ?? 0 }
    var resolvedLambda: Float { gradalignLambda ?? 0.2 }
    var resolvedReplays: Int { replays ?? 8 }
    var resolvedRatio: Float { adversarialRatio?.value ?? 0.5 }
    var resolvedAugment: Bool { augment ?? (data.dataset == .cifar10) }

    /// Every option that shapes the trained model, with its resolved value (those that do not
    /// apply to the method left out), as command-line words: the part of `run.json`'s
    /// `command` that `--resume` compares.
    var trainingArguments: [(name: String, value: String?)] {
        var words: [(name: String, value: String?)] = [
            ("--dataset", data.dataset.rawValue), ("--architecture", model.rawValue), ("--method", method.rawValue),
            ("--epsilon", String(threat.epsilon.value)), ("--norm", threat.norm.rawValue),
        ]
        if method == .awp { words.append(("--awp-inner", resolvedInner.rawValue)) }
        if [.pgd, .trades, .mart, .mix, .awp].contains(method) { words.append(("--steps", String(resolvedSteps))) }
        if method != .standard { words.append(("--step-size", String(resolvedStepSize))) }
        if hasRandomStart { words.append((resolvedRandomStart ? "--random-start" : "--no-random-start", nil)) }
        if unclippedStart { words.append(("--unclipped-start", nil)) }
        if hasBeta { words.append(("--beta", String(resolvedBeta))) }
        if method == .awp { words += [("--awp-gamma", String(resolvedGamma)), ("--awp-warmup", String(resolvedAWPWarmup))] }
        if method == .gradalign { words.append(("--gradalign-lambda", String(resolvedLambda))) }
        if method == .free { words.append(("--replays", String(resolvedReplays))) }
        if method == .mix { words.append(("--adversarial-ratio", String(resolvedRatio))) }
        words.append(("--epsilon-warmup", String(epsilonWarmup.value)))
        words.append((resolvedAugment ? "--augment" : "--no-augment", nil))
        if overfittingGuard { words.append(("--overfitting-guard", nil)) }
        if let overfittingInterval { words.append(("--overfitting-interval", String(overfittingInterval))) }
        words += [
            ("--epochs", String(epochs)), ("--batch-size", String(batchSize)), ("--optimizer", optimizer.rawValue),
            ("--learning-rate", String(learningRate)),
        ]
        if optimizer == .sgd { words.append(("--momentum", String(momentum))) }
        words += [
            ("--weight-decay", String(weightDecay)), ("--schedule", resolvedSchedule.rawValue),
            ("--validation-count", String(validationCount)), ("--validation-steps", String(validationSteps)),
        ]
        if let trainCount { words.append(("--train-count", String(trainCount))) }
        words.append(("--seed", String(seed)))
        return words
    }

    /// The command line that repeats this run: ``trainingArguments`` with the data directory
    /// (absolute), the final evaluation's size when given, and the output directory.
    var commandLine: String {
        var words = trainingArguments
        if let dataDir = data.dataDir { words.insert(("--data-dir", absolutePath(dataDir)), at: 1) }
        if let finalEvalCount { words.append(("--final-eval-count", String(finalEvalCount))) }
        words.append(("--out", out))
        return Self.commandLine(words)
    }

    /// The method's name, with awp's base.
    private var methodDescription: String { method == .awp ? "awp on \(resolvedInner.rawValue)" : method.rawValue }

    func run() throws {
        try checkRunOutputs()
        let progress = Progress(quiet: quiet)
        progress.line("Loading \(data.dataset.rawValue) …")
        var training = try data.load(.train)
        try data.requireShape(of: training, fitting: model)
        if let trainCount { training = training.prefix(trainCount) }
        guard training.count > validationCount else {
            throw ValidationError("--validation-count \(validationCount) leaves no training images out of \(training.count)")
        }
        let validation = training.slice((training.count - validationCount)..<training.count)
        training = training.prefix(training.count - validationCount)
        try replaceForcedRun()

        let threatModel = threat.threatModel
        let epsilon = threatModel.epsilon
        var generator = SplitMix64(seed: seed)
        var network = model.makeModel(classCount: training.classCount, using: &generator)
        let scheduleName = resolvedSchedule
        let learningRateSchedule: LearningRateSchedule = switch scheduleName {
        case .constant: .constant(learningRate)
        case .cyclic: .cyclic(peak: learningRate, peakFraction: 0.4)
        case .piecewise: .piecewise(rates: [learningRate, learningRate / 10, learningRate / 100], boundaries: [Double(epochs) * 0.5, Double(epochs) * 0.75])
        case .cosine: .cosine(peak: learningRate, minimum: 0)
        }
        let (resolvedSteps, resolvedStepSize, resolvedBeta, resolvedReplays, resolvedRatio) =
            (self.resolvedSteps, self.resolvedStepSize, self.resolvedBeta, self.resolvedReplays, self.resolvedRatio)
        let (resolvedRandomStart, resolvedGamma, resolvedLambda) = (self.resolvedRandomStart, self.resolvedGamma, self.resolvedLambda)
        let validationStepSize = 2.5 * epsilon / Float(Swift.max(validationSteps, 1))
        let validationAttack: (any Attack)? = epsilon > 0 && validationSteps > 0
            ? PGD(threatModel: threatModel, steps: validationSteps, stepSize: validationStepSize) : nil

        var configuration: [String: String] = [
            "dataset": data.dataset.rawValue, "architecture": model.rawValue, "method": method.rawValue,
            "epsilon": String(epsilon), "norm": threatModel.norm.rawValue, "epochs": String(epochs),
            "batch_size": String(batchSize), "optimizer": optimizer.rawValue, "learning_rate": String(learningRate),
            "schedule": scheduleName.rawValue, "seed": String(seed), "train_count": String(training.count),
            "validation_count": String(validationCount), "bulwark_version": bulwarkVersion,
        ]
        // The images trained on are those requested less the held-out validation images.
        if let trainCount { configuration["requested_train_count"] = String(trainCount) }
        if method != .standard { configuration["step_size"] = String(resolvedStepSize) }
        if [.pgd, .trades, .mart, .mix, .awp].contains(method) { configuration["steps"] = String(resolvedSteps) }
        if hasRandomStart { configuration["random_start"] = String(resolvedRandomStart) }
        if method == .fast { configuration["clips_start"] = String(!unclippedStart) }
        if hasBeta { configuration["beta"] = String(resolvedBeta) }
        let awpBase: AdversarialWeightPerturbation.BaseMethod = resolvedInner == .pgd
            ? .pgd(PGDAdversarialTraining(threatModel: threatModel, steps: resolvedSteps, stepSize: resolvedStepSize, randomStart: resolvedRandomStart))
            : .trades(TRADES(threatModel: threatModel, steps: resolvedSteps, stepSize: resolvedStepSize, beta: resolvedBeta))
        if method == .awp {
            configuration["awp_inner"] = resolvedInner.rawValue
            configuration["awp_gamma"] = String(resolvedGamma)
            configuration["awp_warmup"] = String(resolvedAWPWarmup)
        }
        if method == .gradalign { configuration["gradalign_lambda"] = String(resolvedLambda) }
        if method == .free { configuration["replays"] = String(resolvedReplays) }
        if method == .mix { configuration["adversarial_ratio"] = String(resolvedRatio) }
        if epsilonWarmup.value > 0 { configuration["epsilon_warmup"] = String(epsilonWarmup.value) }
        if overfittingGuard { configuration["overfitting_guard"] = overfittingInterval.map { "every \($0) batches" } ?? "every epoch" }
        let guardian = overfittingGuard ? CatastrophicOverfittingGuard(threatModel: threatModel, interval: overfittingInterval) : nil
        if optimizer == .sgd { configuration["momentum"] = String(momentum) }
        configuration["weight_decay"] = String(weightDecay)
        let augmentation: ImageAugmentation? = resolvedAugment ? .cifar10 : nil
        if augmentation != nil { configuration["augmentation"] = "random crop (4-pixel zero padding), horizontal flip" }
        configuration["validation_steps"] = String(validationSteps)
        configuration["validation_attack"] = validationAttack == nil ? "none (clean accuracy only)"
            : "pgd-\(validationSteps), step \(validationStepSize), random start"
        if let overfittingInterval { configuration["overfitting_interval"] = String(overfittingInterval) }
        if let dataDir = data.dataDir { configuration["data_dir"] = absolutePath(dataDir) }
        configuration["final_eval_count"] = String(finalEvalCount ?? Self.defaultFinalEvalCount)
        // A resumed run keeps its own manifest (which gains the epochs it was resumed after).
        configuration = try recordManifest(configuration)

        progress.line((resume == nil ? "Training " : "Resuming ") + "\(model.rawValue) on \(training.count) images (\(validation.count) held out), method \(method.rawValue)"
            + (method == .standard ? "" : ", ε = \(epsilon) \(threatModel.norm.rawValue)") + ", seed \(seed)")
        let metadata = Self.checkpointMetadata(manifest: configuration, seed: seed)
        let history: [EpochMetrics]
        var overfittingReport: OverfittingReport?
        var bestEpoch: Int?
        // A run killed before its first epoch ended wrote no checkpoint: it starts over, as it began.
        var resumeCheckpoint = resume == nil ? nil : path(in: out, RunFile.resume)
        if let checkpoint = resumeCheckpoint, !FileManager.default.fileExists(atPath: checkpoint) {
            progress.line("the run completed no epoch before it stopped; starting it from the beginning")
            resumeCheckpoint = nil
        }
        var finalEvaluationDone = false
        if let (completed, evaluationDone) = try completedRunAwaitingEvaluation() {
            // Killed after its last epoch: the model is final, only the evaluation or the summary is missing.
            finalEvaluationDone = evaluationDone
            progress.line("all \(epochs) epochs were completed; " + (evaluationDone ? "writing the missing summary" : "running the missing final evaluation"))
            do { network = try Checkpoint.load(from: path(in: out, RunFile.model)).model } catch {
                throw ValidationError("Cannot finish the run in '\(out)': \(error)")
            }
            history = completed.history
            bestEpoch = completed.bestEpoch
        } else {
        switch method {
        case .standard: history = try fit(StandardTraining())
        case .fast: history = try fit(FastAdversarialTraining(threatModel: threatModel, stepSize: resolvedStepSize, randomStart: resolvedRandomStart, clipsStart: !unclippedStart))
        case .pgd: history = try fit(PGDAdversarialTraining(threatModel: threatModel, steps: resolvedSteps, stepSize: resolvedStepSize, randomStart: resolvedRandomStart))
        case .trades: history = try fit(TRADES(threatModel: threatModel, steps: resolvedSteps, stepSize: resolvedStepSize, beta: resolvedBeta))
        case .mart: history = try fit(MART(threatModel: threatModel, steps: resolvedSteps, stepSize: resolvedStepSize, beta: resolvedBeta))
        case .free: history = try fit(FreeAdversarialTraining(threatModel: threatModel, replays: resolvedReplays, stepSize: resolvedStepSize))
        case .mix:
            let attack = PGD(threatModel: threatModel, steps: resolvedSteps, stepSize: resolvedStepSize)
            history = try fit(MixedAdversarialTraining(attack: attack, adversarialRatio: resolvedRatio))
        case .awp: history = try fit(AdversarialWeightPerturbation(base: awpBase, gamma: resolvedGamma, warmupEpochs: resolvedAWPWarmup))
        case .gradalign:
            history = try fit(GradAlign(threatModel: threatModel, lambda: resolvedLambda, stepSize: resolvedStepSize, randomStart: resolvedRandomStart))
        }
        }

        func fit<Method: TrainingMethod>(_ trainingMethod: Method) throws -> [EpochMetrics] {
            switch optimizer {
            case .adam: try fit(trainingMethod, Adam(learningRate: learningRate, weightDecay: weightDecay))
            case .sgd: try fit(trainingMethod, sgd)
            }
        }

        func fit<Method: TrainingMethod, Opt: Optimizer>(_ trainingMethod: Method, _ optimizer: Opt) throws -> [EpochMetrics] {
            var trainer = Trainer(
                method: trainingMethod, optimizer: optimizer, schedule: learningRateSchedule, epochs: epochs,
                batchSize: batchSize, validationAttack: validationAttack, outputDirectory: out,
                architectureName: model.rawValue, metadata: metadata, epsilonWarmupEpochs: Double(epsilonWarmup.value),
                overfittingGuard: guardian, augmentation: augmentation)
            trainer.stopAfterEpoch = stopAfter
            defer { bestEpoch = trainer.bestEpoch }
            return try trainer.fit(
                &network, on: training, validation: validation.count > 0 ? validation : nil, using: &generator,
                resumingFrom: resumeCheckpoint
            ) { event in
                switch event {
                case .resumed(let completed):
                    noteResumption(after: completed, of: epochs, manifest: configuration, progress: progress)
                case let .epochStarted(epoch, _):
                    progress.begin("epoch \(epoch)/\(epochs)")
                case let .batch(_, batch, batches, loss, accuracy, _):
                    progress.update(done: batch, total: batches, unit: "batches",
                                    detail: String(format: "loss %.4f acc %.2f%%", loss, accuracy * 100))
                case let .validating(epoch, done, total):
                    if done == 0 {
                        progress.begin("validate \(epoch)")
                    } else {
                        progress.update(done: done, total: total)
                    }
                case .epoch(let metrics):
                    progress.line(describe(metrics))
                case .catastrophicOverfitting(let report):
                    overfittingReport = report
                    progress.line(String(
                        format: "catastrophic overfitting at epoch %d, batch %d: PGD accuracy %@ (best %@ at epoch %d, batch %d) while FGSM accuracy is %@; stopped and restored the model of the best check",
                        report.epoch, report.batch, percent(report.pgdAccuracy), percent(report.bestPGDAccuracy),
                        report.bestEpoch, report.bestBatch, percent(report.fgsmAccuracy)))
                }
            }
        }

        let stoppedEarly = overfittingReport == nil && (history.last?.epoch ?? 0) < epochs
        var finalEvaluation: String?
        if finalEvaluationDone {
            let existing = path(in: out, "final-eval.json")
            finalEvaluation = FileManager.default.fileExists(atPath: existing) ? existing : nil
        } else if !stoppedEarly, finalEvalCount != 0 {
            finalEvaluation = try evaluateFinalModel(network, attack: validationAttack, progress: progress)
        }
        if let json {
            try writeJSON(TrainingSummaryJSON(
                configuration: configuration, model: path(in: out, RunFile.model), epochs: history,
                catastrophicOverfitting: overfittingReport, bestEpoch: bestEpoch,
                best: bestEpoch == nil ? nil : path(in: out, RunFile.best), finalEvaluation: finalEvaluation), to: json, snakeCase: true)
        }
        let last = history.last
        output("model: \(path(in: out, RunFile.model))")
        if let last {
            output(String(format: "final epoch: train loss %.4f, validation clean %@, validation PGD-%d %@, %.1f s/epoch",
                          last.trainLoss, last.validationCleanAccuracy.map(percent) ?? "-", validationSteps,
                          last.validationRobustAccuracy.map(percent) ?? "-",
                          history.map(\.trainSeconds).reduce(0, +) / Double(history.count)))
        }
        if let bestEpoch, validation.count > 0, let best = history.first(where: { $0.epoch == bestEpoch }) {
            let score = best.validationRobustAccuracy.map { "validation PGD-\(validationSteps) \(percent($0))" }
                ?? best.validationCleanAccuracy.map { "validation clean \(percent($0))" } ?? ""
            output("best: epoch \(bestEpoch) (\(score)) in \(path(in: out, RunFile.best))")
        }
        if stoppedEarly {
            output(stoppedNotice(after: last?.epoch ?? 0, of: epochs))
        }
    }

    /// The progress of a resumed run whose epochs are all complete but whose final evaluation
    /// or `--json` summary is missing (it was killed before writing them), and whether its
    /// final evaluation is done; `nil` when the run has epochs left to train.
    ///
    /// - Throws: `ValidationError` when the run is complete and has nothing missing.
    private func completedRunAwaitingEvaluation() throws -> (progress: TrainingProgress, evaluationDone: Bool)? {
        guard resume != nil else { return nil }
        let checkpoint = path(in: out, RunFile.resume)
        guard let progress = try? TrainingProgress(checkpointAt: checkpoint), progress.isComplete else { return nil }
        let evaluationDone = finalEvalCount == 0 || FileManager.default.fileExists(atPath: path(in: out, "final-eval.json"))
        guard !evaluationDone || json != nil else {
            throw ValidationError(TrainingError.cannotResume(
                path: checkpoint, reason: "the run already completed all \(progress.epochs) epochs and its final evaluation; there is nothing to continue").description)
        }
        return (progress, evaluationDone)
    }

    /// Clean accuracy and accuracy under the validation attack of the final model on the test
    /// split (the first --final-eval-count images), written to OUT/final-eval.json as
    /// `bulwark eval --json` writes it; returns the file, or `nil` when there is no test split.
    private func evaluateFinalModel(_ network: Sequential, attack: (any Attack)?, progress: Progress) throws -> String? {
        let test: ImageDataset
        do {
            test = try data.load(.test, limit: finalEvalCount ?? Self.defaultFinalEvalCount)
        } catch {
            output("final evaluation skipped: \(error)")
            return nil
        }
        let examples = test
        let threatModel = threat.threatModel
        var generator = SplitMix64(seed: seed)
        let report = evaluateRobustness(
            network, inputs: examples.images, labels: examples.labels, attacks: attack.map { [$0] } ?? [],
            threatModel: threatModel, sanityChecks: attack != nil, using: &generator
        ) { phase, done, total in
            if done == 0 { progress.begin("final \(phase)") } else { progress.update(done: done, total: total) }
        }
        let file = path(in: out, "final-eval.json")
        try writeJSON(EvaluationRecord(
            report: report, model: path(in: out, RunFile.model), architecture: model.rawValue, dataset: data.dataset.rawValue,
            split: DatasetSplit.test.rawValue, seed: seed, steps: validationSteps,
            stepSize: 2.5 * threatModel.epsilon / Float(Swift.max(validationSteps, 1)), restarts: 1, sanityChecks: attack != nil), to: file)
        var line = "final evaluation on \(report.count) test images: clean \(percent(report.cleanAccuracy))"
        if let result = report.attacks.first { line += ", PGD-\(validationSteps) \(percent(result.robustAccuracy))" }
        if !report.flags.isEmpty { line += "; sanity checks raised \(report.flags.count) flag(s), see \(file)" }
        output(line + " (\(file))")
        return file
    }

    private var sgd: SGD {
        SGD(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
    }
}
