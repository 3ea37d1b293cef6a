import ArgumentParser
import Bulwark
import Foundation

/// `bulwark train`: trains an image classifier, optionally adversarially.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an image classifier, standard or adversarially (Fast-AT, PGD-AT, TRADES, MART, Free-AT, mixed, AWP, GradAlign).",
        discussion: """
            Writes OUT/model.safetensors (after every epoch), OUT/best.safetensors (best robust \
            validation accuracy), OUT/metrics.jsonl (one JSON object per epoch) and OUT/run.json \
            (the configuration). Validation uses the last --validation-count training images, \
            which are held out of training, and PGD at the training ε.

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

    @Option(help: "The architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: Architecture = .smallcnn

    @Option(help: "standard, fast, pgd, trades, mart, free, mix, awp or gradalign (see the discussion below).")
    var method: Method = .fast

    @Option(help: "Attack steps per batch of pgd, trades, mart, mix and awp; default 7 for pgd, mix and awp on pgd, 10 for trades, mart and awp on trades.")
    var steps: Int?

    @Option(help: ArgumentHelp(
        "Attack step size α; default 1.25ε for fast, ε for free and gradalign, 2.5ε/steps otherwise. Fractions accepted.",
        discussion: "For free it is the FGSM step on the carried perturbation."))
    var stepSize: Fraction?

    @Flag(inversion: .prefixedNo, help: ArgumentHelp(
        "Start the attack of fast, pgd, gradalign and awp on pgd at a random point of the ε-ball.",
        discussion: "On by default except for gradalign, whose reference starts FGSM at x; --no-random-start makes fast plain FGSM and pgd BIM training."))
    var randomStart: Bool?

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

    @Option(help: "Also write the run's summary as JSON to this file: configuration, model path and every epoch's metrics.")
    var json: String?

    func validate() throws {
        try require(task == .image, "--task text must follow train directly: bulwark train --task text …")
        try require(epochs >= 1, "--epochs must be at least 1")
        try require(batchSize >= 1, "--batch-size must be at least 1")
        if let steps { try require(steps >= 1, "--steps must be at least 1") }
        try require(randomStart == nil || [.fast, .pgd, .gradalign].contains(method) || (method == .awp && resolvedInner == .pgd),
                    "--random-start and --no-random-start apply to --method fast, pgd, gradalign and awp on pgd, not \(methodDescription)")
        if let beta {
            try require([.trades, .mart].contains(method) || (method == .awp && resolvedInner == .trades),
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
        try require(learningRate > 0 && learningRate.isFinite, "--learning-rate must be positive")
        try require(threat.epsilon.value >= 0, "--epsilon must be non-negative")
        try require(method == .standard || threat.epsilon.value > 0, "--method \(method.rawValue) needs --epsilon > 0")
        try require(validationCount >= 0 && validationSteps >= 0, "--validation-count and --validation-steps must be non-negative")
        if let stepSize { try require(stepSize.value > 0, "--step-size must be positive") }
    }

    /// The base method of awp.
    private var resolvedInner: AWPInner { awpInner ?? .pgd }

    /// The method's name, with awp's base.
    private var methodDescription: String { method == .awp ? "awp on \(resolvedInner.rawValue)" : method.rawValue }

    func run() throws {
        let progress = Progress(quiet: quiet)
        progress.line("Loading \(data.dataset.rawValue) …")
        var training = try data.load(.train)
        if let trainCount { training = training.prefix(trainCount) }
        guard training.count > validationCount else {
            throw ValidationError("--validation-count \(validationCount) leaves no training images out of \(training.count)")
        }
        let validation = training.slice((training.count - validationCount)..<training.count)
        training = training.prefix(training.count - validationCount)

        let threatModel = threat.threatModel
        let epsilon = threatModel.epsilon
        var generator = SplitMix64(seed: seed)
        var network = model.makeModel(classCount: training.classCount, using: &generator)
        let scheduleName = schedule ?? (method == .standard ? .constant : .cyclic)
        let learningRateSchedule: LearningRateSchedule = switch scheduleName {
        case .constant: .constant(learningRate)
        case .cyclic: .cyclic(peak: learningRate, peakFraction: 0.4)
        case .piecewise: .piecewise(rates: [learningRate, learningRate / 10, learningRate / 100], boundaries: [Double(epochs) * 0.5, Double(epochs) * 0.75])
        case .cosine: .cosine(peak: learningRate, minimum: 0)
        }
        let resolvedSteps = steps ?? ([.trades, .mart].contains(method) || (method == .awp && resolvedInner == .trades) ? 10 : 7)
        let defaultStepSize: Float = switch method {
        case .standard, .fast: 1.25 * epsilon
        case .free, .gradalign: epsilon
        case .pgd, .trades, .mart, .mix, .awp: 2.5 * epsilon / Float(resolvedSteps)
        }
        let resolvedRandomStart = randomStart ?? (method != .gradalign)
        let resolvedStepSize = stepSize?.value ?? defaultStepSize
        let resolvedBeta = beta ?? 6
        let resolvedReplays = replays ?? 8
        let resolvedRatio = adversarialRatio?.value ?? 0.5
        let validationAttack: (any Attack)? = epsilon > 0 && validationSteps > 0
            ? PGD(threatModel: threatModel, steps: validationSteps, stepSize: 2.5 * epsilon / Float(validationSteps)) : nil

        var configuration: [String: String] = [
            "dataset": data.dataset.rawValue, "architecture": model.rawValue, "method": method.rawValue,
            "epsilon": String(epsilon), "norm": threatModel.norm.rawValue, "epochs": String(epochs),
            "batch_size": String(batchSize), "optimizer": optimizer.rawValue, "learning_rate": String(learningRate),
            "schedule": scheduleName.rawValue, "seed": String(seed), "train_count": String(training.count),
            "validation_count": String(validationCount), "bulwark_version": toolVersion,
        ]
        if method != .standard { configuration["step_size"] = String(resolvedStepSize) }
        if [.pgd, .trades, .mart, .mix, .awp].contains(method) { configuration["steps"] = String(resolvedSteps) }
        if [.fast, .pgd, .gradalign].contains(method) || (method == .awp && resolvedInner == .pgd) {
            configuration["random_start"] = String(resolvedRandomStart)
        }
        if [.trades, .mart].contains(method) || (method == .awp && resolvedInner == .trades) { configuration["beta"] = String(resolvedBeta) }
        let awpBase: AdversarialWeightPerturbation.BaseMethod = resolvedInner == .pgd
            ? .pgd(PGDAdversarialTraining(threatModel: threatModel, steps: resolvedSteps, stepSize: resolvedStepSize, randomStart: resolvedRandomStart))
            : .trades(TRADES(threatModel: threatModel, steps: resolvedSteps, stepSize: resolvedStepSize, beta: resolvedBeta))
        let resolvedGamma = awpGamma ?? AdversarialWeightPerturbation.defaultGamma(for: awpBase)
        if method == .awp {
            configuration["awp_inner"] = resolvedInner.rawValue
            configuration["awp_gamma"] = String(resolvedGamma)
            configuration["awp_warmup"] = String(awpWarmup ?? 0)
        }
        let resolvedLambda = gradalignLambda ?? 0.2
        if method == .gradalign { configuration["gradalign_lambda"] = String(resolvedLambda) }
        if method == .free { configuration["replays"] = String(resolvedReplays) }
        if method == .mix { configuration["adversarial_ratio"] = String(resolvedRatio) }
        if epsilonWarmup.value > 0 { configuration["epsilon_warmup"] = String(epsilonWarmup.value) }
        if overfittingGuard { configuration["overfitting_guard"] = overfittingInterval.map { "every \($0) batches" } ?? "every epoch" }
        let guardian = overfittingGuard ? CatastrophicOverfittingGuard(threatModel: threatModel, interval: overfittingInterval) : nil
        if optimizer == .sgd { configuration["momentum"] = String(momentum) }
        if weightDecay != 0 { configuration["weight_decay"] = String(weightDecay) }
        try createDirectory(out)
        try writeJSON(configuration, to: path(in: out, "run.json"))

        progress.line("Training \(model.rawValue) on \(training.count) images (\(validation.count) held out), method \(method.rawValue)"
            + (method == .standard ? "" : ", ε = \(epsilon) \(threatModel.norm.rawValue)") + ", seed \(seed)")
        let metadata = ["configuration": encode(configuration), "seed": String(seed)]
        let history: [EpochMetrics]
        var overfittingReport: OverfittingReport?
        switch method {
        case .standard: history = try fit(StandardTraining())
        case .fast: history = try fit(FastAdversarialTraining(threatModel: threatModel, stepSize: resolvedStepSize, randomStart: resolvedRandomStart))
        case .pgd: history = try fit(PGDAdversarialTraining(threatModel: threatModel, steps: resolvedSteps, stepSize: resolvedStepSize, randomStart: resolvedRandomStart))
        case .trades: history = try fit(TRADES(threatModel: threatModel, steps: resolvedSteps, stepSize: resolvedStepSize, beta: resolvedBeta))
        case .mart: history = try fit(MART(threatModel: threatModel, steps: resolvedSteps, stepSize: resolvedStepSize, beta: resolvedBeta))
        case .free: history = try fit(FreeAdversarialTraining(threatModel: threatModel, replays: resolvedReplays, stepSize: resolvedStepSize))
        case .mix:
            let attack = PGD(threatModel: threatModel, steps: resolvedSteps, stepSize: resolvedStepSize)
            history = try fit(MixedAdversarialTraining(attack: attack, adversarialRatio: resolvedRatio))
        case .awp: history = try fit(AdversarialWeightPerturbation(base: awpBase, gamma: resolvedGamma, warmupEpochs: awpWarmup ?? 0))
        case .gradalign:
            history = try fit(GradAlign(threatModel: threatModel, lambda: resolvedLambda, stepSize: resolvedStepSize, randomStart: resolvedRandomStart))
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
                overfittingGuard: guardian)
            return try trainer.fit(&network, on: training, validation: validation.count > 0 ? validation : nil, using: &generator) { event in
                switch event {
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

        if let json {
            try writeJSON(TrainingSummaryJSON(
                configuration: configuration, model: path(in: out, "model.safetensors"), epochs: history,
                catastrophicOverfitting: overfittingReport), to: json, snakeCase: true)
        }
        let last = history.last
        output("model: \(path(in: out, "model.safetensors"))")
        if let last {
            output(String(format: "final epoch: train loss %.4f, validation clean %@, validation PGD-%d %@, %.1f s/epoch",
                          last.trainLoss, last.validationCleanAccuracy.map(percent) ?? "-", validationSteps,
                          last.validationRobustAccuracy.map(percent) ?? "-",
                          history.map(\.trainSeconds).reduce(0, +) / Double(history.count)))
        }
    }

    private var sgd: SGD {
        SGD(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
    }
}

func describe(_ metrics: EpochMetrics) -> String {
    var text = String(format: "epoch %d: loss %.4f train acc %.2f%%", metrics.epoch, metrics.trainLoss, metrics.trainAccuracy * 100)
    if let clean = metrics.validationCleanAccuracy { text += " | val clean \(percent(clean))" }
    if let robust = metrics.validationRobustAccuracy { text += " robust \(percent(robust))" }
    if let scale = metrics.epsilonScale, scale < 1 { text += String(format: " | ε warm-up %.0f%%", scale * 100) }
    text += String(format: " | lr %.2e | %.1f s (%.0f img/s)", metrics.learningRate, metrics.trainSeconds, metrics.imagesPerSecond)
    return text
}

/// What `train --json` writes (keys in snake case, like `metrics.jsonl`).
struct TrainingSummaryJSON: Encodable {
    var configuration: [String: String]
    var model: String
    var epochs: [EpochMetrics]
    var catastrophicOverfitting: OverfittingReport?
}

/// Writes `value` as pretty JSON, atomically; `snakeCase` converts Swift's property names
/// (as `metrics.jsonl` does).
func writeJSON<Value: Encodable>(_ value: Value, to file: String, snakeCase: Bool = false) throws {
    let encoder = JSONEncoder()
    if snakeCase { encoder.keyEncodingStrategy = .convertToSnakeCase }
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    do {
        try encoder.encode(value).write(to: URL(fileURLWithPath: file), options: .atomic)
    } catch {
        throw ValidationError("Cannot write '\(file)': \(error.localizedDescription). Check that the directory is writable.")
    }
}
