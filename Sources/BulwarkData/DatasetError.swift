/// An error reading or validating a dataset: each case names the file or directory involved,
/// and its ``description`` says what is wrong and how to fix it.
public enum DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No file exists at `path`.
    case fileNotFound(path: String)
    /// `path` exists but is a directory, not a file.
    case notAFile(path: String)
    /// The file exists but could not be read; `reason` is the system's explanation.
    case unreadableFile(path: String, reason: String)
    /// The file starts with the gzip magic bytes but could not be decompressed.
    case corruptCompression(path: String, reason: String)
    /// The file does not start with an IDX magic number; `magic` is its first four bytes
    /// (big-endian, zero-padded when the file is shorter).
    case notIDX(path: String, magic: UInt32)
    /// The IDX file holds elements of a type other than unsigned bytes (type code `0x08`).
    case unsupportedElementType(path: String, typeCode: UInt8)
    /// The IDX file has `found` dimensions where `expected` are needed (3 for images, 1 for labels).
    case unexpectedRank(path: String, expected: Int, found: Int)
    /// The IDX header declares a dimension of extent zero.
    case emptyDimension(path: String, dimensions: [Int])
    /// The file is shorter than its IDX header declares: `expectedBytes` are needed
    /// (`Int.max` when the declared size cannot be represented), `actualBytes` are present.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// The IDX header declares dimensions whose product is too large to address: the header
    /// is damaged.
    case unaddressableSize(path: String, dimensions: [Int])
    /// The file is longer than its IDX header declares (`actualBytes` is `Int.max` when
    /// more than 16 MiB follow; they are not counted).
    case trailingBytes(path: String, expectedBytes: Int, actualBytes: Int)
    /// The images file and the labels file hold different numbers of examples.
    case countMismatch(imagesPath: String, imageCount: Int, labelsPath: String, labelCount: Int)
    /// A label is not below the class count.
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    /// The dataset has no default location, so a directory must be given.
    case directoryRequired(dataset: ImageDatasetName)
    /// The dataset directory does not exist.
    case directoryNotFound(dataset: ImageDatasetName, directory: String)
    /// The dataset directory lacks the files of a split; `missing` lists their base names
    /// (for example `train-images-idx3-ubyte`, each of which may also end in `.gz`, or
    /// `data_batch_3.bin`).
    case filesNotFound(dataset: ImageDatasetName, split: DatasetSplit, directory: String, missing: [String])
    /// A file of fixed-size records (CIFAR-10's binary batches) is empty or holds `byteCount`
    /// bytes, not a whole number of `recordSize`-byte records: it is truncated or of another format.
    case invalidRecordSize(path: String, byteCount: Int, recordSize: Int)
    /// Record `record` (0-based) of a CIFAR-10 binary batch has a label byte that is not below
    /// `classCount`: the file is corrupt or of another format.
    case recordLabelOutOfRange(path: String, record: Int, label: Int, classCount: Int)
    /// A data path names a file whose extension no dataset reader knows.
    case unsupportedFormat(path: String)
    /// A file is damaged or not of the format its name says; `problem` says what is wrong.
    case invalidFile(path: String, problem: String)
    /// A file lacks the images or the labels: none of `expected` is among the arrays it holds,
    /// `found`.
    case missingArray(path: String, expected: [String], found: [String])
    /// The images `array` of `path` have a shape that is not a batch of images.
    case invalidImageShape(path: String, array: String, shape: [Int])
    /// Float pixels lie outside [0, 1]: the smallest is `minimum`, the largest `maximum`.
    case pixelsOutOfRange(path: String, minimum: Float, maximum: Float)
    /// An image value is NaN or infinite; `index` is the first such scalar.
    case nonFinitePixels(path: String, index: Int)
    /// The labels are not whole numbers in an integer array; `problem` says what they are.
    case invalidLabels(path: String, problem: String)
    /// The images and the labels count different numbers of examples.
    case exampleCountMismatch(path: String, imageCount: Int, labelCount: Int)
    /// The file or folder holds no examples.
    case emptyDataset(path: String)
    /// No labels file was found beside the `.npy` images file; `tried` lists the names looked for.
    case labelsFileNotFound(imagesPath: String, tried: [String])
    /// A PNG file could not be decoded; `reason` is libpng's.
    case undecodableImage(path: String, reason: String)
    /// An image's `[channels, height, width]`-free size `[height, width]` differs from the
    /// size `expected` of the first image, `firstPath`.
    case imageSizeMismatch(path: String, size: [Int], expected: [Int], firstPath: String)
    /// An image folder has no class sub-folders.
    case noClassFolders(directory: String)
    /// A test folder has classes the training folder lacks.
    case unknownClasses(directory: String, classes: [String], trainingDirectory: String)

    /// What is wrong, naming the file or directory, and how to fix it.
    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return FileProblem.notFound(path)
        case .notAFile(let path):
            return "\(path) is a directory, not a file; pass the path of the file inside it"
        case .unreadableFile(let path, let reason):
            return FileProblem.unreadable(path, reason: reason)
        case .corruptCompression(let path, let reason):
            return "\(path) starts like a gzip file but \(reason); download or install it again"
        case .notIDX(let path, let magic):
            return "\(path) is not an IDX file: it starts with \(hexadecimal(magic)), but IDX files "
                + "start with two zero bytes, a type code and a dimension count (0x00000803 for "
                + "uint8 images, 0x00000801 for uint8 labels); check that the path names an "
                + "MNIST-format file and that a failed download did not save an error page in its place"
        case .unsupportedElementType(let path, let typeCode):
            return "\(path) holds IDX elements of type \(elementTypeName(typeCode)) (code "
                + "\(hexadecimal(typeCode))); only unsigned bytes (code 0x08), as in MNIST, are supported"
        case .unexpectedRank(let path, let expected, let found):
            let layout = expected == 3 ? " (count, rows, columns)" : expected == 1 ? " (count)" : ""
            return "\(path) has \(found) IDX dimension\(found == 1 ? "" : "s") but \(expected)\(layout) "
                + "\(expected == 1 ? "is" : "are") needed; check that the images and labels files are not swapped"
        case .emptyDimension(let path, let dimensions):
            return "\(path) declares dimensions \(dimensions), one of which is zero; "
                + "the file holds no data, so download or install it again"
        case .truncated(let path, let expectedBytes, let actualBytes):
            let needed = expectedBytes == Int.max
                ? "more bytes than can be addressed" : "\(expectedBytes) bytes"
            return "\(path) is truncated: its IDX header declares \(needed) but the "
                + "\(actualBytes == 0 ? "file is empty" : "(decompressed) file holds \(actualBytes)"); "
                + "the file is incomplete, so download or install it again"
        case .unaddressableSize(let path, let dimensions):
            return "\(path) declares IDX dimensions \(dimensions), more bytes than can be addressed; "
                + "the header is damaged, so download or install the file again"
        case .trailingBytes(let path, let expectedBytes, let actualBytes) where actualBytes == Int.max:
            return "\(path) has more than 16 MiB of trailing bytes: its IDX header declares \(expectedBytes) "
                + "bytes but the (decompressed) file holds far more; the file is damaged or not what its "
                + "header says, so download or install it again"
        case .trailingBytes(let path, let expectedBytes, let actualBytes):
            let extra = actualBytes - expectedBytes
            return "\(path) has \(extra) trailing byte\(extra == 1 ? "" : "s"): its IDX header "
                + "declares \(expectedBytes) bytes but the (decompressed) file holds \(actualBytes); "
                + "the file is damaged or not what its header says, so download or install it again"
        case .countMismatch(let imagesPath, let imageCount, let labelsPath, let labelCount):
            return "\(imagesPath) holds \(imageCount) images but \(labelsPath) holds \(labelCount) "
                + "labels; pass the images and labels files of the same split (train or t10k)"
        case .labelOutOfRange(let path, let index, let label, let classCount):
            return "\(path): label \(label) at index \(index) is not below the class count "
                + "\(classCount); pass the dataset's true class count or check the labels file"
        case .directoryRequired(let dataset):
            return "\(dataset.rawValue) has no default location; pass `dataDirectory` DIR containing "
                + "\(ImageDatasetName.expectedFilesSummary)"
        case .directoryNotFound(let dataset, let directory):
            return "\(dataset.displayName) directory \(directory) not found; "
                + dataset.installationAdvice
        case .filesNotFound(let dataset, let split, let directory, let missing):
            let files = missing.map { dataset == .cifar10 ? $0 : "\($0)(.gz)" }.joined(separator: ", ")
            return "\(dataset.displayName) \(split.rawValue) split: \(files) not found in "
                + "\(directory); " + dataset.installationAdvice
        case .invalidRecordSize(let path, let byteCount, let recordSize):
            let size = byteCount == 0
                ? "is empty" : "holds \(byteCount) bytes, not a whole number of \(recordSize)-byte records"
            return "\(path) \(size) (a CIFAR-10 binary batch is a sequence of records of 1 label "
                + "byte and \(recordSize - 1) pixel bytes); the file is truncated or not a CIFAR-10 "
                + "binary batch, so download and extract \(ImageDatasetName.cifar10DownloadURL) again"
        case .unsupportedFormat, .invalidFile, .missingArray, .invalidImageShape, .pixelsOutOfRange, .nonFinitePixels,
             .invalidLabels, .exampleCountMismatch, .emptyDataset, .labelsFileNotFound, .undecodableImage,
             .imageSizeMismatch, .noClassFolders, .unknownClasses:
            return fileDatasetDescription
        case .recordLabelOutOfRange(let path, let record, let label, let classCount):
            return "\(path): record \(record) has label \(label), but CIFAR-10 labels lie in "
                + "0…\(classCount - 1); the file is corrupt or not a CIFAR-10 binary batch (the "
                + "CIFAR-100 binary version has two label bytes per record), so download and "
                + "extract \(ImageDatasetName.cifar10DownloadURL) again"
        }
    }
}

/// `0x` and eight (or two, for a byte) uppercase hexadecimal digits.
private func hexadecimal<Value: FixedWidthInteger>(_ value: Value) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    let width = Value.bitWidth / 4
    return "0x" + String(repeating: "0", count: max(0, width - digits.count)) + digits
}

/// The name of an IDX element type code.
private func elementTypeName(_ typeCode: UInt8) -> String {
    switch typeCode {
    case 0x08: return "uint8"
    case 0x09: return "int8"
    case 0x0B: return "int16"
    case 0x0C: return "int32"
    case 0x0D: return "float32"
    case 0x0E: return "float64"
    default: return "unknown"
    }
}
