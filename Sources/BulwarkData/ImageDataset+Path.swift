import Foundation

extension ImageDataset {
    /// Loads the dataset at a path of the user's, its format chosen by what the path names:
    ///
    /// - a folder: PNG images in one sub-folder per class
    ///   (``loadImageFolder(_:split:channels:limit:)``), whose `train` and `test` sub-folders,
    ///   when it has them, hold the splits;
    /// - `.npz`: a NumPy archive (``loadNumPy(archive:layout:classCount:limit:)``);
    /// - `.npy`: the images, with the labels in the file beside it that
    ///   ``numPyLabelsPath(forImages:)`` finds (``loadNumPy(images:labels:layout:classCount:limit:)``);
    /// - `.safetensors`: tensors or the adversarial examples of `bulwark attack`
    ///   (``loadSafeTensors(_:layout:classCount:limit:)``).
    ///
    /// A file holds one split: it is read whole whichever `split` is asked for (`split` only
    /// picks a folder's `train` or `test` sub-folder), so a run that trains and tests on files
    /// names one file per split.
    ///
    /// - Parameters:
    ///   - path: The file or folder.
    ///   - split: The split, for a folder with `train` and `test` sub-folders.
    ///   - layout: The layout of rank-4 arrays in a file; `nil` infers it.
    ///   - limit: Keep only the first `limit` examples; `nil` keeps all.
    /// - Throws: ``DatasetError/fileNotFound(path:)``, ``DatasetError/unsupportedFormat(path:)``
    ///   for another extension, and the reader's errors.
    public static func load(
        path: String, split: DatasetSplit, layout: ImageLayout? = nil, limit: Int? = nil
    ) throws(DatasetError) -> ImageDataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .fileNotFound(path: path) }
        if isDirectory.boolValue { return try loadImageFolder(path, split: split, limit: limit) }
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "npz":
            return try loadNumPy(archive: path, layout: layout, limit: limit)
        case "npy":
            return try loadNumPy(images: path, labels: numPyLabelsPath(forImages: path), layout: layout, limit: limit)
        case "safetensors":
            return try loadSafeTensors(path, layout: layout, limit: limit)
        default:
            throw .unsupportedFormat(path: path)
        }
    }
}
