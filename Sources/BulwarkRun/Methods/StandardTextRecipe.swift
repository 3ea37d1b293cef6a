import BulwarkTraining

/// Plain cross-entropy training.
struct StandardTextRecipe: TextTrainingRecipe {
    static let name = "standard"
    static let fields: Set<TextMethodField> = []
    static let attacks = false
    static func resolve(_ configuration: inout TextTrainingConfiguration) {}
    static func method(for configuration: TextTrainingConfiguration) -> StandardTraining { StandardTraining() }
}

extension TextTrainingMethodName {
    /// Plain cross-entropy training.
    public static let standard = Self(unchecked: StandardTextRecipe.name)
}
