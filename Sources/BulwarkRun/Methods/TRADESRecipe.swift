import BulwarkTraining

/// TRADES (Zhang et al. 2019).
struct TRADESRecipe: ImageTrainingRecipe {
    static let name = "trades"
    static let fields: Set<ImageMethodField> = [.steps, .stepSize, .beta]
    static func resolve(_ configuration: inout ImageTrainingConfiguration) {
        configuration.resolveAttack(defaultSteps: 10)
        configuration.beta = configuration.beta ?? 6
    }
    static func method(for configuration: ImageTrainingConfiguration) -> TRADES {
        TRADES(threatModel: configuration.threatModel, steps: configuration.steps!, stepSize: configuration.stepSize!, beta: configuration.beta!)
    }
}

extension ImageTrainingMethodName {
    /// TRADES.
    public static let trades = Self(unchecked: TRADESRecipe.name)
}
