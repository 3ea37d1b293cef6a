import BulwarkCore
import CPNG
import Foundation

extension ImageDataset {
    /// The most pixels one image may have (4,096 × 4,096): a larger declared size marks a
    /// damaged or crafted file, refused before its pixels are allocated.
    public static let maximumImagePixelCount = 1 << 24

    /// Loads a folder of PNG images with one sub-folder per class, as torchvision's
    /// `ImageFolder` reads: `directory/cat/1.png`, `directory/dog/7.png`, ….
    ///
    /// Classes are the sub-folders, sorted by their names' UTF-8 bytes; an image's label is its
    /// folder's index. When `directory` has a `train` or `test` sub-folder, the split is read from
    /// `directory/train` or `directory/test`, and the classes are those of `train` (the test
    /// classes must be among them, so that labels mean the same in both splits); otherwise the
    /// whole folder is the split asked for. Files ending in `.png` (any case) are read, class by
    /// class and within a class in the order of their names' bytes; other files and hidden
    /// ones are ignored.
    ///
    /// Every PNG colour type and bit depth is decoded (grayscale, gray with alpha, RGB, RGBA,
    /// palette; 1 to 16 bits, 16-bit samples reduced to 8 and taken as sRGB when the file has
    /// no gamma), and an alpha channel is dropped (the colours are kept as stored). Pixels are
    /// `byte / 255`. The images have one channel when every image is grayscale, else three
    /// (gray images repeated in red, green and blue), unless `channels` says otherwise (1
    /// converts colour to gray as libpng does). All images must have one size.
    ///
    /// - Parameters:
    ///   - directory: The dataset's folder.
    ///   - split: The split, when the folder has `train` and `test` sub-folders.
    ///   - channels: 1 or 3 to force the channel count; `nil` decides from the images.
    ///   - limit: Read only the first `limit` images, in the order above; `nil` reads all.
    /// - Throws: ``DatasetError``: ``DatasetError/fileNotFound(path:)`` for a missing folder,
    ///   ``DatasetError/noClassFolders(directory:)``,
    ///   ``DatasetError/unknownClasses(directory:classes:trainingDirectory:)``,
    ///   ``DatasetError/emptyDataset(path:)`` when no image is found,
    ///   ``DatasetError/undecodableImage(path:reason:)``,
    ///   ``DatasetError/imageSizeMismatch(path:size:expected:firstPath:)``, file errors.
    public static func loadImageFolder(
        _ directory: String, split: DatasetSplit, channels: Int? = nil, limit: Int? = nil
    ) throws(DatasetError) -> ImageDataset {
        if let channels, channels != 1, channels != 3 {
            throw .invalidFile(path: directory, problem: "images are read with 1 or 3 channels, not \(channels)")
        }
        let root = URL(fileURLWithPath: directory)
        guard isDirectory(directory) else {
            throw FileManager.default.fileExists(atPath: directory) ? .notAFile(path: directory) : .fileNotFound(path: directory)
        }
        let training = root.appendingPathComponent(DatasetSplit.train.rawValue).path
        let testing = root.appendingPathComponent(DatasetSplit.test.rawValue).path
        var folder = directory
        var classes = try classFolders(in: directory)
        if isDirectory(training) || isDirectory(testing) {
            folder = split == .train ? training : testing
            guard isDirectory(folder) else { throw .fileNotFound(path: folder) }
            classes = try classFolders(in: isDirectory(training) ? training : folder)
            if split == .test && isDirectory(training) {
                let unknown = try classFolders(in: testing).filter { !classes.contains($0) }
                guard unknown.isEmpty else {
                    throw .unknownClasses(directory: testing, classes: unknown, trainingDirectory: training)
                }
            }
        }
        guard !classes.isEmpty else { throw .noClassFolders(directory: folder) }

        var files = [(path: String, label: Int32)]()
        for (label, name) in classes.enumerated() {
            let classFolder = URL(fileURLWithPath: folder).appendingPathComponent(name).path
            guard isDirectory(classFolder) else { continue }  // a class the test split lacks
            let names = (try? FileManager.default.contentsOfDirectory(atPath: classFolder)) ?? []
            let images = names.filter { !$0.hasPrefix(".") && $0.lowercased().hasSuffix(".png") }
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            files += images.map { (URL(fileURLWithPath: classFolder).appendingPathComponent($0).path, Int32(label)) }
        }
        if let limit { files = Array(files.prefix(max(0, limit))) }
        guard !files.isEmpty else { throw .emptyDataset(path: folder) }

        // Decode as RGB (gray when one channel is asked for), then keep one channel if every
        // image turned out grayscale: gray decoded as RGB repeats its value exactly.
        let decodedChannels = channels ?? 3
        var bytes = [UInt8]()
        var size: (width: Int, height: Int)?
        var anyColor = false
        for file in files {
            let image = try decodePNG(file.path, channels: decodedChannels)
            if let size, size != (image.width, image.height) {
                throw .imageSizeMismatch(
                    path: file.path, size: [image.height, image.width], expected: [size.height, size.width], firstPath: files[0].path)
            }
            size = (image.width, image.height)
            anyColor = anyColor || image.isColor
            bytes += image.pixels
        }
        guard let size else { throw .emptyDataset(path: folder) }
        let keptChannels = channels ?? (anyColor ? 3 : 1)
        let plane = size.width * size.height
        var pixels = [Float](repeating: 0, count: files.count * keptChannels * plane)
        for image in 0..<files.count {
            let source = image * decodedChannels * plane, destination = image * keptChannels * plane
            for pixel in 0..<plane {
                for channel in 0..<keptChannels {
                    pixels[destination + channel * plane + pixel] = Float(bytes[source + pixel * decodedChannels + channel]) / 255
                }
            }
        }
        return ImageDataset(
            images: Tensor(shape: [files.count, keptChannels, size.height, size.width], scalars: pixels),
            labels: files.map(\.label), classCount: classes.count, classNames: classes)
    }

    /// The class folders of `directory`: its sub-folders but hidden ones, sorted by bytes.
    private static func classFolders(in directory: String) throws(DatasetError) -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw .unreadableFile(path: directory, reason: error.localizedDescription)
        }
        return names.filter { !$0.hasPrefix(".") && isDirectory(URL(fileURLWithPath: directory).appendingPathComponent($0).path) }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// The 8-bit pixels of the PNG file at `path`, interleaved with `channels` (1 or 3) per
    /// pixel, alpha dropped, and whether the file is in colour.
    package static func decodePNG(_ path: String, channels: Int) throws(DatasetError) -> (width: Int, height: Int, pixels: [UInt8], isColor: Bool) {
        try decodePNG(contentsOfFile(atPath: path, detectsGzip: false), path: path, channels: channels)
    }

    /// The pixels of the PNG image in `data`, as ``decodePNG(_:channels:)``.
    package static func decodePNG(_ data: [UInt8], path: String, channels: Int) throws(DatasetError) -> (width: Int, height: Int, pixels: [UInt8], isColor: Bool) {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        let begun = data.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        func failure() -> DatasetError {
            let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return .undecodableImage(path: path, reason: message.isEmpty ? "unknown error" : message)
        }
        guard begun != 0 else { throw failure() }
        // Set after beginning, which clears the flags: 16-bit samples without a gamma are sRGB
        // (reduced to 8 bits by scaling), not linear.
        image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        let width = Int(image.width), height = Int(image.height)
        guard width > 0, height > 0, width.multipliedReportingOverflow(by: height).partialValue <= maximumImagePixelCount,
              width <= maximumImagePixelCount, height <= maximumImagePixelCount
        else {
            throw .undecodableImage(path: path, reason: "it declares \(width)×\(height) pixels, more than the \(maximumImagePixelCount) Bulwark reads")
        }
        let isColor = image.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let hasAlpha = image.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let stored = channels + (hasAlpha ? 1 : 0)
        image.format = (channels == 3 ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0) | (hasAlpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
        var buffer = [UInt8](repeating: 0, count: width * height * stored)
        let finished = buffer.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * stored), nil) }
        guard finished != 0 else { throw failure() }
        guard hasAlpha else { return (width, height, buffer, isColor) }
        var pixels = [UInt8]()
        pixels.reserveCapacity(width * height * channels)
        for pixel in 0..<(width * height) { pixels += buffer[(pixel * stored)..<(pixel * stored + channels)] }
        return (width, height, pixels, isColor)
    }
}
