import ArgumentParser
import Bulwark
import Foundation

/// `bulwark predict`: a checkpoint's logits and predicted classes on clean examples.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model's logits and predictions for the first examples of a split as JSON.",
        discussion: "Useful to check that a checkpoint behaves the same in Bulwark and in PyTorch.")

    @OptionGroup var checkpoint: ModelOptions

    @OptionGroup var data: DatasetOptions

    @Option(help: "The split to predict on.")
    var split: DatasetSplit = .test

    @Option(help: "How many examples, from the first.")
    var count: Int = 100

    @Option(help: "The JSON file to write: {\"logits\": [[…]], \"predictions\": […], \"labels\": […]}.")
    var json: String

    func validate() throws {
        try require(count >= 1, "--count must be at least 1, got \(count)")
    }

    func run() throws {
        try checkOutputs(files: [("--json", json)], inputs: [("--model", checkpoint.model)])
        let (network, architecture, metadata) = try checkpoint.load()
        let (_, dataset) = try data.evaluationData(split, count: count, for: network, architecture: architecture, metadata: metadata)
        let logits = network.applied(to: dataset.images)
        let width = logits.shape[1]
        // JSON has no NaN or infinity: refuse rather than write strings in place of numbers.
        if let index = logits.array.firstIndex(where: { !$0.isFinite }) {
            throw ValidationError(
                "The model's logits for example \(index / width) are not finite (\(logits.array[index])), so \(json) was not written; the model is numerically broken (train it again, with a lower --learning-rate).")
        }
        let rows = (0..<dataset.count).map { Array(logits.array[($0 * width)..<(($0 + 1) * width)]) }
        struct Output: Encodable { var logits: [[Float]]; var predictions: [Int32]; var labels: [Int32] }
        try writeJSON(Output(logits: rows, predictions: predictions(logits), labels: dataset.labels), to: json)
        output("accuracy \(percent(accuracy(logits: logits, labels: dataset.labels))) on \(dataset.count) examples; logits in \(json)")
    }
}
