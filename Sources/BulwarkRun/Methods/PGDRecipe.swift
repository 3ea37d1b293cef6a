import BulwarkTraining

extension ImageTrainingMethodName {
    /// PGD-AT.
    public static let pgd = Self(unchecked: PGDRecipe.name)
}

/// PGD-AT (Madry et al. 2018).
struct PGDRecipe: ImageTrainingRecipe {
    static let name = "pgd"
    static let fields: Set<ImageMethodField> = [.steps, .stepSize, .randomStart]
    static func resolve(_ c: inout ImageTrainingConfiguration) {
        c.resolveAttack(defaultSteps: 7)
        c.randomStart = c.randomStart ?? true
    }
    static func method(for c: ImageTrainingConfiguration) -> PGDAdversarialTraining {
        PGDAdversarialTraining(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!, randomStart: c.randomStart!)
    }
}
