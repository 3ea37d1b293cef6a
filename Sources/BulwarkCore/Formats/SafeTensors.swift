#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - File

/// A set of named tensors and string metadata in the safetensors format, as written by
/// Hugging Face's `safetensors` library (`safetensors.torch.save_file`, `save_model`) and read
/// by PyTorch, JAX and MLX.
///
/// ## Layout
///
/// A safetensors file is an 8-byte little-endian unsigned length `N`, then `N` bytes of
/// UTF-8 JSON (the header), then a byte buffer. The header maps each tensor's name to its
/// `dtype`, `shape` and `data_offsets` (`[begin, end)`, relative to the start of the buffer);
/// the optional key `__metadata__` maps strings to strings. Scalars are little-endian and
/// row-major. The tensors' byte ranges must tile the buffer exactly: no overlaps, no gaps,
/// no trailing bytes.
///
/// ## Writing
///
/// ``serialized()`` and ``write(to:)`` produce the same bytes as the reference
/// implementation: every tensor as `F32`, tensors ordered by name (byte-wise, as Rust orders
/// strings), compact JSON with `__metadata__` first and metadata keys sorted (the reference
/// orders them by hash, so its output varies from run to run; ours is deterministic), and the
/// header padded with spaces to a multiple of 8 bytes so that every tensor's data is aligned.
/// A file with one metadata key or none is byte-identical to `safetensors.torch.save_file`'s.
/// Empty metadata writes no `__metadata__` key, as `save_file(..., metadata=None)` does.
///
/// ## Reading
///
/// `F32` loads as is. `F64`, `F16` and `BF16` are converted to the nearest `Float`
/// (`F64` beyond `Float`'s range becomes infinite). The integer types `I64`, `I32` and `U8`
/// are also loaded as `Float`, because PyTorch `state_dict`s hold small integer counters
/// among the parameters (batch normalization's `num_batches_tracked` is `I64`); integers of
/// magnitude above 2^24 are rounded to the nearest representable `Float`. Any other `dtype`
/// (`BOOL`, `I8`, `I16`, `U16`, `U32`, `U64`, the 8-bit floats, …) is rejected with
/// ``CheckpointError/unsupportedDataType(path:tensor:dataType:)``. Metadata values must be
/// strings. Every malformed input throws a ``CheckpointError``; none traps.
public struct SafeTensorsFile: Sendable, Equatable {
    /// The tensors, keyed by name (for a model, its dotted parameter path such as
    /// `conv1.weight`).
    ///
    /// The name `__metadata__` is reserved by the format and cannot be written.
    public var tensors: [String: Tensor]

    /// Free-form string metadata, stored in the header's `__metadata__` object (Bulwark keeps
    /// the architecture, training configuration and seed there).
    public var metadata: [String: String]

    /// The tensors written as `I64` rather than `F32`: labels, class indices and counts, which
    /// readers expect as integers. Their values must be whole numbers; reading gives them back
    /// as `Float` tensors (and this set empty).
    public var integerTensorNames: Set<String>

    /// Creates a file from tensors and metadata.
    ///
    /// - Parameters:
    ///   - tensors: The tensors, keyed by name.
    ///   - metadata: String metadata; empty writes no `__metadata__` key.
    ///   - integerTensorNames: The tensors to write as `I64`.
    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:], integerTensorNames: Set<String> = []) {
        self.tensors = tensors
        self.metadata = metadata
        self.integerTensorNames = integerTensorNames
    }

    /// The header key that holds the metadata rather than a tensor.
    public static let metadataKey = "__metadata__"

    /// The tensor names in the order they are written: the `I64` tensors, then the `F32` ones,
    /// each sorted by their UTF-8 bytes, the order the reference implementation uses (larger
    /// `dtype`s first, so every tensor's data stays aligned).
    public var orderedTensorNames: [String] {
        tensors.keys.sorted { first, second in
            let (firstIsInteger, secondIsInteger) = (integerTensorNames.contains(first), integerTensorNames.contains(second))
            if firstIsInteger != secondIsInteger { return firstIsInteger }
            return first.utf8.lexicographicallyPrecedes(second.utf8)
        }
    }

    /// `tensor`'s scalars as little-endian `I64` bytes.
    ///
    /// - Precondition: every scalar is a whole number within `Int64`'s range.
    static func integerBytes(_ tensor: Tensor) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(8 * tensor.scalarCount)
        for scalar in tensor.array {
            precondition(scalar.isFinite && scalar.rounded() == scalar && Swift.abs(scalar) < 9.2e18, "an I64 tensor holds \(scalar)")
            withUnsafeBytes(of: Int64(scalar).littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }
}

// MARK: - Errors

/// Why a safetensors checkpoint could not be read or written.
///
/// Every case names the file (or the in-memory source), what is wrong, and its
/// ``description`` says how to fix it.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or read.
    case unreadable(path: String, reason: String)
    /// The file could not be written, synced or moved into place; `operation` names the step.
    case unwritable(path: String, operation: String, reason: String)
    /// The file is shorter than the 8-byte header length that starts every safetensors file.
    case fileTooShort(path: String, byteCount: Int)
    /// The header length in the first 8 bytes exceeds the bytes that follow it.
    case headerLengthExceedsFile(path: String, headerByteCount: UInt64, availableByteCount: Int)
    /// The header is not valid UTF-8 JSON; `reason` says where parsing stopped.
    case headerNotJSON(path: String, reason: String)
    /// The header is valid JSON but not an object.
    case headerNotObject(path: String)
    /// A tensor entry lacks a required field (`dtype`, `shape` or `data_offsets`).
    case missingField(path: String, tensor: String, field: String)
    /// A tensor entry has a field of the wrong form (for example a negative extent, or
    /// `data_offsets` that are not two ascending non-negative integers).
    case invalidField(path: String, tensor: String, field: String, reason: String)
    /// A tensor's `dtype` is not one Bulwark can load.
    case unsupportedDataType(path: String, tensor: String, dataType: String)
    /// A tensor's `data_offsets` reach past the end of the byte buffer.
    case offsetsOutOfRange(path: String, tensor: String, begin: UInt64, end: UInt64, bufferByteCount: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingTensors(path: String, tensor: String, otherTensor: String)
    /// Bytes `begin..<end` of the buffer belong to no tensor.
    case gapInBuffer(path: String, begin: Int, end: Int)
    /// A tensor's byte range does not hold exactly its shape's element count times its
    /// `dtype`'s size.
    case byteCountMismatch(path: String, tensor: String, dataType: String, shape: [Int], expectedByteCount: Int, actualByteCount: Int)
    /// The `__metadata__` entry is not an object, or one of its values is not a string.
    case invalidMetadata(path: String, key: String, reason: String)
    /// A tensor is named `__metadata__`, which the format reserves.
    case reservedTensorName(path: String)

    /// A message naming the file, the problem and the fix.
    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "Cannot read checkpoint '\(path)': \(reason). Check that the path is right and the file is readable."
        case let .unwritable(path, operation, reason):
            return "Cannot write checkpoint '\(path)' (\(operation) failed: \(reason)). Check that the directory exists, is writable and has free space; the previous file, if any, is unchanged."
        case let .fileTooShort(path, byteCount):
            return "'\(path)' is not a safetensors file: it is \(byteCount) bytes long, shorter than the 8-byte header length every safetensors file starts with. The file is truncated or empty; save it again."
        case let .headerLengthExceedsFile(path, headerByteCount, availableByteCount):
            return "'\(path)' is not a valid safetensors file: its first 8 bytes declare a \(headerByteCount)-byte JSON header but only \(availableByteCount) bytes follow. The file is truncated, or is another format (a PyTorch .pt/.bin pickle?); convert it with safetensors.torch.save_file."
        case let .headerNotJSON(path, reason):
            return "'\(path)' has a corrupt safetensors header: it is not valid UTF-8 JSON (\(reason)). The file is damaged or not a safetensors file; save it again."
        case let .headerNotObject(path):
            return "'\(path)' has a corrupt safetensors header: it is JSON but not an object mapping tensor names to entries. Save the file again with safetensors or Bulwark."
        case let .missingField(path, tensor, field):
            return "'\(path)': tensor '\(tensor)' has no \"\(field)\" in the header; every entry needs \"dtype\", \"shape\" and \"data_offsets\". Save the file again with safetensors or Bulwark."
        case let .invalidField(path, tensor, field, reason):
            return "'\(path)': tensor '\(tensor)' has an invalid \"\(field)\": \(reason). Save the file again with safetensors or Bulwark."
        case let .unsupportedDataType(path, tensor, dataType):
            return "'\(path)': tensor '\(tensor)' has dtype \(dataType), which Bulwark cannot load (it reads F32, F64, F16, BF16, I64, I32 and U8). Convert it before saving, for example with tensor.float() in PyTorch."
        case let .offsetsOutOfRange(path, tensor, begin, end, bufferByteCount):
            return "'\(path)': tensor '\(tensor)' has data_offsets [\(begin), \(end)] but the data buffer holds only \(bufferByteCount) bytes. The file is truncated; save it again."
        case let .overlappingTensors(path, tensor, otherTensor):
            return "'\(path)': the data of tensors '\(otherTensor)' and '\(tensor)' overlap, which the format forbids. Save the file again with safetensors or Bulwark."
        case let .gapInBuffer(path, begin, end):
            return "'\(path)': bytes \(begin)..<\(end) of the data buffer belong to no tensor; the format requires the tensors to cover the buffer exactly. The file has trailing garbage or a missing header entry; save it again."
        case let .byteCountMismatch(path, tensor, dataType, shape, expectedByteCount, actualByteCount):
            return "'\(path)': tensor '\(tensor)' (\(dataType), shape \(shape)) needs \(expectedByteCount) bytes but its data_offsets span \(actualByteCount). Save the file again with safetensors or Bulwark."
        case let .invalidMetadata(path, key, reason):
            return "'\(path)': metadata entry '\(key)' is invalid: \(reason). Safetensors metadata maps strings to strings; store numbers and structures as strings (for example JSON text)."
        case let .reservedTensorName(path):
            return "Cannot write checkpoint '\(path)': a tensor is named '__metadata__', which the safetensors format reserves for metadata. Rename the tensor."
        }
    }
}
