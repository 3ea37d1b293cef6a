import BulwarkCore
import Foundation

extension ImageDataset {
    /// The bytes of one CIFAR-10 record: a label byte, then 1,024 red, 1,024 green and 1,024
    /// blue bytes, each channel a 32 × 32 image in row-major order.
    public static let cifar10RecordSize = 1 + 3 * 32 * 32

    /// Loads images and labels from CIFAR-10 binary batch files, in the order given.
    ///
    /// Each file is a sequence of ``cifar10RecordSize``-byte records (Krizhevsky's binary
    /// version, `cifar-10-binary.tar.gz`): one label byte in `0…9`, then the image channel by
    /// channel (red, green, blue), each 32 × 32 row-major. That is NCHW already, so images get
    /// shape `[count, 3, 32, 32]` with pixels `Float(byte) / 255` in `[0, 1]`. A gzipped file
    /// is decompressed (detected from its content). Any number of records is accepted, so
    /// small files in the same format load too.
    ///
    /// - Parameters:
    ///   - paths: The batch files, for example `data_batch_1.bin` … `data_batch_5.bin`. At least one.
    ///   - limit: Load only the first `limit` records (at least 0): a gzipped file is
    ///     decompressed no further than those records end, later files are not opened, and
    ///     bytes after them are not checked. `nil` loads every record.
    /// - Throws: ``DatasetError``: a file error (not found, unreadable, corrupt gzip),
    ///   ``DatasetError/invalidRecordSize(path:byteCount:recordSize:)`` for an empty file or one
    ///   whose size is not a multiple of ``cifar10RecordSize`` (truncated, or another format),
    ///   ``DatasetError/recordLabelOutOfRange(path:record:label:classCount:)`` for a label
    ///   above 9.
    /// - Complexity: O(*n*) in the bytes read; the whole split is held in memory as Float32
    ///   (about 630 MB for the 50,000 training images).
    public static func loadCIFAR10(batches paths: [String], limit: Int? = nil) throws(DatasetError) -> ImageDataset {
        precondition(!paths.isEmpty, "loadCIFAR10 needs at least one batch file")
        precondition(limit.map { $0 >= 0 } ?? true, "limit must not be negative, got \(limit ?? 0)")
        let name = ImageDatasetName.cifar10
        let recordSize = cifar10RecordSize
        let pixelsPerImage = recordSize - 1
        var files = [(path: String, bytes: [UInt8])]()
        var count = 0
        for path in paths {
            let wanted = limit.map { $0 - count } ?? Int.max
            guard wanted > 0 else { break }
            let file = try FileBytes(contentsOfFile: path)
            var bytes = [UInt8]()
            let wantedBytes = wanted.multipliedReportingOverflow(by: recordSize)
            try file.read(upTo: wantedBytes.overflow ? Int.max : wantedBytes.partialValue, into: &bytes)
            guard !bytes.isEmpty, bytes.count % recordSize == 0 else {
                // A whole number of records was asked for, so a short read is the whole file.
                throw .invalidRecordSize(path: path, byteCount: bytes.count, recordSize: recordSize)
            }
            for record in 0..<(bytes.count / recordSize) where Int(bytes[record * recordSize]) >= name.classCount {
                throw .recordLabelOutOfRange(
                    path: path, record: record, label: Int(bytes[record * recordSize]), classCount: name.classCount)
            }
            files.append((path, bytes))
            count += bytes.count / recordSize
        }

        var labels = [Int32]()
        labels.reserveCapacity(count)
        let pixels = [Float](unsafeUninitializedCapacity: count * pixelsPerImage) { buffer, initializedCount in
            var image = 0
            for file in files {
                file.bytes.withUnsafeBufferPointer { bytes in
                    for record in 0..<(bytes.count / recordSize) {
                        let start = record * recordSize
                        labels.append(Int32(bytes[start]))
                        let destination = image * pixelsPerImage
                        for offset in 0..<pixelsPerImage {
                            buffer[destination + offset] = Float(bytes[start + 1 + offset]) / 255
                        }
                        image += 1
                    }
                }
            }
            initializedCount = count * pixelsPerImage
        }
        return ImageDataset(
            images: Tensor(shape: [count, 3, 32, 32], scalars: pixels), labels: labels,
            classCount: name.classCount, classNames: name.classNames)
    }

    /// Loads a CIFAR-10 split from `directory` or, when the split's files are not all there,
    /// from its `cifar-10-batches-bin` folder (where extracting the archive puts them).
    static func loadCIFAR10(split: DatasetSplit, directory: String, limit: Int?) throws(DatasetError) -> ImageDataset {
        let names = ImageDatasetName.cifar10.fileNames(for: split)
        let base = URL(fileURLWithPath: directory)
        let archiveFolder = base.appendingPathComponent(ImageDatasetName.cifar10ArchiveFolder).path
        func missing(in folder: String) -> [String] {
            names.filter { name in
                var isDirectory: ObjCBool = false
                let path = URL(fileURLWithPath: folder).appendingPathComponent(name).path
                return !(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue)
            }
        }
        var folder = directory
        var isDirectory: ObjCBool = false
        if !missing(in: directory).isEmpty,
            FileManager.default.fileExists(atPath: archiveFolder, isDirectory: &isDirectory), isDirectory.boolValue
        {
            folder = archiveFolder
        }
        let absent = missing(in: folder)
        guard absent.isEmpty else {
            throw .filesNotFound(dataset: .cifar10, split: split, directory: folder, missing: absent)
        }
        return try loadCIFAR10(
            batches: names.map { URL(fileURLWithPath: folder).appendingPathComponent($0).path }, limit: limit)
    }
}
