import BulwarkTraining

/// Free-AT (Shafahi et al. 2019).
struct FreeRecipe: ImageTrainingRecipe {
    static let name = "free"
    static let fields: Set<ImageMethodField> = [.stepSize, .replays]
    static func resolve(_ configuration: inout ImageTrainingConfiguration) {
        configuration.stepSize = configuration.stepSize ?? configuration.epsilon
        configuration.replays = configuration.replays ?? 8
    }
    static func method(for configuration: ImageTrainingConfiguration) -> FreeAdversarialTraining {
        FreeAdversarialTraining(threatModel: configuration.threatModel, replays: configuration.replays!, stepSize: configuration.stepSize!)
    }
}

extension ImageTrainingMethodName {
    /// Free-AT.
    public static let free = Self(unchecked: FreeRecipe.name)
}
