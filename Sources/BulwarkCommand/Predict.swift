import ArgumentParser
import Bulwark

/// `bulwark predict`: a checkpoint's logits and predicted classes on clean examples.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model's logits and predictions for the first examples of a split as JSON.",
        discussion: "Useful to check that a checkpoint behaves the same in Bulwark and in PyTorch.")

    @OptionGroup var checkpoint: ModelOptions
    @OptionGroup var data: DatasetOptions
    @OptionGroup var threads: ThreadOptions
    @Option(help: "The split to predict on.") var split: DatasetSplit = .test
    @Option(help: "How many examples, from the first.") var count: Int = 100
    @Option(help: "The JSON file to write: {\"logits\": [[…]], \"predictions\": […], \"labels\": […]}.") var json: String

    func validate() throws { try require(count >= 1, "--count must be at least 1, got \(count)") }

    func run() throws {
        try checkOutputs(files: [("--json", json)], inputs: [("--model", checkpoint.model)] + data.inputs)
        let (classifier, metadata) = try checkpoint.load()
        let (data, dataset) = try self.data.evaluationData(split, count: count, for: classifier, metadata: metadata)
        var record: PredictionRecord
        do { record = try PredictionRecord(model: classifier, on: dataset) } catch {
            throw ValidationError(
                "The model's logits for example \(error.example) are not finite (\(error.value)), so \(json) was not written; the model is numerically broken (train it again, with a lower --learning-rate).")
        }
        record.dataPath = data.dataPath(for: split)
        try writeJSON(record, to: json)
        output(record.summaryLine(dataName: data.dataName, file: json))
    }
}
