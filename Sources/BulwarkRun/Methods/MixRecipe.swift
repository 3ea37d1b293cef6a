import BulwarkAttacks
import BulwarkTraining

extension ImageTrainingMethodName {
    /// Clean and PGD cross-entropy mixed by the adversarial ratio.
    public static let mix = Self(unchecked: MixRecipe.name)
}

/// Clean and PGD cross-entropy mixed by the adversarial ratio.
struct MixRecipe: ImageTrainingRecipe {
    static let name = "mix"
    static let fields: Set<ImageMethodField> = [.steps, .stepSize, .adversarialRatio]
    // A mixture around an arbitrary attack has no budget it can scale.
    static let rampsEpsilon = false
    static func resolve(_ c: inout ImageTrainingConfiguration) {
        c.resolveAttack(defaultSteps: 7)
        c.adversarialRatio = c.adversarialRatio ?? 0.5
    }
    static func method(for c: ImageTrainingConfiguration) -> MixedAdversarialTraining<PGD> {
        MixedAdversarialTraining(attack: PGD(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!), adversarialRatio: c.adversarialRatio!)
    }
}
