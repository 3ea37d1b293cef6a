import Foundation

extension TextEvaluationRecord {
    /// The lines that say what the evaluation found: clean accuracy, robust accuracy at each
    /// radius of embedding PGD, and the word-substitution attack's results.
    public var summaryLines: [String] {
        let percent = EvaluationSummary.percent
        var lines = ["clean accuracy: \(percent(cleanAccuracy)) of \(count)"]
        for result in results {
            lines.append(String(format: "embedding PGD-%d at ε = %g (step %g): robust accuracy %@, max ‖δ‖₂ %.4g, %.1f s",
                                result.steps, Double(result.epsilon), Double(result.stepSize), percent(result.robustAccuracy),
                                Double(result.maxPerturbationNorm), result.seconds))
        }
        if let pwws {
            lines.append(String(
                format: "PWWS (WordNet synonyms, ≤ %g of the words, ≤ %d queries): accuracy under attack %@, success rate %@, "
                    + "mean fraction of words changed %.3f, mean queries %.1f, %.1f s",
                Double(pwws.maximumChangeFraction), pwws.queryBudget, percent(pwws.accuracyUnderAttack), percent(pwws.successRate),
                Double(pwws.meanChangedFraction), Double(pwws.meanQueries), pwws.seconds))
        }
        return lines
    }
}
