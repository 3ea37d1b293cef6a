import BulwarkAttacks
import BulwarkData
import BulwarkNN
import BulwarkONNX
import BulwarkTraining
import Foundation

/// Everything that shapes an image-classifier training run: the data, the model, the method
/// and its attack, the optimizer and schedule, validation, and the seed.
///
/// Fields left `nil` take their method's default in ``resolved()``; a resolved configuration
/// is what a run records in `run.json` (its encoding, keys in snake case) and what `--resume`
/// compares.
public struct ImageTrainingConfiguration: Codable, Equatable, Sendable {
    /// The base method of ``ImageTrainingMethodName/awp``.
    public enum AWPInner: String, Codable, CaseIterable, Sendable { case pgd, trades }
    /// The optimizer.
    public enum OptimizerName: String, Codable, CaseIterable, Sendable { case sgd, adam }
    /// The learning-rate schedule.
    public enum ScheduleName: String, Codable, CaseIterable, Sendable { case constant, cyclic, piecewise, cosine }

    /// The images trained on, unless ``dataPath`` names the user's own.
    public var dataset: ImageDatasetName = .fashionMNIST
    /// The directory of the dataset's files, or `nil` for the dataset's default place.
    public var dataDirectory: String?
    /// The user's file or folder of images to train on instead of ``dataset`` (see
    /// ``ImageDataSelection/dataPath``); also the test split unless ``testDataPath`` is set.
    public var dataPath: String?
    /// The file or folder of the final evaluation's test split, when it is not ``dataPath``.
    public var testDataPath: String?
    /// The layout of four-dimensional image arrays in a data file; `nil` infers it.
    public var imageLayout: ImageLayout?
    /// The model trained, unless ``modelPath`` names an ONNX graph to fine-tune.
    public var architecture: Architecture = .smallcnn
    /// The absolute path of an ONNX image classifier to fine-tune instead of a new model of
    /// ``architecture``; its graph is read under ``onnxContract``.
    public var modelPath: String?
    /// The per-channel means the imported graph's input is standardized with; `nil` reads
    /// them from the model's metadata (see ``ONNXInputContract/mean``).
    public var mean: [Float]?
    /// The per-channel standard deviations of the standardization (see ``mean``).
    public var standardDeviation: [Float]?
    /// The imported graph's input layout; `nil` takes the graph's `bulwark.layout` metadata, else infers it from its input's shape.
    public var layout: ONNXInputContract.Layout?
    /// The imported graph's input to feed; `nil` takes its only input.
    public var inputName: String?
    /// The training method (see ``ImageTrainingMethodName``).
    public var method: ImageTrainingMethodName = .fast
    /// The budget ε, in pixel units of [0, 1].
    public var epsilon: Float = 0.1
    /// The norm of the budget.
    public var norm: Norm = .lInfinity
    /// Attack steps per batch (pgd, trades, mart, mix, awp).
    public var steps: Int?
    /// The attack's step size α.
    public var stepSize: Float?
    /// Whether the attack of fast, pgd, gradalign and awp on pgd starts at a random point.
    public var randomStart: Bool?
    /// fast: whether the random start is clipped to [0, 1] before the FGSM gradient.
    public var clipsStart: Bool?
    /// β, the weight of the KL term of trades, mart and awp on trades.
    public var beta: Float?
    /// The training awp builds on.
    public var awpInner: AWPInner?
    /// γ of awp: each weight tensor is perturbed by γ times its norm.
    public var awpGamma: Float?
    /// Epochs of awp with its base method alone.
    public var awpWarmup: Int?
    /// λ of gradalign.
    public var gradalignLambda: Float?
    /// m, the times free replays each batch.
    public var replays: Int?
    /// r, the weight of mix's adversarial loss.
    public var adversarialRatio: Float?
    /// Epochs over which ε ramps up, 0 for none.
    public var epsilonWarmup: Float = 0
    /// Whether catastrophic overfitting stops the run (Wong et al. 2020).
    public var overfittingGuard = false
    /// Batches between the overfitting guard's checks, `nil` for once per epoch.
    public var overfittingInterval: Int?
    /// Random crops and flips; default on for CIFAR-10.
    public var augment: Bool?
    /// Passes over the training data.
    public var epochs = 5
    /// Examples per batch.
    public var batchSize = 128
    /// The optimizer.
    public var optimizer: OptimizerName = .adam
    /// The (peak) learning rate.
    public var learningRate: Float = 1e-3
    /// SGD's momentum.
    public var momentum: Float?
    /// L2 weight decay.
    public var weightDecay: Float = 0
    /// The learning-rate schedule; constant for standard training, cyclic otherwise.
    public var schedule: ScheduleName?
    /// Training images held out for validation.
    public var validationCount = 1000
    /// PGD steps of the per-epoch validation attack, 0 for clean accuracy only.
    public var validationSteps = 10
    /// Train on the first `trainCount` images only (less the validation images).
    public var trainCount: Int?
    /// The seed of every random choice: initialization, shuffling, attacks.
    public var seed: UInt64 = 0
    /// Test images of the final evaluation, 0 for none.
    public var finalEvaluationCount: Int?

    /// The final evaluation's default size: the first 1,000 test images.
    public static let defaultFinalEvaluationCount = 1000

    /// The default configuration.
    public init() {}

    /// How an imported graph (``modelPath``) takes Bulwark's pixels.
    public var onnxContract: ONNXInputContract {
        ONNXInputContract(inputName: inputName, layout: layout, mean: mean, standardDeviation: standardDeviation)
    }

    /// What the run trains, for messages and records: the architecture's name, or `onnx`.
    public var modelName: String { modelPath == nil ? architecture.rawValue : "onnx" }

    /// The data this configuration trains on, as a selection to load it with: ``dataset``
    /// unless ``dataPath`` is set.
    public var dataSelection: ImageDataSelection {
        ImageDataSelection(
            dataset: dataPath == nil ? dataset : nil, dataDirectory: dataDirectory, dataPath: dataPath,
            testDataPath: testDataPath, imageLayout: imageLayout)
    }

    // MARK: - Per-method defaults

    /// This configuration with every default its method takes filled in and every field its
    /// method does not use cleared, so that two configurations that train alike are equal.
    public func resolved() -> Self {
        var result = self
        let recipe = method.recipe
        let used = recipe.fields(of: self)
        for field in ImageMethodField.allCases where !used.contains(field) { field.clear(in: &result) }
        recipe.resolve(&result)
        result.augment = augment ?? (dataset == .cifar10)
        result.momentum = optimizer == .sgd ? momentum ?? 0.9 : nil
        result.schedule = result.schedule ?? .cyclic
        result.finalEvaluationCount = finalEvaluationCount ?? Self.defaultFinalEvaluationCount
        // An imported graph brings its own architecture (the field keeps its default, unrecorded)
        // and, unless given, its layout (its metadata or its input's shape tell it).
        if modelPath != nil { result.architecture = .smallcnn }
        return result
    }

    // MARK: - Validation

    /// Throws unless the configuration describes a run that can train.
    ///
    /// - Throws: ``ConfigurationError`` naming the fields at fault.
    public func validate() throws(ConfigurationError) {
        try check(type(of: method).names.contains(method.rawValue), "\(field: "method") \(method.rawValue) is not a registered training method")
        let resolved = resolved()
        let recipe = method.recipe
        let used = recipe.fields(of: self)
        let methodDescription = recipe.description(of: self)
        try dataSelection.validate()
        try validateImportedModel()
        try check(epochs >= 1, "\(field: "epochs") must be at least 1, got \(epochs)")
        try check(batchSize >= 1, "\(field: "batchSize") must be at least 1, got \(batchSize)")
        if let steps { try check(steps >= 1, "\(field: "steps") must be at least 1, got \(steps)") }
        try check(randomStart == nil || used.contains(.randomStart),
                  "\(eitherValueOf: "randomStart") apply to \(field: "method") fast, pgd, gradalign and awp on pgd, not \(methodDescription)")
        try check(clipsStart != false || (used.contains(.clipsStart) && resolved.randomStart == true && norm == .lInfinity),
                  "\(field: "clipsStart") applies to \(field: "method") \(ImageMethodField.clipsStart.methods.listed("and")) with its random start in L∞")
        if let beta {
            try check(used.contains(.beta), "\(field: "beta") applies to \(field: "method") trades, mart and awp with \(field: "awpInner") trades, not \(methodDescription)")
            try check(beta >= 0 && beta.isFinite, "\(field: "beta") must be a finite number ≥ 0, got \(beta)")
        }
        try checkApplies([.awpInner, .awpGamma, .awpWarmup], used)
        if let awpGamma { try check(awpGamma >= 0 && awpGamma.isFinite, "\(field: "awpGamma") must be a finite number ≥ 0, got \(awpGamma)") }
        if let awpWarmup {
            try check(awpWarmup >= 0, "\(field: "awpWarmup") must be a number of epochs ≥ 0, got \(awpWarmup)")
            try check(awpWarmup < epochs, "\(field: "awpWarmup") \(awpWarmup) leaves no epoch of \(field: "epochs") \(epochs) with the weight perturbation; lower it or train longer")
        }
        if let gradalignLambda {
            try checkApplies([.gradalignLambda], used)
            try check(gradalignLambda >= 0 && gradalignLambda.isFinite, "\(field: "gradalignLambda") must be a finite number ≥ 0, got \(gradalignLambda)")
        }
        if let replays {
            try checkApplies([.replays], used)
            try check(replays >= 1, "\(field: "replays") must be at least 1, got \(replays)")
        }
        if let adversarialRatio {
            try checkApplies([.adversarialRatio], used)
            try check((0...1).contains(adversarialRatio), "\(field: "adversarialRatio") must be in [0, 1], got \(adversarialRatio)")
        }
        if let overfittingInterval {
            try check(overfittingGuard, "\(field: "overfittingInterval") needs \(field: "overfittingGuard")")
            try check(overfittingInterval >= 1, "\(field: "overfittingInterval") must be at least 1 batch, got \(overfittingInterval)")
        }
        try check(!overfittingGuard || recipe.attacks,
                  "\(field: "overfittingGuard") needs an adversarial \(field: "method"); \(method.rawValue) training has no ε to attack at")
        try check(epsilonWarmup >= 0, "\(field: "epsilonWarmup") must be a number of epochs ≥ 0, got \(epsilonWarmup)")
        try check(epsilonWarmup <= Float(epochs),
                  "\(field: "epsilonWarmup") \(epsilonWarmup) is longer than \(field: "epochs") \(epochs); ε would never reach \(field: "epsilon")")
        try check(epsilonWarmup == 0 || recipe.rampsEpsilon,
                  "\(field: "epsilonWarmup") needs \(field: "method") \(ImageTrainingMethodName.registry.filter { $0.rampsEpsilon }.map { $0.name }.listed("or")); \(method.rawValue) has no ε to ramp")
        try check(learningRate > 0 && learningRate.isFinite, "\(field: "learningRate") must be a finite number > 0, got \(learningRate)")
        try check(weightDecay >= 0 && weightDecay.isFinite, "\(field: "weightDecay") must be a finite number ≥ 0, got \(weightDecay)")
        if let momentum { try check(momentum >= 0 && momentum < 1, "\(field: "momentum") must be in [0, 1), got \(momentum)") }
        if let trainCount { try check(trainCount >= 1, "\(field: "trainCount") must be at least 1, got \(trainCount)") }
        try check(!recipe.attacks || epsilon > 0, "\(field: "method") \(method.rawValue) needs \(field: "epsilon") > 0")
        try check(validationCount >= 0, "\(field: "validationCount") must be ≥ 0, got \(validationCount)")
        try check(validationSteps >= 0, "\(field: "validationSteps") must be ≥ 0, got \(validationSteps)")
        if let stepSize { try check(stepSize > 0, "\(field: "stepSize") must be positive, got \(stepSize)") }
        if let finalEvaluationCount {
            try check(finalEvaluationCount >= 0, "\(field: "finalEvaluationCount") must be ≥ 0, got \(finalEvaluationCount)")
        }
    }

    /// Throws unless the fields of an imported graph are set only with ``modelPath`` and
    /// standardize consistently.
    private func validateImportedModel() throws(ConfigurationError) {
        guard modelPath != nil else {
            let set = [("mean", mean != nil), ("standardDeviation", standardDeviation != nil), ("layout", layout != nil), ("inputName", inputName != nil)]
            if let field = set.first(where: \.1)?.0 {
                throw ConfigurationError("\(field: field) describes the input of an imported ONNX graph; set \(field: "modelPath") to one")
            }
            return
        }
        try check((mean == nil) == (standardDeviation == nil), "\(field: "mean") and \(field: "standardDeviation") go together; set both or neither")
        if let mean, let standardDeviation {
            try check(mean.count == standardDeviation.count,
                      "\(field: "mean") has \(mean.count) values but \(field: "standardDeviation") \(standardDeviation.count); give one per channel for both")
            try check(standardDeviation.allSatisfy { $0 > 0 && $0.isFinite } && mean.allSatisfy(\.isFinite),
                      "\(field: "standardDeviation") must be finite numbers > 0 and \(field: "mean") finite numbers")
        }
    }

    /// Throws unless the method uses each of `fields` that is set, naming the methods that use them.
    private func checkApplies(_ fields: [ImageMethodField], _ used: Set<ImageMethodField>) throws(ConfigurationError) {
        try check(fields.allSatisfy { !$0.isSet(in: self) || used.contains($0) },
                  .applicability(of: fields.map(\.rawValue), methods: fields[0].methods, not: method.rawValue))
    }

    // MARK: - What it builds

    /// The threat model of training and validation.
    public var threatModel: ThreatModel { ThreatModel(norm: norm, epsilon: epsilon) }

    /// The step size of the validation attack (and of the final evaluation's): 2.5ε/steps.
    public var validationStepSize: Float { 2.5 * epsilon / Float(Swift.max(validationSteps, 1)) }

    /// The per-epoch validation attack, PGD at ε; `nil` for clean accuracy only.
    public var validationAttack: (any Attack)? {
        epsilon > 0 && validationSteps > 0 ? PGD(threatModel: threatModel, steps: validationSteps, stepSize: validationStepSize) : nil
    }

    /// The learning-rate schedule (of a resolved configuration).
    public var learningRateSchedule: LearningRateSchedule {
        switch schedule ?? .constant {
        case .constant: .constant(learningRate)
        case .cyclic: .cyclic(peak: learningRate, peakFraction: 0.4)
        case .piecewise: .piecewise(rates: [learningRate, learningRate / 10, learningRate / 100], boundaries: [Double(epochs) * 0.5, Double(epochs) * 0.75])
        case .cosine: .cosine(peak: learningRate, minimum: 0)
        }
    }

    /// The catastrophic-overfitting guard, if on.
    public var catastrophicOverfittingGuard: CatastrophicOverfittingGuard? {
        overfittingGuard ? CatastrophicOverfittingGuard(threatModel: threatModel, interval: overfittingInterval) : nil
    }

    // MARK: - Coding

    public init(from decoder: any Decoder) throws {
        self.init()
        try read(decoder.container(keyedBy: ManifestKey.self))
    }

    public func encode(to encoder: any Encoder) throws { try writeFields(to: encoder) }

    /// Numbers as a manifest lists them: comma separated.
    static func listed(_ values: [Float]) -> String { values.map { "\($0)" }.joined(separator: ",") }

    /// The fields, in the order a command line lists them.
    public static let fields = manifestFields.map(\.name)
}

extension ImageTrainingConfiguration: ManifestCoded {
    /// How `run.json` records each field: adding a field is one line here.
    static let manifestFields: [ManifestField<Self>] = [
        // A run on the user's data records its data path instead of a dataset.
        .value("dataset", \.dataset, unless: "dataPath", \.dataPath),
        .optional("dataDirectory", \.dataDirectory),
        .optional("dataPath", \.dataPath),
        .optional("testDataPath", \.testDataPath),
        .optional("imageLayout", \.imageLayout),
        // A run on an imported graph records its file instead of an architecture.
        .value("architecture", \.architecture, unless: "modelPath", \.modelPath, formerName: "model"),
        .optional("modelPath", \.modelPath),
        .numbers("mean", \.mean),
        .numbers("standardDeviation", \.standardDeviation),
        .optional("layout", \.layout),
        .optional("inputName", \.inputName),
        .value("method", \.method),
        .value("epsilon", \.epsilon),
        .value("norm", \.norm, default: .lInfinity),
        .optional("awpInner", \.awpInner),
        .optional("steps", \.steps),
        .optional("stepSize", \.stepSize),
        .optional("randomStart", \.randomStart),
        .optional("clipsStart", \.clipsStart),
        .optional("beta", \.beta),
        .optional("awpGamma", \.awpGamma),
        .optional("awpWarmup", \.awpWarmup),
        .optional("gradalignLambda", \.gradalignLambda),
        .optional("replays", \.replays),
        .optional("adversarialRatio", \.adversarialRatio),
        .value("epsilonWarmup", \.epsilonWarmup, default: 0, omittedAtDefault: true),
        ManifestField("augment", read: { container, configuration in
            // Manifests before `augment` described the augmentation, absent when off.
            configuration.augment = try container.field("augment") ?? container.contains("augmentation")
        }, write: { configuration, container in
            try container.encodeIfPresent(configuration.augment, forKey: "augment")
            if configuration.augment == true { try container.encode("random crop (4-pixel zero padding), horizontal flip", forKey: "augmentation") }
        }),
        ManifestField("overfittingGuard", read: { container, configuration in
            // The guard is recorded as when it checks ("every epoch"), absent when off.
            configuration.overfittingGuard = container.contains("overfittingGuard")
        }, write: { configuration, container in
            guard configuration.overfittingGuard else { return }
            try container.encode(configuration.overfittingInterval.map { "every \($0) batches" } ?? "every epoch", forKey: "overfittingGuard")
        }),
        .optional("overfittingInterval", \.overfittingInterval),
        .value("epochs", \.epochs),
        .value("batchSize", \.batchSize),
        .value("optimizer", \.optimizer),
        .value("learningRate", \.learningRate),
        .optional("momentum", \.momentum),
        .value("weightDecay", \.weightDecay, default: 0),
        .optional("schedule", \.schedule),
        .value("validationCount", \.validationCount),
        .value("validationSteps", \.validationSteps, default: 10),
        .optional("trainCount", \.trainCount),
        .value("seed", \.seed),
        .optional("finalEvaluationCount", \.finalEvaluationCount),
    ]
}

extension ManifestField where Configuration == ImageTrainingConfiguration {
    /// A list of numbers, recorded as comma-separated text.
    static func numbers(_ name: String, _ path: WritableKeyPath<Configuration, [Float]?> & Sendable) -> Self {
        let key = ManifestKey(stringLiteral: name)
        return Self(name, read: { container, configuration in configuration[keyPath: path] = try container.numbers(key) },
                    write: { configuration, container in
                        try container.encodeIfPresent(configuration[keyPath: path].map(ImageTrainingConfiguration.listed), forKey: key)
                    }, optionalProperty: OptionalProperty(path))
    }
}

extension KeyedDecodingContainer where Key == ManifestKey {
    /// The list of numbers in `field`: comma-separated text, or one number as `run.json`
    /// stores a single channel's.
    fileprivate func numbers(_ field: ManifestKey) throws -> [Float]? {
        guard contains(field) else { return nil }
        if let value = try? decode(Float.self, forKey: field) { return [value] }
        let text = try decode(String.self, forKey: field)
        guard let values = ONNXInputContract.channelValues(in: text) else {
            throw DecodingError.dataCorruptedError(forKey: field, in: self, debugDescription: "'\(text)' is not a list of numbers")
        }
        return values
    }
}
