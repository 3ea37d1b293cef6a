import BulwarkTraining

extension TextTrainingMethodName {
    /// FGM on the embeddings: clean plus adversarial loss.
    public static let fgm = Self(unchecked: FGMRecipe.name)
}

/// FGM on the embeddings (Miyato et al. 2017): clean plus adversarial loss.
struct FGMRecipe: TextTrainingRecipe {
    static let name = "fgm"
    static let fields: Set<TextMethodField> = [.perturbationSite]
    static func resolve(_ c: inout TextTrainingConfiguration) { c.perturbationSite = c.perturbationSite ?? .embeddedSequence }
    static func method(for c: TextTrainingConfiguration) -> EmbeddingFGM {
        EmbeddingFGM(threatModel: c.threatModel, site: c.perturbationSite!)
    }
}
