import ArgumentParser
import Bulwark
import Foundation

/// `bulwark report`: one self-contained HTML file about a run.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a self-contained HTML report of a run directory.",
        discussion: """
            Reads RUN_DIR/run.json, metrics.jsonl, every JSON written by bulwark eval --json (single ε or --epsilons curves) \
            and every .safetensors written by bulwark attack --out, and writes one HTML file with no external assets: training \
            curves, robust accuracy against ε per attack (--compare draws another run dashed beside it), a grid of adversarial \
            examples (original, perturbation in a diverging colour map with its scale, adversarial image, labels and \
            predictions with confidence), a per-attack table with the sanity flags, and the run's configuration. When the run \
            holds no adversarial examples, the report attacks the first --examples test images with PGD-20 at the run's ε \
            (--no-attack skips this). A run trained from an ONNX model is read as its model.onnx with the checkpoint's parameters.
            """)

    @Argument(help: "The run directory (the --out of bulwark train).") var runDirectory: String
    @Option(help: "The HTML file to write; default RUN_DIR/report.html.") var out: String?
    @Option(help: "Another run directory to draw beside this one (dashed), for example the standard model.") var compare: String?
    @Option(help: "The most adversarial examples to show per file.") var examples: Int = 12
    @Flag(inversion: .prefixedNo, help: "Attack a few test images when the run holds no adversarial examples.") var attack = true
    @Option(help: "The directory of the dataset's IDX files, for --attack on runs not trained on Fashion-MNIST.")
    var dataDir: String?
    @Flag(help: "Print only the report's path.") var quiet = false
    @OptionGroup var threads: ThreadOptions

    func validate() throws { try require(examples >= 1, "--examples must be at least 1, got \(examples)") }

    func run() throws {
        let start = Date()
        let destination = out ?? path(in: runDirectory, "report.html")
        let inputs = RunRecord.inputFiles(of: [runDirectory, compare].compactMap { $0 })
        var record = try RunRecord(directory: runDirectory)
        try checkOutputs(files: [("--out", destination)], inputs: inputs.map { ("the run's file", $0) })
        if attack { record.addGeneratedExamplesIfNone(count: examples, dataDirectory: dataDir) }
        let comparison = try compare.map { try RunRecord(directory: $0) }
        try RunReport.gathering(run: record, comparison: comparison, maximumExamples: examples,
                                generator: "bulwark \(bulwarkVersion)").write(to: destination)
        if !quiet {
            for (file, reason) in record.skipped + (comparison?.skipped ?? []) { output("skipped \(file): \(reason)") }
            output(String(format: "report written in %.2f s:", Date().timeIntervalSince(start)))
        }
        output(destination)
    }
}
