/// A resolved contract as a file of results records it, so that whoever checks the results
/// against the same ONNX model feeds it as the run that made them did.
extension ONNXInputContract {
    /// The metadata entries of the contract's fields that are set: `onnx_mean` and `onnx_std`
    /// (comma separated), `onnx_layout` and `onnx_input_name`.
    public var recordedEntries: [String: String] {
        var entries = [String: String]()
        entries["onnx_mean"] = mean.map { $0.map { "\($0)" }.joined(separator: ",") }
        entries["onnx_std"] = standardDeviation.map { $0.map { "\($0)" }.joined(separator: ",") }
        entries["onnx_layout"] = layout?.rawValue
        entries["onnx_input_name"] = inputName
        return entries
    }

    /// The contract `metadata` records (see ``recordedEntries``); fields it does not record
    /// are left for the model to decide.
    ///
    /// - Throws: ``ONNXError/invalidContract(_:)`` for a recorded value that cannot be read.
    public init(recordedIn metadata: [String: String]) throws(ONNXError) {
        let layout = try metadata["onnx_layout"].map { text throws(ONNXError) in
            guard let layout = Layout(rawValue: text) else {
                throw ONNXError.invalidContract("the recorded onnx_layout '\(text)' is neither nchw nor nhwc")
            }
            return layout
        }
        try self.init(inputName: metadata["onnx_input_name"], layout: layout, meanList: metadata["onnx_mean"],
                      standardDeviationList: metadata["onnx_std"])
    }
}
