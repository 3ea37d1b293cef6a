import BulwarkAttacks
import BulwarkTraining

/// K steps of PGD on the embeddings, adversarial loss.
struct EmbeddingPGDRecipe: TextTrainingRecipe {
    static let name = "pgd"
    static let fields: Set<TextMethodField> = [.steps, .stepSize, .perturbationSite]
    static func resolve(_ configuration: inout TextTrainingConfiguration) {
        configuration.resolveAscent()
        configuration.perturbationSite = configuration.perturbationSite ?? .embeddedSequence
    }
    static func method(for configuration: TextTrainingConfiguration) -> EmbeddingPGDTraining {
        EmbeddingPGDTraining(attack: EmbeddingPGD(threatModel: configuration.threatModel, steps: configuration.steps!, stepSize: configuration.stepSize!), site: configuration.perturbationSite!)
    }
}

extension TextTrainingMethodName {
    /// K steps of PGD on the embeddings, adversarial loss.
    public static let pgd = Self(unchecked: EmbeddingPGDRecipe.name)
}
