import BulwarkTraining

extension ImageTrainingMethodName {
    /// TRADES.
    public static let trades = Self(unchecked: TRADESRecipe.name)
}

/// TRADES (Zhang et al. 2019).
struct TRADESRecipe: ImageTrainingRecipe {
    static let name = "trades"
    static let fields: Set<ImageMethodField> = [.steps, .stepSize, .beta]
    static func resolve(_ c: inout ImageTrainingConfiguration) {
        c.resolveAttack(defaultSteps: 10)
        c.beta = c.beta ?? 6
    }
    static func method(for c: ImageTrainingConfiguration) -> TRADES {
        TRADES(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!, beta: c.beta!)
    }
}
