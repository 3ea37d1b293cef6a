import BulwarkTraining

/// Virtual adversarial training (Miyato et al. 2017).
struct VATRecipe: TextTrainingRecipe {
    static let name = "vat"
    static let fields: Set<TextMethodField> = [.powerIterations]
    static func resolve(_ configuration: inout TextTrainingConfiguration) { configuration.powerIterations = configuration.powerIterations ?? 1 }
    static func method(for configuration: TextTrainingConfiguration) -> VirtualAdversarialTraining {
        VirtualAdversarialTraining(threatModel: configuration.threatModel, powerIterations: configuration.powerIterations!)
    }
}

extension TextTrainingMethodName {
    /// Virtual adversarial training: a label-free KL term.
    public static let vat = Self(unchecked: VATRecipe.name)
}
