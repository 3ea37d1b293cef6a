import Bulwark
import Foundation
import Testing
import _TestSupport

@Suite struct CheckpointTests {
    private let temporary: TemporaryDirectory
    var directory: String { temporary.path }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "bulwark-checkpoint")
    }

    @Test(arguments: Architecture.allCases)
    func roundTripKeepsParametersAndPredictions(_ architecture: Architecture) throws {
        var generator = SplitMix64(seed: 1)
        var model = architecture.makeModel(using: &generator)
        let file = directory + "/\(architecture.rawValue).safetensors"
        try Checkpoint.save(model, architecture: architecture.rawValue, metadata: ["seed": "1"], to: file)
        var (loaded, loadedArchitecture, metadata) = try Checkpoint.load(from: file)
        #expect(loadedArchitecture == architecture)
        #expect(metadata["seed"] == "1")
        #expect(loaded.parameters == model.parameters)
        #expect(loaded.state == model.state)
        #expect(loaded.mode == .inference)
        // Dropout and batch normalization differ between modes: compare in inference mode.
        model.mode = .inference
        let input = seededTensor([3] + architecture.inputShape, in: 0...1, seed: 2)
        #expect(loaded(input) == model(input))
    }

    /// The class count is read from the classifier's bias, wherever the architecture keeps it
    /// (`5.bias` in an indexed Sequential, `classifier.fc3.bias`, `linear.bias`).
    @Test(arguments: [Architecture.mlp, .tradesCNN, .preactResNet18])
    func loadingRecoversTheClassCount(_ architecture: Architecture) throws {
        var generator = SplitMix64(seed: 5)
        var model = architecture.makeModel(classCount: 3, using: &generator)
        let file = directory + "/\(architecture.rawValue)-3.safetensors"
        try Checkpoint.save(model, architecture: architecture.rawValue, to: file)
        var (loaded, _, _) = try Checkpoint.load(from: file)
        let input = seededTensor([2] + architecture.inputShape, in: 0...1, seed: 6)
        model.mode = .inference
        let output = loaded(input)
        #expect(output.shape == [2, 3])
        #expect(output == model(input))
    }

    @Test func batchNormStateIsSaved() throws {
        var model = Sequential([BatchNorm2D(channels: 2)])
        _ = model(seededTensor([4, 2, 3, 3], seed: 3))
        let file = directory + "/bn.safetensors"
        try Checkpoint.save(model, architecture: "custom", to: file)
        let stored = try SafeTensorsFile(contentsOf: file).tensors
        #expect(Set(stored.keys) == ["0.weight", "0.bias", "0.running_mean", "0.running_var", "0.num_batches_tracked"])
        var copy = Sequential([BatchNorm2D(channels: 2)])
        try Checkpoint.assign(stored, to: &copy, path: file, architecture: "custom")
        #expect(copy.state == model.state)
    }

    @Test func wrongArchitectureIsAClearError() throws {
        var generator = SplitMix64(seed: 4)
        let model = Architecture.lenet.makeModel(using: &generator)
        let file = directory + "/lenet.safetensors"
        try SafeTensorsFile(tensors: model.parameters).write(to: file) // no metadata, as from PyTorch
        #expect(throws: ModelLoadError.unknownArchitecture(path: file)) { try Checkpoint.load(from: file) }
        #expect(throws: ModelLoadError.self) { try Checkpoint.load(from: file, architecture: .smallcnn) }
        let (loaded, architecture, _) = try Checkpoint.load(from: file, architecture: .lenet)
        #expect(architecture == .lenet)
        #expect(loaded.parameters == model.parameters)
        try Checkpoint.save(model, architecture: "lenet", to: file)
        #expect(throws: ModelLoadError.architectureConflict(path: file, recorded: "lenet", requested: "mlp")) {
            try Checkpoint.load(from: file, architecture: .mlp)
        }
    }

    @Test func corruptFileIsAnErrorNotACrash() throws {
        let file = directory + "/corrupt.safetensors"
        try Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x7B]).write(to: URL(fileURLWithPath: file))
        #expect(throws: CheckpointError.self) { try Checkpoint.load(from: file) }
        #expect(throws: CheckpointError.self) { try Checkpoint.load(from: directory + "/missing.safetensors") }
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteWeightIsAnErrorNamingTheTensor(_ value: Float) throws {
        var generator = SplitMix64(seed: 7)
        let model = Architecture.mlp.makeModel(using: &generator)
        var tensors = model.parameters
        let name = try #require(tensors.keys.sorted().last)
        var scalars = try #require(tensors[name]).array
        scalars[3] = value
        tensors[name] = Tensor(shape: try #require(tensors[name]).shape, scalars: scalars)
        let file = directory + "/diverged.safetensors"
        try SafeTensorsFile(tensors: tensors, metadata: [Checkpoint.architectureKey: "mlp"]).write(to: file)
        let spelled = value.isNaN ? "NaN" : value > 0 ? "+infinity" : "-infinity"
        let error = #expect(throws: ModelLoadError.nonFiniteValue(path: file, name: name, index: 3, value: spelled)) {
            try Checkpoint.load(from: file)
        }
        #expect(error?.description.contains("tensor '\(name)' holds \(spelled) at index 3") == true)
        var copy = Architecture.mlp.makeModel(using: &generator)
        #expect(throws: ModelLoadError.self) { try Checkpoint.assign(tensors, to: &copy, path: file, architecture: "mlp") }
    }
}
