import BulwarkCore
import BulwarkData
import Foundation
import Testing

/// The path of `name` in `FuzzCorpus`, which holds the user-dataset fixtures that
/// `scripts/make-dataset-fixtures.py` writes.
func corpusFile(_ name: String) throws -> String {
    try #require(Bundle.module.url(forResource: "FuzzCorpus", withExtension: nil)).appendingPathComponent(name).path
}

/// The fixtures' images: 4 images of 5 × 6 pixels; `scripts/make-dataset-fixtures.py` uses
/// the same formula.
enum FixturePattern {
    static let (count, height, width) = (4, 5, 6)
    static let labels: [Int32] = [0, 2, 1, 2]

    /// The byte at image `n`, row `h`, column `w`, channel `c`.
    static func byte(_ n: Int, _ h: Int, _ w: Int, _ c: Int) -> UInt8 { UInt8((n * 37 + h * 11 + w * 5 + c * 3 + 7) % 256) }

    /// The images of `count` examples with `channels` channels, channels-first, as bytes.
    static func bytes(count: Int = count, channels: Int) -> [UInt8] {
        var bytes = [UInt8]()
        for n in 0..<count { for c in 0..<channels { for h in 0..<height { for w in 0..<width { bytes.append(byte(n, h, w, c)) } } } }
        return bytes
    }

    /// The same images as pixels in [0, 1].
    static func pixels(count: Int = count, channels: Int) -> [Float] { bytes(count: count, channels: channels).map { Float($0) / 255 } }
}

/// A member of a test zip archive: its name and bytes, and optionally compressed data and a
/// declared size that differ from what the bytes give (for crafted archives).
struct ZipMember {
    var name: String
    var bytes: [UInt8]
    var compressedData: [UInt8]? = nil
    var declaredSize: Int? = nil
}

/// A zip archive of `members`, each stored or deflated as `deflated` says, with a central
/// directory, as `numpy.savez` lays it out.
func zipArchive(_ members: [ZipMember], deflated: Bool = false) throws -> [UInt8] {
    func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
    func le32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(value >> (8 * $0) & 0xFF) } }
    var archive = [UInt8](), directory = [UInt8]()
    for member in members {
        // A gzip member minus its 10-byte header and 8-byte trailer is the bare deflate stream.
        let data = try member.compressedData ?? (deflated ? Array(gzip(member.bytes).dropFirst(10).dropLast(8)) : member.bytes)
        let crc = Int(ZipArchive.checksum(member.bytes))
        let name = Array(member.name.utf8)
        let fields = le16(20) + le16(0) + le16(deflated ? 8 : 0) + le16(0) + le16(0) + le32(crc) + le32(data.count)
            + le32(member.declaredSize ?? member.bytes.count) + le16(name.count) + le16(0)
        directory += le32(0x0201_4B50) + le16(20) + fields + le16(0) + le16(0) + le16(0) + le32(0) + le32(archive.count) + name
        archive += le32(0x0403_4B50) + fields + name + data
    }
    let end = le32(0x0605_4B50) + le16(0) + le16(0) + le16(members.count) + le16(members.count) + le32(directory.count)
        + le32(archive.count) + le16(0)
    return archive + directory + end
}

/// A zip archive of `members` given as names and bytes.
func zipArchive(_ members: [(String, [UInt8])], deflated: Bool = false) throws -> [UInt8] {
    try zipArchive(members.map { ZipMember(name: $0.0, bytes: $0.1) }, deflated: deflated)
}

/// A `.npy` file of `shape` with `descriptor` (`<f4`, `<i8`, …) and raw little-endian `data`.
func npyBytes(descriptor: String, shape: [Int], data: [UInt8]) -> [UInt8] {
    let dimensions = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var dictionary = "{'descr': '\(descriptor)', 'fortran_order': False, 'shape': \(dimensions), }"
    dictionary += String(repeating: " ", count: (64 - (10 + dictionary.utf8.count + 1) % 64) % 64) + "\n"
    let length = dictionary.utf8.count
    return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(dictionary.utf8) + data
}

/// A `.npy` file of uint8 `values`.
func npyUInt8(_ values: [UInt8], shape: [Int]) -> [UInt8] { npyBytes(descriptor: "|u1", shape: shape, data: values) }

/// A `.npy` file of float32 `values`.
func npyFloat32(_ values: [Float], shape: [Int]) -> [UInt8] {
    NumPyArray.float32Bytes(Tensor(shape: shape, scalars: values))
}
