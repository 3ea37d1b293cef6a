import BulwarkTraining

/// MART (Wang et al. 2020), with the attack and β defaults of TRADES.
struct MARTRecipe: ImageTrainingRecipe {
    static let name = "mart"
    static let fields = TRADESRecipe.fields
    static func resolve(_ configuration: inout ImageTrainingConfiguration) { TRADESRecipe.resolve(&configuration) }
    static func method(for configuration: ImageTrainingConfiguration) -> MART {
        MART(threatModel: configuration.threatModel, steps: configuration.steps!, stepSize: configuration.stepSize!, beta: configuration.beta!)
    }
}

extension ImageTrainingMethodName {
    /// MART.
    public static let mart = Self(unchecked: MARTRecipe.name)
}
