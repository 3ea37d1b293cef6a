import BulwarkTraining

/// FreeLB (Zhu et al. 2020).
struct FreeLBRecipe: TextTrainingRecipe {
    static let name = "freelb"
    static let fields: Set<TextMethodField> = [.steps, .stepSize, .perturbationSite, .initialMagnitude]
    static func resolve(_ configuration: inout TextTrainingConfiguration) {
        configuration.resolveAscent()
        configuration.perturbationSite = configuration.perturbationSite ?? .embeddedSequence
        configuration.initialMagnitude = configuration.initialMagnitude ?? 0
    }
    static func method(for configuration: TextTrainingConfiguration) -> FreeLB {
        FreeLB(steps: configuration.steps!, stepSize: configuration.stepSize!, initialMagnitude: configuration.initialMagnitude!, maximumNorm: configuration.epsilon, site: configuration.perturbationSite!)
    }
}

extension TextTrainingMethodName {
    /// FreeLB: K ascent steps, parameter gradients averaged over them.
    public static let freelb = Self(unchecked: FreeLBRecipe.name)
}
