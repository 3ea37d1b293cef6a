import BulwarkCore
import BulwarkNN
import Foundation

/// A run directory written the way `bulwark train`, `eval --json` and `attack --out` write
/// one, with synthetic numbers: `epochs` lines of metrics, one evaluation at ε = 0.1, one
/// robustness curve over `epsilons`, and `examples` adversarial examples of 28 × 28 pixels.
struct RunFixture {
    let directory: String
    let epochs: Int
    let epsilons: [Float] = [0, 0.025, 0.05, 0.1, 0.2]
    let curveAttacks = ["fgsm", "pgd"]

    /// - Parameters:
    ///   - confidences: whether the example file records the predictions' confidences (files
    ///     of older versions do not).
    ///   - model: an architecture whose randomly initialized checkpoint becomes the run's
    ///     `model.safetensors`, or `nil` for none.
    init(name: String = "run", epochs: Int = 4, examples: Int = 20, method: String = "fast",
         confidences: Bool = true, model: Architecture? = nil, epsilonWarmupEpochs: Int = 0) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("bulwark-report-\(UUID().uuidString)").appendingPathComponent(name).path
        self.epochs = epochs
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let configuration = ["method": method, "epsilon": "0.1", "norm": "linf", "dataset": "fashion-mnist",
                             "architecture": "smallcnn", "epochs": String(epochs), "seed": "0"]
        try JSONSerialization.data(withJSONObject: configuration).write(to: url("run.json"))
        // The fields Trainer writes (EpochMetrics in snake_case).
        let lines = try (1...epochs).map { (epoch: Int) -> String in
            let progress = Double(epoch) / Double(epochs)
            var metrics: [String: Any] = [
                "epoch": epoch, "train_loss": 2 - progress, "train_accuracy": 0.5 + 0.3 * progress,
                "validation_clean_accuracy": 0.6 + 0.2 * progress, "validation_robust_accuracy": 0.3 + 0.3 * progress,
                "learning_rate": 1e-3 * (1 - progress), "train_seconds": 10, "validation_seconds": 2, "images_per_second": 500,
            ]
            if epsilonWarmupEpochs > 0 { metrics["epsilon_scale"] = min(1, Double(epoch) / Double(epsilonWarmupEpochs)) }
            return String(decoding: try JSONSerialization.data(withJSONObject: metrics, options: [.sortedKeys]), as: UTF8.self)
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url("metrics.jsonl"))

        let evaluation: [String: Any] = [
            "clean_accuracy": 0.86, "count": examples, "epsilon": 0.1, "norm": "linf", "strategy": "independent",
            "attack_order": ["fgsm", "pgd"], "worst_case_robust_accuracy": 0.68,
            "attacks": [
                "fgsm": ["robust_accuracy": 0.76, "max_perturbation_norm": 0.1, "mean_perturbation_norm": 0.1, "seconds": 1.5, "attacked_count": examples, "images_per_second": 600],
                "pgd": ["robust_accuracy": 0.69, "max_perturbation_norm": 0.1, "mean_perturbation_norm": 0.099, "seconds": 12.0, "attacked_count": examples, "images_per_second": 80],
            ],
            "flags": [["kind": "fgsm_stronger_than_pgd", "message": "FGSM leaves 60% robust, fewer than PGD's 69%", "advice": "Try more steps & restarts <now>."]],
        ]
        try JSONSerialization.data(withJSONObject: evaluation).write(to: url("evaluation.json"))
        let curve: [String: Any] = [
            "norm": "linf", "count": examples, "epsilons": epsilons, "clean_accuracy": 0.86,
            "robust_accuracy": [0.86, 0.8, 0.74, 0.6, "nan"],
            "attacks": ["fgsm": [0.86, 0.82, 0.77, 0.66, 0.3], "pgd": [0.86, 0.8, 0.74, 0.6, 0.2]],
            "success": [],
        ]
        try JSONSerialization.data(withJSONObject: curve).write(to: url("curve.json"))

        // Examples: a bright square on dark ground, perturbed by ±0.1 in a checkerboard.
        var clean = [Float](), adversarial = [Float]()
        for example in 0..<examples {
            for row in 0..<28 { for column in 0..<28 {
                let value: Float = (8..<20).contains(row) && (8..<20).contains(column) ? 0.8 : 0.1
                clean.append(value)
                let sign: Float = (row + column + example).isMultiple(of: 2) ? 1 : -1
                adversarial.append(Swift.min(Swift.max(value + sign * 0.1, 0), 1))
            }}
        }
        let labels = (0..<examples).map { Float($0 % 10) }
        let adversarialPredictions = (0..<examples).map { $0.isMultiple(of: 3) ? Float(($0 + 1) % 10) : Float($0 % 10) }
        var tensors: [String: Tensor] = [
            "clean": Tensor(shape: [examples, 1, 28, 28], scalars: clean),
            "adversarial": Tensor(shape: [examples, 1, 28, 28], scalars: adversarial),
            "labels": Tensor(labels), "clean_predictions": Tensor(labels),
            "adversarial_predictions": Tensor(adversarialPredictions),
            "success": Tensor(zip(adversarialPredictions, labels).map { $0 != $1 ? 1 : 0 }),
            "indices": Tensor((0..<examples).map(Float.init)),
        ]
        if confidences {
            tensors["clean_confidences"] = Tensor([Float](repeating: 0.9, count: examples))
            tensors["adversarial_confidences"] = Tensor([Float](repeating: 0.6, count: examples))
        }
        try SafeTensorsFile(tensors: tensors, metadata: ["attack": "pgd", "norm": "linf", "epsilon": "0.1", "dataset": "fashion-mnist", "split": "test"])
            .write(to: url("examples.safetensors").path)
        if let model {
            var generator = SplitMix64(seed: 0)
            try Checkpoint.save(model.makeModel(using: &generator), architecture: model.rawValue, metadata: ["seed": "0"],
                                to: url("model.safetensors").path)
        }
    }

    func url(_ name: String) -> URL { URL(fileURLWithPath: directory).appendingPathComponent(name) }

    /// Removes the fixture's parent temporary directory.
    func remove() { try? FileManager.default.removeItem(at: URL(fileURLWithPath: directory).deletingLastPathComponent()) }
}
