import BulwarkTraining

extension ImageTrainingMethodName {
    /// MART.
    public static let mart = Self(unchecked: MARTRecipe.name)
}

/// MART (Wang et al. 2020), with the attack and β defaults of TRADES.
struct MARTRecipe: ImageTrainingRecipe {
    static let name = "mart"
    static let fields = TRADESRecipe.fields
    static func resolve(_ c: inout ImageTrainingConfiguration) { TRADESRecipe.resolve(&c) }
    static func method(for c: ImageTrainingConfiguration) -> MART {
        MART(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!, beta: c.beta!)
    }
}
