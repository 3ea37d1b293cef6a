import BulwarkAttacks
import BulwarkTraining

/// The name of a text training method, one of ``TextTrainingMethodName/all``.
public struct TextTrainingMethodName: TrainingMethodName {
    public var rawValue: String

    public init(unchecked name: String) { rawValue = name }

    public static var names: [String] { registry.map { $0.name } }

    /// Every method a configuration may name: adding a method is a type conforming to
    /// ``TextTrainingRecipe`` (in its own file) and one line here.
    static let registry: [any TextTrainingRecipe.Type] = [
        StandardTextRecipe.self, FGMRecipe.self, EmbeddingPGDRecipe.self, FreeLBRecipe.self, VATRecipe.self, SMARTRecipe.self,
    ]

    /// What builds the method.
    var recipe: any TextTrainingRecipe.Type { Self.registry.first { $0.name == rawValue }! }

    // The methods the configuration's defaults and checks refer to.
    public static let standard = Self(unchecked: "standard"), fgm = Self(unchecked: "fgm"), pgd = Self(unchecked: "pgd"), freelb = Self(unchecked: "freelb")
    public static let vat = Self(unchecked: "vat"), smart = Self(unchecked: "smart")
}

/// How a text training method is built from a resolved configuration (see
/// ``TextTrainingConfiguration/resolved()``, which fills in the method's defaults).
protocol TextTrainingRecipe: Sendable {
    associatedtype Method: TextTrainingMethod
    /// The method's name in configurations.
    static var name: String { get }
    /// The method `configuration` (resolved) trains with.
    static func method(for configuration: TextTrainingConfiguration) -> Method
}

/// Plain cross-entropy training.
struct StandardTextRecipe: TextTrainingRecipe {
    static let name = "standard"
    static func method(for configuration: TextTrainingConfiguration) -> StandardTraining { StandardTraining() }
}

/// FGM on the embeddings (Miyato et al. 2017): clean plus adversarial loss.
struct FGMRecipe: TextTrainingRecipe {
    static let name = "fgm"
    static func method(for c: TextTrainingConfiguration) -> EmbeddingFGM {
        EmbeddingFGM(threatModel: c.threatModel, site: c.perturbationSite!)
    }
}

/// K steps of PGD on the embeddings, adversarial loss.
struct EmbeddingPGDRecipe: TextTrainingRecipe {
    static let name = "pgd"
    static func method(for c: TextTrainingConfiguration) -> EmbeddingPGDTraining {
        EmbeddingPGDTraining(attack: EmbeddingPGD(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!), site: c.perturbationSite!)
    }
}

/// FreeLB (Zhu et al. 2020).
struct FreeLBRecipe: TextTrainingRecipe {
    static let name = "freelb"
    static func method(for c: TextTrainingConfiguration) -> FreeLB {
        FreeLB(steps: c.steps!, stepSize: c.stepSize!, initialMagnitude: c.initialMagnitude!, maximumNorm: c.epsilon, site: c.perturbationSite!)
    }
}

/// Virtual adversarial training (Miyato et al. 2017).
struct VATRecipe: TextTrainingRecipe {
    static let name = "vat"
    static func method(for c: TextTrainingConfiguration) -> VirtualAdversarialTraining {
        VirtualAdversarialTraining(threatModel: c.threatModel, powerIterations: c.powerIterations!)
    }
}

/// SMART (Jiang et al. 2020).
struct SMARTRecipe: TextTrainingRecipe {
    static let name = "smart"
    static func method(for c: TextTrainingConfiguration) -> SMART {
        SMART(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!, proximalWeight: c.proximalWeight!, momentum: c.proximalMomentum!)
    }
}
