import BulwarkCore
import BulwarkData
import Foundation

/// A check that every rank of a run is about to do the same thing: the ranks exchange named
/// items (configuration fields as JSON, a fingerprint of the data) and all throw if any differ.
///
/// Ranks launched with different options or different files would otherwise train or evaluate
/// something no single configuration describes, or wait forever in mismatched collectives.
public enum RankAgreement {
    /// One thing the ranks must agree on.
    public struct Item: Sendable, Equatable, Codable {
        /// What the item is: a configuration field's name, or a description such as
        /// "the training data".
        public var name: String
        /// Whether ``name`` is a configuration field (error messages quote it as one).
        public var isField: Bool
        /// The value, as text: JSON for a field, a hash for data.
        public var value: String

        /// A configuration field and its value's JSON encoding.
        public static func field(_ name: String, json: String) -> Item { Item(name: name, isField: true, value: json) }

        /// Something else the ranks must share, such as a fingerprint of the data.
        public static func other(_ name: String, value: String) -> Item { Item(name: name, isField: false, value: value) }
    }

    /// Gathers every rank's `items` and throws ``RankDisagreement`` on every rank, naming the
    /// first item (in this rank's order) whose values differ, when the ranks' items differ.
    /// A collective: every rank must call it.
    public static func check(_ items: [Item], over communicator: any Communicator) throws {
        let encoded = try JSONEncoder().encode(items)
        let all = try communicator.gatherOnEveryRank(Array(encoded)).map { bytes in
            try JSONDecoder().decode([Item].self, from: Data(bytes))
        }
        let names = all.flatMap { $0.map(\.name) }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        for name in names {
            let values = all.map { items in items.first { $0.name == name } }
            guard Set(values.map { $0?.value }).count > 1 else { continue }
            let isField = values.contains { $0?.isField == true }
            throw RankDisagreement(item: name, isField: isField, values: values.map { $0?.value })
        }
    }

    /// When `communicator` has several ranks, checks (see ``check(_:over:)``) that they agree
    /// on `configuration`'s fields and on `data`, named fingerprints (computed only then).
    public static func checkConfiguration<Configuration: Encodable>(
        _ configuration: Configuration, data: @autoclosure () -> [(name: String, fingerprint: String)], over communicator: any Communicator
    ) throws {
        guard communicator.size > 1 else { return }
        try check(fields(of: configuration) + data().map { Item.other($0.name, value: $0.fingerprint) }, over: communicator)
    }

    /// One ``Item/field(_:json:)`` per top-level key of `configuration`'s JSON encoding, in
    /// key order.
    public static func fields<Configuration: Encodable>(of configuration: Configuration) throws -> [Item] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let object = try JSONSerialization.jsonObject(with: encoder.encode(configuration), options: [.fragmentsAllowed])
        guard let fields = object as? [String: Any] else { return [.field("configuration", json: String(describing: object))] }
        return try fields.keys.sorted().map { key in
            let data = try JSONSerialization.data(withJSONObject: fields[key]!, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
            return .field(key, json: String(decoding: data, as: UTF8.self))
        }
    }

    /// A 64-bit FNV-1a hash of `parts` (such as a dataset's pixels and labels), in hexadecimal:
    /// a fingerprint for ranks to compare, not a cryptographic hash. Each part's length is
    /// hashed before it, so moving bytes from one part to the next changes the hash.
    public static func fingerprint(_ parts: [UnsafeRawBufferPointer]) -> String {
        var hash = FNV1a()
        parts.forEach { hash.add($0) }
        return String(hash.value, radix: 16)
    }

    /// 64-bit FNV-1a over parts, each preceded by its length.
    private struct FNV1a {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325

        mutating func add(_ part: UnsafeRawBufferPointer) {
            withUnsafeBytes(of: UInt64(part.count).littleEndian) { $0.forEach { mix($0) } }
            part.forEach { mix($0) }
        }

        private mutating func mix(_ byte: UInt8) { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }
    }
}

extension RankAgreement {
    /// A fingerprint (see ``fingerprint(_:)``) of `dataset`'s shape, pixels and labels.
    public static func fingerprint(of dataset: ImageDataset) -> String {
        let shape = dataset.images.shape.map { Int64($0) }
        return shape.withUnsafeBytes { shape in
            dataset.images.scalars.withUnsafeBytes { pixels in
                dataset.labels.withUnsafeBytes { labels in fingerprint([shape, pixels, labels]) }
            }
        }
    }

    /// A fingerprint (see ``fingerprint(_:)``) of `dataset`'s labels and token sequences.
    public static func fingerprint(of dataset: EncodedTextDataset) -> String {
        var hash = FNV1a()
        dataset.labels.withUnsafeBytes { hash.add($0) }
        for sequence in dataset.sequences { sequence.withUnsafeBytes { hash.add($0) } }
        return String(hash.value, radix: 16)
    }

    /// A fingerprint (see ``fingerprint(_:)``) of `dataset`'s labels, texts (each in UTF-8)
    /// and class names.
    public static func fingerprint(of dataset: TextDataset) -> String {
        var hash = FNV1a()
        dataset.labels.withUnsafeBytes { hash.add($0) }
        for text in dataset.texts + dataset.classNames { Array(text.utf8).withUnsafeBytes { hash.add($0) } }
        return String(hash.value, radix: 16)
    }
}

/// The ranks of a run disagree on an item (see ``RankAgreement``).
public struct RankDisagreement: Error, Equatable, CustomStringConvertible {
    /// The item's name.
    public var item: String
    /// Whether the item is a configuration field.
    public var isField: Bool
    /// Each rank's value, in rank order; `nil` where a rank has no such item.
    public var values: [String?]

    public var description: String {
        // Ranks with the same value are listed together; long values are cut short.
        var groups: [(value: String?, ranks: [Int])] = []
        for (rank, value) in values.enumerated() {
            if let index = groups.firstIndex(where: { $0.value == value }) { groups[index].ranks.append(rank) } else { groups.append((value, [rank])) }
        }
        let described = groups.map { group -> String in
            let ranks = (group.ranks.count == 1 ? "rank " : "ranks ") + group.ranks.map(String.init).joined(separator: ", ")
            let verb = group.ranks.count == 1 ? "has" : "have"
            guard let value = group.value else { return "\(ranks) \(verb) none" }
            return "\(ranks) \(verb) \(value.count > 60 ? value.prefix(57) + "..." : value)"
        }
        let name = isField ? "`\(item)`" : item
        return "the ranks disagree on \(name): \(described.joined(separator: "; ")); every rank must run the same configuration on the same data"
    }
}
