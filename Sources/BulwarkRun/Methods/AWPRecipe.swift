import BulwarkTraining

extension ImageTrainingMethodName {
    /// AWP on PGD-AT or TRADES.
    public static let awp = Self(unchecked: AWPRecipe.name)
}

/// AWP (Wu et al. 2020) on PGD-AT or TRADES, with its base method's fields and defaults.
struct AWPRecipe: ImageTrainingRecipe {
    static let name = "awp"
    static let fields = Set<ImageMethodField>([.awpInner, .awpGamma, .awpWarmup]).union(PGDRecipe.fields).union(TRADESRecipe.fields)
    static func fields(of c: ImageTrainingConfiguration) -> Set<ImageMethodField> {
        Set([.awpInner, .awpGamma, .awpWarmup]).union(c.awpInner == .trades ? TRADESRecipe.fields : PGDRecipe.fields)
    }
    static func description(of c: ImageTrainingConfiguration) -> String { "awp on \((c.awpInner ?? .pgd).rawValue)" }
    static func resolve(_ c: inout ImageTrainingConfiguration) {
        c.awpInner = c.awpInner ?? .pgd
        if c.awpInner == .trades { TRADESRecipe.resolve(&c) } else { PGDRecipe.resolve(&c) }
        c.awpGamma = c.awpGamma ?? (c.awpInner == .pgd ? 0.01 : 0.005)
        c.awpWarmup = c.awpWarmup ?? 0
    }
    static func method(for c: ImageTrainingConfiguration) -> AdversarialWeightPerturbation {
        let base: AdversarialWeightPerturbation.BaseMethod = c.awpInner == .trades
            ? .trades(TRADESRecipe.method(for: c)) : .pgd(PGDRecipe.method(for: c))
        return AdversarialWeightPerturbation(base: base, gamma: c.awpGamma!, warmupEpochs: c.awpWarmup!)
    }
}
