import ArgumentParser
import Bulwark

/// `bulwark export`: a checkpoint as an ONNX model.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint of a built-in architecture as an ONNX model (opset 17).",
        discussion: "The graph takes [N, C, H, W] pixels in [0, 1] (input) and returns logits; bulwark eval --model OUT.onnx evaluates it.")

    @Option(help: "The checkpoint (.safetensors).") var model: String
    @Option(help: "The architecture, for checkpoints without Bulwark metadata (saved by PyTorch).") var architecture: Architecture?
    @Option(help: "The ONNX file to write.") var onnx: String
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try checkOutputs(files: [("--onnx", onnx)], inputs: [("--model", model)])
        let (bytes, exported) = try flagged { try ModelSelection(path: model, architecture: architecture).exportedONNX() }
        try writeOutput(Array(bytes), to: onnx)
        output("wrote \(onnx) (\(exported.rawValue))")
    }
}
