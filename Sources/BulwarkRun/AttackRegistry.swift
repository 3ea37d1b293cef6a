import BulwarkAttacks

/// An attack an evaluation can build by name from ``AttackParameters``.
public struct AttackRegistration: Sendable {
    /// The name configurations use (`pgd`, `apgd-ce`, …).
    public var name: String
    /// Whether the attack searches for the smallest perturbation (run once per robustness
    /// curve rather than per budget).
    public var isMinimumNorm: Bool
    /// The one norm the attack works in, if it is restricted to one.
    public var requiredNorm: Norm?
    /// What its progress counts within a batch: `query` for score-based attacks, else
    /// `iteration`.
    public var progressUnit: String
    /// Builds the attack for a threat model.
    public var make: @Sendable (ThreatModel, AttackParameters) -> any Attack

    /// Registers the attack `name`, built by `make`.
    public init(_ name: String, minimumNorm: Bool = false, requiredNorm: Norm? = nil, progressUnit: String = "iteration",
                make: @escaping @Sendable (ThreatModel, AttackParameters) -> any Attack) {
        self.name = name
        isMinimumNorm = minimumNorm
        self.requiredNorm = requiredNorm
        self.progressUnit = progressUnit
        self.make = make
    }
}

/// The attacks evaluations can run by name: a new attack is its own file in BulwarkAttacks
/// and one line here.
public enum AttackRegistry {
    /// Every registered attack, in the order the command line lists them.
    public static let registrations: [AttackRegistration] = [
        .init("fgsm") { threatModel, _ in FGSM(threatModel: threatModel) },
        .init("pgd") { threatModel, parameters in
            PGD(threatModel: threatModel, steps: parameters.pgdSteps, stepSize: parameters.stepSize(for: threatModel),
                randomStart: parameters.randomStart, restarts: parameters.restarts)
        },
        .init("bim") { threatModel, parameters in
            // Kurakin et al.'s schedule unless the step size is set.
            guard let stepSize = parameters.stepSize else { return BIM(threatModel: threatModel, steps: parameters.steps) }
            return BIM(threatModel: threatModel, steps: parameters.pgdSteps, stepSize: stepSize)
        },
        .init("mi-fgsm") { threatModel, parameters in
            MIFGSM(threatModel: threatModel, steps: parameters.steps ?? 10, stepSize: parameters.stepSize, decay: parameters.momentumDecay)
        },
        .init("gradient-ascent") { threatModel, parameters in
            GradientAscent(threatModel: threatModel, steps: parameters.pgdSteps, stepSize: parameters.stepSize(for: threatModel))
        },
        .init("apgd-ce") { APGD(threatModel: $0, iterations: $1.iterations, restarts: $1.restarts) },
        .init("apgd-dlr") { APGD(threatModel: $0, iterations: $1.iterations, restarts: $1.restarts, loss: .dlr) },
        .init("apgd-t") { APGD(threatModel: $0, iterations: $1.iterations, restarts: $1.restarts, loss: .dlr, objective: .targeted()) },
        .init("fab", minimumNorm: true) { FAB(threatModel: $0, iterations: $1.iterations, restarts: $1.restarts) },
        .init("fab-t", minimumNorm: true) { FAB(threatModel: $0, iterations: $1.iterations, restarts: $1.restarts, objective: .targeted()) },
        .init("square", progressUnit: "query") { SquareAttack(threatModel: $0, queries: $1.queries) },
        .init("deepfool", minimumNorm: true) { DeepFool(threatModel: $0, steps: Swift.max($1.steps ?? 50, 50)) },
        .init("cw-l2", minimumNorm: true, requiredNorm: .l2) { threatModel, _ in CarliniWagnerL2(threatModel: threatModel) },
    ]

    /// The attacks of the `standard` ensemble: AutoAttack's standard version, in its order
    /// (the library's `standardAttacks`).
    public static let standardEnsemble = ["apgd-ce", "apgd-t", "fab-t", "square"]

    /// The registered names, comma separated, for messages.
    public static var list: String { registrations.map(\.name).joined(separator: ", ") }

    /// The registration called `name`, if any.
    public static func registration(named name: String) -> AttackRegistration? {
        registrations.first { $0.name == name }
    }

    /// The attack called `name` with `parameters` for `threatModel`; attacks that report their
    /// iterations (queries) within a batch report them to `iterationProgress`.
    ///
    /// - Throws: ``ConfigurationError`` naming the registered attacks when none is called `name`.
    public static func makeAttack(
        _ name: String, threatModel: ThreatModel, parameters: AttackParameters, iterationProgress: IterationProgress? = nil
    ) throws(ConfigurationError) -> any Attack {
        guard let registration = registration(named: name) else {
            throw ConfigurationError("Unknown attack '\(name)'. Choose from: \(list).")
        }
        var attack = registration.make(threatModel, parameters)
        guard let iterationProgress else { return attack }
        if var pgd = attack as? PGD { pgd.onProgress = iterationProgress; attack = pgd }
        if var apgd = attack as? APGD { apgd.onProgress = iterationProgress; attack = apgd }
        if var square = attack as? SquareAttack { square.onProgress = iterationProgress; attack = square }
        return attack
    }
}
