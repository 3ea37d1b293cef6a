import BulwarkTraining

/// GradAlign (Andriushchenko and Flammarion 2020).
struct GradAlignRecipe: ImageTrainingRecipe {
    static let name = "gradalign"
    static let fields: Set<ImageMethodField> = [.stepSize, .randomStart, .gradalignLambda]
    static func resolve(_ configuration: inout ImageTrainingConfiguration) {
        configuration.stepSize = configuration.stepSize ?? configuration.epsilon
        configuration.randomStart = configuration.randomStart ?? false
        configuration.gradalignLambda = configuration.gradalignLambda ?? 0.2
    }
    static func method(for configuration: ImageTrainingConfiguration) -> GradAlign {
        GradAlign(threatModel: configuration.threatModel, lambda: configuration.gradalignLambda!, stepSize: configuration.stepSize!, randomStart: configuration.randomStart!)
    }
}

extension ImageTrainingMethodName {
    /// GradAlign: FGSM with a gradient-alignment regularizer.
    public static let gradalign = Self(unchecked: GradAlignRecipe.name)
}
