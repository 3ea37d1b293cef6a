/// A mapping between tokens and indices, built from the training split.
///
/// Index 0 is always ``paddingToken`` (`<pad>`) and index 1 ``unknownToken`` (`<unk>`); the
/// other tokens follow by decreasing frequency, ties broken by ascending Unicode scalar order,
/// so the same documents always give the same vocabulary.
public struct Vocabulary: Sendable, Equatable {
    /// The padding token, at index ``paddingIndex``.
    public static let paddingToken = "<pad>"
    /// The token that stands for every word outside the vocabulary, at ``unknownIndex``.
    public static let unknownToken = "<unk>"
    /// The index of ``paddingToken``: 0.
    public static let paddingIndex: Int32 = 0
    /// The index of ``unknownToken``: 1.
    public static let unknownIndex: Int32 = 1

    /// The tokens, indexed by their index.
    public let tokens: [String]
    private let indices: [String: Int32]

    /// The number of tokens, the two special ones included.
    public var count: Int { tokens.count }

    /// Creates a vocabulary from tokens in index order (as saved by ``tokens``).
    ///
    /// - Throws: ``TextDataError/invalidVocabulary(_:)`` unless the list starts with `<pad>`,
    ///   `<unk>` and holds no token twice.
    public init(tokens: [String]) throws {
        guard tokens.count >= 2, tokens[0] == Self.paddingToken, tokens[1] == Self.unknownToken else {
            throw TextDataError.invalidVocabulary("it must start with \(Self.paddingToken) and \(Self.unknownToken)")
        }
        var indices = [String: Int32]()
        for (index, token) in tokens.enumerated() {
            guard indices.updateValue(Int32(index), forKey: token) == nil else {
                throw TextDataError.invalidVocabulary("token '\(token)' appears twice")
            }
        }
        self.tokens = tokens
        self.indices = indices
    }

    /// Builds a vocabulary from tokenized documents (the training split only, so evaluation
    /// words the model never saw map to `<unk>`).
    ///
    /// - Parameters:
    ///   - documents: Each document's tokens.
    ///   - minimumFrequency: Tokens seen fewer times are left out (at least 1).
    ///   - maximumSize: At most this many entries, the two special tokens included; `nil` for no limit.
    public init<Documents: Sequence>(
        counting documents: Documents, minimumFrequency: Int = 1, maximumSize: Int? = nil
    ) where Documents.Element == [String] {
        precondition(minimumFrequency >= 1, "minimumFrequency must be at least 1, got \(minimumFrequency)")
        precondition(maximumSize.map { $0 >= 2 } ?? true, "maximumSize must leave room for <pad> and <unk>")
        var counts = [String: Int]()
        for document in documents {
            for token in document { counts[token, default: 0] += 1 }
        }
        counts[Self.paddingToken] = nil
        counts[Self.unknownToken] = nil
        var ranked = counts.filter { $0.value >= minimumFrequency }.sorted {
            $0.value != $1.value ? $0.value > $1.value : $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars)
        }.map(\.key)
        if let maximumSize { ranked = Array(ranked.prefix(maximumSize - 2)) }
        let tokens = [Self.paddingToken, Self.unknownToken] + ranked
        self.tokens = tokens
        self.indices = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, Int32($0)) })
    }

    /// The index of `token`, or ``unknownIndex`` if it is not in the vocabulary.
    public func index(of token: String) -> Int32 {
        indices[token] ?? Self.unknownIndex
    }

    /// The indices of `tokens`.
    public func encode(_ tokens: [String]) -> [Int32] {
        tokens.map(index(of:))
    }

    /// The tokens at `indices` (`<unk>` for indices out of range).
    public func decode(_ indices: [Int32]) -> [String] {
        indices.map { $0 >= 0 && Int($0) < tokens.count ? tokens[Int($0)] : Self.unknownToken }
    }
}
