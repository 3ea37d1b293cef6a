import ArgumentParser
import Bulwark
import Foundation

/// `bulwark train`: trains an image classifier, optionally adversarially.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an image classifier, standard or adversarially (Fast-AT, PGD-AT).",
        discussion: """
            Writes OUT/model.safetensors (after every epoch), OUT/best.safetensors (best robust \
            validation accuracy), OUT/metrics.jsonl (one JSON object per epoch) and OUT/run.json \
            (the configuration). Validation uses the last --validation-count training images, \
            which are held out of training, and PGD at the training ε.
            """)

    enum Method: String, ExpressibleByArgument, CaseIterable {
        case standard, fast, pgd
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

    @Option(help: "standard, fast (Fast-AT: FGSM from a random start) or pgd (PGD-AT).")
    var method: Method = .fast

    @Option(help: "PGD-AT steps per batch.")
    var steps: Int = 7

    @Option(help: "Attack step size α; default 1.25ε for fast, 2.5ε/steps for pgd. Fractions accepted.")
    var stepSize: Fraction?

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

    func validate() throws {
        try require(task == .image, "--task text must follow train directly: bulwark train --task text …")
        try require(epochs >= 1, "--epochs must be at least 1")
        try require(batchSize >= 1, "--batch-size must be at least 1")
        try require(steps >= 1, "--steps must be at least 1")
        try require(learningRate > 0 && learningRate.isFinite, "--learning-rate must be positive")
        try require(threat.epsilon.value >= 0, "--epsilon must be non-negative")
        try require(method == .standard || threat.epsilon.value > 0, "--method \(method.rawValue) needs --epsilon > 0")
        try require(validationCount >= 0 && validationSteps >= 0, "--validation-count and --validation-steps must be non-negative")
        if let stepSize { try require(stepSize.value > 0, "--step-size must be positive") }
    }

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
        let resolvedStepSize = stepSize?.value ?? (method == .pgd ? 2.5 * epsilon / Float(steps) : 1.25 * epsilon)
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
        if method == .pgd { configuration["steps"] = String(steps) }
        if optimizer == .sgd { configuration["momentum"] = String(momentum) }
        if weightDecay != 0 { configuration["weight_decay"] = String(weightDecay) }
        try createDirectory(out)
        try writeJSON(configuration, to: path(in: out, "run.json"))

        progress.line("Training \(model.rawValue) on \(training.count) images (\(validation.count) held out), method \(method.rawValue)"
            + (method == .standard ? "" : ", ε = \(epsilon) \(threatModel.norm.rawValue)") + ", seed \(seed)")
        let metadata = ["configuration": encode(configuration), "seed": String(seed)]
        let history: [EpochMetrics]
        switch (method, optimizer) {
        case (.standard, .adam): history = try fit(StandardTraining(), Adam(learningRate: learningRate, weightDecay: weightDecay))
        case (.standard, .sgd): history = try fit(StandardTraining(), sgd)
        case (.fast, .adam): history = try fit(FastAdversarialTraining(threatModel: threatModel, stepSize: resolvedStepSize), Adam(learningRate: learningRate, weightDecay: weightDecay))
        case (.fast, .sgd): history = try fit(FastAdversarialTraining(threatModel: threatModel, stepSize: resolvedStepSize), sgd)
        case (.pgd, .adam): history = try fit(PGDAdversarialTraining(threatModel: threatModel, steps: steps, stepSize: resolvedStepSize), Adam(learningRate: learningRate, weightDecay: weightDecay))
        case (.pgd, .sgd): history = try fit(PGDAdversarialTraining(threatModel: threatModel, steps: steps, stepSize: resolvedStepSize), sgd)
        }

        func fit<Method: TrainingMethod, Opt: Optimizer>(_ trainingMethod: Method, _ optimizer: Opt) throws -> [EpochMetrics] {
            var trainer = Trainer(
                method: trainingMethod, optimizer: optimizer, schedule: learningRateSchedule, epochs: epochs,
                batchSize: batchSize, validationAttack: validationAttack, outputDirectory: out,
                architectureName: model.rawValue, metadata: metadata)
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
                }
            }
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
    text += String(format: " | lr %.2e | %.1f s (%.0f img/s)", metrics.learningRate, metrics.trainSeconds, metrics.imagesPerSecond)
    return text
}

func writeJSON<Value: Encodable>(_ value: Value, to file: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    do {
        try encoder.encode(value).write(to: URL(fileURLWithPath: file), options: .atomic)
    } catch {
        throw ValidationError("Cannot write '\(file)': \(error.localizedDescription). Check that the directory is writable.")
    }
}
