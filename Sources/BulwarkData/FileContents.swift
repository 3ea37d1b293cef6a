import Foundation

/// Whether `bytes` start with the gzip magic bytes `1f 8b`.
package func hasGzipMagic(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// The bytes of the file at `path`, decompressed when the file is gzipped.
///
/// Compression is detected from the content (the gzip magic bytes `1f 8b`), not from the
/// extension, so a gzipped file without `.gz` and a raw file with `.gz` both read correctly.
///
/// - Throws: ``DatasetError/fileNotFound(path:)``, ``DatasetError/notAFile(path:)``,
///   ``DatasetError/unreadableFile(path:reason:)`` or
///   ``DatasetError/corruptCompression(path:reason:)``.
package func contentsOfFile(atPath path: String) throws(DatasetError) -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw .fileNotFound(path: path)
    }
    guard !isDirectory.boolValue else { throw .notAFile(path: path) }

    let bytes: [UInt8]
    do {
        bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    } catch {
        throw .unreadableFile(path: path, reason: error.localizedDescription)
    }
    guard hasGzipMagic(bytes) else { return bytes }
    do {
        return try gunzip(bytes)
    } catch {
        throw .corruptCompression(path: path, reason: error.description)
    }
}
