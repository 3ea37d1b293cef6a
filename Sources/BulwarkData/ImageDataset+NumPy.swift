import BulwarkCore
import Foundation

extension ImageDataset {
    /// The names the images array may have in a `.npz` archive or `.safetensors` file, in
    /// order of preference.
    public static let imageArrayNames = ["x", "images"]
    /// The names the labels array may have.
    public static let labelArrayNames = ["y", "labels"]

    /// Loads images and labels from a NumPy `.npz` archive, as `numpy.savez(path, x=images,
    /// y=labels)` or `numpy.savez_compressed` writes it.
    ///
    /// The archive holds the images as `x` (or `images`) and the labels as `y` (or `labels`).
    /// Images are `N×C×H×W`, `N×H×W×C` (see ``ImageLayout/inferred(from:)``) or `N×H×W`
    /// (grayscale); uint8 pixels are divided by 255, float32 and float64 ones must already lie
    /// in [0, 1]. Labels are integers (int64, int32 or uint8) in `0..<classCount`. Each member's
    /// CRC-32 is checked.
    ///
    /// - Parameters:
    ///   - path: The `.npz` file.
    ///   - layout: The layout of rank-4 images; `nil` infers it.
    ///   - classCount: The number of classes; `nil` takes the largest label plus one.
    ///   - limit: Keep only the first `limit` examples; `nil` keeps all.
    /// - Throws: ``DatasetError``: a file error, ``DatasetError/invalidFile(path:problem:)`` for a
    ///   damaged archive or array, ``DatasetError/missingArray(path:expected:found:)``, and the
    ///   errors of checking the arrays (shape, pixel range, NaN, labels, counts, emptiness).
    public static func loadNumPy(
        archive path: String, layout: ImageLayout? = nil, classCount: Int? = nil, limit: Int? = nil
    ) throws(DatasetError) -> ImageDataset {
        let archive = try ZipArchive(bytes: contentsOfFile(atPath: path, detectsGzip: false), path: path)
        func member(_ names: [String]) throws(DatasetError) -> ZipArchive.Member {
            guard let found = names.lazy.compactMap({ name in archive.members.first { $0.name == name + ".npy" } }).first else {
                throw .missingArray(
                    path: path, expected: names,
                    found: archive.members.map { $0.name.hasSuffix(".npy") ? String($0.name.dropLast(4)) : $0.name })
            }
            return found
        }
        let images = try readNumPyArray(in: archive, member(imageArrayNames))
        let labels = try readNumPyArray(in: archive, member(labelArrayNames))
        return try checked(
            arrays(images: images, named: images.name, labels: labels), path: path,
            layout: layout, classCount: classCount, limit: limit)
    }

    /// Loads images and labels from two NumPy `.npy` files, as `numpy.save` writes them;
    /// the arrays as in ``loadNumPy(archive:layout:classCount:limit:)``. A gzipped file is
    /// decompressed.
    ///
    /// - Throws: ``DatasetError`` as ``loadNumPy(archive:layout:classCount:limit:)``, naming
    ///   the file at fault.
    public static func loadNumPy(
        images imagesPath: String, labels labelsPath: String, layout: ImageLayout? = nil, classCount: Int? = nil,
        limit: Int? = nil
    ) throws(DatasetError) -> ImageDataset {
        let images = try readNumPyArray(FileBytes(contentsOfFile: imagesPath), byteLimit: Int.max)
        let labels = try readNumPyArray(FileBytes(contentsOfFile: labelsPath), byteLimit: Int.max)
        do {
            return try checked(
                arrays(images: images, named: (imagesPath as NSString).lastPathComponent, labels: labels),
                path: imagesPath, layout: layout, classCount: classCount, limit: limit)
        } catch .labelOutOfRange(_, let index, let label, let classes) {
            throw .labelOutOfRange(path: labelsPath, index: index, label: label, classCount: classes)
        } catch .invalidLabels(_, let problem) {
            throw .invalidLabels(path: labelsPath, problem: problem)
        }
    }

    /// The labels file that goes with the `.npy` images file `path`: the first that exists of
    /// its name with a leading `x` or `X` replaced by `y` (`x_train.npy` → `y_train.npy`), and with
    /// `images` replaced by `labels` (`train_images.npy` → `train_labels.npy`), in its folder.
    ///
    /// - Throws: ``DatasetError/labelsFileNotFound(imagesPath:tried:)``.
    public static func numPyLabelsPath(forImages path: String) throws(DatasetError) -> String {
        let url = URL(fileURLWithPath: path)
        let name = url.lastPathComponent
        var candidates = [String]()
        if name.hasPrefix("x") { candidates.append("y" + name.dropFirst()) }
        if name.hasPrefix("X") { candidates.append("y" + name.dropFirst()) }
        if name.contains("images") { candidates.append(name.replacingOccurrences(of: "images", with: "labels")) }
        let folder = url.deletingLastPathComponent()
        for candidate in candidates {
            let labels = folder.appendingPathComponent(candidate).path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: labels, isDirectory: &isDirectory), !isDirectory.boolValue { return labels }
        }
        throw .labelsFileNotFound(imagesPath: path, tried: candidates.isEmpty ? ["y.npy", "labels.npy"] : candidates)
    }

    /// The image and label arrays of two decoded `.npy` arrays.
    private static func arrays(
        images: (name: String, header: NumPyHeader, scalars: [Float]), named name: String,
        labels: (name: String, header: NumPyHeader, scalars: [Float])
    ) -> ImageArrays {
        ImageArrays(
            imageShape: images.header.shape, imageValues: images.scalars, imagesAreBytes: images.header.elementType == .uint8,
            imageArrayName: name, labelValues: labels.scalars,
            nonIntegerLabelType: labels.header.elementType.isInteger ? nil : labels.header.elementType.name)
    }

    /// The array of an archive's member, its CRC-32 checked.
    private static func readNumPyArray(
        in archive: ZipArchive, _ member: ZipArchive.Member
    ) throws(DatasetError) -> (name: String, header: NumPyHeader, scalars: [Float]) {
        let file = try archive.contents(of: member)
        var checksum: UInt32 = 0
        let array = try readNumPyArray(file, byteLimit: member.uncompressedSize) { checksum = ZipArchive.checksum($0, continuing: checksum) }
        guard checksum == member.checksum else {
            throw .invalidFile(path: file.path, problem: "its CRC-32 does not match the archive's record (the archive is damaged); save it again")
        }
        return (String(member.name.dropLast(4)), array.header, array.scalars)
    }

    /// The `.npy` array `file` holds, which may be at most `byteLimit` bytes long; `observe` sees
    /// every byte read, in order.
    private static func readNumPyArray(
        _ file: FileBytes, byteLimit: Int, observe: ([UInt8]) -> Void = { _ in }
    ) throws(DatasetError) -> (name: String, header: NumPyHeader, scalars: [Float]) {
        func invalid(_ problem: String) -> DatasetError {
            .invalidFile(path: file.path, problem: problem + "; save the array again with numpy.save or numpy.savez")
        }
        var prefix = [UInt8]()
        try file.read(upTo: 12, into: &prefix)
        let prefixLength: Int?
        do { prefixLength = try NumPyHeader.requiredPrefixLength(prefix) } catch { throw invalid(error.reason) }
        guard let prefixLength else { throw invalid("it holds \(prefix.count) bytes, too few for a .npy header") }
        guard prefixLength >= prefix.count else { throw invalid("its header is too short to describe an array") }
        try file.read(upTo: prefixLength - prefix.count, into: &prefix)
        let header: NumPyHeader
        do {
            header = try NumPyHeader(parsing: prefix, dataByteLimit: max(0, byteLimit - prefix.count))
        } catch {
            throw invalid(error.reason)
        }
        var data = [UInt8]()
        try file.read(upTo: header.dataByteCount, into: &data)
        guard data.count == header.dataByteCount else {
            throw invalid("it is truncated: shape \(header.shape) of \(header.elementType.name) needs \(header.dataByteCount) bytes of data, but only \(data.count) follow the header")
        }
        guard try file.remainingCount(upTo: 1) == 0 else {
            throw invalid("bytes follow the \(header.dataByteCount) bytes of data that shape \(header.shape) of \(header.elementType.name) needs")
        }
        observe(prefix)
        observe(data)
        return (file.path, header, header.scalars(data[...]))
    }
}
