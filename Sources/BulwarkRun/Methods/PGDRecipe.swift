import BulwarkTraining

/// PGD-AT (Madry et al. 2018).
struct PGDRecipe: ImageTrainingRecipe {
    static let name = "pgd"
    static let fields: Set<ImageMethodField> = [.steps, .stepSize, .randomStart]
    static func resolve(_ configuration: inout ImageTrainingConfiguration) {
        configuration.resolveAttack(defaultSteps: 7)
        configuration.randomStart = configuration.randomStart ?? true
    }
    static func method(for configuration: ImageTrainingConfiguration) -> PGDAdversarialTraining {
        PGDAdversarialTraining(threatModel: configuration.threatModel, steps: configuration.steps!, stepSize: configuration.stepSize!, randomStart: configuration.randomStart!)
    }
}

extension ImageTrainingMethodName {
    /// PGD-AT.
    public static let pgd = Self(unchecked: PGDRecipe.name)
}
