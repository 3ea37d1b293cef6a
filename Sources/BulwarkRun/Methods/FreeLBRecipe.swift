import BulwarkTraining

extension TextTrainingMethodName {
    /// FreeLB: K ascent steps, parameter gradients averaged over them.
    public static let freelb = Self(unchecked: FreeLBRecipe.name)
}

/// FreeLB (Zhu et al. 2020).
struct FreeLBRecipe: TextTrainingRecipe {
    static let name = "freelb"
    static let fields: Set<TextMethodField> = [.steps, .stepSize, .perturbationSite, .initialMagnitude]
    static func resolve(_ c: inout TextTrainingConfiguration) {
        c.resolveAscent()
        c.perturbationSite = c.perturbationSite ?? .embeddedSequence
        c.initialMagnitude = c.initialMagnitude ?? 0
    }
    static func method(for c: TextTrainingConfiguration) -> FreeLB {
        FreeLB(steps: c.steps!, stepSize: c.stepSize!, initialMagnitude: c.initialMagnitude!, maximumNorm: c.epsilon, site: c.perturbationSite!)
    }
}
