import BulwarkAttacks
import BulwarkReport
import Foundation

extension EvaluationConfiguration {
    /// The lines that say what `outcome`, this configuration's evaluation of `dataset`, found
    /// (see ``EvaluationSummary``).
    public func summaryLines(of outcome: Outcome, dataset: String) -> [String] {
        switch outcome {
        case .curve(let curve): EvaluationSummary.lines(for: curve, dataset: dataset, split: split.rawValue)
        case .report(let report):
            EvaluationSummary.lines(for: report, dataset: dataset, split: split.rawValue, sanityChecks: sanityChecks, label: label(ofAttack:))
        }
    }

    /// The record of `outcome`, this configuration's evaluation of the model `model` (of
    /// `kind`, an architecture or `onnx`) on `dataset` (the user's data at `dataPath`, when
    /// not a built-in dataset): an ``EvaluationRecord``, or a ``CurveRecord`` for a robustness
    /// curve. `finalSoftmaxDropped` is recorded only when true.
    public func record(
        of outcome: Outcome, model: String, architecture kind: String, dataset: String, dataPath: String? = nil,
        finalSoftmaxDropped: Bool = false
    ) -> any Encodable {
        switch outcome {
        case .curve(let curve):
            var record = CurveRecord(curve: curve, model: model, architecture: kind, dataset: dataset, split: split.rawValue, seed: seed)
            (record.dataPath, record.finalSoftmaxDropped) = (dataPath, finalSoftmaxDropped ? true : nil)
            return record
        case .report(let report):
            var record = EvaluationRecord(
                report: report, model: model, architecture: kind, dataset: dataset, split: split.rawValue, seed: seed,
                steps: parameters.pgdSteps, stepSize: parameters.stepSize(for: report.threatModel), restarts: parameters.restarts,
                sanityChecks: sanityChecks)
            (record.dataPath, record.finalSoftmaxDropped) = (dataPath, finalSoftmaxDropped ? true : nil)
            return record
        }
    }
}

extension EvaluationConfiguration {
    /// Throws unless `attack` names one registered attack (neither the standard ensemble nor
    /// none) that can run at `norm` and `epsilon`, as generating adversarial examples needs.
    public static func validate(singleAttack attack: String, norm: Norm, epsilon: Float) throws(ConfigurationError) {
        if !attack.trimmingCharacters(in: .whitespaces).isEmpty {
            try check(AttackRegistry.registration(named: attack) != nil, "Unknown attack '\(attack)'. Choose from: \(AttackRegistry.list).")
        }
        var configuration = EvaluationConfiguration()
        (configuration.attacks, configuration.norm, configuration.epsilon) = ([attack], norm, epsilon)
        try configuration.validate()
    }
}
