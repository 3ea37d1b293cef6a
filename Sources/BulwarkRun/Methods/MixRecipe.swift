import BulwarkAttacks
import BulwarkTraining

/// Clean and PGD cross-entropy mixed by the adversarial ratio.
struct MixRecipe: ImageTrainingRecipe {
    static let name = "mix"
    static let fields: Set<ImageMethodField> = [.steps, .stepSize, .adversarialRatio]
    // A mixture around an arbitrary attack has no budget it can scale.
    static let rampsEpsilon = false
    static func resolve(_ configuration: inout ImageTrainingConfiguration) {
        configuration.resolveAttack(defaultSteps: 7)
        configuration.adversarialRatio = configuration.adversarialRatio ?? 0.5
    }
    static func method(for configuration: ImageTrainingConfiguration) -> MixedAdversarialTraining<PGD> {
        MixedAdversarialTraining(attack: PGD(threatModel: configuration.threatModel, steps: configuration.steps!, stepSize: configuration.stepSize!), adversarialRatio: configuration.adversarialRatio!)
    }
}

extension ImageTrainingMethodName {
    /// Clean and PGD cross-entropy mixed by the adversarial ratio.
    public static let mix = Self(unchecked: MixRecipe.name)
}
