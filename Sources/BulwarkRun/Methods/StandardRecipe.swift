import BulwarkTraining

/// Plain cross-entropy training.
struct StandardRecipe: ImageTrainingRecipe {
    static let name = "standard"
    static let fields: Set<ImageMethodField> = []
    static let attacks = false
    static func resolve(_ configuration: inout ImageTrainingConfiguration) { configuration.schedule = configuration.schedule ?? .constant }
    static func method(for configuration: ImageTrainingConfiguration) -> StandardTraining { StandardTraining() }
}

extension ImageTrainingMethodName {
    /// Plain cross-entropy training.
    public static let standard = Self(unchecked: StandardRecipe.name)
}
