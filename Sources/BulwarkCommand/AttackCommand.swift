import ArgumentParser
import Bulwark
import Foundation

/// `bulwark attack`: adversarial examples to a file.
struct AttackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attack",
        abstract: "Generate adversarial examples and write them, with predictions, to a file.",
        discussion: """
            safetensors (default) holds the tensors clean, adversarial, labels, clean_predictions, \
            adversarial_predictions, clean_confidences, adversarial_confidences (softmax \
            probability of each prediction), success and indices (float32; labels, predictions \
            and indices are whole numbers) with the attack, norm, ε, seed, model and versions in \
            its metadata. --format npy writes one .npy per tensor (labels, predictions and \
            indices as int64) and the metadata as JSON, into the directory --out names. Check a \
            file with bulwark verify-adversarial. --png DIR also draws every example as a PNG \
            triptych (original, perturbation in a blue-white-red colour map, adversarial), the \
            first 100 as one grid.png, and lists labels and predictions in examples.csv. A file \
            of examples in a run directory appears in bulwark report.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case safetensors, npy }

    @OptionGroup var checkpoint: ModelOptions
    @OptionGroup var data: DatasetOptions
    @OptionGroup var threat: ThreatOptions

    @Option(help: "The split to take examples from.")
    var split: DatasetSplit = .test

    @Option(help: "The attack: \(AttackName.list).")
    var attack: String = "pgd"

    @OptionGroup var parameters: AttackParameters

    @Option(help: "Attack the first N examples of the split.")
    var count: Int = 100

    @Option(help: "The seed of the attack's random choices.")
    var seed: UInt64 = 0

    @Option(help: "The output: a .safetensors file, or a directory for --format npy.")
    var out: String

    @Option(help: "safetensors or npy.")
    var format: Format = .safetensors

    @Option(help: "Also draw the examples as PNG files into this directory.")
    var png: String?

    func validate() throws {
        try require(count >= 1, "--count must be at least 1")
        guard let name = AttackName(rawValue: attack) else {
            throw ValidationError("Unknown attack '\(attack)'. Choose from: \(AttackName.list).")
        }
        if name == .carliniWagner { try require(threat.norm == .l2, "cw-l2 is an L2 attack: add --norm l2") }
    }

    func run() throws {
        try checkOutputs(files: format == .safetensors ? [("--out", out)] : [], directories: (format == .npy ? [("--out", out)] : []) + [("--png", png)],
                         inputs: [("--model", checkpoint.model)])
        let (network, loadedArchitecture, _) = try checkpoint.load()
        let dataset = try data.load(split).prefix(count)
        try data.requireShape(of: dataset, fitting: loadedArchitecture)
        guard let name = AttackName(rawValue: attack) else { throw ValidationError("Unknown attack '\(attack)'") }
        let threatModel = threat.threatModel
        let adversary = parameters.makeAttack(name, threatModel: threatModel)
        var generator = SplitMix64(seed: seed)
        let adversarial = adversary.perturb(dataset.images, labels: dataset.labels, against: network, using: &generator)
        let cleanPredictions = predictions(network.applied(to: dataset.images))
        let adversarialPredictions = predictions(network.applied(to: adversarial))
        let success = zip(adversarialPredictions, dataset.labels).map { $0 != $1 }
        let cleanConfidences = predictionConfidences(of: network, on: dataset.images)
        let adversarialConfidences = predictionConfidences(of: network, on: adversarial)
        let examples = AdversarialExamples(
            clean: dataset.images, adversarial: adversarial, labels: dataset.labels.map(Int.init),
            cleanPredictions: cleanPredictions.map(Int.init), adversarialPredictions: adversarialPredictions.map(Int.init),
            cleanConfidences: cleanConfidences, adversarialConfidences: adversarialConfidences,
            success: success, indices: Array(0..<dataset.count),
            metadata: [
                "attack": adversary.name, "norm": threatModel.norm.rawValue, "epsilon": String(threatModel.epsilon),
                "seed": String(seed), "model": checkpoint.model, "architecture": loadedArchitecture.rawValue,
                "dataset": data.dataset.rawValue, "split": split.rawValue, "bulwark_version": toolVersion,
            ])
        switch format {
        case .safetensors: try examples.writeSafeTensors(to: out)
        case .npy: try examples.writeNumPy(to: out)
        }
        let rate = Float(success.filter { $0 }.count) / Float(success.count)
        output("\(adversary.name): \(success.filter { $0 }.count) of \(success.count) examples misclassified (\(percent(rate))); wrote \(out)")
        if let png {
            let file = AdversarialExampleFile(
                clean: examples.clean, adversarial: examples.adversarial, labels: examples.labels,
                cleanPredictions: examples.cleanPredictions, adversarialPredictions: examples.adversarialPredictions,
                cleanConfidences: cleanConfidences, adversarialConfidences: adversarialConfidences,
                indices: examples.indices, metadata: examples.metadata)
            let scale = try writePNGs(file, to: png)
            output("drew \(file.count) examples into \(png) (grid.png, example-*.png, examples.csv); perturbation colours span ±\(String(format: "%.4g", scale))")
        }
    }

    /// Writes one triptych PNG per example, a grid of the first 100 and a CSV of labels and
    /// predictions; returns the perturbation scale the colours share.
    private func writePNGs(_ file: AdversarialExampleFile, to directory: String) throws -> Float {
        try createDirectory(directory)
        let grid: ExampleGrid
        do { grid = try ExampleGrid(file: file, positions: Array(0..<file.count)) } catch {
            throw ValidationError("Cannot draw the examples as PNG: \(error.description)")
        }
        func write(_ bytes: [UInt8], _ name: String) throws {
            let target = path(in: directory, name)
            try writeOutput(bytes, to: target)
        }
        let digits = String(file.count - 1).count
        var csv = "index,true_label,clean_prediction,clean_confidence,adversarial_prediction,adversarial_confidence,fooled,perturbation_norm,file\n"
        for triptych in grid.triptychs {
            let number = String(triptych.datasetIndex)
            let name = "example-" + String(repeating: "0", count: Swift.max(0, digits - number.count)) + number + ".png"
            try write(try triptych.combined(scale: 4, gap: 4).encoded(), name)
            let fields = [number, triptych.trueLabel, triptych.cleanPrediction,
                          triptych.cleanConfidence.map { String(format: "%.4f", $0) } ?? "",
                          triptych.adversarialPrediction, triptych.adversarialConfidence.map { String(format: "%.4f", $0) } ?? "",
                          triptych.fooled ? "1" : "0", String(format: "%.6f", triptych.perturbationNorm), name]
            csv += fields.map { $0.contains(",") || $0.contains("\"") ? "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : $0 }
                .joined(separator: ",") + "\n"
        }
        var first = grid
        first.triptychs = Array(grid.triptychs.prefix(100))
        try write(try first.image(columns: 4, scale: 3).encoded(), "grid.png")
        try write(Array(("# perturbation colour scale: dark blue = -\(grid.perturbationScale), white = 0, dark red = +\(grid.perturbationScale)\n" + csv).utf8), "examples.csv")
        return grid.perturbationScale
    }
}

/// Adversarial examples with everything needed to check them.
struct AdversarialExamples {
    var clean: Tensor
    var adversarial: Tensor
    var labels: [Int]
    var cleanPredictions: [Int]
    var adversarialPredictions: [Int]
    var cleanConfidences: [Float]
    var adversarialConfidences: [Float]
    var success: [Bool]
    var indices: [Int]
    var metadata: [String: String]

    private func asTensor(_ values: [Int]) -> Tensor { Tensor(values.map(Float.init)) }

    func writeSafeTensors(to path: String) throws {
        let tensors: [String: Tensor] = [
            "clean": clean, "adversarial": adversarial, "labels": asTensor(labels),
            "clean_predictions": asTensor(cleanPredictions), "adversarial_predictions": asTensor(adversarialPredictions),
            "clean_confidences": Tensor(cleanConfidences), "adversarial_confidences": Tensor(adversarialConfidences),
            "success": Tensor(success.map { $0 ? 1 : 0 }), "indices": asTensor(indices),
        ]
        try SafeTensorsFile(tensors: tensors, metadata: metadata).write(to: path)
    }

    func writeNumPy(to directory: String) throws {
        try createDirectory(directory)
        let files: [(String, [UInt8])] = [
            ("clean", NumPyArray.float32Bytes(clean)), ("adversarial", NumPyArray.float32Bytes(adversarial)),
            ("labels", NumPyArray.int64Bytes(labels)), ("clean_predictions", NumPyArray.int64Bytes(cleanPredictions)),
            ("adversarial_predictions", NumPyArray.int64Bytes(adversarialPredictions)),
            ("clean_confidences", NumPyArray.float32Bytes(Tensor(cleanConfidences))),
            ("adversarial_confidences", NumPyArray.float32Bytes(Tensor(adversarialConfidences))),
            ("success", NumPyArray.int64Bytes(success.map { $0 ? 1 : 0 })), ("indices", NumPyArray.int64Bytes(indices)),
        ]
        for (name, bytes) in files {
            let file = path(in: directory, name + ".npy")
            try writeOutput(bytes, to: file)
        }
        try writeJSON(metadata, to: path(in: directory, "metadata.json"))
    }
}

/// `bulwark verify-adversarial`: checks a file of adversarial examples as a challenge harness
/// would.
struct VerifyAdversarial: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-adversarial",
        abstract: "Check a file written by bulwark attack against a model and a threat model.",
        discussion: """
            Checks: the tensors exist with matching shapes; no NaN or infinity; adversarial inputs \
            inside [0, 1]; every perturbation within ε + 1e-6 in the norm; the claimed clean and \
            adversarial predictions equal the model's; the success flags match. Exits non-zero on \
            any failure.
            """)

    @OptionGroup var checkpoint: ModelOptions

    @Option(help: "The .safetensors file written by bulwark attack.")
    var file: String

    @OptionGroup var threat: ThreatOptions

    func run() throws {
        let contents = try SafeTensorsFile(contentsOf: file)
        var problems = [String]()
        func tensor(_ name: String) -> Tensor? {
            guard let value = contents.tensors[name] else { problems.append("missing tensor '\(name)'"); return nil }
            return value
        }
        guard let clean = tensor("clean"), let adversarial = tensor("adversarial"), let labels = tensor("labels"),
              let claimedClean = tensor("clean_predictions"), let claimedAdversarial = tensor("adversarial_predictions"),
              let success = tensor("success")
        else { throw ValidationError("\(file): \(problems.joined(separator: "; "))") }
        let count = clean.shape.first ?? 0
        if clean.shape != adversarial.shape { problems.append("clean \(clean.shape) and adversarial \(adversarial.shape) differ in shape") }
        for (name, value) in [("labels", labels), ("clean_predictions", claimedClean), ("adversarial_predictions", claimedAdversarial), ("success", success)]
        where value.shape != [count] {
            problems.append("\(name) has shape \(value.shape), expected [\(count)]")
        }
        guard problems.isEmpty else { throw ValidationError("\(file): \(problems.joined(separator: "; "))") }
        if !adversarial.isFinite { problems.append("adversarial inputs contain NaN or infinity") }
        if adversarial.array.contains(where: { $0 < 0 || $0 > 1 }) { problems.append("adversarial inputs leave [0, 1]") }
        let threatModel = threat.threatModel
        let largest = threatModel.norms(of: adversarial - clean).max() ?? 0
        if largest > threatModel.epsilon + 1e-6 {
            problems.append("largest perturbation \(largest) exceeds ε = \(threatModel.epsilon) in \(threatModel.norm.rawValue)")
        }
        let (network, architecture, _) = try checkpoint.load()
        guard Array(clean.shape.dropFirst()) == architecture.inputShape else {
            throw ValidationError("\(file) holds images of shape \(Array(clean.shape.dropFirst())) but '\(architecture.rawValue)' expects \(architecture.inputShape); pass the model the examples were made for")
        }
        let actualClean = predictions(network.applied(to: clean)).map(Float.init)
        let actualAdversarial = predictions(network.applied(to: adversarial)).map(Float.init)
        let cleanMismatches = zip(actualClean, claimedClean.array).filter { $0 != $1 }.count
        let adversarialMismatches = zip(actualAdversarial, claimedAdversarial.array).filter { $0 != $1 }.count
        if cleanMismatches > 0 { problems.append("\(cleanMismatches) claimed clean predictions differ from the model's") }
        if adversarialMismatches > 0 { problems.append("\(adversarialMismatches) claimed adversarial predictions differ from the model's") }
        let actualSuccess = zip(actualAdversarial, labels.array).map { $0 != $1 ? Float(1) : 0 }
        let successMismatches = zip(actualSuccess, success.array).filter { $0 != $1 }.count
        if successMismatches > 0 { problems.append("\(successMismatches) success flags are wrong") }
        guard problems.isEmpty else { throw ValidationError("\(file) failed verification: \(problems.joined(separator: "; "))") }
        let fooled = actualSuccess.filter { $0 == 1 }.count
        output("\(file): verified \(count) examples; largest perturbation \(largest) ≤ ε = \(threatModel.epsilon) (\(threatModel.norm.rawValue)); \(fooled) fool the model")
    }
}
