import BulwarkAttacks
import BulwarkTraining

extension TextTrainingMethodName {
    /// K steps of PGD on the embeddings, adversarial loss.
    public static let pgd = Self(unchecked: EmbeddingPGDRecipe.name)
}

/// K steps of PGD on the embeddings, adversarial loss.
struct EmbeddingPGDRecipe: TextTrainingRecipe {
    static let name = "pgd"
    static let fields: Set<TextMethodField> = [.steps, .stepSize, .perturbationSite]
    static func resolve(_ c: inout TextTrainingConfiguration) {
        c.resolveAscent()
        c.perturbationSite = c.perturbationSite ?? .embeddedSequence
    }
    static func method(for c: TextTrainingConfiguration) -> EmbeddingPGDTraining {
        EmbeddingPGDTraining(attack: EmbeddingPGD(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!), site: c.perturbationSite!)
    }
}
