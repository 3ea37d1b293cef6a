import BulwarkCore
import Foundation

extension ImageDataset {
    /// Loads images and labels from a pair of MNIST-format IDX files.
    ///
    /// Each file may be raw or gzipped; compression is detected from the content, not the name.
    /// The images file must be uint8 with 3 dimensions `[count, rows, columns]`; the labels
    /// file uint8 with 1 dimension `[count]`. Pixels become `Float(byte) / 255`, so they lie in
    /// `[0, 1]`, and images get shape `[count, 1, rows, columns]`.
    ///
    /// - Parameters:
    ///   - imagesPath: The images file (`…-images-idx3-ubyte`, optionally `.gz`).
    ///   - labelsPath: The labels file (`…-labels-idx1-ubyte`, optionally `.gz`).
    ///   - classCount: The number of classes; every label must be below it. At least 1.
    ///   - classNames: `classCount` names indexed by label; `nil` names classes `"0"`, `"1"`, ….
    ///   - limit: Load only the first `limit` examples (at least 0): a gzipped file is
    ///     decompressed no further than those examples end (the file itself is read whole), and bytes after them are not
    ///     checked. `nil` loads them all.
    /// - Throws: ``DatasetError``: a file error (not found, unreadable, corrupt gzip), a format
    ///   error (not IDX, unsupported element type, wrong rank, zero dimension, unaddressable
    ///   size, truncated, trailing bytes), ``DatasetError/countMismatch(imagesPath:imageCount:labelsPath:labelCount:)``
    ///   or ``DatasetError/labelOutOfRange(path:index:label:classCount:)``.
    /// - Precondition: `classCount > 0`, and `classNames` has `classCount` entries if given.
    public static func loadIDX(
        images imagesPath: String, labels labelsPath: String,
        classCount: Int = 10, classNames: [String]? = nil, limit: Int? = nil
    ) throws(DatasetError) -> ImageDataset {
        precondition(classCount > 0, "class count must be positive, got \(classCount)")
        let labels = try FileBytes(contentsOfFile: labelsPath)
        return try loadIDX(
            images: { () throws(DatasetError) in try FileBytes(contentsOfFile: imagesPath) }, labels: labels,
            classCount: classCount, classNames: classNames, limit: limit)
    }

    /// ``loadIDX(images:labels:classCount:classNames:limit:)`` from opened files; the images
    /// file is opened only once the labels file has been read.
    package static func loadIDX(
        images openImages: () throws(DatasetError) -> FileBytes, labels: FileBytes,
        classCount: Int = 10, classNames: [String]? = nil, limit: Int? = nil
    ) throws(DatasetError) -> ImageDataset {
        precondition(classCount > 0, "class count must be positive, got \(classCount)")
        precondition(limit.map { $0 >= 0 } ?? true, "limit must not be negative, got \(limit ?? 0)")
        let labelFile = try IDXArray(reading: labels, rank: 1, limit: limit)
        let imageFile = try IDXArray(reading: openImages(), rank: 3, limit: limit)
        let imagesPath = imageFile.path, labelsPath = labels.path
        let count = imageFile.loadedCount
        guard imageFile.dimensions[0] == labelFile.dimensions[0] else {
            throw .countMismatch(
                imagesPath: imagesPath, imageCount: imageFile.dimensions[0],
                labelsPath: labelsPath, labelCount: labelFile.dimensions[0])
        }

        let labels = try labelFile.withUnsafeElements { bytes throws(DatasetError) -> [Int32] in
            if let index = bytes.firstIndex(where: { Int($0) >= classCount }) {
                throw .labelOutOfRange(
                    path: labelsPath, index: index, label: Int(bytes[index]), classCount: classCount)
            }
            return bytes.map { Int32($0) }
        }
        let pixels = imageFile.withUnsafeElements { bytes in
            [Float](unsafeUninitializedCapacity: bytes.count) { buffer, initializedCount in
                for index in bytes.indices { buffer[index] = Float(bytes[index]) / 255 }
                initializedCount = bytes.count
            }
        }
        let images = Tensor(
            shape: [count, 1, imageFile.dimensions[1], imageFile.dimensions[2]], scalars: pixels)
        return ImageDataset(images: images, labels: labels, classCount: classCount, classNames: classNames)
    }

    /// Loads one split of a named dataset from a directory.
    ///
    /// For the MNIST-format datasets the directory must hold `train-images-idx3-ubyte` and
    /// `train-labels-idx1-ubyte` (train split) or `t10k-images-idx3-ubyte` and
    /// `t10k-labels-idx1-ubyte` (test split), each raw or gzipped (`.gz`); the dotted spellings
    /// `train-images.idx3-ubyte` are accepted too. When both a raw and a gzipped file exist,
    /// the raw one is read. For CIFAR-10 it must hold `data_batch_1.bin` … `data_batch_5.bin`
    /// (train) or `test_batch.bin` (test), directly or in its `cifar-10-batches-bin` folder
    /// (see ``loadCIFAR10(batches:)``).
    ///
    /// - Parameters:
    ///   - name: The dataset; fixes the format, the class count and class names.
    ///   - split: ``DatasetSplit/train`` or ``DatasetSplit/test``.
    ///   - directory: Where the files are; `nil` uses ``ImageDatasetName/defaultDirectory``
    ///     (`/usr/share/datasets/fashion-mnist` for Fashion-MNIST, `~/.cache/bulwark/cifar-10`
    ///     for CIFAR-10).
    ///   - limit: Load only the first `limit` examples (at least 0), reading and decompressing
    ///     no more than they need; `nil` loads the whole split.
    /// - Throws: ``DatasetError/directoryRequired(dataset:)`` when `directory` is `nil` and the
    ///   dataset has no default, ``DatasetError/directoryNotFound(dataset:directory:)``,
    ///   ``DatasetError/filesNotFound(dataset:split:directory:missing:)``, and every error of
    ///   ``loadIDX(images:labels:classCount:classNames:limit:)`` or ``loadCIFAR10(batches:limit:)``.
    public static func load(
        _ name: ImageDatasetName, split: DatasetSplit, directory: String? = nil, limit: Int? = nil
    ) throws(DatasetError) -> ImageDataset {
        guard let directory = directory ?? name.defaultDirectory else {
            throw .directoryRequired(dataset: name)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory),
            isDirectory.boolValue
        else {
            throw .directoryNotFound(dataset: name, directory: directory)
        }
        if name == .cifar10 { return try loadCIFAR10(split: split, directory: directory, limit: limit) }

        let prefix = split == .train ? "train" : "t10k"
        let imagesStem = "\(prefix)-images-idx3-ubyte"
        let labelsStem = "\(prefix)-labels-idx1-ubyte"
        let imagesPath = locateIDXFile(stem: imagesStem, in: directory)
        let labelsPath = locateIDXFile(stem: labelsStem, in: directory)
        guard let imagesPath, let labelsPath else {
            let missing = [(imagesStem, imagesPath), (labelsStem, labelsPath)]
                .filter { $0.1 == nil }.map(\.0)
            throw .filesNotFound(dataset: name, split: split, directory: directory, missing: missing)
        }
        return try loadIDX(
            images: imagesPath, labels: labelsPath,
            classCount: name.classCount, classNames: name.classNames, limit: limit)
    }

    /// The path of the first existing regular file among `stem`, `stem.gz` and their dotted
    /// spellings (`train-images.idx3-ubyte`) in `directory`, or `nil`.
    private static func locateIDXFile(stem: String, in directory: String) -> String? {
        let dotted = stem.replacingOccurrences(of: "-idx", with: ".idx")
        let candidates = [stem, stem + ".gz", dotted, dotted + ".gz"]
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        for candidate in candidates {
            let path = base + candidate
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
                !isDirectory.boolValue
            {
                return path
            }
        }
        return nil
    }
}
