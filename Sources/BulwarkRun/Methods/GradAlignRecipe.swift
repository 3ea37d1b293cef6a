import BulwarkTraining

extension ImageTrainingMethodName {
    /// GradAlign: FGSM with a gradient-alignment regularizer.
    public static let gradalign = Self(unchecked: GradAlignRecipe.name)
}

/// GradAlign (Andriushchenko and Flammarion 2020).
struct GradAlignRecipe: ImageTrainingRecipe {
    static let name = "gradalign"
    static let fields: Set<ImageMethodField> = [.stepSize, .randomStart, .gradalignLambda]
    static func resolve(_ c: inout ImageTrainingConfiguration) {
        c.stepSize = c.stepSize ?? c.epsilon
        c.randomStart = c.randomStart ?? false
        c.gradalignLambda = c.gradalignLambda ?? 0.2
    }
    static func method(for c: ImageTrainingConfiguration) -> GradAlign {
        GradAlign(threatModel: c.threatModel, lambda: c.gradalignLambda!, stepSize: c.stepSize!, randomStart: c.randomStart!)
    }
}
