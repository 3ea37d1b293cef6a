import BulwarkCore
import Foundation

extension ImageDataset {
    /// Loads images and labels from a `.safetensors` file: tensors `x` (or `images`) and `y`
    /// (or `labels`), or the adversarial examples `bulwark attack --out FILE.safetensors`
    /// writes, read as a dataset of its `adversarial` images with their true `labels`.
    ///
    /// Images and labels are as in ``loadNumPy(archive:layout:classCount:limit:)``: `U8` pixels
    /// are divided by 255, float ones (`F32`, `F64`, `F16`, `BF16`) must lie in [0, 1]; labels
    /// are `I64`, `I32` or `U8`. The class count and names of an adversarial-examples file are
    /// those of the dataset its metadata names (`dataset`), when Bulwark knows it.
    ///
    /// - Parameters:
    ///   - path: The `.safetensors` file.
    ///   - layout: The layout of rank-4 images; `nil` infers it.
    ///   - classCount: The number of classes; `nil` takes the recorded dataset's, else the
    ///     largest label plus one.
    ///   - limit: Keep only the first `limit` examples; `nil` keeps all.
    /// - Throws: ``DatasetError``: a file error, ``DatasetError/invalidFile(path:problem:)``
    ///   for a damaged file (the safetensors reader's explanation),
    ///   ``DatasetError/missingArray(path:expected:found:)``, and the errors of checking the
    ///   arrays.
    public static func loadSafeTensors(
        _ path: String, layout: ImageLayout? = nil, classCount: Int? = nil, limit: Int? = nil
    ) throws(DatasetError) -> ImageDataset {
        _ = try FileBytes(contentsOfFile: path, detectsGzip: false)  // not found, a directory, unreadable
        let file: SafeTensorsFile, dataTypes: [String: String]
        do {
            (file, dataTypes) = try SafeTensorsFile.readWithDataTypes(contentsOf: path)
        } catch {
            throw .invalidFile(path: path, problem: error.description)
        }
        let imageNames = imageArrayNames + ["adversarial"]
        guard let imageName = imageNames.first(where: { file.tensors[$0] != nil }),
              let images = file.tensors[imageName]
        else { throw .missingArray(path: path, expected: imageNames, found: Array(file.tensors.keys)) }
        guard let labelName = labelArrayNames.first(where: { file.tensors[$0] != nil }),
              let labels = file.tensors[labelName]
        else { throw .missingArray(path: path, expected: labelArrayNames, found: Array(file.tensors.keys)) }
        let labelType = dataTypes[labelName] ?? "F32"
        let recorded = imageName == "adversarial" ? file.metadata["dataset"].flatMap(ImageDatasetName.init(rawValue:)) : nil
        let arrays = ImageArrays(
            imageShape: images.shape, imageValues: images.array, imagesAreBytes: dataTypes[imageName] == "U8",
            imageArrayName: imageName, labelValues: labels.array,
            nonIntegerLabelType: ["I64", "I32", "U8"].contains(labelType) ? nil : labelType)
        return try checked(
            arrays, path: path, layout: layout, classCount: classCount ?? recorded?.classCount,
            classNames: recorded?.classNames, limit: limit)
    }
}
