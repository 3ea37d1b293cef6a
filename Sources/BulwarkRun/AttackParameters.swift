import BulwarkAttacks

/// The attacks' hyper-parameters shared by every attack an evaluation builds; each attack
/// takes the ones it has (see ``AttackRegistry``).
public struct AttackParameters: Sendable, Codable, Equatable {
    /// Steps of PGD and gradient ascent (default 20), MI-FGSM (default 10) and DeepFool (at
    /// least 50); of BIM when ``stepSize`` is set (else Kurakin et al.'s count).
    public var steps: Int?
    /// Step size α of PGD and gradient ascent (default 2.5ε/steps), MI-FGSM (default
    /// ε/steps) and BIM (default 1/255 with Kurakin et al.'s step count).
    public var stepSize: Float?
    /// Decay factor μ of MI-FGSM's accumulated gradient.
    public var momentumDecay: Float = 1
    /// Restarts of PGD and the APGD attacks, runs per target of the FAB attacks.
    public var restarts: Int = 1
    /// Whether PGD starts at a random point of the ε-ball.
    public var randomStart = true
    /// Iterations of the APGD and FAB attacks (per target class for the targeted versions).
    public var iterations: Int = 100
    /// Query budget of the Square attack.
    public var queries: Int = 5000

    /// The defaults: Madry et al.'s PGD-20, AutoAttack's 100 iterations and 5,000 queries.
    public init() {}

    /// Throws unless every count is at least 1, the step size positive and the decay finite
    /// and not negative.
    public func validate() throws(ConfigurationError) {
        if let steps { try require(steps >= 1, "`steps` must be at least 1, got \(steps)") }
        try require(restarts >= 1, "`restarts` must be at least 1, got \(restarts)")
        try require(iterations >= 1, "`iterations` must be at least 1, got \(iterations)")
        try require(queries >= 1, "`queries` must be at least 1, got \(queries)")
        if let stepSize { try require(stepSize > 0, "`stepSize` must be positive, got \(stepSize)") }
        try require(momentumDecay >= 0 && momentumDecay.isFinite, "`momentumDecay` must be a finite number ≥ 0, got \(momentumDecay)")
    }

    /// The steps of PGD-like attacks: the given count or 20.
    public var pgdSteps: Int { steps ?? 20 }

    /// α for `threatModel`: the given step size, or Madry et al.'s 2.5ε/steps.
    public func stepSize(for threatModel: ThreatModel) -> Float {
        stepSize ?? 2.5 * threatModel.epsilon / Float(pgdSteps)
    }

    /// Budgets far beyond the papers', each naming its field, its value and the papers'
    /// range: warnings to give before a run that may not end in any reasonable time.
    ///
    /// The thresholds are ten times the largest budgets the papers use. PGD: Madry et al. 2018
    /// attack with 40 (MNIST) to 100 steps, and robustness checks go to 1,000 (Croce and Hein
    /// 2020); so 10,000. APGD and FAB: AutoAttack runs 100 iterations (at most 1,000 in its
    /// checks); so 10,000. Square: 5,000 queries in AutoAttack, 10,000 in Andriushchenko et
    /// al. 2020's main tables; so 100,000. Restarts: AutoAttack's rand and plus versions use 5
    /// to 20; so 200.
    public var budgetWarnings: [ConfigurationError] {
        var warnings = [String]()
        if let steps, steps > 10_000 {
            warnings.append("`steps` \(steps) is far beyond the 10 to 1,000 steps PGD-type attacks use in the literature; the attack will take very long for no gain in strength")
        }
        if iterations > 10_000 {
            warnings.append("`iterations` \(iterations) is far beyond the 100 (at most 1,000) iterations of APGD and FAB in AutoAttack; the attack will take very long")
        }
        if queries > 100_000 {
            warnings.append("`queries` \(queries) is far beyond the 5,000 to 10,000 queries of the Square attack in its paper and AutoAttack; the attack will take very long")
        }
        if restarts > 200 {
            warnings.append("`restarts` \(restarts) is far beyond the 1 to 20 restarts used in the literature; the attack will take very long")
        }
        return warnings.map(ConfigurationError.init)
    }
}
