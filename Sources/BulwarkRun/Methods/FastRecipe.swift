import BulwarkTraining

/// Fast-AT (Wong et al. 2020).
struct FastRecipe: ImageTrainingRecipe {
    static let name = "fast"
    static let fields: Set<ImageMethodField> = [.stepSize, .randomStart, .clipsStart]
    static func resolve(_ configuration: inout ImageTrainingConfiguration) {
        configuration.stepSize = configuration.stepSize ?? 1.25 * configuration.epsilon
        configuration.randomStart = configuration.randomStart ?? true
        configuration.clipsStart = configuration.clipsStart ?? true
    }
    static func method(for configuration: ImageTrainingConfiguration) -> FastAdversarialTraining {
        FastAdversarialTraining(threatModel: configuration.threatModel, stepSize: configuration.stepSize!, randomStart: configuration.randomStart!, clipsStart: configuration.clipsStart!)
    }
}

extension ImageTrainingMethodName {
    /// Fast-AT: FGSM from a random start.
    public static let fast = Self(unchecked: FastRecipe.name)
}
