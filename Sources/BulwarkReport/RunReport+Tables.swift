import BulwarkAttacks
import BulwarkData
import Foundation

extension RunReport {
    // MARK: - Tables

    /// The class names a run records: its text evaluations' or its `run.json`'s `class_names`
    /// (a JSON list), named by the dataset when they are bare labels; empty when unknown.
    static func classNames(of record: RunRecord) -> [String] {
        let recorded = record.textEvaluations.lazy.compactMap(\.record.classNames).first
            ?? record.configuration["class_names"].flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
            ?? []
        let names = record.configuration["dataset"].flatMap(TextDatasetName.init(rawValue:))?.classNamesOfLabels ?? [:]
        return recorded.map { names[$0] ?? $0 }
    }

    /// Text evaluations: clean accuracy, embedding PGD per radius and the word-substitution
    /// attack, with the classes.
    /// An evaluation file's heading, its settings as a note and the head of its table.
    private func tableStart(file: String, settings: [String], columns: [String]) -> String {
        "<h3><code>\(escapeMarkup(file))</code></h3>\n<p class=\"note\">\(escapeMarkup(settings.joined(separator: "; "))).</p>\n"
            + "<table class=\"attacks\">\n<thead><tr>" + columns.map { "<th>\($0)</th>" }.joined() + "</tr></thead>\n<tbody>\n"
    }

    func textEvaluationTables(_ record: RunRecord) -> String {
        var html = "<h2 id=\"text-evaluations-\(slug(record.name))\">Text "
        html += "evaluations\(comparison == nil ? "" : " on " + escapeMarkup(record.name))</h2>\n"
        for (file, evaluation) in record.textEvaluations {
            var settings = ["\(evaluation.count) \(evaluation.dataset ?? "") evaluation sentences"]
            let classes = evaluation.classNames ?? Self.classNames(of: record)
            if !classes.isEmpty { settings.append("classes \(classes.joined(separator: ", "))") }
            if let model = evaluation.model { settings.append("model \(model)") }
            html += tableStart(file: file, settings: settings, columns: ["attack", "accuracy", "success rate", "budget", "seconds"])
            html += "<tr><td>clean</td><td>\(percentText(evaluation.cleanAccuracy))</td><td>–</td><td>–</td>"
            html += "<td>–</td></tr>\n"
            for result in evaluation.results {
                let success = evaluation.cleanAccuracy > 0 ? 1 - result.robustAccuracy / evaluation.cleanAccuracy : 0
                html += "<tr><td>embedding "
                html += "PGD-\(result.steps)</td><td>\(percentText(result.robustAccuracy))</td><td>"
                html += "\(percentText(success))</td>"
                let budget = "ε = \(formatNumber(result.epsilon)) (L2), step \(formatNumber(result.stepSize)), "
                    + "max ‖δ‖ \(formatNumber(result.maxPerturbationNorm))"
                html += "<td>\(escapeMarkup(budget))</td>"
                html += "<td>\(String(format: "%.2f", result.seconds))</td></tr>\n"
            }
            if let pwws = evaluation.pwws {
                html += "<tr><td>PWWS</td><td>\(percentText(pwws.accuracyUnderAttack))</td><td>"
                html += "\(percentText(pwws.successRate))</td>"
                let budget = String(format: "≤ %.3g of the words, ≤ %d queries; %.1f%% of the words changed, %.1f queries on average",
                                    Double(pwws.maximumChangeFraction), pwws.queryBudget, Double(pwws.meanChangedFraction) * 100,
                                    Double(pwws.meanQueries))
                html += "<td>\(escapeMarkup(budget))</td>"
                html += "<td>\(String(format: "%.2f", pwws.seconds))</td></tr>\n"
            }
            html += "</tbody>\n</table>\n"
            html += "<p class=\"note\">Success rate: the share of the correctly classified sentences the "
            html += "attack fooled. Embedding PGD perturbs each sentence's embedded tokens within an L2 ball; "
            html += "PWWS substitutes WordNet synonyms.</p>\n"
        }
        return html
    }

    func attackTables(_ record: RunRecord) -> String {
        var html = "<h2 id=\"attacks-\(slug(record.name))\">Attacks"
        html += "\(comparison == nil ? "" : " on " + escapeMarkup(record.name))</h2>\n"
        for (file, evaluation) in record.evaluations {
            let normLabel = evaluation.norm == "l2" ? "L2" : "L∞"
            var settings = ["ε = \(formatNumber(evaluation.epsilon)) (\(normLabel))", "\(evaluation.count) \(evaluation.dataset ?? "") \(evaluation.split ?? "") examples"]
            if let strategy = evaluation.strategy { settings.append("\(strategy) attacks") }
            if let steps = evaluation.steps, let stepSize = evaluation.stepSize { settings.append("PGD \(steps) steps of \(formatNumber(stepSize))") }
            if let restarts = evaluation.restarts, restarts > 1 { settings.append("\(restarts) restarts") }
            if let seed = evaluation.seed { settings.append("seed \(seed)") }
            if let model = evaluation.model { settings.append("model \(model)") }
            html += tableStart(file: file, settings: settings, columns: ["attack", "robust accuracy", "success rate", "mean ‖δ‖",
                                                                         "max ‖δ‖", "attacked", "seconds", "images/s"])
            html += "<tr><td>clean</td><td>\(percentText(evaluation.cleanAccuracy))</td><td>–</td><td>–</td>"
            html += "<td>–</td><td>\(evaluation.count)</td><td>–</td><td>–</td></tr>\n"
            for name in evaluation.orderedAttackNames {
                guard let entry = evaluation.attacks[name] else { continue }
                // The share of correctly classified examples the attack fooled.
                let success = evaluation.cleanAccuracy > 0 ? 1 - entry.robustAccuracy / evaluation.cleanAccuracy : 0
                html += "<tr><td>\(escapeMarkup(name))</td><td>\(percentText(entry.robustAccuracy))</td><td>"
                html += "\(percentText(success))</td>"
                html += "<td>\(entry.meanPerturbationNorm.map { String(format: "%.4f", $0) } ?? "–")</td><td>"
                html += "\(String(format: "%.4f", entry.maxPerturbationNorm))</td>"
                html += "<td>\(entry.attackedCount.map(String.init) ?? "–")</td><td>"
                html += "\(String(format: "%.2f", entry.seconds))</td>"
                html += "<td>\(entry.imagesPerSecond.map { String(format: "%.1f", $0) } ?? "–")</td></tr>\n"
            }
            if evaluation.attacks.count > 1, let worst = evaluation.worstCaseRobustAccuracy {
                html += "<tr class=\"total\"><td>"
                html += "\(evaluation.strategy == "ensemble" ? "ensemble" : "worst case")</td><td>"
                html += "\(percentText(worst))</td><td>"
                html += "\(percentText(evaluation.cleanAccuracy > 0 ? 1 - worst / evaluation.cleanAccuracy : 0))</td><td colspan=\"5\"></td></tr>\n"
            }
            html += "</tbody>\n</table>\n"
            let cumulative = evaluation.strategy == "ensemble"
                ? " (cumulative: each attack only ran on examples the earlier ones left robust)" : ""
            html += "<p class=\"note\">Success rate: the share of the correctly classified examples the attack "
            html += "fooled\(cumulative). ‖δ‖ in \(normLabel).</p>\n"
            if evaluation.sanityChecks == false {
                html += "<p class=\"note\">Sanity checks were not run for this evaluation (--no-sanity-checks).</p>\n"
            } else if let flags = evaluation.flags {
                if flags.isEmpty {
                    html += "<p class=\"ok\">Sanity checks: no sign of gradient masking (gradients finite and "
                    html += "non-zero, no attack above clean accuracy, FGSM not stronger than PGD, Square not "
                    html += "stronger than the gradient attacks, PGD's loss rising, accuracy collapsing at a "
                    html += "huge ε).</p>\n"
                } else {
                    html += "<ul class=\"flags\">\n" + flags.map { flag in
                        "<li><b>\(escapeMarkup(flag.kind.rawValue.replacingOccurrences(of: "_", with: " ")))</b>: "
                            + "\(escapeMarkup(flag.message)). \(escapeMarkup(flag.advice))</li>\n"
                    }.joined() + "</ul>\n"
                }
            } else {
                html += "<p class=\"note\">Sanity checks were not run for this evaluation.</p>\n"
            }
        }
        for (file, curve) in record.curves {
            let attacks = curve.attacks.keys.sorted()
            let description = "Robustness curve, \(curve.norm == "l2" ? "L2" : "L∞"), \(curve.count) examples, "
                + "clean accuracy \(percentText(curve.cleanAccuracy))"
            html += "<h3><code>\(escapeMarkup(file))</code></h3>\n<p class=\"note\">\(escapeMarkup(description)).</p>\n"
            html += "<table class=\"curve\">\n<thead><tr><th>ε</th><th>all attacks</th>"
            html += attacks.map { "<th>\(escapeMarkup($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
            for (position, epsilon) in curve.epsilons.enumerated() {
                html += "<tr><td>\(formatNumber(epsilon))</td><td>"
                html += "\(percentText(curve.robustAccuracy[safe: position]))</td>"
                html += attacks.map { "<td>\(percentText(curve.attacks[$0]?[safe: position]))</td>" }.joined() + "</tr>\n"
            }
            html += "</tbody>\n</table>\n"
        }
        for (file, examples) in record.exampleFiles {
            let norms = examples.perturbationNorms()
            let correct = (0..<examples.count).filter { examples.cleanPredictions[$0] == examples.labels[$0] }
            let fooled = correct.filter { examples.success[$0] }.count
            let mean = norms.isEmpty ? 0 : norms.reduce(0, +) / Float(norms.count)
            html += "<h3><code>\(escapeMarkup(file))</code></h3>\n"
            html += "<table class=\"attacks\">\n<thead><tr><th>attack</th><th>examples</th><th>clean "
            html += "accuracy</th><th>robust accuracy</th><th>success rate</th><th>mean ‖δ‖</th><th>max "
            html += "‖δ‖</th></tr></thead>\n<tbody>\n"
            let count = Float(Swift.max(examples.count, 1))
            html += "<tr><td>\(escapeMarkup(examples.metadata["attack"] ?? "?"))</td><td>\(examples.count)</td>"
            html += "<td>\(percentText(Float(correct.count) / count))</td>"
            html += "<td>\(percentText(Float(correct.count - fooled) / count))</td><td>"
            html += "\(percentText(correct.isEmpty ? 0 : Float(fooled) / Float(correct.count)))</td>"
            html += "<td>\(String(format: "%.4f", mean))</td><td>"
            html += "\(String(format: "%.4f", norms.max() ?? 0))</td></tr>\n</tbody>\n</table>\n"
        }
        return html
    }

    func manifest(_ record: RunRecord) -> String {
        var html = "<h2 id=\"manifest-\(slug(record.name))\">Run "
        html += "manifest\(comparison == nil ? "" : ": " + escapeMarkup(record.name))</h2>\n"
        html += "<p class=\"note\">Directory <code>\(escapeMarkup(record.directory))</code>. The configuration "
        html += "below, with the seed, reproduces the run.</p>\n"
        if !record.configuration.isEmpty {
            html += "<table class=\"manifest\">\n<thead><tr><th>setting "
            html += "(run.json)</th><th>value</th></tr></thead>\n<tbody>\n"
            for key in record.configuration.keys.sorted() {
                html += "<tr><td>\(escapeMarkup(key))</td><td>"
                html += "\(escapeMarkup(record.configuration[key] ?? ""))</td></tr>\n"
            }
            html += "</tbody>\n</table>\n"
        }
        let metadata = record.modelMetadata.filter { $0.key != "configuration" }
        if !metadata.isEmpty {
            html += "<table class=\"manifest\">\n<thead><tr><th>model.safetensors "
            html += "metadata</th><th>value</th></tr></thead>\n<tbody>\n"
            for key in metadata.keys.sorted() {
                html += "<tr><td>\(escapeMarkup(key))</td><td>\(escapeMarkup(metadata[key] ?? ""))</td></tr>\n"
            }
            html += "</tbody>\n</table>\n"
        }
        var files = record.evaluations.map { ($0.file, "evaluation at ε = \(formatNumber($0.record.epsilon))\($0.record.bulwarkVersion.map { ", Bulwark \($0)" } ?? "")") }
        files += record.curves.map { ($0.file, "robustness curve over \($0.record.epsilons.count) budgets\($0.record.bulwarkVersion.map { ", Bulwark \($0)" } ?? "")") }
        files += record.exampleFiles.map { ($0.file, "\($0.examples.count) adversarial examples\($0.examples.metadata["bulwark_version"].map { ", Bulwark \($0)" } ?? "")") }
        files += record.textEvaluations.map { ($0.file, "text evaluation of \($0.record.count) sentences (\($0.record.attack))") }
        files += record.textExampleFiles.map { ($0.file, "\($0.examples.rows.count) attacked sentences") }
        files += record.skipped.map { ($0.file, "skipped: \($0.reason)") }
        if !files.isEmpty {
            html += "<ul class=\"files\">\n"
            html += files.map { "<li><code>\(escapeMarkup($0.0))</code>: \(escapeMarkup($0.1))</li>\n" }.joined() + "</ul>\n"
        }
        return html
    }
}
