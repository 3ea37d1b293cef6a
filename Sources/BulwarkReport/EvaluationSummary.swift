import BulwarkAttacks
import Foundation

/// What an image evaluation found, as the lines of text `bulwark eval` prints after its
/// `model:` line: the data and threat model, an aligned table, and the sanity checks.
public enum EvaluationSummary {
    /// The lines for `report`, a run of the attacks at one budget on `dataset`'s `split`,
    /// naming each attack's row with `label` (see the configuration's step counts).
    public static func lines(
        for report: RobustnessReport, dataset: String, split: String, sanityChecks: Bool, label: (String) -> String
    ) -> [String] {
        let threatModel = report.threatModel
        var lines = ["data: \(dataset) \(split), first \(report.count) examples; threat model: \(threatModel.norm.rawValue) "
                     + "ε = \(threatModel.epsilon); \(report.strategy.rawValue) attacks"]
        var table = [["attack", "accuracy", "max ‖δ‖", "attacked", "seconds", "images/s"]]
        table.append(["clean", percent(report.cleanAccuracy), "-", String(report.count), String(format: "%.2f", report.cleanSeconds),
                      String(format: "%.0f", Double(report.count) / report.cleanSeconds)])
        for result in report.attacks {
            table.append([label(result.name), percent(result.robustAccuracy),
                          String(format: "%.5f", result.maximumPerturbationNorm), String(result.attackedCount),
                          String(format: "%.2f", result.seconds),
                          String(format: "%.1f", Double(result.attackedCount) / Swift.max(result.seconds, 1e-9))])
        }
        if report.attacks.count > 1 {
            table.append([report.strategy == .ensemble ? "ensemble" : "worst case", percent(report.worstCaseRobustAccuracy), "", "", "", ""])
        }
        lines.append(alignedTable(table))
        if sanityChecks {
            lines.append(report.flags.isEmpty ? "sanity checks: no sign of gradient masking" : "sanity checks raised \(report.flags.count) flag(s):")
            lines += report.flags.map { "  ⚑ \($0.kind.rawValue): \($0.message). \($0.advice)" }
        }
        return lines
    }

    /// The lines for `curve`, robust accuracy per budget on `dataset`'s `split`: each attack's
    /// column is its own; the first counts an example broken by any of them.
    public static func lines(for curve: RobustnessCurve, dataset: String, split: String) -> [String] {
        let attackNames = curve.attackRobustAccuracy.keys.sorted()
        var table = [["ε", attackNames.count > 1 ? "worst case" : "robust"] + attackNames]
        for (position, epsilon) in curve.epsilons.enumerated() {
            table.append([String(format: "%.4g", epsilon), percent(curve.robustAccuracy[position])]
                         + attackNames.map { percent(curve.attackRobustAccuracy[$0]?[position] ?? .nan) })
        }
        return ["data: \(dataset) \(split), first \(curve.count) examples; clean accuracy \(percent(curve.cleanAccuracy)); "
                + "\(curve.norm.rawValue) budgets", alignedTable(table)]
    }

    /// `value` as a percentage with two decimals.
    public static func percent(_ value: Float) -> String { String(format: "%.2f%%", Double(value) * 100) }

    /// Rows of cells as aligned columns: the first column left-aligned, the others right-aligned.
    public static func alignedTable(_ rows: [[String]]) -> String {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
