import BulwarkAttacks
import BulwarkCore
import BulwarkData
import BulwarkNN
import BulwarkONNX
import BulwarkTraining
import Foundation

/// A self-contained HTML report of a run: training curves, robust accuracy against ε, a grid
/// of adversarial examples, a per-attack table with the sanity flags, and the run's
/// configuration.
///
/// The document uses XHTML-compatible markup (every element closed, no named entities beyond
/// XML's), so an XML parser reads it; charts are inline SVG and images PNG `data:` URIs, so it
/// needs no network and no other file.
public struct RunReport: Sendable {
    /// The run reported on.
    public var run: RunRecord
    /// A second run drawn beside the first (dashed), if any.
    public var comparison: RunRecord?
    /// The most adversarial examples shown per example file.
    public var maximumExamples: Int
    /// Written in the footer: the tool and version that made the report.
    public var generator: String

    /// Creates a report of what the records hold, as they are (see
    /// ``gathering(run:comparison:maximumExamples:generator:)`` for one that fills in the
    /// confidences the example files lack).
    public init(run: RunRecord, comparison: RunRecord? = nil, maximumExamples: Int = 12, generator: String = "Bulwark") {
        self.run = run
        self.comparison = comparison
        self.maximumExamples = maximumExamples
        self.generator = generator
    }

    /// A report of `run` (and `comparison`) with everything it shows: the prediction
    /// confidences an example file lacks are computed, for the examples shown, with the
    /// checkpoint that made them (the file's `model` metadata) or else the run's
    /// `model.safetensors`. A checkpoint that does not exist, or whose inputs are not the
    /// examples' shape, is passed over and the confidences stay unknown.
    ///
    /// - Throws: ``ReportError/unreadable(path:reason:)`` when an existing checkpoint cannot be
    ///   read and no other one supplied the confidences.
    public static func gathering(
        run: RunRecord, comparison: RunRecord? = nil, maximumExamples: Int = 12, generator: String = "Bulwark"
    ) throws -> RunReport {
        RunReport(run: try withConfidences(run, maximumExamples: maximumExamples),
                  comparison: try comparison.map { try withConfidences($0, maximumExamples: maximumExamples) },
                  maximumExamples: maximumExamples, generator: generator)
    }

    /// Confidences for the examples the report shows only: a forward pass over every example
    /// of a large file would cost more than the rest of the report.
    private static func withConfidences(_ run: RunRecord, maximumExamples: Int) throws -> RunRecord {
        var run = run
        for index in run.exampleFiles.indices {
            var examples = run.exampleFiles[index].examples
            guard examples.cleanConfidences == nil || examples.adversarialConfidences == nil else { continue }
            let candidates = [examples.metadata["model"], run.modelPath].compactMap { $0 }
            var failure: ReportError?
            for candidate in candidates where FileManager.default.fileExists(atPath: candidate) {
                let loaded: (classifier: ImageClassifier, metadata: [String: String])
                do {
                    // An ONNX file is fed as the attack that wrote the examples fed it.
                    let contract = ImageClassifier.isONNX(candidate) ? try ONNXInputContract(recordedIn: examples.metadata) : ONNXInputContract()
                    loaded = try ImageClassifier.load(from: candidate, contract: contract)
                } catch {
                    failure = .unreadable(path: candidate, reason: "\(error)")
                    continue
                }
                // A readable model of other inputs leaves the confidences unknown, as no model does.
                failure = nil
                guard Array(examples.clean.shape.dropFirst()) == loaded.classifier.inputShape else { continue }
                examples.computeConfidences(with: loaded.classifier, at: ExampleGrid.defaultPositions(in: examples, maximum: maximumExamples))
                failure = nil
                break
            }
            if let failure { throw failure }
            run.exampleFiles[index].examples = examples
        }
        return run
    }

    private var runs: [(run: RunRecord, dashed: Bool)] {
        [(run, false)] + (comparison.map { [($0, true)] } ?? [])
    }

    private func legendName(_ name: String, _ record: RunRecord) -> String {
        comparison == nil ? name : "\(name) (\(record.name))"
    }

    // MARK: - Charts

    /// The training charts: loss, accuracies and learning rate per epoch, and the training ε
    /// when a run warmed it up, one series per metric and run (empty when no run has
    /// `metrics.jsonl`).
    public func trainingCharts() -> [LineChart] {
        guard runs.contains(where: { !$0.run.epochs.isEmpty }) else { return [] }
        var loss = [LineChart.Series](), accuracy = [LineChart.Series](), learningRate = [LineChart.Series]()
        var budget = [LineChart.Series]()
        for (record, dashed) in runs where !record.epochs.isEmpty {
            func points(_ value: (EpochMetrics) -> Float?) -> [(x: Double, y: Double)] {
                record.epochs.compactMap { metrics in value(metrics).map { (Double(metrics.epoch), Double($0)) } }
            }
            loss.append(.init(name: legendName("training loss", record), points: points(\.trainLoss), color: LineChart.palette[0], dashed: dashed))
            accuracy.append(.init(name: legendName("training", record), points: points(\.trainAccuracy), color: LineChart.palette[2], dashed: dashed))
            let clean = points(\.validationCleanAccuracy)
            if !clean.isEmpty {
                accuracy.append(.init(name: legendName("validation clean", record), points: clean, color: LineChart.palette[0], dashed: dashed))
            }
            let robust = points(\.validationRobustAccuracy)
            if !robust.isEmpty {
                let attack = record.configuration["epsilon"].map { "validation PGD, ε = \($0)" } ?? "validation robust"
                accuracy.append(.init(name: legendName(attack, record), points: robust, color: LineChart.palette[1], dashed: dashed))
            }
            learningRate.append(.init(name: legendName("learning rate", record), points: points(\.learningRate), color: LineChart.palette[3], dashed: dashed))
            // ε warm-up: the training budget at the end of each epoch, as ε · scale.
            let epsilon = record.configuration["epsilon"].flatMap(Float.init)
            let ramp = points { metrics in metrics.epsilonScale.map { scale in epsilon.map { $0 * scale } ?? scale } }
            if !ramp.isEmpty {
                budget.append(.init(name: legendName(epsilon == nil ? "share of ε" : "training ε", record), points: ramp,
                                    color: LineChart.palette[4], dashed: dashed))
            }
        }
        let warmup = budget.isEmpty ? [] : [
            LineChart(identifier: "training-epsilon", title: "Training ε during warm-up (end of epoch)", xLabel: "epoch",
                      yLabel: "ε", series: budget, integralX: true),
        ]
        return [
            LineChart(identifier: "training-loss", title: "Training loss", xLabel: "epoch", yLabel: "mean cross-entropy",
                      series: loss, integralX: true),
            LineChart(identifier: "training-accuracy", title: "Accuracy per epoch", xLabel: "epoch", yLabel: "accuracy",
                      series: accuracy, valueFormat: .percent, integralX: true),
            LineChart(identifier: "learning-rate", title: "Learning rate (end of epoch)", xLabel: "epoch", yLabel: "learning rate",
                      series: learningRate, integralX: true),
        ] + warmup
    }

    /// Robust accuracy against ε, one chart per norm: from robustness curves when a run has
    /// them (every attack and all attacks together), else from single-ε evaluations (each
    /// attack's points, with clean accuracy at ε = 0).
    public func robustnessCharts() -> [LineChart] {
        var norms = [String]()
        for (record, _) in runs {
            for norm in record.curves.map(\.record.norm) + record.evaluations.map(\.record.norm) where !norms.contains(norm) {
                norms.append(norm)
            }
        }
        var attackColors = [String: String]()
        func color(_ attack: String) -> String {
            if let known = attackColors[attack] { return known }
            let next = LineChart.palette[attackColors.count % LineChart.palette.count]
            attackColors[attack] = next
            return next
        }
        attackColors["all attacks"] = "#9a9a9a"
        return norms.map { norm in
            var series = [LineChart.Series]()
            for (record, dashed) in runs {
                let curves = record.curves.filter { $0.record.norm == norm }
                if !curves.isEmpty {
                    for (file, curve) in curves {
                        let suffix = curves.count > 1 ? " [\(file)]" : ""
                        let epsilons = curve.epsilons.map(Double.init)
                        series.append(.init(name: legendName("all attacks" + suffix, record),
                                            points: zip(epsilons, curve.robustAccuracy.map(Double.init)).map { ($0, $1) },
                                            color: color("all attacks"), dashed: dashed, lineWidth: 6))
                        if curve.attacks.count > 1 || curve.attacks.keys.first.map({ curve.attacks[$0] != curve.robustAccuracy }) == true {
                            for attack in curve.attacks.keys.sorted() {
                                series.append(.init(name: legendName(attack + suffix, record),
                                                    points: zip(epsilons, (curve.attacks[attack] ?? []).map(Double.init)).map { ($0, $1) },
                                                    color: color(attack), dashed: dashed))
                            }
                        }
                    }
                    continue
                }
                let evaluations = record.evaluations.map(\.record).filter { $0.norm == norm }
                // Evaluations join into one series only when the attack ran with the same
                // settings on the same number of examples.
                var byAttack = [EvaluationSeriesKey: [(x: Double, y: Double)]]()
                var order = [EvaluationSeriesKey]()
                for evaluation in evaluations.sorted(by: { $0.epsilon < $1.epsilon }) {
                    for attack in evaluation.orderedAttackNames {
                        guard let entry = evaluation.attacks[attack] else { continue }
                        let key = EvaluationSeriesKey(attack: attack, evaluation: evaluation)
                        if byAttack[key] == nil { order.append(key); byAttack[key] = [(0, Double(evaluation.cleanAccuracy))] }
                        byAttack[key]?.append((Double(evaluation.epsilon), Double(entry.robustAccuracy)))
                    }
                }
                for key in order {
                    let name = key.label(among: order.filter { $0.attack == key.attack })
                    series.append(.init(name: legendName(name, record), points: byAttack[key] ?? [], color: color(name), dashed: dashed))
                }
            }
            let normLabel = norm == "l2" ? "L2" : "L∞"
            return LineChart(
                identifier: "robustness-\(norm)", title: "Robust accuracy against ε (\(normLabel))",
                xLabel: "ε (\(normLabel) budget in [0, 1] pixel units)", yLabel: "robust accuracy",
                series: series, valueFormat: .percent, yRange: 0...1, width: 640, height: 360)
        }
    }

    // MARK: - Document

    /// The report as one HTML document.
    ///
    /// - Throws: ``PNGError`` if an example image cannot be encoded.
    public func html() throws -> String {
        var body = ""
        let titleText = comparison.map { "Bulwark report: \(run.name) compared with \($0.name)" } ?? "Bulwark report: \(run.name)"
        body += "<h1>\(escapeMarkup(titleText))</h1>\n"
        body += "<p class=\"lead\">\(escapeMarkup(summary(of: run)))</p>\n"
        if let comparison { body += "<p class=\"lead\">Compared with (dashed lines): \(escapeMarkup(summary(of: comparison)))</p>\n" }

        let training = trainingCharts()
        if !training.isEmpty {
            let validation = run.configuration["task"] == "text"
                ? "clean and embedding-PGD accuracy on the validation sentences (the dataset's evaluation split)"
                : "clean and PGD accuracy on the held-out validation images"
            body += "<h2 id=\"training\">Training</h2>\n<p class=\"note\">Per epoch: the mean loss and "
            body += "accuracy on the training batches (adversarial inputs for adversarial training), and "
            body += "\(validation).</p>\n"
            body += "<div class=\"charts\">\n" + training.map { "<figure>\($0.svg())</figure>\n" }.joined() + "</div>\n"
        }
        let robustness = robustnessCharts()
        if !robustness.isEmpty {
            body += "<h2 id=\"robustness\">Robustness against ε</h2>\n<p class=\"note\">An example counts as "
            body += "robust only if it is classified correctly both clean and under attack; at ε = 0 robust "
            body += "accuracy is clean accuracy.</p>\n"
            body += "<div class=\"charts\">\n" + robustness.map { "<figure>\($0.svg())</figure>\n" }.joined() + "</div>\n"
        }
        for (record, _) in runs {
            for (file, examples) in record.exampleFiles where examples.count > 0 {
                body += try exampleSection(file: file, examples: examples, record: record)
            }
        }
        for (record, _) in runs {
            for (file, examples) in record.textExampleFiles where !examples.rows.isEmpty {
                body += textExampleSection(file: file, examples: examples, record: record)
            }
        }
        for (record, _) in runs where !record.evaluations.isEmpty || !record.curves.isEmpty {
            body += attackTables(record)
        }
        for (record, _) in runs where !record.textEvaluations.isEmpty {
            body += textEvaluationTables(record)
        }
        if runs.allSatisfy({ $0.run.exampleFiles.isEmpty && $0.run.textExampleFiles.isEmpty }) {
            body += "<h2>Adversarial examples</h2>\n<p class=\"note\">No file of adversarial examples in the "
            body += "run directory. Write one with <code>bulwark attack --model RUN/model.safetensors --count "
            body += "100 --out RUN/examples.safetensors</code> (images) or <code>bulwark eval --task text "
            body += "--model RUN/model.safetensors --attack pwws --pairs RUN/pairs.tsv</code> (text) and build "
            body += "the report again.</p>\n"
        }
        for (record, _) in runs { body += manifest(record) }
        body += "<footer>Made by \(escapeMarkup(generator)) from "
        body += "\(escapeMarkup(run.directory))"
        body += "\(comparison.map { " and " + escapeMarkup($0.directory) } ?? ""). Self-contained: charts are "
        body += "inline SVG, images are embedded PNG.</footer>\n"

        return """
            <!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
            <head>
            <meta charset="utf-8"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>\(escapeMarkup(titleText))</title>
            <style>
            \(Self.styleSheet)
            </style>
            </head>
            <body>
            \(body)</body>
            </html>

            """
    }

    /// Writes ``html()`` to `path` through ``OutputFile`` (atomically to a file, straight
    /// through to `-`, a device or a pipe).
    ///
    /// - Throws: ``ReportError/cannotWrite(path:reason:)``, or what ``html()`` throws.
    public func write(to path: String) throws {
        let text = try html()
        do { try OutputFile.write(text, to: path) } catch {
            throw ReportError.cannotWrite(path: path, reason: error.description)
        }
    }

    private func summary(of record: RunRecord) -> String {
        let configuration = record.configuration
        var parts = [String]()
        if let method = configuration["method"] {
            var text = "\(method) training"
            if method != "standard", let epsilon = configuration["epsilon"] {
                let ball = configuration["task"] == "text" ? "L2 per example, in embedding space" : configuration["norm"] == "l2" ? "L2" : "L∞"
                text += " at ε = \(epsilon) (\(ball))"
            }
            parts.append(text)
        }
        if let architecture = configuration["architecture"] ?? record.modelMetadata["architecture"] { parts.append("model \(architecture)") }
        if let dataset = configuration["dataset"] { parts.append("dataset \(dataset)") }
        let classes = Self.classNames(of: record)
        if configuration["task"] == "text", !classes.isEmpty { parts.append("classes \(classes.joined(separator: ", "))") }
        if let epochs = configuration["epochs"] { parts.append("\(epochs) epochs") }
        if let seed = configuration["seed"] { parts.append("seed \(seed)") }
        if let best = record.bestEpoch {
            let score = best.validationRobustAccuracy.map { "validation robust accuracy \(percentText($0))" }
                ?? best.validationCleanAccuracy.map { "validation clean accuracy \(percentText($0))" } ?? ""
            parts.append("best epoch \(best.epoch) (\(score), best.safetensors)")
        }
        if let resumed = configuration["resumed_after_epochs"] { parts.append("resumed after epoch \(resumed)") }
        parts.append("run directory \(record.directory)")
        return parts.joined(separator: "; ") + "."
    }

    // MARK: - Examples

    private func exampleSection(file: String, examples: AdversarialExampleFile, record: RunRecord) throws -> String {
        let positions = ExampleGrid.defaultPositions(in: examples, maximum: maximumExamples)
        guard !positions.isEmpty else { return "" }
        let grid = try ExampleGrid(file: examples, positions: positions)
        let metadata = examples.metadata
        let normLabel = metadata["norm"] == "l2" ? "L2" : "L∞"
        let correct = (0..<examples.count).filter { examples.cleanPredictions[$0] == examples.labels[$0] }
        let fooled = correct.filter { examples.success[$0] }.count
        let scale = grid.perturbationScale
        var html = "<h2 id=\"examples-\(slug(record.name))\">Adversarial examples: "
        html += "\(escapeMarkup(metadata["attack"] ?? "attack"))"
        html += "\(comparison == nil ? "" : " on " + escapeMarkup(record.name))</h2>\n"
        html += "<p class=\"note\">From <code>\(escapeMarkup(file))</code>: "
        html += "\(escapeMarkup(metadata["attack"] ?? "an attack")) at ε = "
        html += "\(escapeMarkup(metadata["epsilon"] ?? "?")) (\(normLabel)) on \(examples.count) "
        html += "\(escapeMarkup(metadata["split"] ?? "")) images; it fooled the model on \(fooled) of the "
        html += "\(correct.count) it classified correctly. Shown: \(grid.triptychs.filter(\.fooled).count) "
        html += "fooled and \(grid.triptychs.filter { !$0.fooled }.count) not fooled. Each example: the "
        html += "original, the perturbation (adversarial − original, averaged over channels) and the "
        html += "adversarial image.</p>\n"
        html += colorBar(scale: scale)
        html += "<div class=\"grid\">\n"
        let shape = examples.clean.shape
        let displayScale = Swift.max(1, 84 / Swift.max(shape[2], shape[3]))
        let imageWidth = shape[3] * displayScale, imageHeight = shape[2] * displayScale
        for triptych in grid.triptychs {
            func image(_ png: PNGImage, _ alternative: String) throws -> String {
                "<img src=\"\(try png.dataURI())\" width=\"\(imageWidth)\" height=\"\(imageHeight)\" alt=\"\(escapeMarkup(alternative))\"/>"
            }
            func confidence(_ value: Float?) -> String {
                guard let value, value.isFinite else { return "" }
                return String(format: " (%.1f%%)", value * 100)
            }
            html += "<div class=\"example \(triptych.fooled ? "fooled" : "resisted")\">\n"
            html += "<div class=\"images\">\(try image(triptych.original, "original"))"
            html += "\(try image(triptych.perturbation, "perturbation"))"
            html += "\(try image(triptych.adversarial, "adversarial"))</div>\n"
            html += "<div class=\"captions\"><span>original</span><span>perturbation</span><span>adversarial</span></div>\n"
            html += "<div class=\"labels\">#\(triptych.datasetIndex), true: "
            html += "<b>\(escapeMarkup(triptych.trueLabel))</b><br/>"
            html += "clean: \(escapeMarkup(triptych.cleanPrediction))\(confidence(triptych.cleanConfidence))<br/>"
            html += "adversarial: "
            html += "<b class=\"\(triptych.fooled ? "wrong" : "right")\">"
            html += "\(escapeMarkup(triptych.adversarialPrediction))"
            html += "\(confidence(triptych.adversarialConfidence))</b><br/>"
            html += "‖δ‖\(normLabel == "L2" ? "₂" : "∞") = "
            html += "\(String(format: "%.4f", triptych.perturbationNorm))\(triptych.fooled ? " · fooled" : "")</div>\n"
            html += "</div>\n"
        }
        html += "</div>\n"
        return html
    }

    /// Original and adversarial sentences side by side, the substituted words struck through in
    /// the original and marked in the adversarial sentence; fooled sentences first.
    private func textExampleSection(file: String, examples: TextExampleFile, record: RunRecord) -> String {
        let rows = examples.rows
        // Files written before SST-2's classes were named hold its labels 0 and 1.
        let namesOfLabels = record.configuration["dataset"].flatMap(TextDatasetName.init(rawValue:))?.classNamesOfLabels ?? [:]
        func className(_ label: String) -> String { namesOfLabels[label] ?? label }
        let order = rows.indices.filter { rows[$0].succeeded } + rows.indices.filter { !rows[$0].succeeded }
        let shown = order.prefix(maximumExamples)
        let fooled = examples.fooledCount
        let changed = rows.filter(\.succeeded).map { Double($0.changedPositions.count) / Double(Swift.max($0.original.count, 1)) }
        let queries = rows.compactMap(\.queries)
        var facts = ["\(rows.count) correctly classified sentences attacked", "\(fooled) fooled (success rate \(percentText(rows.isEmpty ? 0 : Float(fooled) / Float(rows.count))))"]
        if !changed.isEmpty { facts.append(String(format: "%.1f%% of the words changed on average where it succeeded", changed.reduce(0, +) / Double(changed.count) * 100)) }
        if !queries.isEmpty { facts.append(String(format: "%.1f queries per sentence", Double(queries.reduce(0, +)) / Double(queries.count))) }
        var html = "<h2 id=\"text-examples-\(slug(record.name))-\(slug(file))\">Text adversarial "
        html += "examples\(comparison == nil ? "" : " on " + escapeMarkup(record.name))</h2>\n"
        html += "<p class=\"note\">From <code>\(escapeMarkup(file))</code>, word substitution (PWWS): "
        html += "\(escapeMarkup(facts.joined(separator: "; "))). Shown: "
        html += "\(shown.filter { rows[$0].succeeded }.count) fooled and "
        html += "\(shown.filter { !rows[$0].succeeded }.count) not fooled. Substituted words are "
        html += "<del class=\"swapped\">struck through</del> in the original and <mark>marked</mark> in the "
        html += "adversarial sentence.</p>\n"
        html += "<table class=\"sentences\">\n<thead><tr><th>true label</th><th>original "
        html += "sentence</th><th>adversarial sentence</th><th>prediction</th></tr></thead>\n<tbody>\n"
        for index in shown {
            let row = rows[index]
            let changedPositions = Set(row.changedPositions)
            func sentence(_ tokens: [String], original: Bool) -> String {
                tokens.enumerated().map { position, token in
                    guard changedPositions.contains(position) else { return escapeMarkup(token) }
                    return original ? "<del class=\"swapped\">\(escapeMarkup(token))</del>" : "<mark>\(escapeMarkup(token))</mark>"
                }.joined(separator: " ")
            }
            func confidence(_ value: Float?) -> String {
                guard let value, value.isFinite else { return "" }
                return String(format: " (%.1f%%)", value * 100)
            }
            let label = className(row.label)
            var prediction = "clean: \(escapeMarkup(label))\(confidence(row.confidence))<br/>"
            let adversarialPrediction = row.adversarialPrediction.map(className) ?? (row.succeeded ? "another class" : label)
            prediction += "adversarial: <b class=\"\(row.succeeded ? "wrong" : "right")\">"
            prediction += "\(escapeMarkup(adversarialPrediction))\(confidence(row.adversarialConfidence))</b>"
            prediction += "<br/>\(changedPositions.count) of \(row.original.count) words changed\(row.succeeded ? " · fooled" : "")"
            html += "<tr class=\"\(row.succeeded ? "fooled" : "resisted")\"><td>\(escapeMarkup(label))</td><td>"
            html += "\(sentence(row.original, original: true))</td>"
            html += "<td>\(sentence(row.adversarial, original: false))</td><td>\(prediction)</td></tr>\n"
        }
        html += "</tbody>\n</table>\n"
        return html
    }

    /// The diverging colour map from −scale to +scale as a labelled SVG bar.
    private func colorBar(scale: Float) -> String {
        let map = DivergingColorMap()
        let width = 300.0, height = 14.0, left = 10.0
        var svg = "<div class=\"colorbar\">"
        svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"colorbar\" width=\"340\" height=\"44\" viewBox=\"0 0 340 44\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        svg += "<defs><linearGradient id=\"diverging\" x1=\"0\" x2=\"1\" y1=\"0\" y2=\"0\">"
        for step in 0...10 {
            let position = Double(step) / 10
            svg += "<stop offset=\"\(coordinate(position))\" stop-color=\"\(map.hexColor(position * 2 - 1))\"/>"
        }
        svg += "</linearGradient></defs>\n"
        svg += "<rect x=\"\(coordinate(left))\" y=\"4\" width=\"\(coordinate(width))\" height=\"\(coordinate(height))\" fill=\"url(#diverging)\" stroke=\"#999999\"/>\n"
        for (fraction, value) in [(0.0, -scale), (0.5, 0), (1.0, scale)] {
            let x = left + fraction * width
            svg += "<line x1=\"\(coordinate(x))\" y1=\"18\" x2=\"\(coordinate(x))\" y2=\"24\" stroke=\"#333333\"/>"
            svg += "<text x=\"\(coordinate(x))\" y=\"37\" text-anchor=\"middle\" fill=\"#222222\">\(value == 0 ? "0" : String(format: "%+.4g", value))</text>\n"
        }
        svg += "</svg>"
        svg += "<span>Perturbation colour scale: white is no change, red brightens and blue darkens a pixel; "
        svg += "the ends are ±\(String(format: "%.4g", scale)) (the largest change shown), so colours are "
        svg += "amplified \(String(format: "%.3g", 1 / scale))× relative to the pixel range [0, "
        svg += "1].</span></div>\n"
        return svg
    }

}

func percentText(_ value: Float?) -> String {
    guard let value, value.isFinite else { return "–" }
    return String(format: "%.2f%%", Double(value) * 100)
}

/// Letters, digits and hyphens only, for element identifiers.
func slug(_ text: String) -> String {
    String(text.map { $0.isLetter || $0.isNumber ? $0 : "-" })
}

func formatNumber(_ value: Float) -> String { String(format: "%.4g", Double(value)) }

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
