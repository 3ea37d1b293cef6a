import BulwarkTraining

extension TextTrainingMethodName {
    /// SMART: a smoothness regularizer with the momentum Bregman proximal point method.
    public static let smart = Self(unchecked: SMARTRecipe.name)
}

/// SMART (Jiang et al. 2020).
struct SMARTRecipe: TextTrainingRecipe {
    static let name = "smart"
    static let fields: Set<TextMethodField> = [.steps, .stepSize, .proximalWeight, .proximalMomentum]
    static func resolve(_ c: inout TextTrainingConfiguration) {
        c.resolveAscent()
        c.proximalWeight = c.proximalWeight ?? 1
        c.proximalMomentum = c.proximalMomentum ?? 0.99
    }
    static func method(for c: TextTrainingConfiguration) -> SMART {
        SMART(threatModel: c.threatModel, steps: c.steps!, stepSize: c.stepSize!, proximalWeight: c.proximalWeight!, momentum: c.proximalMomentum!)
    }
}
