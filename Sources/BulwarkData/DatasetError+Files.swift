extension DatasetError {
    /// The description of an error of a dataset read from a user's file or folder (NumPy,
    /// safetensors, PNG folders).
    var fileDatasetDescription: String {
        switch self {
        case .unsupportedFormat(let path):
            return "\(path) is not a dataset Bulwark reads: a data path must be a .npz archive, a .npy images file "
                + "(with its labels file beside it), a .safetensors file or a folder of PNG images in one "
                + "sub-folder per class; convert the data to one of these (numpy.savez(path, x=images, y=labels))"
        case .invalidFile(let path, let problem):
            return "\(path) cannot be read: \(problem)"
        case .missingArray(let path, let expected, let found):
            let holds = found.isEmpty ? "no arrays" : found.sorted().joined(separator: ", ")
            return "\(path) has no array named \(expected.joined(separator: " or ")) (it holds \(holds)); "
                + "save the images as `x` (or `images`) and the labels as `y` (or `labels`)"
        case .invalidImageShape(let path, let array, let shape):
            return "\(path): `\(array)` has shape \(shape), but images must be N×C×H×W, N×H×W×C (C = 1 or 3) "
                + "or N×H×W (grayscale) with N ≥ 1 and every extent positive; reshape them before saving"
        case .pixelsOutOfRange(let path, let minimum, let maximum):
            return "\(path): float pixels must lie in [0, 1], but they range over [\(minimum), \(maximum)]; "
                + (maximum <= 255 && minimum >= 0
                    ? "they look like 0…255 values, so divide them by 255 (or save them as uint8) before saving"
                    : "rescale them to [0, 1] (undo any normalization by mean and standard deviation) before saving")
        case .nonFinitePixels(let path, let index):
            return "\(path): image value \(index) is NaN or infinite; remove or repair the damaged images before saving"
        case .invalidLabels(let path, let problem):
            return "\(path): the labels \(problem); save them as whole class indices 0, 1, … in an integer array "
                + "(int64, int32 or uint8), one per image"
        case .exampleCountMismatch(let path, let imageCount, let labelCount):
            return "\(path) holds \(imageCount) images but \(labelCount) labels; save one label per image"
        case .emptyDataset(let path):
            return "\(path) holds no examples; check that the path names the right file or folder"
        case .labelsFileNotFound(let imagesPath, let tried):
            return "no labels file was found for \(imagesPath) (looked for \(tried.joined(separator: ", "))); save "
                + "the labels beside the images as a .npy file of the same name with `x` replaced by `y` (x_train.npy → "
                + "y_train.npy) or `images` by `labels`, or put both in one .npz archive"
        case .undecodableImage(let path, let reason):
            return "\(path) is not a PNG image Bulwark can decode (libpng: \(reason)); convert or remove it"
        case .imageSizeMismatch(let path, let size, let expected, let firstPath):
            return "\(path) is \(size[1])×\(size[0]) pixels but \(firstPath), the first image, is "
                + "\(expected[1])×\(expected[0]); every image of a dataset must have one size, so resize or remove it"
        case .noClassFolders(let directory):
            return "\(directory) has no class folders: put each class's PNG images in a sub-folder named after the "
                + "class (\(directory)/cat/1.png), optionally inside train/ and test/ sub-folders for the splits"
        case .unknownClasses(let directory, let classes, let trainingDirectory):
            return "\(directory) has class folders \(classes.joined(separator: ", ")) that \(trainingDirectory) lacks; "
                + "the test classes must be among the training classes, so that labels mean the same in both splits"
        default:
            return ""
        }
    }
}
