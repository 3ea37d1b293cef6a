import BulwarkCore

/// Why a checkpoint's tensors do not fit a model.
public enum ModelLoadError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file neither records an architecture nor was one given.
    case unknownArchitecture(path: String)
    /// The file records an architecture name Bulwark does not know.
    case unsupportedArchitecture(path: String, name: String)
    /// The file records one architecture and the caller asked for another.
    case architectureConflict(path: String, recorded: String, requested: String)
    /// A parameter or state tensor of the model is missing from the file.
    case missingTensor(path: String, name: String, architecture: String)
    /// A tensor has a different shape than the model's.
    case shapeMismatch(path: String, name: String, expected: [Int], found: [Int], architecture: String)
    /// The file has tensors the model does not.
    case unexpectedTensors(path: String, names: [String], architecture: String)
    /// A tensor holds a NaN or infinite value (`value` spells it) at flat index `index`: the
    /// model diverged in training or the file is damaged.
    case nonFiniteValue(path: String, name: String, index: Int, value: String)

    public var description: String {
        let choices = Architecture.allCases.map(\.rawValue).joined(separator: ", ")
        switch self {
        case let .unknownArchitecture(path):
            return "'\(path)' does not say which architecture it holds (no Bulwark metadata, as in a file saved by PyTorch). Pass `architecture` NAME, one of: \(choices)."
        case let .unsupportedArchitecture(path, name):
            return "'\(path)' records architecture '\(name)', which this Bulwark does not know (it knows \(choices)). Upgrade Bulwark or pass `architecture` NAME."
        case let .architectureConflict(path, recorded, requested):
            return "'\(path)' holds a '\(recorded)' model but `architecture` \(requested) was given. Drop `architecture` or pass `architecture` \(recorded)."
        case let .missingTensor(path, name, architecture):
            return "'\(path)' has no tensor '\(name)', which a '\(architecture)' model needs. The file holds another architecture; pass the right `architecture` (state_dict keys must match the PyTorch module in Bulwark's documentation of the architecture)."
        case let .shapeMismatch(path, name, expected, found, architecture):
            return "'\(path)': tensor '\(name)' has shape \(found) but a '\(architecture)' model needs \(expected). The file holds another architecture or class count; pass the right `architecture`."
        case let .unexpectedTensors(path, names, architecture):
            return "'\(path)' has tensors a '\(architecture)' model does not: \(names.sorted().prefix(5).joined(separator: ", ")). The file holds another architecture; pass the right `architecture`."
        case let .nonFiniteValue(path, name, index, value):
            return "'\(path)': tensor '\(name)' holds \(value) at index \(index), so the model's outputs are not numbers. Training diverged or the file is damaged; train again (a lower `learningRate`, or resume from an earlier checkpoint) or restore the file."
        }
    }
}

/// Reading and writing models as safetensors files whose tensor names are the model's
/// parameter and state paths (the PyTorch `state_dict` keys).
public enum Checkpoint {
    /// The metadata key holding the architecture name.
    public static let architectureKey = "bulwark.architecture"

    /// Writes `model`'s parameters and state to `path` atomically, with `metadata` (for
    /// example the training configuration and seed) and the architecture name.
    public static func save<Model: Layer>(
        _ model: Model, architecture: String, metadata: [String: String] = [:], to path: String
    ) throws(CheckpointError) {
        var tensors = model.parameters
        for (name, tensor) in model.state { tensors[name] = tensor }
        var allMetadata = metadata
        allMetadata[architectureKey] = architecture
        allMetadata["format"] = "pt"
        try SafeTensorsFile(tensors: tensors.mapValues(\.detached), metadata: allMetadata).write(to: path)
    }

    /// Loads a built-in architecture from `path`. The architecture comes from the file's
    /// metadata or, for files without it (saved by PyTorch), from `architecture`.
    ///
    /// - Returns: the model in inference mode and the file's metadata.
    public static func load(
        from path: String, architecture requested: Architecture? = nil
    ) throws -> (model: Sequential, architecture: Architecture, metadata: [String: String]) {
        try load(SafeTensorsFile(contentsOf: path), from: path, architecture: requested)
    }

    /// Loads a built-in architecture from `file`, already read from `path` (see
    /// ``load(from:architecture:)``), for callers that looked at its metadata first.
    public static func load(
        _ file: SafeTensorsFile, from path: String, architecture requested: Architecture? = nil
    ) throws -> (model: Sequential, architecture: Architecture, metadata: [String: String]) {
        let architecture: Architecture
        switch (file.metadata[architectureKey], requested) {
        case (nil, nil):
            throw ModelLoadError.unknownArchitecture(path: path)
        case (nil, let requested?):
            architecture = requested
        case (let recorded?, let requested):
            guard let known = Architecture(rawValue: recorded) else {
                if let requested { architecture = requested; break }
                throw ModelLoadError.unsupportedArchitecture(path: path, name: recorded)
            }
            if let requested, requested != known {
                throw ModelLoadError.architectureConflict(path: path, recorded: recorded, requested: requested.rawValue)
            }
            architecture = known
        }
        var generator = SplitMix64(seed: 0)
        let classCount = classCount(of: architecture, in: file.tensors)
        var model = architecture.makeModel(classCount: classCount, using: &generator)
        try assign(file.tensors, to: &model, path: path, architecture: architecture.rawValue)
        model.mode = .inference
        return (model, architecture, file.metadata)
    }

    /// Copies `tensors` into `model`'s parameters and state, checking names and shapes and that
    /// every value is finite.
    public static func assign<Model: Layer>(
        _ tensors: [String: Tensor], to model: inout Model, path: String, architecture: String
    ) throws(ModelLoadError) {
        var failure: ModelLoadError?
        var used = Set<String>()
        func visit(_ name: String, _ tensor: inout Tensor) {
            guard failure == nil else { return }
            guard let stored = tensors[name] else {
                failure = .missingTensor(path: path, name: name, architecture: architecture)
                return
            }
            // PyTorch stores num_batches_tracked as a 0-d integer; accept any one-element shape.
            guard stored.shape == tensor.shape || (stored.scalarCount == 1 && tensor.scalarCount == 1) else {
                failure = .shapeMismatch(path: path, name: name, expected: tensor.shape, found: stored.shape, architecture: architecture)
                return
            }
            let scalars = stored.array
            if let index = scalars.firstIndex(where: { !$0.isFinite }) {
                let value = scalars[index].isNaN ? "NaN" : scalars[index] > 0 ? "+infinity" : "-infinity"
                failure = .nonFiniteValue(path: path, name: name, index: index, value: value)
                return
            }
            tensor = Tensor(shape: tensor.shape, scalars: scalars)
            used.insert(name)
        }
        model.visitParameters(visit)
        model.visitState(visit)
        if let failure { throw failure }
        let extra = Set(tensors.keys).subtracting(used)
        if !extra.isEmpty { throw .unexpectedTensors(path: path, names: Array(extra), architecture: architecture) }
    }

    /// The output width of the architecture's last layer as stored in `tensors`: the size of
    /// the tensor at the model's last parameter path (the classifier's bias in every built-in
    /// architecture), or 10 when the file lacks it (``assign(_:to:path:architecture:)`` then
    /// reports the missing tensor).
    private static func classCount(of architecture: Architecture, in tensors: [String: Tensor]) -> Int {
        var generator = SplitMix64(seed: 0)
        let last = architecture.makeModel(using: &generator).parameterPaths.last
        guard let stored = last.flatMap({ tensors[$0] }), stored.rank == 1, stored.scalarCount > 0 else { return 10 }
        return stored.scalarCount
    }
}
