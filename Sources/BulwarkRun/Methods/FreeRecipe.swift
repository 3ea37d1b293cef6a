import BulwarkTraining

extension ImageTrainingMethodName {
    /// Free-AT.
    public static let free = Self(unchecked: FreeRecipe.name)
}

/// Free-AT (Shafahi et al. 2019).
struct FreeRecipe: ImageTrainingRecipe {
    static let name = "free"
    static let fields: Set<ImageMethodField> = [.stepSize, .replays]
    static func resolve(_ c: inout ImageTrainingConfiguration) {
        c.stepSize = c.stepSize ?? c.epsilon
        c.replays = c.replays ?? 8
    }
    static func method(for c: ImageTrainingConfiguration) -> FreeAdversarialTraining {
        FreeAdversarialTraining(threatModel: c.threatModel, replays: c.replays!, stepSize: c.stepSize!)
    }
}
