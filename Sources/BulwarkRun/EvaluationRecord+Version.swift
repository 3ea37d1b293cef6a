import BulwarkAttacks
import BulwarkReport

extension EvaluationRecord {
    /// The record of `report`, an evaluation of the checkpoint `model` of `architecture` on
    /// `split` of `dataset` with the attacks' `seed` and PGD settings (`steps`, `stepSize`,
    /// `restarts`), stamped with this ``bulwarkVersion``: what `bulwark eval --json` and the
    /// final evaluation of `bulwark train` write.
    public init(report: RobustnessReport, model: String, architecture: String, dataset: String, split: String,
                seed: UInt64, steps: Int, stepSize: Float, restarts: Int, sanityChecks: Bool) {
        self.init(report: report, model: model, architecture: architecture, dataset: dataset, split: split, seed: seed,
                  steps: steps, stepSize: stepSize, restarts: restarts, sanityChecks: sanityChecks, bulwarkVersion: BulwarkRun.bulwarkVersion)
    }
}

extension CurveRecord {
    /// The record of `curve`, an evaluation of the checkpoint `model` of `architecture` on
    /// `split` of `dataset` with the attacks' `seed`, stamped with this ``bulwarkVersion``:
    /// what `bulwark eval --epsilons … --json` writes.
    public init(curve: RobustnessCurve, model: String, architecture: String, dataset: String, split: String, seed: UInt64) {
        self.init(curve: curve, model: model, architecture: architecture, dataset: dataset, split: split, seed: seed,
                  bulwarkVersion: BulwarkRun.bulwarkVersion)
    }
}
