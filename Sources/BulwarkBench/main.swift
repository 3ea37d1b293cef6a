import ArgumentParser
import Bulwark
import Foundation

/// `bulwark-bench`: the speed workloads of the performance issue, as a table and as JSON.
///
/// Every workload runs `--warmup` times untimed, then `--repetitions` times; the median is
/// reported. Inputs are seeded (Fashion-MNIST images when the dataset is installed, uniform
/// noise otherwise for W1–W4).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark-bench",
        abstract: "Measure Bulwark's speed on the standard workloads (W1–W8).")

    @Option(help: "Models to run, comma separated.")
    var models: String = "mlp,lenet,smallcnn"

    @Option(help: "Workloads to run, comma separated: w1 … w8, w4-onnx, onnx-eval (the last three only on request).")
    var workloads: String = "w1,w2,w3,w4,w5,w6,w7"

    @Option(help: "Timed repetitions per workload (the median is reported).")
    var repetitions: Int = 5

    @Option(help: "Untimed warm-up runs per workload.")
    var warmup: Int = 1

    @Option(help: "Fashion-MNIST directory for W5 and W6.")
    var dataDir: String?

    @Option(help: "Training images for W5 (default 10,000) and W6 (default 5,000), for quick runs.")
    var trainCount: Int?

    @Option(help: "An ONNX image classifier for the onnx-eval workload (layout and normalization from the model).")
    var onnxModel: String?

    @Option(help: "onnx-eval: test images attacked with L∞ PGD-20 (ε = 0.1); clean accuracy uses all 10,000.")
    var attackCount: Int = 1000

    @Option(help: "Alternating rounds of W4-onnx (built-in, then imported, per round).")
    var rounds: Int = 3

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    @Option(help: "Threads the engine runs on (default BULWARK_THREADS, else the cores divided among the MPI ranks on this machine).")
    var threads: Int?

    struct Result: Codable {
        var workload: String
        var model: String
        var imagesPerSecond: Double?
        var gflops: Double?
        var medianSeconds: Double
        var accuracy: Float?
        /// The engine's thread count the workload ran with.
        var threads: Int = EngineThreads.count
    }

    func run() throws {
        do {
            if let count = try threads ?? EngineThreads.count(in: ProcessInfo.processInfo.environment) { try EngineThreads.use(count) }
        } catch { throw ValidationError(String(describing: error)) }
        print("threads: \(EngineThreads.count)")
        let selected = Set(workloads.split(separator: ",").map { $0.lowercased() })
        // Without the dataset W1–W4 run on seeded noise; W5 and W6 need real images.
        let training = try? ImageDataset.load(.fashionMNIST, split: .train, directory: dataDir)
        if training == nil && (selected.contains("w5") || selected.contains("w6")) {
            print("W5 and W6 skipped: Fashion-MNIST not found (install dataset-fashion-mnist or pass --data-dir)")
        }
        var results = [Result]()
        func report(_ result: Result) {
            results.append(result)
            let rate = result.imagesPerSecond.map { String(format: "%10.0f img/s", $0) } ?? result.gflops.map { String(format: "%10.1f GFLOP/s", $0) } ?? ""
            print(String(format: "%-4@ %-16@ %@  median %.4f s%@", result.workload as NSString, result.model as NSString, rate as NSString,
                         result.medianSeconds, result.accuracy.map { String(format: "  accuracy %.2f%%", $0 * 100) } ?? ""))
        }

        for name in models.split(separator: ",") {
            guard let architecture = Architecture(rawValue: String(name)) else {
                throw ValidationError("Unknown model '\(name)'")
            }
            var generator = SplitMix64(seed: 0)
            let model = architecture.makeModel(using: &generator)
            // Fashion-MNIST only for the architectures that take its images; noise for the others.
            let images = training.flatMap { $0.imageShape == architecture.inputShape ? $0 : nil }
            let images256 = images.map { $0.images.slice(alongAxis: 0, 0..<256) }
                ?? Tensor(randomUniform: [256] + architecture.inputShape, in: 0...1, using: &generator)
            let labels256 = images.map { Array($0.labels[0..<256]) } ?? (0..<256).map { Int32($0 % 10) }
            let threat = ThreatModel.lInfinity(epsilon: 0.1)

            if selected.contains("w1") {
                var network = model.with(mode: .inference)
                let seconds = measure { _ = network(images256) }
                report(Result(workload: "W1", model: architecture.rawValue, imagesPerSecond: 256 / seconds, medianSeconds: seconds))
            }
            if selected.contains("w2") {
                var network = model
                var optimizer = SGD(learningRate: 0.01, momentum: 0.9)
                let inputs = images256.slice(alongAxis: 0, 0..<128)
                let labels = Array(labels256[0..<128])
                let seconds = measure {
                    let (_, gradients) = valueWithGradient(at: &network) { softmaxCrossEntropy(logits: $0(inputs), labels: labels) }
                    optimizer.update(&network, along: gradients)
                }
                report(Result(workload: "W2", model: architecture.rawValue, imagesPerSecond: 128 / seconds, medianSeconds: seconds))
            }
            if selected.contains("w3") {
                var attackGenerator = SplitMix64(seed: 1)
                let seconds = measure { _ = FGSM(threatModel: threat).perturb(images256, labels: labels256, against: model, using: &attackGenerator) }
                report(Result(workload: "W3", model: architecture.rawValue, imagesPerSecond: 256 / seconds, medianSeconds: seconds))
            }
            if selected.contains("w4") {
                var attackGenerator = SplitMix64(seed: 1)
                let pgd = PGD(threatModel: threat, steps: 10, stepSize: 0.01)
                let seconds = measure { _ = pgd.perturb(images256, labels: labels256, against: model, using: &attackGenerator) }
                report(Result(workload: "W4", model: architecture.rawValue, imagesPerSecond: 256 / seconds, medianSeconds: seconds))
            }
            if selected.contains("w4-onnx") {
                try compareImported(model, architecture: architecture, images: images256, labels: labels256, threat: threat, report: report)
            }
            if selected.contains("w8") {
                // The evaluation attacks at their usual budgets, on labels that are the model's own
                // predictions so that every image is attacked. APGD and Square drop an example
                // once it is fooled, so their rates depend on the model; PGD's does not.
                let network = model.with(mode: .inference)
                let labels = predictions(network.applied(to: images256))
                let attacks: [(String, any Attack)] = [
                    ("pgd-20", PGD(threatModel: threat, steps: 20, stepSize: 0.01)),
                    ("apgd-ce", APGD(threatModel: threat, iterations: 100)),
                    ("square", SquareAttack(threatModel: threat, queries: 1000)),
                ]
                for (name, attack) in attacks {
                    var attackGenerator = SplitMix64(seed: 1)
                    let seconds = measure(repetitions: Swift.min(repetitions, 3)) {
                        _ = attack.perturb(images256, labels: labels, against: network, using: &attackGenerator)
                    }
                    report(Result(workload: "W8", model: "\(architecture.rawValue) \(name)", imagesPerSecond: 256 / seconds, medianSeconds: seconds))
                }
            }
            if let training = images, selected.contains("w5") || selected.contains("w6") {
                for (workload, defaultCount) in [("W5", 10_000), ("W6", 5_000)] where selected.contains(workload.lowercased()) {
                    let count = trainCount ?? defaultCount
                    let data = training.prefix(count)
                    var accuracyAfter: Float = 0
                    var failure: Error?
                    let seconds = measure {
                        var network = model
                        do {
                            if workload == "W5" {
                                try trainOneEpoch(&network, FastAdversarialTraining(threatModel: threat), on: data)
                            } else {
                                try trainOneEpoch(&network, PGDAdversarialTraining(threatModel: threat, steps: 7, stepSize: 0.02), on: data)
                            }
                        } catch {
                            failure = error
                        }
                        accuracyAfter = accuracy(logits: network.with(mode: .inference).applied(to: images256), labels: labels256)
                    }
                    // A run that stopped early would time a partial epoch.
                    if let failure { throw failure }
                    report(Result(workload: workload, model: architecture.rawValue, imagesPerSecond: Double(data.count) / seconds, medianSeconds: seconds, accuracy: accuracyAfter))
                }
            }
        }
        if selected.contains("onnx-eval") {
            try evaluateImported(report: report)
        }
        if selected.contains("w7") {
            var generator = SplitMix64(seed: 3)
            for size in [1024, 4096] {
                let a = Tensor(randomUniform: [size, size], in: -1...1, using: &generator)
                let b = Tensor(randomUniform: [size, size], in: -1...1, using: &generator)
                let seconds = measure(repetitions: size > 2048 ? 2 : repetitions) { _ = matmul(a, b) }
                report(Result(workload: "W7", model: "gemm\(size)", gflops: 2 * pow(Double(size), 3) / seconds / 1e9, medianSeconds: seconds))
            }
            let x = Tensor(randomUniform: [128, 32, 14, 14], in: 0...1, using: &generator)
            let w = Tensor(randomUniform: [64, 32, 5, 5], in: -0.1...0.1, using: &generator)
            let flops = 2.0 * 128 * 64 * 32 * 25 * 14 * 14
            let forward = measure { _ = conv2d(x, weight: w, padding: 2) }
            report(Result(workload: "W7", model: "conv-fwd", gflops: flops / forward / 1e9, medianSeconds: forward))
            let backward = measure {
                _ = valueWithGradient(at: [x, w]) { conv2d($0[0], weight: $0[1], padding: 2).sum() }
            }
            // Forward plus the two backward GEMMs: three times the forward's flops.
            report(Result(workload: "W7", model: "conv-f+b", gflops: 3 * flops / backward / 1e9, medianSeconds: backward))
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            try OutputFile.write(Array(try encoder.encode(results)), to: json)
        }
    }

    /// An imported model's clean accuracy on the Fashion-MNIST test images and its robust
    /// accuracy under L∞ PGD-20 (ε = 0.1, step 2.5ε/20, random start) on the first
    /// `attackCount`, for checking an import against the exporting framework's figures.
    private func evaluateImported(report: (Result) -> Void) throws {
        guard let onnxModel else { throw ValidationError("onnx-eval needs --onnx-model FILE") }
        let test = try ImageDataset.load(.fashionMNIST, split: .test, directory: dataDir)
        let (classifier, _) = try ImageClassifier.load(from: onnxModel)
        let threat = ThreatModel.lInfinity(epsilon: 0.1)
        var generator = SplitMix64(seed: 1)
        let start = DispatchTime.now().uptimeNanoseconds
        let clean = evaluateRobustness(classifier, inputs: test.images, labels: test.labels, attacks: [], threatModel: threat, using: &generator)
        let cleanSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        report(Result(workload: "eval", model: "onnx clean", imagesPerSecond: Double(test.count) / cleanSeconds, medianSeconds: cleanSeconds, accuracy: clean.cleanAccuracy))
        let attacked = test.prefix(attackCount)
        let pgd = PGD(threatModel: threat, steps: 20, stepSize: 2.5 * 0.1 / 20)
        let robust = evaluateRobustness(classifier, inputs: attacked.images, labels: attacked.labels, attacks: [pgd], threatModel: threat, using: &generator)
        let seconds = robust.attacks[0].seconds
        report(Result(workload: "eval", model: "onnx pgd-20", imagesPerSecond: Double(attacked.count) / seconds, medianSeconds: seconds, accuracy: robust.attacks[0].robustAccuracy))
    }

    /// W4 on the built-in model and on its ONNX export imported as an ``ONNXModel``, in
    /// `rounds` alternating rounds (built-in, imported, built-in, …) so that drifting machine
    /// noise hits both; prints the ratio of the best rounds' rates (noise only slows a run).
    private func compareImported(
        _ model: Sequential, architecture: Architecture, images: Tensor, labels: [Int32], threat: ThreatModel,
        report: (Result) -> Void
    ) throws {
        let imported = try ONNXModel(serializedData: try ONNXExport.serializedModel(model, exampleShape: architecture.inputShape))
            .with(mode: model.mode)
        let pgd = PGD(threatModel: threat, steps: 10, stepSize: 0.01)
        var best = (builtIn: 0.0, imported: 0.0)
        for round in 1...Swift.max(1, rounds) {
            var generator = SplitMix64(seed: 1)
            let builtInSeconds = measure { _ = pgd.perturb(images, labels: labels, against: model, using: &generator) }
            report(Result(workload: "W4", model: "\(architecture.rawValue) r\(round)", imagesPerSecond: 256 / builtInSeconds, medianSeconds: builtInSeconds))
            generator = SplitMix64(seed: 1)
            let importedSeconds = measure { _ = pgd.perturb(images, labels: labels, against: imported, using: &generator) }
            report(Result(workload: "W4", model: "onnx-\(architecture.rawValue) r\(round)", imagesPerSecond: 256 / importedSeconds, medianSeconds: importedSeconds))
            best = (Swift.max(best.builtIn, 256 / builtInSeconds), Swift.max(best.imported, 256 / importedSeconds))
        }
        print(String(format: "W4-onnx %@: imported/built-in %.3f (best of %d rounds)", architecture.rawValue, best.imported / best.builtIn, Swift.max(1, rounds)))
    }

    /// One epoch of `method` with Adam and the cyclic rate, seeded the same way every call.
    ///
    /// A function of its own: with both trainers declared in the branches of one closure, the
    /// optimizer destroyed the one never created (a crash seen with Swift 6.3.1).
    private func trainOneEpoch<Method: TrainingMethod>(_ network: inout Sequential, _ method: Method, on data: ImageDataset) throws {
        var generator = SplitMix64(seed: 2)
        var trainer = Trainer(method: method, optimizer: Adam(), schedule: .cyclic(peak: 1e-3, peakFraction: 0.4), epochs: 1, batchSize: 128)
        _ = try trainer.fit(&network, on: data, validation: nil, using: &generator)
    }

    private func measure(repetitions: Int? = nil, _ body: () -> Void) -> Double {
        for _ in 0..<warmup { body() }
        var times = [Double]()
        for _ in 0..<(repetitions ?? self.repetitions) {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return times.sorted()[times.count / 2]
    }
}

retainLargeAllocations()
Bench.main()
