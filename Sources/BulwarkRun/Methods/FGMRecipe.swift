import BulwarkTraining

/// FGM on the embeddings (Miyato et al. 2017): clean plus adversarial loss.
struct FGMRecipe: TextTrainingRecipe {
    static let name = "fgm"
    static let fields: Set<TextMethodField> = [.perturbationSite]
    static func resolve(_ configuration: inout TextTrainingConfiguration) { configuration.perturbationSite = configuration.perturbationSite ?? .embeddedSequence }
    static func method(for configuration: TextTrainingConfiguration) -> EmbeddingFGM {
        EmbeddingFGM(threatModel: configuration.threatModel, site: configuration.perturbationSite!)
    }
}

extension TextTrainingMethodName {
    /// FGM on the embeddings: clean plus adversarial loss.
    public static let fgm = Self(unchecked: FGMRecipe.name)
}
