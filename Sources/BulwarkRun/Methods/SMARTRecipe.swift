import BulwarkTraining

/// SMART (Jiang et al. 2020).
struct SMARTRecipe: TextTrainingRecipe {
    static let name = "smart"
    static let fields: Set<TextMethodField> = [.steps, .stepSize, .proximalWeight, .proximalMomentum]
    static func resolve(_ configuration: inout TextTrainingConfiguration) {
        configuration.resolveAscent()
        configuration.proximalWeight = configuration.proximalWeight ?? 1
        configuration.proximalMomentum = configuration.proximalMomentum ?? 0.99
    }
    static func method(for configuration: TextTrainingConfiguration) -> SMART {
        SMART(threatModel: configuration.threatModel, steps: configuration.steps!, stepSize: configuration.stepSize!, proximalWeight: configuration.proximalWeight!, momentum: configuration.proximalMomentum!)
    }
}

extension TextTrainingMethodName {
    /// SMART: a smoothness regularizer with the momentum Bregman proximal point method.
    public static let smart = Self(unchecked: SMARTRecipe.name)
}
