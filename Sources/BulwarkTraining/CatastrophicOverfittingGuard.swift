import BulwarkAttacks
import BulwarkCore
import BulwarkNN

/// Detection of catastrophic overfitting during training, with a rollback to the most robust
/// model seen: Wong, Rice and Kolter 2020, "Fast is better than free: Revisiting adversarial
/// training" (ICLR), section 5.
///
/// Single-step adversarial training can suddenly overfit to its own attack: within a few
/// batches the model's accuracy under PGD collapses (often to 0%) while its accuracy under
/// FGSM rises, because the loss surface becomes too curved for one linear step. Wong et al.
/// guard against it by checking PGD accuracy on a minibatch during training and stopping when
/// it drops by 0.2, keeping the weights from before the drop.
///
/// The ``Trainer`` runs this check every ``interval`` batches (and after the last batch of
/// every epoch) on a held-out batch: the first ``count`` validation examples, or the first
/// ``count`` training examples when there is no validation set (as the reference code does).
/// It measures accuracy under PGD (``pgdSteps`` steps of ``pgdStepSize`` from a random start)
/// and under FGSM (step ε, no random start), both at ``threatModel``, with a fixed seed so
/// that checks differ only by the model. It keeps a copy of the model at the check with the
/// best PGD accuracy, and reports catastrophic overfitting when
///
///     PGD accuracy < best PGD accuracy − drop   and   FGSM accuracy − PGD accuracy ≥ minimumFGSMGap
///
/// The second condition is the signature of catastrophic overfitting (FGSM accuracy stays up
/// or rises while PGD's collapses); it tells it apart from a plain divergence, where both fall.
/// With `minimumFGSMGap` = `nil` the rule is Wong et al.'s PGD-only early stop. On detection the
/// trainer restores the best model, stops and reports ``OverfittingReport``. The checks run
/// inside the batch loop, so their time counts in the epoch's training time; each costs one
/// FGSM and one PGD evaluation of ``count`` examples.
public struct CatastrophicOverfittingGuard: Sendable, Equatable {
    /// The ball both attacks use; normally the training threat model.
    public var threatModel: ThreatModel
    /// How many held-out examples each check attacks.
    public var count: Int
    /// Batches between checks, or `nil` to check only after each epoch's last batch.
    public var interval: Int?
    /// The PGD steps of the check (Wong et al. used 5).
    public var pgdSteps: Int
    /// α of the check's PGD (Wong et al. used ε/4).
    public var pgdStepSize: Float
    /// How far PGD accuracy must fall below its best to count as a collapse (0.2, as Wong et al.).
    public var drop: Float
    /// How far FGSM accuracy must stay above PGD accuracy at the collapse, or `nil` to
    /// ignore FGSM (Wong et al.'s rule).
    public var minimumFGSMGap: Float?

    /// Creates a guard; the PGD step size defaults to ε/4.
    ///
    /// - Precondition: `count ≥ 1`, `interval ≥ 1` if given, `pgdSteps ≥ 1`, and `drop` in (0, 1].
    public init(
        threatModel: ThreatModel, count: Int = 256, interval: Int? = nil, pgdSteps: Int = 5, pgdStepSize: Float? = nil,
        drop: Float = 0.2, minimumFGSMGap: Float? = 0.2
    ) {
        precondition(count >= 1, "the overfitting check needs at least one example")
        precondition(interval.map { $0 >= 1 } ?? true, "the overfitting check interval must be at least one batch")
        precondition(pgdSteps >= 1, "the overfitting check needs at least one PGD step")
        precondition(drop > 0 && drop <= 1, "the overfitting drop must be in (0, 1], got \(drop)")
        self.threatModel = threatModel
        self.count = count
        self.interval = interval
        self.pgdSteps = pgdSteps
        self.pgdStepSize = pgdStepSize ?? threatModel.epsilon / 4
        self.drop = drop
        self.minimumFGSMGap = minimumFGSMGap
    }

    /// Whether accuracies measured at a check, against the best PGD accuracy seen so far, show
    /// catastrophic overfitting (see the type's rule).
    public func isCatastrophicOverfitting(pgdAccuracy: Float, fgsmAccuracy: Float, bestPGDAccuracy: Float) -> Bool {
        pgdAccuracy < bestPGDAccuracy - drop && minimumFGSMGap.map { fgsmAccuracy - pgdAccuracy >= $0 } ?? true
    }

    /// Accuracy under FGSM and under PGD of `model` on `inputs`.
    package func measure<Model: Layer>(_ model: Model, inputs: Tensor, labels: [Int32]) -> (fgsm: Float, pgd: Float) {
        var generator = SplitMix64(seed: 0xC0_0000)
        let attacks: [any Attack] = [
            FGSM(threatModel: threatModel),
            PGD(threatModel: threatModel, steps: pgdSteps, stepSize: pgdStepSize),
        ]
        let report = evaluateRobustness(model, inputs: inputs, labels: labels, attacks: attacks, threatModel: threatModel, using: &generator)
        return (report.attacks[0].robustAccuracy, report.attacks[1].robustAccuracy)
    }
}

/// What the overfitting guard saw when it stopped training.
public struct OverfittingReport: Sendable, Equatable, Codable {
    /// The epoch (1-based) of the check that detected the collapse.
    public var epoch: Int
    /// The batch (1-based, within the epoch) after which that check ran.
    public var batch: Int
    /// Accuracy under PGD at that check.
    public var pgdAccuracy: Float
    /// Accuracy under FGSM at that check.
    public var fgsmAccuracy: Float
    /// The best PGD accuracy of any earlier check; the model restored is the one of that check.
    public var bestPGDAccuracy: Float
    /// The epoch of the best check.
    public var bestEpoch: Int
    /// The batch of the best check.
    public var bestBatch: Int
}
