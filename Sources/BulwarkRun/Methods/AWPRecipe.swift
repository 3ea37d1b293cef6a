import BulwarkTraining

/// AWP (Wu et al. 2020) on PGD-AT or TRADES, with its base method's fields and defaults.
struct AWPRecipe: ImageTrainingRecipe {
    static let name = "awp"
    static let fields = Set<ImageMethodField>([.awpInner, .awpGamma, .awpWarmup]).union(PGDRecipe.fields).union(TRADESRecipe.fields)
    static func fields(of configuration: ImageTrainingConfiguration) -> Set<ImageMethodField> {
        Set([.awpInner, .awpGamma, .awpWarmup]).union(configuration.awpInner == .trades ? TRADESRecipe.fields : PGDRecipe.fields)
    }
    static func description(of configuration: ImageTrainingConfiguration) -> String { "awp on \((configuration.awpInner ?? .pgd).rawValue)" }
    static func resolve(_ configuration: inout ImageTrainingConfiguration) {
        configuration.awpInner = configuration.awpInner ?? .pgd
        if configuration.awpInner == .trades { TRADESRecipe.resolve(&configuration) } else { PGDRecipe.resolve(&configuration) }
        configuration.awpGamma = configuration.awpGamma ?? (configuration.awpInner == .pgd ? 0.01 : 0.005)
        configuration.awpWarmup = configuration.awpWarmup ?? 0
    }
    static func method(for configuration: ImageTrainingConfiguration) -> AdversarialWeightPerturbation {
        let base: AdversarialWeightPerturbation.BaseMethod = configuration.awpInner == .trades
            ? .trades(TRADESRecipe.method(for: configuration)) : .pgd(PGDRecipe.method(for: configuration))
        return AdversarialWeightPerturbation(base: base, gamma: configuration.awpGamma!, warmupEpochs: configuration.awpWarmup!)
    }
}

extension ImageTrainingMethodName {
    /// AWP on PGD-AT or TRADES.
    public static let awp = Self(unchecked: AWPRecipe.name)
}
