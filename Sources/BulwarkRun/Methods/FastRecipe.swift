import BulwarkTraining

extension ImageTrainingMethodName {
    /// Fast-AT: FGSM from a random start.
    public static let fast = Self(unchecked: FastRecipe.name)
}

/// Fast-AT (Wong et al. 2020).
struct FastRecipe: ImageTrainingRecipe {
    static let name = "fast"
    static let fields: Set<ImageMethodField> = [.stepSize, .randomStart, .clipsStart]
    static func resolve(_ c: inout ImageTrainingConfiguration) {
        c.stepSize = c.stepSize ?? 1.25 * c.epsilon
        c.randomStart = c.randomStart ?? true
        c.clipsStart = c.clipsStart ?? true
    }
    static func method(for c: ImageTrainingConfiguration) -> FastAdversarialTraining {
        FastAdversarialTraining(threatModel: c.threatModel, stepSize: c.stepSize!, randomStart: c.randomStart!, clipsStart: c.clipsStart!)
    }
}
