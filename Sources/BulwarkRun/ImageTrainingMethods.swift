import BulwarkAttacks
import BulwarkTraining

/// The name of an image training method, one of ``ImageTrainingMethodName/all``.
public struct ImageTrainingMethodName: TrainingMethodName {
    public var rawValue: String

    public init(unchecked name: String) { rawValue = name }

    public static var names: [String] { registry.map { $0.name } }

    /// Every method a configuration may name: adding a method is a type conforming to
    /// ``ImageTrainingRecipe`` (in its own file) and one line here.
    static let registry: [any ImageTrainingRecipe.Type] = [
        StandardRecipe.self, FastRecipe.self, PGDRecipe.self, TRADESRecipe.self, MARTRecipe.self,
        FreeRecipe.self, MixRecipe.self, AWPRecipe.self, GradAlignRecipe.self,
    ]

    /// What builds the method.
    var recipe: any ImageTrainingRecipe.Type { Self.registry.first { $0.name == rawValue }! }

    // The methods the configuration's per-method defaults and checks refer to.
    public static let standard = Self(unchecked: "standard"), fast = Self(unchecked: "fast"), pgd = Self(unchecked: "pgd")
    public static let trades = Self(unchecked: "trades"), mart = Self(unchecked: "mart"), free = Self(unchecked: "free")
    public static let mix = Self(unchecked: "mix"), awp = Self(unchecked: "awp"), gradalign = Self(unchecked: "gradalign")

    /// Whether the method takes ``ImageTrainingConfiguration/steps`` attack steps per batch.
    var attackSteps: Bool { [.pgd, .trades, .mart, .mix, .awp].contains(self) }
}

/// How an image training method is built from a resolved configuration (see
/// ``ImageTrainingConfiguration/resolved()``, which fills in the method's defaults).
protocol ImageTrainingRecipe: Sendable {
    associatedtype Method: TrainingMethod
    /// The method's name in configurations.
    static var name: String { get }
    /// The method `configuration` (resolved) trains with.
    static func method(for configuration: ImageTrainingConfiguration) -> Method
}

/// Plain cross-entropy training.
struct StandardRecipe: ImageTrainingRecipe {
    static let name = "standard"
    static func method(for configuration: ImageTrainingConfiguration) -> StandardTraining { StandardTraining() }
}

/// Fast-AT (Wong et al. 2020).
struct FastRecipe: ImageTrainingRecipe {
    static let name = "fast"
    static func method(for c: ImageTrainingConfiguration) -> FastAdversarialTraining {
        FastAdversarialTraining(threatModel: c.threatModel, stepSize: c.stepSize!, randomStart: c.randomStart!, clipsStart: c.clipsStart!)
    }
}

/// PGD-AT (Madry et al. 2018).
struct PGDRecipe: ImageTrainingRecipe {
    static let name = "pgd"
    static func method(for c: ImageTrainingConfiguration) -> PGDAdversarialTraining {
        PGDAdversarialTraining(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!, randomStart: c.randomStart!)
    }
}

/// TRADES (Zhang et al. 2019).
struct TRADESRecipe: ImageTrainingRecipe {
    static let name = "trades"
    static func method(for c: ImageTrainingConfiguration) -> TRADES {
        TRADES(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!, beta: c.beta!)
    }
}

/// MART (Wang et al. 2020).
struct MARTRecipe: ImageTrainingRecipe {
    static let name = "mart"
    static func method(for c: ImageTrainingConfiguration) -> MART {
        MART(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!, beta: c.beta!)
    }
}

/// Free-AT (Shafahi et al. 2019).
struct FreeRecipe: ImageTrainingRecipe {
    static let name = "free"
    static func method(for c: ImageTrainingConfiguration) -> FreeAdversarialTraining {
        FreeAdversarialTraining(threatModel: c.threatModel, replays: c.replays!, stepSize: c.stepSize!)
    }
}

/// Clean and PGD cross-entropy mixed by the adversarial ratio.
struct MixRecipe: ImageTrainingRecipe {
    static let name = "mix"
    static func method(for c: ImageTrainingConfiguration) -> MixedAdversarialTraining<PGD> {
        MixedAdversarialTraining(attack: PGD(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!), adversarialRatio: c.adversarialRatio!)
    }
}

/// AWP (Wu et al. 2020) on PGD-AT or TRADES.
struct AWPRecipe: ImageTrainingRecipe {
    static let name = "awp"
    static func method(for c: ImageTrainingConfiguration) -> AdversarialWeightPerturbation {
        let base: AdversarialWeightPerturbation.BaseMethod = c.awpInner == .trades
            ? .trades(TRADES(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!, beta: c.beta!))
            : .pgd(PGDAdversarialTraining(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!, randomStart: c.randomStart!))
        return AdversarialWeightPerturbation(base: base, gamma: c.awpGamma!, warmupEpochs: c.awpWarmup!)
    }
}

/// GradAlign (Andriushchenko and Flammarion 2020).
struct GradAlignRecipe: ImageTrainingRecipe {
    static let name = "gradalign"
    static func method(for c: ImageTrainingConfiguration) -> GradAlign {
        GradAlign(threatModel: c.threatModel, lambda: c.gradalignLambda!, stepSize: c.stepSize!, randomStart: c.randomStart!)
    }
}
